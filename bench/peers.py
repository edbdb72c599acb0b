"""Peers of the hub in the deep-chain benchmark: PostGraphile 5 over the same database.

`PostGraphileProcess.start(dsn, log_dir)` runs `bench/postgraphile/server.mjs` (PostGraphile 5,
Amber preset, simplified inflection) in its own Node process on a free loopback port, after
`npm ci` when `bench/postgraphile/node_modules` is missing. Node 20 lacks
`Promise.withResolvers`, which PostGraphile 5 calls: the process is started with
`NODE_OPTIONS=--require <abs path>/polyfill.cjs`.

`POSTGRAPHILE_DEEP_CHAIN` is `hub.serving.examples.DEEP_CHAIN` in PostGraphile's dialect, and
`compare_with_hub` checks that its answer is the same data as the hub's.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.jsondiff import first_difference

POSTGRAPHILE_DIR = Path(__file__).resolve().parent / "postgraphile"
NPM_CI_TIMEOUT = 900.0


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (no Node or npm, `npm ci` failed, the server did not start)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


@dataclass
class PostGraphileProcess:
    """PostGraphile 5 serving one database's `public` schema at `{base_url}/graphql`."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    version: str
    node_version: str

    @classmethod
    def start(cls, dsn: str, log_dir: Path, timeout: float = 180.0) -> PostGraphileProcess:
        """Install if needed, start, and wait until `/graphql` answers.

        `dsn` is a libpq-style URL (`postgresql://user@host:port/db`, or `?host=/socket/dir`);
        node-postgres reads it as is. Raises `PeerUnavailable` with the reason when it cannot.
        """
        node = shutil.which("node")
        if node is None:
            raise PeerUnavailable("Node.js not found on PATH")
        node_version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        install(log_dir)
        port = _free_port()
        polyfill = POSTGRAPHILE_DIR / "polyfill.cjs"
        node_options = " ".join(
            o for o in (os.environ.get("NODE_OPTIONS"), f'--require "{polyfill}"') if o
        )
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "NODE_OPTIONS": node_options,
            # The hub's connections run with JIT off (hub/db.py): its compile time costs
            # large statements more than it saves. The peer gets the same (node-postgres
            # passes PGOPTIONS to the server), so the two are compared plan for plan.
            "PGOPTIONS": "-c jit=off",
            # Production mode: grafast's development assertions off, as deployed.
            "NODE_ENV": "production",
            "GRAPHILE_ENV": "production",
        }
        log_path = log_dir / "postgraphile.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [node, "server.mjs", str(port)],
                cwd=POSTGRAPHILE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        peer = cls(proc, f"http://127.0.0.1:{port}", log_path, installed_version(), node_version)
        try:
            peer.wait_ready(timeout)
        except BaseException:
            peer.stop()
            raise
        return peer

    def wait_ready(self, timeout: float) -> None:
        """Until `{ __typename }` is answered: the schema is built from the database."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerUnavailable(
                    f"PostGraphile exited with {self.proc.returncode}:\n{self.log()}"
                )
            try:
                response = httpx.post(
                    f"{self.base_url}/graphql", json={"query": "{ __typename }"}, timeout=2.0
                )
                if response.status_code == 200 and "errors" not in response.json():
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise PeerUnavailable(f"PostGraphile did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return _tail(self.log_path)

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a bench's server process, killing it after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def install(log_dir: Path) -> None:
    """`npm ci` into bench/postgraphile when its node_modules is missing."""
    if (POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailable("npm not found on PATH (needed once, to install PostGraphile)")
    log_path = log_dir / "npm-ci.log"
    with open(log_path, "wb") as log:
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=POSTGRAPHILE_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=NPM_CI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PeerUnavailable(f"npm ci did not finish in {NPM_CI_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise PeerUnavailable(f"npm ci exited {done.returncode}:\n{_tail(log_path, 2000)}")


def installed_version() -> str:
    try:
        package = POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json"
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


# --------------------------------------------------------------------------- the document

# `hub.serving.examples.DEEP_CHAIN` in PostGraphile's dialect, field for field. The differences:
# - Filter and order are arguments: `condition: {fiscalYear}`, `orderBy: [CODE_ASC,
#   ROW_ID_ASC]` (the hub orders by code then id implicitly). `$regionCode` is not asked.
# - Lists are connections (`… { nodes { … } }`), each ordered as the hub's loaders order.
# - `stage`, `budget.allocated`, `budget.paid` come from the `sub_activity_rollup` view
#   (`subActivityRollup`, joined by a smart tag), as in the hub.
# - `provenance.stale` is the hub's own rule over the source's status and last success, so
#   those fields are asked and it is computed when comparing; `provenance.sourceKey` is the
#   line's `sourceKey`, `provenance.source` the sub-activity's `source`.
# - `payee` is the payee vendor, or the payee's name and NPWP as the SP2D gives them.
# - Tenders are reached through the `tender_package` link rows (ordered by tender code), the
#   tender's contract is its first by id (`contracts(first: 1)`).
# - Node `id`s are PostGraphile's own; `rowId` is the primary key (a string for bigint), to
#   compare with the hub; a source's `rowId` is its text id, the hub's `source.id`.
POSTGRAPHILE_DEEP_CHAIN = """\
query DeepChain($fiscalYear: Int!, $first: Int = 10) {
  subActivities(
    condition: {fiscalYear: $fiscalYear}
    orderBy: [CODE_ASC, ROW_ID_ASC]
    first: $first
  ) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id rowId code name plannedAmount
        subActivityRollup { stage allocated paid }
        opd { code name region { code name } }
        activity { code program { code } }
        indicators(orderBy: SEQ_ASC) { nodes { description target } }
        budgetLines(orderBy: ACCOUNT_CODE_ASC) {
          nodes {
            accountCode amount sourceKey
            source { status lastSuccessAt freshnessSeconds }
          }
        }
        payments(orderBy: [PAID_ON_ASC, SP2D_NUMBER_ASC]) {
          nodes {
            sp2DNumber paidOn amount payeeName payeeTaxId
            payeeVendor { name taxId }
            contract { number }
          }
        }
        procurementPackages(orderBy: RUP_CODE_ASC) {
          nodes {
            rupCode name method ceiling
            tenderPackagesByPackageId(orderBy: TENDER_CODE_ASC) {
              nodes {
                tender {
                  code method ownerEstimate status
                  bids(orderBy: ROW_ID_ASC) { nodes { amount isWinner vendor { name } } }
                  winnerVendor { name }
                  contracts(first: 1, orderBy: ROW_ID_ASC) {
                    nodes {
                      number value
                      contractAmendments(orderBy: VERSION_ASC) { nodes { version value } }
                      payments(orderBy: [PAID_ON_ASC, SP2D_NUMBER_ASC]) { nodes { amount } }
                    }
                  }
                }
              }
            }
          }
        }
        progressReports(orderBy: PERIOD_ASC) {
          nodes { period physicalPercent financialPercent }
        }
        discrepancies(orderBy: ROW_ID_ASC) { nodes { rule } }
        source { rowId status }
      }
    }
  }
}
"""


# --------------------------------------------------------------------------- the comparison


def _nodes(connection: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if connection is None else list(connection["nodes"])


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _pk_of_global_id(value: str) -> int:
    """The primary key in a hub global id (base64url of `Type:pk`, unpadded)."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    return int(raw.rpartition(":")[2])


def postgraphile_as_hub(data: dict[str, Any], freshness_seconds: int) -> dict[str, Any]:
    """PostGraphile's `data` rewritten into the hub's shape, for `compare_with_hub`.

    Cursors are left out (each server has its own), and `id` is the primary key.
    """
    now = datetime.now(UTC)

    def stale(source: dict[str, Any]) -> bool:
        last = _parse_time(source["lastSuccessAt"])
        limit = timedelta(seconds=source["freshnessSeconds"] or freshness_seconds)
        return source["status"] != "OK" or last is None or now - last > limit

    def payee(p: dict[str, Any]) -> dict[str, Any] | None:
        if p["payeeVendor"] is not None:
            return {"name": p["payeeVendor"]["name"], "taxId": p["payeeVendor"]["taxId"]}
        if p["payeeName"] is None:
            return None
        return {"name": p["payeeName"], "taxId": p["payeeTaxId"]}

    def contract(c: dict[str, Any]) -> dict[str, Any]:
        return {
            "number": c["number"],
            "value": c["value"],
            "amendments": [
                {"version": a["version"], "value": a["value"]}
                for a in _nodes(c["contractAmendments"])
            ],
            "payments": [{"amount": p["amount"]} for p in _nodes(c["payments"])],
        }

    def tender(t: dict[str, Any]) -> dict[str, Any]:
        contracts = _nodes(t["contracts"])
        return {
            "code": t["code"],
            "method": t["method"],
            "ownerEstimate": t["ownerEstimate"],
            "status": t["status"],
            "bids": [
                {"amount": b["amount"], "isWinner": b["isWinner"], "vendor": b["vendor"]}
                for b in _nodes(t["bids"])
            ],
            "winner": t["winnerVendor"],
            "contract": contract(contracts[0]) if contracts else None,
        }

    def node(n: dict[str, Any]) -> dict[str, Any]:
        rollup = n["subActivityRollup"] or {}
        return {
            "id": int(n["rowId"]),
            "code": n["code"],
            "name": n["name"],
            "stage": rollup.get("stage"),
            "plannedAmount": n["plannedAmount"],
            "opd": n["opd"],
            "activity": n["activity"],
            "indicators": _nodes(n["indicators"]),
            "budget": {
                "allocated": rollup.get("allocated"),
                "paid": rollup.get("paid"),
                "lines": [
                    {
                        "accountCode": ln["accountCode"],
                        "amount": ln["amount"],
                        "provenance": {"sourceKey": ln["sourceKey"], "stale": stale(ln["source"])},
                    }
                    for ln in _nodes(n["budgetLines"])
                ],
                "payments": [
                    {
                        "sp2dNumber": p["sp2DNumber"],
                        "paidOn": p["paidOn"],
                        "amount": p["amount"],
                        "payee": payee(p),
                        "contract": p["contract"],
                    }
                    for p in _nodes(n["payments"])
                ],
            },
            "procurementPackages": [
                {
                    "rupCode": pk["rupCode"],
                    "name": pk["name"],
                    "method": pk["method"],
                    "ceiling": pk["ceiling"],
                    # A link row whose tender is not known yet is no tender (the hub joins).
                    "tenders": [
                        tender(tp["tender"])
                        for tp in _nodes(pk["tenderPackagesByPackageId"])
                        if tp["tender"] is not None
                    ],
                }
                for pk in _nodes(n["procurementPackages"])
            ],
            "progressReports": _nodes(n["progressReports"]),
            "discrepancies": _nodes(n["discrepancies"]),
            "provenance": {"source": {"id": n["source"]["rowId"], "status": n["source"]["status"]}},
        }

    connection = data["subActivities"]
    return {
        "subActivities": {
            "totalCount": connection["totalCount"],
            "pageInfo": {"hasNextPage": connection["pageInfo"]["hasNextPage"]},
            "edges": [{"node": node(edge["node"])} for edge in connection["edges"]],
        }
    }


def hub_comparable(data: dict[str, Any]) -> dict[str, Any]:
    """The hub's `data` without cursors and with `id` as the primary key."""
    connection = data["subActivities"]
    return {
        "subActivities": {
            "totalCount": connection["totalCount"],
            "pageInfo": {"hasNextPage": connection["pageInfo"]["hasNextPage"]},
            "edges": [
                {"node": {**edge["node"], "id": _pk_of_global_id(edge["node"]["id"])}}
                for edge in connection["edges"]
            ],
        }
    }


def chain_totals(data: dict[str, Any]) -> dict[str, Any]:
    """Counts of nested rows and sums of money in a hub-shaped answer, for the report."""
    edges = data["subActivities"]["edges"]
    nodes = [e["node"] for e in edges]
    packages = [pk for n in nodes for pk in n["procurementPackages"]]
    tenders = [t for pk in packages for t in pk["tenders"]]
    contracts = [t["contract"] for t in tenders if t["contract"] is not None]
    payments = [p for n in nodes for p in n["budget"]["payments"]]
    return {
        "sub activities": len(nodes),
        "nested rows": sum(
            len(n["indicators"])
            + len(n["budget"]["lines"])
            + len(n["budget"]["payments"])
            + len(n["progressReports"])
            + len(n["discrepancies"])
            for n in nodes
        )
        + len(packages)
        + len(tenders)
        + sum(len(t["bids"]) for t in tenders)
        + len(contracts)
        + sum(len(c["amendments"]) + len(c["payments"]) for c in contracts),
        "Σ paid": sum((Decimal(p["amount"]) for p in payments), Decimal(0)),
        "Σ contracted": sum((Decimal(c["value"]) for c in contracts), Decimal(0)),
    }


def compare_with_hub(
    hub_body: dict[str, Any], peer_body: dict[str, Any], freshness_seconds: int
) -> tuple[str | None, dict[str, Any]]:
    """(None, totals) when PostGraphile answered the hub's data; else (what differs, totals).

    Every value is compared, in order, once both answers are in the hub's shape; the
    totals (sub activities, nested rows, Σ paid and contracted) are PostGraphile's.
    """
    if peer_body.get("errors"):
        return f"PostGraphile errors {peer_body['errors']!r:.500}", {}
    if hub_body.get("errors") or not hub_body.get("data"):
        return f"hub errors {hub_body.get('errors')!r:.500}", {}
    try:
        peer = postgraphile_as_hub(peer_body["data"], freshness_seconds)
    except (KeyError, TypeError, ValueError) as exc:
        return f"PostGraphile answer not in the expected shape: {exc!r}", {}
    totals = chain_totals(peer)
    try:
        hub = hub_comparable(hub_body["data"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"hub answer not in the expected shape: {exc!r}", totals
    return first_difference(hub, peer, names=("hub", "PostGraphile")), totals
