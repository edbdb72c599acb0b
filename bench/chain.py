"""The deep-chain benchmark: the hub over HTTP against a hand-written floor and PostGraphile 5.

    .venv/bin/python -m bench.chain [--sub-activities 3500] [--requests N] [--quick]

One run creates a fresh database (on RANTAI_DATABASE_URL's server, or on an embedded
PostgreSQL in a temporary folder), migrates and seeds it with the synthetic province,
serves it with the real hub (uvicorn + Starlette + Strawberry, in a separate process) and
asks it the deep chain document over HTTP. In the same run it answers the same document
with hand-written asyncpg queries (one `= ANY($1)` statement per level) serialised by
orjson: the floor a careful hand-written service would reach. And it serves the same
database with PostGraphile 5 (Node, its own process, `bench/peers.py`) asked the same chain
in its dialect over HTTP. A second floor is the hub's own compiled statement run by asyncpg
in this process (bench/breakdown.py), with the request path measured in process beside it,
to show where the hub's time goes. It checks once that the answers are the same data,
prints one line per measurement and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url

from bench.breakdown import Breakdown
from bench.jsondiff import first_difference
from bench.peers import (
    POSTGRAPHILE_DEEP_CHAIN,
    PeerUnavailable,
    PostGraphileProcess,
    compare_with_hub,
    stop_process,
)
from bench.wire import Wire
from estate.synthetic import SeedStats, seed_canonical
from hub import migrate
from hub.db import EmbeddedPostgres, normalise_database_url
from hub.serving.examples import DEEP_CHAIN
from hub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FISCAL_YEAR = 2025
MAX_PAGE_SIZE = 1000
PAGE_SIZES = (100, 1000)


# What the hub is started with: the real app under uvicorn, as `rantai serve` runs it
# (uvicorn picks uvloop and httptools when installed), minus the per-request access log.
LAUNCHER = """\
import sys
import uvicorn
from hub.serving.app import create_app
from hub.db import normalise_database_url
from hub.settings import Settings

settings = Settings(max_page_size=int(sys.argv[2]))
url = normalise_database_url(settings.database_url)
uvicorn.run(create_app(url, settings), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


# --------------------------------------------------------------------------- the store


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Store:
    """A throwaway database on a PostgreSQL server; `close()` drops it."""

    admin_dsn: str
    url: str
    name: str
    where: str
    embedded: EmbeddedPostgres | None = None
    tmpdir: str | None = None

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.url)

    @classmethod
    def open(cls) -> Store:
        configured = os.environ.get("RANTAI_DATABASE_URL")
        embedded = tmpdir = None
        if configured:
            base = normalise_database_url(configured)
            parsed = make_url(base)
            where = f"server {parsed.host or 'local socket'}:{parsed.port or 5432}"
        else:
            tmpdir = tempfile.mkdtemp(prefix="rantai-bench-")
            embedded = EmbeddedPostgres(Path(tmpdir))
            base = embedded.start()
            where = "embedded PostgreSQL (pgserver) in a temp dir"
        name = f"rantai_bench_{uuid.uuid4().hex[:10]}"
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        store = cls(asyncpg_dsn(base), url, name, where, embedded, tmpdir)
        try:
            asyncio.run(store._admin(f'CREATE DATABASE "{name}"'))
        except BaseException:
            store._stop_embedded()
            raise
        return store

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def close(self) -> None:
        try:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            self._stop_embedded()

    def _stop_embedded(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


async def seed(dsn: str, sub_activities: int, seed_value: int) -> tuple[SeedStats, str]:
    conn = await asyncpg.connect(dsn)
    try:
        stats = await seed_canonical(conn, sub_activities=sub_activities, seed=seed_value)
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return stats, str(version)


# --------------------------------------------------------------------------- the hub


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HubProcess:
    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @classmethod
    def start(
        cls,
        url: str,
        log_dir: Path,
        launcher: str = LAUNCHER,
        extra_env: dict[str, str] | None = None,
    ) -> HubProcess:
        port = free_port()
        env = {
            **os.environ,
            "RANTAI_DATABASE_URL": url,
            "RANTAI_MAX_PAGE_SIZE": str(MAX_PAGE_SIZE),
            # The floor reads every row; so does the province viewer (no key needed in a
            # development-mode hub; production refuses this setting).
            "RANTAI_DEV_ANONYMOUS_ROLE": "province",
            # Eight concurrent first=1000 answers take longer than the 15 s default.
            "RANTAI_EXECUTION_TIMEOUT_SECONDS": "300",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            **(extra_env or {}),
        }
        log_path = log_dir / "hub.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", launcher, str(port), str(MAX_PAGE_SIZE)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        hub = cls(proc, f"http://127.0.0.1:{port}", log_path)
        hub.wait_healthy()
        return hub

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the hub did not answer /healthz within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)


# --------------------------------------------------------------------------- the floor

SQL = {
    "page": "SELECT id, code, name, planned_amount, opd_id, activity_id, source_id"
    " FROM sub_activity WHERE fiscal_year = $1 ORDER BY code, id LIMIT $2",
    "count": "SELECT count(*) FROM sub_activity WHERE fiscal_year = $1",
    "rollup": "SELECT sub_activity_id, stage, allocated, paid FROM sub_activity_rollup"
    " WHERE sub_activity_id = ANY($1::bigint[])",
    "opd": "SELECT id, code, name, region_id FROM opd WHERE id = ANY($1::bigint[])",
    "region": "SELECT id, code, name FROM region WHERE id = ANY($1::bigint[])",
    "activity": "SELECT id, code, program_id FROM activity WHERE id = ANY($1::bigint[])",
    "program": "SELECT id, code FROM program WHERE id = ANY($1::bigint[])",
    "indicator": "SELECT sub_activity_id, description, target FROM indicator"
    " WHERE sub_activity_id = ANY($1::bigint[]) ORDER BY sub_activity_id, seq",
    "line": "SELECT sub_activity_id, account_code, amount, source_key, source_id FROM budget_line"
    " WHERE sub_activity_id = ANY($1::bigint[]) ORDER BY sub_activity_id, account_code",
    "payment": "SELECT sub_activity_id, sp2d_number, paid_on, amount, payee_vendor_id, payee_name,"
    " payee_tax_id, contract_id FROM payment WHERE sub_activity_id = ANY($1::bigint[])"
    " ORDER BY sub_activity_id, paid_on, sp2d_number",
    "package": "SELECT sub_activity_id, id, rup_code, name, method, ceiling"
    " FROM procurement_package WHERE sub_activity_id = ANY($1::bigint[])"
    " ORDER BY sub_activity_id, rup_code",
    "tender": "SELECT tp.package_id, t.id, t.code, t.method, t.owner_estimate, t.status,"
    " t.winner_vendor_id"
    " FROM tender_package tp JOIN tender t ON t.id = tp.tender_id"
    " WHERE tp.package_id = ANY($1::bigint[]) ORDER BY tp.package_id, t.code",
    "bid": "SELECT tender_id, amount, is_winner, vendor_id FROM bid"
    " WHERE tender_id = ANY($1::bigint[]) ORDER BY tender_id, id",
    "contract_by_tender": "SELECT DISTINCT ON (tender_id) tender_id, id, number, value"
    " FROM contract WHERE tender_id = ANY($1::bigint[]) ORDER BY tender_id, id",
    "amendment": "SELECT contract_id, version, value FROM contract_amendment"
    " WHERE contract_id = ANY($1::bigint[]) ORDER BY contract_id, version",
    "contract_payment": "SELECT contract_id, amount FROM payment"
    " WHERE contract_id = ANY($1::bigint[]) ORDER BY contract_id, paid_on, sp2d_number",
    "contract_number": "SELECT id, number FROM contract WHERE id = ANY($1::bigint[])",
    "vendor": "SELECT id, name, tax_id FROM vendor WHERE id = ANY($1::bigint[])",
    "progress": "SELECT sub_activity_id, period, physical_percent, financial_percent"
    " FROM progress_report"
    " WHERE sub_activity_id = ANY($1::bigint[]) ORDER BY sub_activity_id, period",
    "discrepancy": "SELECT sub_activity_id, rule FROM discrepancy"
    " WHERE sub_activity_id = ANY($1::bigint[]) ORDER BY sub_activity_id, id",
    "source": "SELECT id, status, last_success_at, freshness_seconds FROM source"
    " WHERE id = ANY($1::text[])",
}
EMPTY: tuple[()] = ()


def _gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _cursor(code: str, pk: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["SubActivity", code, pk])).decode().rstrip("=")


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _by_id(rows: Sequence[asyncpg.Record]) -> dict[Any, asyncpg.Record]:
    return {r["id"]: r for r in rows}


def _group(rows: Sequence[asyncpg.Record]) -> dict[Any, list[asyncpg.Record]]:
    groups: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        groups[r[0]].append(r)
    return groups


def _ids(values: Any) -> list[Any]:
    return list({v for v in values if v is not None})


async def floor_chain(conn: asyncpg.Connection, first: int, freshness_seconds: int) -> bytes:
    """The deep chain document answered by hand: one statement per level, orjson out."""
    f = conn.fetch
    page = await f(SQL["page"], FISCAL_YEAR, first + 1)  # one more: hasNextPage
    has_next_page = len(page) > first
    page = page[:first]
    total = await conn.fetchval(SQL["count"], FISCAL_YEAR)
    sa_ids = [r["id"] for r in page]

    rollup = {r["sub_activity_id"]: r for r in await f(SQL["rollup"], sa_ids)}
    opds = _by_id(await f(SQL["opd"], _ids(r["opd_id"] for r in page)))
    regions = _by_id(await f(SQL["region"], _ids(o["region_id"] for o in opds.values())))
    activities = _by_id(await f(SQL["activity"], _ids(r["activity_id"] for r in page)))
    programs = _by_id(await f(SQL["program"], _ids(a["program_id"] for a in activities.values())))
    indicators = _group(await f(SQL["indicator"], sa_ids))
    line_rows = await f(SQL["line"], sa_ids)
    lines = _group(line_rows)
    payment_rows = await f(SQL["payment"], sa_ids)
    payments = _group(payment_rows)
    payment_contracts = {
        r["id"]: r["number"]
        for r in await f(SQL["contract_number"], _ids(p["contract_id"] for p in payment_rows))
    }
    package_rows = await f(SQL["package"], sa_ids)
    packages = _group(package_rows)
    tender_rows = await f(SQL["tender"], [p["id"] for p in package_rows])
    tenders = _group(tender_rows)
    tender_ids = _ids(t["id"] for t in tender_rows)
    bid_rows = await f(SQL["bid"], tender_ids)
    bids = _group(bid_rows)
    contracts = {r["tender_id"]: r for r in await f(SQL["contract_by_tender"], tender_ids)}
    contract_ids = [c["id"] for c in contracts.values()]
    amendments = _group(await f(SQL["amendment"], contract_ids))
    contract_payments = _group(await f(SQL["contract_payment"], contract_ids))
    vendor_ids = {b["vendor_id"] for b in bid_rows}
    vendor_ids.update(t["winner_vendor_id"] for t in tender_rows)
    vendor_ids.update(p["payee_vendor_id"] for p in payment_rows)
    vendors = _by_id(await f(SQL["vendor"], _ids(vendor_ids)))
    progress = _group(await f(SQL["progress"], sa_ids))
    discrepancies = _group(await f(SQL["discrepancy"], sa_ids))
    source_ids = {r["source_id"] for r in page}
    source_ids.update(r["source_id"] for r in line_rows)
    sources = _by_id(await f(SQL["source"], list(source_ids)))

    now = datetime.now(UTC)
    stale = {
        sid: s["status"] != "OK"
        or s["last_success_at"] is None
        or now - s["last_success_at"]
        > timedelta(seconds=s["freshness_seconds"] or freshness_seconds)
        for sid, s in sources.items()
    }

    def payee(p: asyncpg.Record) -> dict[str, Any] | None:
        vendor_id = p["payee_vendor_id"]
        if vendor_id is None:
            if p["payee_name"] is None:
                return None
            return {"name": p["payee_name"], "taxId": p["payee_tax_id"]}
        v = vendors.get(vendor_id)
        return {"name": v["name"], "taxId": v["tax_id"]} if v is not None else None

    def contract(tender_id: int) -> dict[str, Any] | None:
        c = contracts.get(tender_id)
        if c is None:
            return None
        cid = c["id"]
        return {
            "number": c["number"],
            "value": str(c["value"]),
            "amendments": [
                {"version": a["version"], "value": str(a["value"])}
                for a in amendments.get(cid, EMPTY)
            ],
            "payments": [{"amount": str(p["amount"])} for p in contract_payments.get(cid, EMPTY)],
        }

    def tender(t: asyncpg.Record) -> dict[str, Any]:
        tid = t["id"]
        winner = vendors.get(t["winner_vendor_id"])
        return {
            "code": t["code"],
            "method": t["method"],
            "ownerEstimate": _dec(t["owner_estimate"]),
            "status": t["status"],
            "bids": [
                {
                    "amount": _dec(b["amount"]),
                    "isWinner": b["is_winner"],
                    "vendor": {"name": vendors[b["vendor_id"]]["name"]},
                }
                for b in bids.get(tid, EMPTY)
            ],
            "winner": {"name": winner["name"]} if winner is not None else None,
            "contract": contract(tid),
        }

    edges = []
    for s in page:
        sid = s["id"]
        roll = rollup[sid]
        opd = opds[s["opd_id"]]
        region = regions[opd["region_id"]]
        activity = activities[s["activity_id"]]
        source = sources[s["source_id"]]
        node = {
            "id": _gid("SubActivity", sid),
            "code": s["code"],
            "name": s["name"],
            "stage": roll["stage"],
            "plannedAmount": _dec(s["planned_amount"]),
            "opd": {
                "code": opd["code"],
                "name": opd["name"],
                "region": {"code": region["code"], "name": region["name"]},
            },
            "activity": {
                "code": activity["code"],
                "program": {"code": programs[activity["program_id"]]["code"]},
            },
            "indicators": [
                {"description": i["description"], "target": _dec(i["target"])}
                for i in indicators.get(sid, EMPTY)
            ],
            "budget": {
                "allocated": str(roll["allocated"]),
                "paid": str(roll["paid"]),
                "lines": [
                    {
                        "accountCode": ln["account_code"],
                        "amount": str(ln["amount"]),
                        "provenance": {
                            "sourceKey": ln["source_key"],
                            "stale": stale[ln["source_id"]],
                        },
                    }
                    for ln in lines.get(sid, EMPTY)
                ],
                "payments": [
                    {
                        "sp2dNumber": p["sp2d_number"],
                        "paidOn": p["paid_on"],  # a date: orjson writes it ISO 8601
                        "amount": str(p["amount"]),
                        "payee": payee(p),
                        "contract": (
                            {"number": payment_contracts[p["contract_id"]]}
                            if p["contract_id"] in payment_contracts
                            else None
                        ),
                    }
                    for p in payments.get(sid, EMPTY)
                ],
            },
            "procurementPackages": [
                {
                    "rupCode": pk["rup_code"],
                    "name": pk["name"],
                    "method": pk["method"],
                    "ceiling": str(pk["ceiling"]),
                    "tenders": [tender(t) for t in tenders.get(pk["id"], EMPTY)],
                }
                for pk in packages.get(sid, EMPTY)
            ],
            "progressReports": [
                {
                    "period": r["period"],
                    "physicalPercent": str(r["physical_percent"]),
                    "financialPercent": str(r["financial_percent"]),
                }
                for r in progress.get(sid, EMPTY)
            ],
            "discrepancies": [{"rule": d["rule"]} for d in discrepancies.get(sid, EMPTY)],
            "provenance": {"source": {"id": source["id"], "status": source["status"]}},
        }
        edges.append({"cursor": _cursor(s["code"], sid), "node": node})
    page_info = {
        "hasNextPage": has_next_page,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    connection = {"totalCount": total, "pageInfo": page_info, "edges": edges}
    return orjson.dumps({"data": {"subActivities": connection}})


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    sequential: list[float] = field(default_factory=list)  # seconds per request
    concurrent_wall: float = 0.0
    concurrent_requests: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.sequential)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def mean(self) -> float:
        return sum(self.sequential) / len(self.sequential)

    @property
    def throughput(self) -> float:
        return self.concurrent_requests / self.concurrent_wall


async def measure(
    call: Callable[[], Awaitable[bytes]],
    *,
    warmup: int,
    sequential: int,
    concurrent: int,
    concurrency: int,
) -> Result:
    result = Result()
    for _ in range(warmup):
        await call()
    gc.collect()
    for _ in range(sequential):
        started = time.perf_counter()
        await call()
        result.sequential.append(time.perf_counter() - started)
    gc.collect()
    remaining = concurrent

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.concurrent_wall = time.perf_counter() - started
    result.concurrent_requests = concurrent
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def rate(per_second: float) -> str:
    return f"{per_second:.2f}" if per_second < 10 else f"{per_second:.1f}"


def report(first: int, hub: Result, floor: Result, concurrency: int) -> None:
    """The floor's lines: latency hub/floor, throughput floor/hub (both ≤ 2)."""
    _report(first, hub, floor, "floor", "", concurrency, hub_over_baseline=False)


def report_postgraphile(first: int, hub: Result, peer: Result, concurrency: int) -> None:
    """PostGraphile's lines: both ratios are hub/PostGraphile (≤ 1 latency, ≥ 1 throughput)."""
    suffix = " (hub/postgraphile)"
    _report(first, hub, peer, "postgraphile", suffix, concurrency, hub_over_baseline=True)


def _report(
    first: int,
    hub: Result,
    baseline: Result,
    name: str,
    suffix: str,
    concurrency: int,
    *,
    hub_over_baseline: bool,
) -> None:
    """One line per latency figure and one for throughput, as bench/run.py parses them."""
    label = f"chain first={first}"
    for figure, ours, theirs in (
        ("latency p50", hub.percentile(0.50), baseline.percentile(0.50)),
        ("latency p95", hub.percentile(0.95), baseline.percentile(0.95)),
        ("latency mean", hub.mean, baseline.mean),
    ):
        print(
            f"{label} {figure}: hub {ms(ours)}  {name} {ms(theirs)}  "
            f"ratio {ours / theirs:.2f}x{suffix}",
            flush=True,
        )
    if hub_over_baseline:
        ratio, direction = hub.throughput / baseline.throughput, suffix
    else:
        ratio, direction = baseline.throughput / hub.throughput, " (floor/hub)"
    print(
        f"{label} throughput c={concurrency}: hub {rate(hub.throughput)} req/s  "
        f"{name} {rate(baseline.throughput)} req/s  ratio {ratio:.2f}x{direction}",
        flush=True,
    )


def report_compiled(first: int, hub: Result, compiled: Result, concurrency: int) -> None:
    """The compiled floor's lines: hub/compiled statement, latency and throughput."""
    label = f"chain first={first}"
    ours, theirs = hub.percentile(0.50), compiled.percentile(0.50)
    print(
        f"{label} latency p50: hub {ms(ours)}  compiled {ms(theirs)}  "
        f"ratio {ours / theirs:.2f}x (hub/compiled)",
        flush=True,
    )
    print(
        f"{label} throughput c={concurrency}: hub {rate(hub.throughput)} req/s  "
        f"compiled {rate(compiled.throughput)} req/s  "
        f"ratio {compiled.throughput / hub.throughput:.2f}x (compiled/hub)",
        flush=True,
    )


def report_breakdown(first: int, hub: Result, path: Result, compiled: Result, split: Any) -> None:
    """Where the hub's median request goes: the statement, the request path around it,
    encoding, and HTTP with uvicorn. Each part is a difference of medians measured apart,
    so a small one can come out below zero: it is within the noise."""
    statement = compiled.percentile(0.50)
    handle, encode = split.median("handle"), split.median("encode")
    over_http = hub.percentile(0.50)
    print(
        f"chain first={first} breakdown p50: over HTTP {ms(over_http)} = "
        f"compiled statement {ms(statement)} + request path {ms(handle - statement)} "
        f"+ encoding {ms(encode)} + HTTP and uvicorn {ms(over_http - handle - encode)}",
        flush=True,
    )


def report_postgraphile_missing(first: int, reason: str) -> None:
    print(f"chain first={first} postgraphile: not measured ({reason})", flush=True)


@dataclass
class Plan:
    warmup: int
    sequential: dict[int, int]
    concurrent: dict[int, int]
    concurrency: int


def plan_for(args: argparse.Namespace) -> Plan:
    if args.requests is not None:
        sequential = dict.fromkeys(PAGE_SIZES, args.requests)
    elif args.quick:
        sequential = {100: 20, 1000: 3}
    else:
        sequential = {100: 100, 1000: 20}
    # About as many concurrent requests, a whole number per client so no tail runs alone.
    c = args.concurrency
    concurrent = {k: c * max(1, round(v / c)) for k, v in sequential.items()}
    return Plan(1 if args.quick else 3, sequential, concurrent, args.concurrency)


async def run_benchmark(
    store: Store,
    hub: HubProcess,
    plan: Plan,
    peer: PostGraphileProcess | None = None,
    peer_missing: str = "not started",
) -> bool:
    freshness = Settings().source_freshness_seconds
    body = {
        first: orjson.dumps(
            {"query": DEEP_CHAIN, "variables": {"fiscalYear": FISCAL_YEAR, "first": first}}
        )
        for first in PAGE_SIZES
    }
    peer_body = {
        first: orjson.dumps(
            {
                "query": POSTGRAPHILE_DEEP_CHAIN,
                "variables": {"fiscalYear": FISCAL_YEAR, "first": first},
            }
        )
        for first in PAGE_SIZES
    }
    all_equal = True
    breakdown = await Breakdown.open(store.url, MAX_PAGE_SIZE)
    pool = await asyncpg.create_pool(
        store.dsn,
        min_size=plan.concurrency,
        max_size=plan.concurrency,
        server_settings={"jit": "off", "application_name": "rantai-bench-floor"},
    )
    try:
        async with (
            Wire(hub.base_url, plan.concurrency) as client,
            Wire(
                peer.base_url if peer is not None else "http://127.0.0.1", plan.concurrency
            ) as peer_client,
        ):
            for first in PAGE_SIZES:

                async def hub_call(first: int = first) -> bytes:
                    return await client.post("/graphql", body[first])

                async def floor_call(first: int = first) -> bytes:
                    async with pool.acquire() as conn:
                        return await floor_chain(conn, first, freshness)

                variables = {"fiscalYear": FISCAL_YEAR, "first": first}

                async def compiled_call(variables: dict[str, Any] = variables) -> bytes:
                    async with pool.acquire() as conn:
                        return await breakdown.compiled_floor(conn, variables)

                async def path_call(variables: dict[str, Any] = variables) -> bytes:
                    return await breakdown.request_path(variables)

                async def peer_call(first: int = first) -> bytes:
                    return await peer_client.post("/graphql", peer_body[first])

                # Verify once: the floor's JSON is the hub's `data`.
                hub_body = orjson.loads(await hub_call())
                floor_bytes = await floor_call()
                floor_body = orjson.loads(floor_bytes)
                if "errors" in hub_body:
                    all_equal = False
                    print(f"verify first={first}: HUB ERRORS {hub_body['errors']!r:.500}")
                edges = len((hub_body.get("data") or {}).get("subActivities", {}).get("edges", []))
                diff = first_difference(hub_body.get("data"), floor_body["data"])
                if diff is None:
                    print(
                        f"verify first={first}: floor JSON equals the hub's data "
                        f"({edges} edges, {len(floor_bytes) / 1024:.0f} KiB)",
                        flush=True,
                    )
                else:
                    all_equal = False
                    print(f"verify first={first}: MISMATCH {diff}", flush=True)
                compiled_diff = first_difference(
                    hub_body.get("data"), orjson.loads(await compiled_call())["data"]
                )
                if compiled_diff is None:
                    print(f"verify first={first}: the compiled statement's JSON is the hub's data")
                else:
                    all_equal = False
                    print(f"verify first={first}: compiled MISMATCH {compiled_diff}", flush=True)

                # And once: PostGraphile's answer, in the hub's shape, is the hub's `data`.
                peer_ok = peer is not None
                if peer is not None:
                    try:
                        peer_bytes = await peer_call()
                    except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                        peer_ok = False
                        peer_missing = f"PostGraphile failed: {exc!s:.300}"
                    else:
                        peer_diff, totals = compare_with_hub(
                            hub_body, orjson.loads(peer_bytes), freshness
                        )
                        summary = ", ".join(f"{k} {v:,}" for k, v in totals.items())
                        if peer_diff is None:
                            print(
                                f"verify first={first}: PostGraphile's data equals the hub's "
                                f"({summary}; {len(peer_bytes) / 1024:.0f} KiB)",
                                flush=True,
                            )
                        else:
                            all_equal = False
                            print(
                                f"verify first={first}: PostGraphile MISMATCH {peer_diff}"
                                + (f" (PostGraphile: {summary})" if summary else ""),
                                flush=True,
                            )

                kwargs = {
                    "warmup": plan.warmup,
                    "sequential": plan.sequential[first],
                    "concurrent": plan.concurrent[first],
                    "concurrency": plan.concurrency,
                }
                hub_result = await measure(hub_call, **kwargs)
                floor_result = await measure(floor_call, **kwargs)
                report(first, hub_result, floor_result, plan.concurrency)
                compiled_result = await measure(compiled_call, **kwargs)
                report_compiled(first, hub_result, compiled_result, plan.concurrency)
                path_result = await measure(path_call, **{**kwargs, "concurrent": 0})
                report_breakdown(
                    first, hub_result, path_result, compiled_result, breakdown.split[first]
                )
                if peer_ok:
                    try:
                        peer_result = await measure(peer_call, **kwargs)
                    except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                        peer_missing = f"PostGraphile failed: {exc!s:.300}"
                        report_postgraphile_missing(first, peer_missing)
                    else:
                        report_postgraphile(first, hub_result, peer_result, plan.concurrency)
                else:
                    report_postgraphile_missing(first, peer_missing)
    finally:
        await pool.close()
        await breakdown.close()
    return all_equal


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def event_loop_policy() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chain", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--sub-activities", type=int, default=3500, help="scale (default 3500)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic seed (default 1)")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="sequential requests per page size (the concurrent run does about as many, "
        "a whole number per client); "
        "default 100 for first=100 and 20 for first=1000, --quick 20 and 3",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--quick", action="store_true", help="fewer requests (about 2 minutes)")
    parser.add_argument(
        "--no-postgraphile",
        action="store_true",
        help="leave the PostGraphile 5 peer out (its lines say it was not measured)",
    )
    args = parser.parse_args(argv)
    # pgserver asks platformdirs for a runtime dir that containers often lack; harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    plan = plan_for(args)
    loop_name = event_loop_policy()

    began = time.perf_counter()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    store = Store.open()
    hub: HubProcess | None = None
    peer: PostGraphileProcess | None = None
    peer_missing = "--no-postgraphile"
    logs = tempfile.mkdtemp(prefix="rantai-bench-logs-")
    try:
        migrate.upgrade(store.url)
        seeded = time.perf_counter()
        stats, pg_version = asyncio.run(seed(store.dsn, args.sub_activities, args.seed))
        seeded = time.perf_counter() - seeded
        print(
            f"machine: nproc {affinity} ({cpu_model()}), {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, "
            f"PostgreSQL {pg_version.split()[0]} ({store.where})",
            flush=True,
        )
        counts = stats.counts
        print(
            f"scale: seed {args.seed}, {counts.get('sub_activity', 0)} sub-activities "
            f"(FY {stats.fiscal_year}), {counts.get('procurement_package', 0)} packages, "
            f"{counts.get('tender', 0)} tenders, {counts.get('bid', 0)} bids, "
            f"{counts.get('contract', 0)} contracts, {counts.get('payment', 0)} payments, "
            f"{sum(counts.values())} rows; seeded in {seeded:.1f} s",
            flush=True,
        )
        print(
            f"runs: warm-up {plan.warmup}, sequential "
            + ", ".join(f"{n} (first={k})" for k, n in plan.sequential.items())
            + f", concurrent c={plan.concurrency} "
            + ", ".join(f"{n} (first={k})" for k, n in plan.concurrent.items()),
            flush=True,
        )
        print(
            "hub: uvicorn (1 worker) in its own process, POST /graphql over loopback, a lean "
            "keep-alive client (bench/wire.py); floor: in-process asyncpg pool + orjson, "
            f"no HTTP; bench loop {loop_name}",
            flush=True,
        )
        hub = HubProcess.start(store.url, Path(logs))
        if not args.no_postgraphile:
            try:
                peer = PostGraphileProcess.start(store.dsn, Path(logs))
            except PeerUnavailable as exc:
                peer_missing = str(exc).splitlines()[0]
                print(f"postgraphile: not measured: {exc}", flush=True)
            else:
                print(
                    f"postgraphile: PostGraphile {peer.version} on Node {peer.node_version} "
                    "(Amber preset, simplified inflection, Promise.withResolvers polyfill), own "
                    "process, POST /graphql over loopback, the same client; its dialect of the "
                    "document (bench/peers.py)",
                    flush=True,
                )
        equal = asyncio.run(run_benchmark(store, hub, plan, peer, peer_missing))
        if not equal:
            print(
                "note: the floor, PostGraphile and the hub disagreed (see MISMATCH above); "
                "numbers still shown"
            )
    finally:
        if peer is not None:
            peer.stop()
        if hub is not None:
            hub.stop()
        shutil.rmtree(logs, ignore_errors=True)
        store.close()
    print(f"total: {time.perf_counter() - began:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
