"""Ketimpangan: the rules on the demo estate, their thresholds, incremental runs, events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.mapping import load_config
from estate.generate import EstateResult, generate_estate
from hub.db import asyncpg_dsn
from hub.discrepancies.engine import DiscrepancyEngine
from hub.discrepancies.rules import BY_CODE, RULES
from hub.discrepancies.thresholds import ThresholdError, Thresholds, load_thresholds
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import Server, running
from tests.test_subscriptions import next_message, subscribe

YEARS = (2025, 2026)


@dataclass
class Estate:
    result: EstateResult
    manifest: dict[str, Any]
    store: str  # SQLAlchemy URL of the synced store
    engine: SyncJob

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.store)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def open(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {r.code: set() for r in RULES}
        for row in await self.fetch(
            "SELECT rule, subject_key FROM discrepancy WHERE resolved_at IS NULL"
        ):
            found[row[0]].add(row[1])
        return found

    async def legacy(self, source: str, sql: str, *args: Any) -> None:
        conn = await asyncpg.connect(self.manifest["sources"][source]["url"])
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Estate]:
    """The small demo estate (finance on SQLite) synced into a new store; the sync ran the
    rules on everything it wrote."""
    data_dir: Path = tmp_path_factory.mktemp("ketimpangan")
    result = await generate_estate(
        data_dir,
        scale="small",
        seed=1,
        pg_url=server.admin_url,
        mariadb_url=None,
        fiscal_years=YEARS,
        db_prefix=f"legacy_k{uuid.uuid4().hex[:6]}",
    )
    server.created.extend(result.postgres_databases)
    manifest = json.loads(result.manifest.read_text())
    store = await server.create_database("rantai_ketimpangan")
    await run_async(store, "upgrade", "head")
    async with SyncJob(store, load_config(result.config)) as engine:
        await engine.sync()
        yield Estate(result, manifest, store, engine)


def expected(manifest: dict[str, Any]) -> dict[str, set[str]]:
    out = {}
    for rule, entry in manifest["discrepancies"].items():
        assert entry["count"] == len(entry["examples"]), "the manifest lists every key"
        out[rule] = set(entry["examples"])
    return out


async def test_the_seeded_ketimpangan_are_found_exactly(estate: Estate) -> None:
    report = estate.engine.discrepancy_report
    assert report is not None
    assert report.rules == len(RULES)  # the first sync changed every Pemda-year
    want = expected(estate.manifest)
    assert set(want) == {r.code for r in RULES}  # every family of DOMAIN.md has its rule
    got = await estate.open()
    for rule in RULES:
        assert got[rule.code] == want[rule.code], rule.code  # none missed, none extra
    rows = await estate.fetch(
        """SELECT d.*, r.code AS region FROM discrepancy d JOIN region r ON r.id = d.region_id"""
    )
    assert len(rows) == sum(len(v) for v in want.values())
    for row in rows:
        assert row["severity"] in ("INFO", "WARNING", "CRITICAL")
        assert row["message"][:1].isupper()
        evidence = json.loads(row["evidence"])
        assert evidence, row["rule"]
        assert all({"entity", "id", "field", "value"} <= set(e) for e in evidence)
        if "/" in row["subject_key"] and row["subject_key"][:2] == "53":
            assert row["subject_key"].startswith(row["region"] + "/")
        assert row["fiscal_year"] in YEARS


async def test_a_run_on_unchanged_data_changes_nothing(estate: Estate) -> None:
    before = await estate.fetch("SELECT max(id) FROM outbox")
    rows_before = await estate.fetch("SELECT * FROM discrepancy ORDER BY id")
    conn = await asyncpg.connect(estate.dsn)
    try:
        # The estate's reference day (rantai.toml), as the sync's runs had it.
        engine = DiscrepancyEngine(load_thresholds(estate.result.config))
        full = await engine.run(conn, full=True)
        again = await engine.run(conn)
    finally:
        await conn.close()
    assert (full.raised, full.resolved, full.updated) == (0, 0, 0)
    assert full.rules == len(RULES)
    assert (again.rules, again.changes) == (0, 0)  # nothing new in the change feed
    assert await estate.fetch("SELECT max(id) FROM outbox") == before
    assert await estate.fetch("SELECT * FROM discrepancy ORDER BY id") == rows_before


async def test_after_a_sync_only_the_rules_of_what_changed_run_where_it_changed(
    estate: Estate,
) -> None:
    # One SP2D of the province changes: only payment rules, only on 53's year.
    await estate.legacy(
        "bpbj-53",  # any SQL source will do to prove the rest is left alone; here: a tender
        """UPDATE spse_tender SET nama_paket = nama_paket || ' (revisi)',
           auditupdate = (SELECT max(auditupdate) FROM spse_tender) + interval '1 second'
           WHERE kd_tender = (SELECT min(kd_tender) FROM spse_tender)""",
    )
    await estate.engine.sync()
    report = estate.engine.discrepancy_report
    assert report is not None
    assert not report.full
    tender_rules = {r.code for r in RULES if "Tender" in r.depends}
    assert set(report.by_rule) == tender_rules
    assert report.partitions == 1
    assert (report.raised, report.resolved) == (0, 0)


async def _contract_above(estate: Estate) -> tuple[str, str]:
    keys = sorted(
        k for k in expected(estate.manifest)["CONTRACT_ABOVE_OWNER_ESTIMATE"] if k.startswith("53/")
    )
    number = keys[0].split("/", 1)[1]
    return keys[0], number


async def test_a_fix_resolves_it_and_a_relapse_raises_it_again_live(estate: Estate) -> None:
    """Live, and resumed: the relapse happens while the subscriber is away, and it gets it
    on return by giving the cursor of the last event it saw."""
    key, number = await _contract_above(estate)
    [(hps, signed)] = await estate.fetch(
        """SELECT t.owner_estimate, c.original_value FROM contract c
           JOIN tender t ON t.code = c.tender_code
           WHERE c.number = $1 AND c.region_id = (SELECT id FROM region WHERE code = '53')""",
        number,
    )
    app = create_app(estate.store, Settings(database_url=estate.store))
    query = """subscription ($filter: DiscrepancyFilter, $after: String) {
        discrepancyEvents(filter: $filter, after: $after) {
          cursor
          raised
          discrepancy {
            rule message resolvedAt region { code } evidence { entity field value }
          }
        }
    }"""
    variables = {"filter": {"rule": "CONTRACT_ABOVE_OWNER_ESTIMATE", "regionCode": "53"}}
    bump = """UPDATE spse_kontrak SET nilai_kontrak = $1,
              auditupdate = (SELECT max(auditupdate) FROM spse_kontrak) + interval '1 second'
              WHERE no_kontrak = $2"""
    async with running(app) as port:
        url = f"ws://127.0.0.1:{port}/graphql"
        async with subscribe(url, variables, query=query) as ws:
            await asyncio.sleep(0.3)
            await estate.legacy("bpbj-53", bump, hps * 95 / 100, number)  # fixed: 5% under
            await estate.engine.sync()
            fixed = await next_message(ws)
        [row] = await estate.fetch(
            "SELECT resolved_at FROM discrepancy WHERE subject_key = $1", key
        )
        assert row[0] is not None
        await estate.legacy("bpbj-53", bump, signed, number)  # back above HPS, while away
        await estate.engine.sync()
        after = fixed["payload"]["data"]["discrepancyEvents"]["cursor"]
        async with subscribe(url, {**variables, "after": after}, query=query) as ws:
            relapsed = await next_message(ws)
    event = fixed["payload"]["data"]["discrepancyEvents"]
    assert event["raised"] is False
    assert event["discrepancy"]["rule"] == "CONTRACT_ABOVE_OWNER_ESTIMATE"
    assert event["discrepancy"]["region"]["code"] == "53"
    again = relapsed["payload"]["data"]["discrepancyEvents"]
    assert again["raised"] is True
    assert again["discrepancy"]["resolvedAt"] is None
    assert "melebihi HPS" in again["discrepancy"]["message"]
    assert {"Contract", "Tender"} == {e["entity"] for e in again["discrepancy"]["evidence"]}
    assert key in (await estate.open())["CONTRACT_ABOVE_OWNER_ESTIMATE"]


# --- thresholds, at their edges -----------------------------------------------------------


async def _fires(conn: asyncpg.Connection, rule: str, subject: str, t: Thresholds) -> bool:
    """Run every rule in full inside the caller's transaction; whether `rule` holds
    `subject` open afterwards."""
    await DiscrepancyEngine(t).run(conn, full=True)
    found = await conn.fetchval(
        "SELECT count(*) FROM discrepancy WHERE rule = $1 AND subject_key = $2 "
        "AND resolved_at IS NULL",
        rule,
        subject,
    )
    return bool(found)


@dataclass(frozen=True)
class Edge:
    rule: str
    setup: str  # SQL on the clean row chosen by `pick`; $1 is its id
    fires: bool


CLEAN_CONTRACT = """SELECT c.id, r.code || '/' || c.number FROM contract c
    JOIN region r ON r.id = c.region_id JOIN tender t ON t.code = c.tender_code
    WHERE NOT EXISTS (SELECT 1 FROM discrepancy d WHERE d.subject_key IN
        (r.code || '/' || c.number, t.code)) AND t.method = 'Tender'
    AND EXISTS (SELECT 1 FROM tender_package tp WHERE tp.tender_code = t.code)
    ORDER BY c.id LIMIT 1"""
CLEAN_TENDER = """SELECT t.id, t.code FROM tender t
    WHERE NOT EXISTS (SELECT 1 FROM discrepancy d WHERE d.subject_key = t.code)
    AND t.method = 'Tender' AND EXISTS (SELECT 1 FROM contract c WHERE c.tender_code = t.code)
    AND (SELECT count(*) FROM bid b WHERE b.tender_code = t.code AND b.amount IS NOT NULL) >= 2
    ORDER BY t.id LIMIT 1"""
CLEAN_INDICATOR = """SELECT i.id, r.code || '/' || i.fiscal_year || '/' || i.sub_activity_code
    || '/' || i.seq FROM indicator i JOIN region r ON r.id = i.region_id
    WHERE i.target > 0 ORDER BY i.id LIMIT 1"""
CLEAN_REPORT = """SELECT lp.id, r.code || '/' || lp.fiscal_year || '/' || lp.sub_activity_code
    FROM latest_progress lp JOIN region r ON r.id = lp.region_id WHERE lp.quarter = 3
    AND NOT EXISTS (SELECT 1 FROM discrepancy d WHERE d.rule = 'PROGRESS_BEHIND_SCHEDULE'
        AND d.subject_key = r.code || '/' || lp.fiscal_year || '/' || lp.sub_activity_code)
    ORDER BY lp.id LIMIT 1"""
# A clean contract in whole rupiah with an end date, whose tender's packages have a sub
# kegiatan with a quarterly progress report.
CLEAN_PROGRESSING_CONTRACT = """SELECT c.id, r.code || '/' || c.number FROM contract c
    JOIN region r ON r.id = c.region_id JOIN tender t ON t.code = c.tender_code
    WHERE NOT EXISTS (SELECT 1 FROM discrepancy d WHERE d.subject_key IN
        (r.code || '/' || c.number, t.code)) AND t.method = 'Tender'
    AND c.value = trunc(c.value) AND c.ends_on IS NOT NULL
    AND EXISTS (SELECT 1 FROM tender_package tp
        JOIN procurement_package pk ON pk.rup_code = tp.rup_code
        JOIN sub_activity s ON s.id = pk.sub_activity_id
        JOIN latest_progress lp ON lp.region_id = s.region_id
             AND lp.fiscal_year = s.fiscal_year AND lp.sub_activity_code = s.code
        WHERE tp.tender_code = t.code)
    ORDER BY c.id LIMIT 1"""
# The contract's payments replaced by one SP2D (`amount` and `paid_on` of contract `c`)
# in its tender's fiscal year.
PAID_ONCE = """DELETE FROM payment WHERE (region_id, contract_number) =
        (SELECT region_id, number FROM contract WHERE id = $1);
    INSERT INTO payment (region_id, fiscal_year, sp2d_number, paid_on, amount,
        contract_number, source_id, source_key)
    SELECT c.region_id, ts.fiscal_year, 'SP2D-EDGE', {paid_on}, {amount}, c.number,
        c.source_id, 'edge'
    FROM contract c JOIN tender t ON t.code = c.tender_code
    JOIN tender_scope ts ON ts.tender_id = t.id WHERE c.id = $1"""
# The latest progress of every sub kegiatan of the contract's tender's packages.
PROGRESS_OF_CONTRACT = """UPDATE progress_report SET physical_percent = {percent}
    WHERE (region_id, fiscal_year, sub_activity_code) IN (
        SELECT s.region_id, s.fiscal_year, s.code FROM contract c
        JOIN tender_package tp ON tp.tender_code = c.tender_code
        JOIN procurement_package pk ON pk.rup_code = tp.rup_code
        JOIN sub_activity s ON s.id = pk.sub_activity_id WHERE c.id = $1)"""


def bid_prices(second: int) -> str:
    """The tender's winner at Rp 1,000,000 and every other submitted bid valid at `second`
    (SQL over tender `$1`)."""
    bids = "FROM tender t WHERE t.id = $1 AND t.code = bid.tender_code"
    return (
        f"UPDATE bid SET amount = 1000000, corrected_amount = 1000000 {bids}"
        f" AND bid.is_winner;"
        f"UPDATE bid SET amount = {second} + bid.id, corrected_amount = {second} {bids}"
        f" AND NOT bid.is_winner AND bid.amount IS NOT NULL"
    )


def paid_once(paid_on: str, amount: str) -> str:
    """PAID_ONCE with the SP2D's date and amount (SQL over contract `c`)."""
    return PAID_ONCE.format(paid_on=paid_on, amount=amount)


def progressed_then_paid(percent: str, amount: str) -> str:
    """The contract's sub kegiatan at `percent` physical progress, then paid `amount` once
    on its end date."""
    return PROGRESS_OF_CONTRACT.format(percent=percent) + ";" + paid_once("c.ends_on", amount)


HPS = """(SELECT t.owner_estimate FROM tender t JOIN contract c ON c.tender_code = t.code
         WHERE c.id = $1)"""
EDGES = [
    (
        CLEAN_CONTRACT,
        Edge(
            "CONTRACT_ABOVE_OWNER_ESTIMATE",
            f"UPDATE contract SET original_value = {HPS} + 1 WHERE id = $1",
            True,
        ),
    ),
    (
        CLEAN_CONTRACT,
        Edge(
            "CONTRACT_ABOVE_OWNER_ESTIMATE",
            f"UPDATE contract SET original_value = {HPS} WHERE id = $1",
            False,
        ),
    ),
    (
        CLEAN_CONTRACT,
        Edge(
            "CONTRACT_NEAR_OWNER_ESTIMATE",
            f"UPDATE contract SET original_value = {HPS} WHERE id = $1",
            True,
        ),
    ),
    (
        CLEAN_CONTRACT,
        Edge(
            "CONTRACT_NEAR_OWNER_ESTIMATE",
            f"UPDATE contract SET original_value = {HPS} * 0.99 WHERE id = $1",
            True,
        ),
    ),
    (
        CLEAN_CONTRACT,
        Edge(
            "CONTRACT_NEAR_OWNER_ESTIMATE",
            f"UPDATE contract SET original_value = {HPS} * 0.9899 WHERE id = $1",
            False,
        ),
    ),
    (
        CLEAN_CONTRACT,
        Edge(
            "AMENDMENT_ABOVE_10_PERCENT",
            """INSERT INTO contract_amendment (region_id, contract_number, contract_id, version,
           value, source_id, source_key) SELECT region_id, number, id, 99, original_value * 1.10,
           source_id, 'edge' FROM contract WHERE id = $1;
           UPDATE contract SET value = original_value * 1.10 WHERE id = $1""",
            False,
        ),
    ),
    (
        CLEAN_CONTRACT,
        Edge(
            "AMENDMENT_ABOVE_10_PERCENT",
            """INSERT INTO contract_amendment (region_id, contract_number, contract_id, version,
           value, source_id, source_key) SELECT region_id, number, id, 99, original_value * 1.1001,
           source_id, 'edge' FROM contract WHERE id = $1;
           UPDATE contract SET value = original_value * 1.1001 WHERE id = $1""",
            True,
        ),
    ),
    (
        CLEAN_PROGRESSING_CONTRACT,
        Edge(
            "PAYMENT_BEFORE_HANDOVER",
            paid_once("c.ends_on - 1", "c.value"),
            True,
        ),
    ),
    (
        CLEAN_PROGRESSING_CONTRACT,
        Edge(
            "PAYMENT_BEFORE_HANDOVER",
            paid_once("c.ends_on", "c.value"),
            False,
        ),
    ),
    (
        CLEAN_PROGRESSING_CONTRACT,
        Edge(
            "PAYMENT_BEFORE_HANDOVER",
            paid_once("c.ends_on - 1", "c.value - 1"),
            False,
        ),
    ),
    (
        CLEAN_PROGRESSING_CONTRACT,
        Edge(
            "PAID_AHEAD_OF_PROGRESS",
            progressed_then_paid("49.99", "c.value * 0.9"),
            True,
        ),
    ),
    (
        CLEAN_PROGRESSING_CONTRACT,
        Edge(
            "PAID_AHEAD_OF_PROGRESS",
            progressed_then_paid("50", "c.value * 0.9"),
            False,
        ),
    ),
    (
        CLEAN_PROGRESSING_CONTRACT,
        Edge(
            "PAID_AHEAD_OF_PROGRESS",
            progressed_then_paid("49.99", "c.value * 0.8999"),
            False,
        ),
    ),
    (
        CLEAN_TENDER,
        Edge(
            "SLOW_AWARD",
            # The contract signed, and its surat perjanjian (E-Surat) dated, that day: the
            # letter's date is the one the rule reads where there is a letter.
            "WITH c AS (UPDATE contract SET signed_on = (SELECT announced_on FROM tender "
            "WHERE id = $1) + 70 WHERE tender_code = (SELECT code FROM tender WHERE id = $1) "
            "RETURNING id, signed_on) UPDATE letter l SET dated_on = c.signed_on FROM c "
            "WHERE l.contract_id = c.id AND l.kind = 'KONTRAK'",
            False,
        ),
    ),
    (
        CLEAN_TENDER,
        Edge(
            "SLOW_AWARD",
            # The contract signed, and its surat perjanjian (E-Surat) dated, that day: the
            # letter's date is the one the rule reads where there is a letter.
            "WITH c AS (UPDATE contract SET signed_on = (SELECT announced_on FROM tender "
            "WHERE id = $1) + 71 WHERE tender_code = (SELECT code FROM tender WHERE id = $1) "
            "RETURNING id, signed_on) UPDATE letter l SET dated_on = c.signed_on FROM c "
            "WHERE l.contract_id = c.id AND l.kind = 'KONTRAK'",
            True,
        ),
    ),
    (
        CLEAN_TENDER,
        Edge(
            "SHORT_BID_WINDOW",
            """INSERT INTO tender_schedule (tender_code, stage, ends_on, source_id, source_key)
           SELECT code, 'Upload Dokumen Penawaran', announced_on + 15, 'bpbj-53', 'edge'
           FROM tender WHERE id = $1 ON CONFLICT (tender_code, stage)
           DO UPDATE SET ends_on = excluded.ends_on""",
            False,
        ),
    ),
    (
        CLEAN_TENDER,
        Edge(
            "SHORT_BID_WINDOW",
            """INSERT INTO tender_schedule (tender_code, stage, ends_on, source_id, source_key)
           SELECT code, 'Upload Dokumen Penawaran', announced_on + 14, 'bpbj-53', 'edge'
           FROM tender WHERE id = $1 ON CONFLICT (tender_code, stage)
           DO UPDATE SET ends_on = excluded.ends_on""",
            True,
        ),
    ),
    (
        CLEAN_TENDER,
        Edge(
            "SINGLE_BIDDER",
            """UPDATE bid SET amount = NULL WHERE id IN (SELECT b.id FROM bid b JOIN tender t
           ON t.code = b.tender_code WHERE t.id = $1 AND NOT b.is_winner)""",
            True,
        ),
    ),
    (
        CLEAN_TENDER,
        Edge("METHOD_DEVIATION", "UPDATE tender SET method = 'Seleksi' WHERE id = $1", False),
    ),
    (
        CLEAN_TENDER,
        Edge(
            "METHOD_DEVIATION",
            "UPDATE tender SET method = 'Penunjukan Langsung' WHERE id = $1",
            True,
        ),
    ),
    (
        CLEAN_INDICATOR,
        Edge(
            "INDICATOR_BELOW_TARGET",
            "UPDATE indicator SET achieved = target * 0.5 WHERE id = $1",
            False,
        ),
    ),
    (
        CLEAN_INDICATOR,
        Edge(
            "INDICATOR_BELOW_TARGET",
            "UPDATE indicator SET achieved = target * 0.4999 WHERE id = $1",
            True,
        ),
    ),
    (
        CLEAN_REPORT,
        Edge(
            "PROGRESS_BEHIND_SCHEDULE",
            "UPDATE progress_report SET physical_percent = 45 WHERE id = $1",
            False,
        ),
    ),
    (
        CLEAN_REPORT,
        Edge(
            "PROGRESS_BEHIND_SCHEDULE",
            "UPDATE progress_report SET physical_percent = 44.99 WHERE id = $1",
            True,
        ),
    ),
    *[
        (CLEAN_TENDER, Edge(rule, bid_prices(second), fires))
        for rule, second, fires in (
            ("WINNER_CLOSE_TO_SECOND", 1_010_000, True),  # exactly 1% above the winner
            ("WINNER_CLOSE_TO_SECOND", 1_010_100, False),
            ("HEAVILY_DISCOUNTED_BID", 1_250_000, True),  # exactly 25% above
            ("HEAVILY_DISCOUNTED_BID", 1_249_900, False),
        )
    ],
]


@pytest.mark.parametrize(("pick", "edge"), EDGES, ids=[f"{e.rule}-{e.fires}" for _, e in EDGES])
async def test_thresholds_at_their_edges(estate: Estate, pick: str, edge: Edge) -> None:
    conn = await asyncpg.connect(estate.dsn)
    tx = conn.transaction()
    await tx.start()
    try:
        row = await conn.fetchrow(pick)
        assert row is not None, "the estate has a clean row for this case"
        subject = row[1]
        if edge.rule in ("SLOW_AWARD", "SHORT_BID_WINDOW", "SINGLE_BIDDER", "METHOD_DEVIATION"):
            subject = await conn.fetchval("SELECT code FROM tender WHERE id = $1", row[0])
        assert not await _fires(conn, edge.rule, subject, Thresholds())  # clean before
        for statement in edge.setup.split(";"):
            await conn.execute(statement, row[0])
        assert await _fires(conn, edge.rule, subject, Thresholds()) is edge.fires
    finally:
        await tx.rollback()
        await conn.close()


async def test_thresholds_are_configurable(estate: Estate, tmp_path: Path) -> None:
    toml = tmp_path / "rantai.toml"
    toml.write_text(
        f"[discrepancies]\nnear_owner_estimate_percent = 90\nas_of = {estate.manifest['as_of']}\n"
        '[discrepancies.severity]\nRETENDER = "CRITICAL"\n'
    )
    loose = load_thresholds(toml)
    conn = await asyncpg.connect(estate.dsn)
    tx = conn.transaction()
    await tx.start()
    try:
        report = await DiscrepancyEngine(loose).run(conn, full=True)
        near = await conn.fetchval(
            "SELECT count(*) FROM discrepancy WHERE rule = 'CONTRACT_NEAR_OWNER_ESTIMATE' "
            "AND resolved_at IS NULL"
        )
        severities = await conn.fetch(
            "SELECT DISTINCT severity FROM discrepancy WHERE rule = 'RETENDER'"
        )
    finally:
        await tx.rollback()
        await conn.close()
    seeded = len(expected(estate.manifest)["CONTRACT_NEAR_OWNER_ESTIMATE"])
    assert near > seeded  # contracts 2–10% under HPS now count
    assert report.raised == near - seeded
    assert [r[0] for r in severities] == ["CRITICAL"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[discrepancies]\nnear = 1\n", "unknown key 'near'"),
        ("[discrepancies]\nslow_award_days = -3\n", "slow_award_days"),
        ('[discrepancies]\ndirect_ceiling = "banyak"\n', "direct_ceiling"),
        ('[discrepancies.severity]\nRETENDER = "URGENT"\n', "severity must be one of"),
        ('[discrepancies.severity]\nNO_SUCH_RULE = "INFO"\n', "unknown rule"),
        ('[discrepancies]\nas_of = "28-11-2026"\n', "as_of = '28-11-2026': a day, YYYY-MM-DD"),
        ('[discrepancies]\nas_of = "2026-02-30"\n', "as_of"),
        ("[discrepancies]\nas_of = 2026-11-28T08:00:00\n", "without a time"),
        ("[discrepancies]\nas_of = 20261128\n", "as_of"),
        ("[discrepancies]\nhandover_grace_days = -1\n", "handover_grace_days"),
        ("[discrepancies]\nmonev_deadline_day = 15\n", "RANTAI_MONEV_DEADLINE_DAY"),
    ],
)
def test_bad_thresholds_are_refused_with_the_file_and_key(
    tmp_path: Path, text: str, problem: str
) -> None:
    toml = tmp_path / "rantai.toml"
    toml.write_text(text)
    with pytest.raises(ThresholdError, match=problem) as info:
        load_thresholds(toml)
    assert str(toml) in str(info.value)


def test_the_reference_day_is_a_toml_date_or_its_text() -> None:
    assert Thresholds.from_table({"as_of": date(2026, 11, 28)}).as_of == date(2026, 11, 28)
    assert Thresholds.from_table({"as_of": "2026-11-28"}).reference_day() == date(2026, 11, 28)
    assert Thresholds.from_table({"handover_grace_days": 45}).handover_grace_days == 45


def test_every_rule_names_its_red_flag_indicator_or_says_why_it_has_none() -> None:
    for rule in RULES:
        assert bool(rule.indicators) != bool(rule.no_indicator), rule.code
        assert all(len(code) == 4 and code[0] == "R" for code in rule.indicators), rule.code
    coded = {code: r.code for r in RULES for code in r.indicators}
    assert coded == {
        "R003": "SHORT_BID_WINDOW",
        "R018": "SINGLE_BIDDER",
        "R024": "WINNER_CLOSE_TO_SECOND",
        "R025": "EXCESSIVE_UNSUCCESSFUL_BIDS",
        "R028": "IDENTICAL_BIDS",
        "R058": "HEAVILY_DISCOUNTED_BID",
    }
    assert "HPS" in BY_CODE["CONTRACT_NEAR_OWNER_ESTIMATE"].no_indicator
