"""OCDS 1.1 from the demo estate: release and record packages over HTTP and from the CLI,
valid for libcoveocds (offline), holding exactly what the viewer may see through GraphQL,
dated and idempotent; and OCP's red flags on the export against the hub's ketimpangan."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import ocdscardinal
import openpyxl
import pytest

from adapters.mapping import load_config
from estate.generate import generate_estate
from hub.auth import keys
from hub.db import asyncpg_dsn
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from tests.cardinal_equivalent import Settings as CardinalSettings
from tests.cardinal_equivalent import process_flags, tenderer_flags
from tests.conftest import Server

SECRET = "test-secret-key-for-the-open-data-suite-0123456789"
TOOLS = Path(__file__).parent / ".ocds-tools"
VALIDATOR = Path(__file__).parent / "ocds_validate.py"
YEARS = (2025, 2026)


@dataclass
class OpenData:
    store: str
    keys: dict[str, str]
    job: SyncJob
    client: httpx.AsyncClient
    app: Any

    async def get(self, path: str, role: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return await self.client.get(path, headers=headers)

    async def document(self, path: str, role: str | None = None) -> dict[str, Any]:
        response = await self.get(path, role)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def graphql(self, query: str, variables: dict[str, Any], role: str | None) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        return response.json()


@pytest.fixture(scope="module")
async def opendata(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OpenData]:
    """The small demo estate synced into a new store (the rules ran), with keys, and the
    hub in this process (public for anonymous callers)."""
    data_dir = tmp_path_factory.mktemp("opendata")
    result = await generate_estate(
        data_dir, scale="small", seed=1, pg_url=server.admin_url, mariadb_url=None,
        fiscal_years=YEARS, db_prefix=f"legacy_o{uuid.uuid4().hex[:6]}",
    )  # fmt: skip
    server.created.extend(result.postgres_databases)
    store = await server.create_database("rantai_opendata")
    await run_async(store, "upgrade", "head")
    async with SyncJob(store, load_config(result.config)) as job:
        await job.sync()
        conn = await asyncpg.connect(asyncpg_dsn(store))
        try:
            made = {
                "province": (await keys.create(conn, SECRET, "province"))[0],
                "regency": (await keys.create(conn, SECRET, "regency", "53.71"))[0],
            }
        finally:
            await conn.close()
        settings = Settings(database_url=store, secret_key=SECRET, dev_anonymous_role="public")
        app = create_app(store, settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://hub", timeout=120
            ) as client:
                yield OpenData(store, made, job, client, app)


def _install_libcoveocds() -> None:
    if (TOOLS / "libcoveocds").exists():
        return
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(TOOLS),
         "libcoveocds>=0.17"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot install libcoveocds from PyPI: {result.stderr[-300:]}")


async def validate(document: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """libcoveocds' summary of a package, offline (tests/ocds_validate.py)."""
    await asyncio.to_thread(_install_libcoveocds)
    path = tmp_path / "package.json"
    path.write_text(json.dumps(document))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(VALIDATOR), str(TOOLS), str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()[-2000:]
    summary: dict[str, Any] = json.loads(out)
    return summary


@pytest.mark.parametrize("kind", ["releases", "records"])
async def test_the_packages_validate_with_libcoveocds_without_errors(
    opendata: OpenData, tmp_path: Path, kind: str
) -> None:
    document = await opendata.document(f"/ocds/53/2025/{kind}.json", "province")
    items = document[kind]
    assert len(items) > 100  # the province and its two regencies
    summary = await validate(document, tmp_path)
    assert summary["version_used"] == "1.1"
    assert {(e["type"], e["field"]) for e in summary["validation_errors"]} == set()
    assert summary["validation_errors"] == []
    assert summary["invalid_extension"] == {}  # the bid extension was applied
    assert summary["additional_fields"] == []


def _transactions(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        t
        for r in document["releases"]
        for c in r.get("contracts", [])
        for t in c.get("implementation", {}).get("transactions", [])
    ]


COUNT = "query ($f: ProcurementPackageFilter!) { procurementPackages(filter: $f) { totalCount } }"
PAID = """query ($f: ProcurementPackageFilter!, $after: String) {
  procurementPackages(filter: $f, first: 500, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { rupCode tenders { packages { rupCode } contract { payments { amount } } } } }
  }
}"""


async def _paid_through_graphql(opendata: OpenData, region: str, role: str | None) -> list[str]:
    """The SP2D amounts GraphQL shows this viewer on the contracts the OCDS export places in
    the processes of the Pemda-year (a tender's contract in its lowest kode RUP's)."""
    amounts: list[str] = []
    after = None
    while True:
        body = await opendata.graphql(
            PAID, {"f": {"fiscalYear": 2025, "regionCode": region}, "after": after}, role
        )
        page = body["data"]["procurementPackages"]
        for edge in page["edges"]:
            node = edge["node"]
            for t in node["tenders"]:
                lowest = min((p["rupCode"] for p in t["packages"]), key=lambda c: (len(c), c))
                if lowest == node["rupCode"] and t["contract"]:
                    amounts += [p["amount"] for p in t["contract"]["payments"]]
        if not page["pageInfo"]["hasNextPage"]:
            return amounts
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("role", [None, "regency", "province"])
async def test_a_viewer_gets_exactly_what_graphql_shows_it(
    opendata: OpenData, role: str | None
) -> None:
    document = await opendata.document("/ocds/53.71/2025/releases.json", role)
    total = await opendata.graphql(COUNT, {"f": {"fiscalYear": 2025, "regionCode": "53.71"}}, role)
    assert len(document["releases"]) == total["data"]["procurementPackages"]["totalCount"]
    paid = sorted(float(a) for a in await _paid_through_graphql(opendata, "53.71", role))
    assert sorted(float(t["value"]["amount"]) for t in _transactions(document)) == paid
    identifiers = [p.get("identifier") for r in document["releases"] for p in r["parties"]]
    if role is None:  # the public: no SP2D, no NPWP
        assert paid == []
        assert not any(identifiers)
    else:
        assert paid, "a key that sees payments gets the transactions"
        assert any(identifiers)


async def test_a_pemda_the_viewer_cannot_see_is_404(opendata: OpenData) -> None:
    response = await opendata.get("/ocds/53.01/2025/releases.json", "regency")  # a 53.71 key
    assert response.status_code == 404
    assert (await opendata.get("/ocds/53.71/2025/tenders.json")).status_code == 404
    assert (await opendata.get("/ocds/53.71/tahun/releases.json")).status_code == 400
    for year in ("\uff12\uff10\uff12\uff15", "+2025", "2_025", "0002025", "1999", "2101"):
        response = await opendata.get(f"/ocds/53.71/{year}/releases.json")
        assert response.status_code == 400, year  # ASCII digits of a plausible fiscal year
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_releases_are_dated_and_idempotent(opendata: OpenData) -> None:
    first = (await opendata.get("/ocds/53.71/2025/releases.json", "province")).content
    await opendata.job.sync()  # nothing changed in the legacy systems
    again = (await opendata.get("/ocds/53.71/2025/releases.json", "province")).content
    assert first == again
    document = json.loads(first)
    ids = [r["id"] for r in document["releases"]]
    assert len(set(ids)) == len(ids)
    assert all(r["id"].startswith(r["ocid"] + "-") for r in document["releases"])
    assert document["publishedDate"] == max(r["date"] for r in document["releases"])


async def test_the_ocid_prefix_is_configurable(opendata: OpenData) -> None:
    settings = Settings(database_url=opendata.store, secret_key=SECRET, ocid_prefix="ocds-x7y8z9")
    app = create_app(opendata.store, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as c,
    ):
        document = (await c.get("/ocds/53.71/2025/releases.json")).json()
    rups = await opendata.graphql(
        "query ($f: ProcurementPackageFilter!) { procurementPackages(filter: $f, first: 500)"
        " { edges { node { rupCode } } } }",
        {"f": {"fiscalYear": 2025, "regionCode": "53.71"}},
        None,
    )
    codes = {e["node"]["rupCode"] for e in rups["data"]["procurementPackages"]["edges"]}
    assert {r["ocid"] for r in document["releases"]} == {f"ocds-x7y8z9-{c}" for c in codes}


async def test_the_cli_writes_the_same_package_as_http(opendata: OpenData, tmp_path: Path) -> None:
    out = tmp_path / "releases.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env |= {"RANTAI_DATABASE_URL": opendata.store, "RANTAI_SECRET_KEY": SECRET}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub.cli", "export", "ocds", "--region", "53.71", "--year", "2025",
         "--out", str(out), "--key", opendata.keys["province"], "--base-url", "http://hub"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    served = await opendata.document("/ocds/53.71/2025/releases.json", "province")
    assert written == served


# --- red flags: cardinal's indicators on the export against the hub's rules ----------------

INDICATORS = {
    "R003": "SHORT_BID_WINDOW",
    "R018": "SINGLE_BIDDER",
    "R024": "WINNER_CLOSE_TO_SECOND",
    "R028": "IDENTICAL_BIDS",
    "R058": "HEAVILY_DISCOUNTED_BID",
}


async def _open_findings(store: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        rows = await conn.fetch(
            "SELECT rule, subject_key FROM discrepancy WHERE resolved_at IS NULL"
        )
    finally:
        await conn.close()
    found: dict[str, set[str]] = {}
    for rule, key in rows:
        found.setdefault(rule, set()).add(key)
    return found


async def test_cardinals_red_flags_agree_with_the_hubs_findings(
    opendata: OpenData, tmp_path: Path
) -> None:
    settings = CardinalSettings()
    findings = await _open_findings(opendata.store)
    table: dict[str, tuple[int, int, int]] = {}
    for year in YEARS:
        document = await opendata.document(f"/ocds/53/{year}/records.json", "province")
        compiled = [r["compiledRelease"] for r in document["records"]]
        lines = tmp_path / f"compiled-{year}.jsonl"
        lines.write_text("".join(json.dumps(r) + "\n" for r in compiled))
        coverage = ocdscardinal.coverage(str(lines))  # the part of cardinal that runs here
        assert coverage["/bids/details[]/value/amount"] > 0
        assert coverage["/tender/tenderPeriod/endDate"] > 0
        flags = process_flags(compiled, settings)
        tender_of = {r["ocid"]: r["tender"]["id"] for r in compiled if "tender" in r}
        exported = set(tender_of.values())
        for code, rule in INDICATORS.items():
            cardinal = {tender_of[o] for o in flags.get(code, set())}
            hub = {k for k in findings.get(rule, set()) if k in exported}
            assert cardinal == hub, (code, year, cardinal ^ hub)
            both, only_hub, only_cardinal = table.get(code, (0, 0, 0))
            table[code] = (both + len(cardinal & hub), only_hub, only_cardinal)
    assert all(both > 0 for both, _, _ in table.values()), table  # each one fired
    print("agreement per indicator (both, only the hub, only cardinal):", table)


async def test_every_excessive_unsuccessful_bidder_is_one_cardinal_flags(
    opendata: OpenData,
) -> None:
    """R025 with the hub's fixed fence (≥ 10 valid bids in a Pemda-year) and cardinal's
    percentile fence (≥ the 75th percentile of all tenderers' valid bids in the export): the
    hub's findings are a subset of cardinal's, which also flags tenderers with few bids."""
    findings = await _open_findings(opendata.store)
    hub = findings.get("EXCESSIVE_UNSUCCESSFUL_BIDS", set())
    assert hub
    for region in ("53.01", "53.71"):
        for year in YEARS:
            document = await opendata.document(f"/ocds/{region}/{year}/records.json", "province")
            compiled = [r["compiledRelease"] for r in document["records"]]
            flagged = tenderer_flags(compiled, CardinalSettings())
            npwp = {
                p["id"]: p["identifier"]["id"]
                for r in compiled
                for p in r["parties"]
                if "identifier" in p
            }
            cardinal = {f"{region}/{year}/{npwp[t]}" for t in flagged if t in npwp}
            mine = {k for k in hub if k.startswith(f"{region}/{year}/")}
            assert mine <= cardinal, (region, year, mine - cardinal)
            print(f"R025 {region} {year}: hub {len(mine)}, cardinal {len(cardinal)}")


# --- downloads of ketimpangan (the demo estate has them; the synthetic store has none) ----


async def test_ketimpangan_downloads_hold_what_the_viewer_may_see_with_typed_cells(
    opendata: OpenData,
) -> None:
    path = "/export/ketimpangan.xlsx?fiscalYear=2025&open=true"
    public = openpyxl.load_workbook(io.BytesIO((await opendata.get(path)).content)).active
    response = await opendata.get(path, "province")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    headers, data = list(rows[6]), rows[7:]
    assert len(list(public.iter_rows(values_only=True))) == 7  # the public sees none
    count = await opendata.graphql(
        "{ discrepancies(filter: {fiscalYear: 2025, open: true}) { totalCount } }", {}, "province"
    )
    assert len(data) == count["data"]["discrepancies"]["totalCount"] > 0
    assert sheet["B4"].value == "province (key)"
    detected = headers.index("Terdeteksi")
    assert all(isinstance(r[detected], datetime) for r in data)
    flags = {r[headers.index("Kode aturan")]: r[headers.index("Indikator red flag (OCP)")]
             for r in data}  # fmt: skip
    assert flags.get("SINGLE_BIDDER") == "R018"
    assert flags.get("CONTRACT_NEAR_OWNER_ESTIMATE") is None  # no OCDS counterpart
