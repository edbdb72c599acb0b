"""The rules that compare with a day, on the demo estate: HANDOVER_WITHOUT_LETTER (paid in
full, no BAST more than the grace after the end date) and MONEV_REPORT_LATE (an OPD's Form A
not in by its deadline), each at its boundary, resolved by what arrives (a BAST letter, a
report, an uploaded Form A), incrementally after a sync; the reference day from config, and
the dated rules run again everywhere when the day moves."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from hub.discrepancies.engine import DiscrepancyEngine
from hub.discrepancies.rules import RULES
from hub.discrepancies.thresholds import Thresholds
from hub.reference.clock import WITA
from tests.test_discrepancies import Estate, expected
from tests.test_discrepancies import estate as estate

HANDOVER = "HANDOVER_WITHOUT_LETTER"
LATE = "MONEV_REPORT_LATE"


@pytest.fixture
async def conn(estate: Estate) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction rolled back after the test."""
    connection = await asyncpg.connect(estate.dsn)
    tx = connection.transaction()
    await tx.start()
    try:
        yield connection
    finally:
        await tx.rollback()
        await connection.close()


async def open_keys(conn: asyncpg.Connection, rule: str, t: Thresholds) -> set[str]:
    """Run every rule in full on `t`'s day; the subjects `rule` holds open."""
    await DiscrepancyEngine(t).run(conn, full=True)
    rows = await conn.fetch(
        "SELECT subject_key FROM discrepancy WHERE rule = $1 AND resolved_at IS NULL", rule
    )
    return {r[0] for r in rows}


def seeded(estate: Estate, rule: str) -> list[str]:
    keys = sorted(expected(estate.manifest)[rule])
    assert keys, f"the estate seeds {rule}"
    return keys


async def _contract(conn: asyncpg.Connection, key: str) -> Any:
    region, number = key.split("/", 1)
    return await conn.fetchrow(
        "SELECT c.id, c.number, c.ends_on, c.region_id FROM contract c "
        "JOIN region r ON r.id = c.region_id WHERE r.code = $1 AND c.number = $2",
        region,
        number,
    )


async def test_the_estate_states_its_day_and_the_sync_found_exactly_its_seeds(
    estate: Estate,
) -> None:
    config = estate.result.config.read_text()
    assert f"as_of = {estate.manifest['as_of']}" in config
    report = estate.engine.discrepancy_report
    assert report is not None
    assert report.reference_day is not None
    assert report.reference_day.isoformat() == estate.manifest["as_of"]
    found = await estate.open()
    for rule in (HANDOVER, LATE):
        assert found[rule] == set(seeded(estate, rule)), rule


async def test_handover_without_letter_fires_after_the_end_plus_grace_and_a_bast_resolves_it(
    estate: Estate, conn: asyncpg.Connection
) -> None:
    key = seeded(estate, HANDOVER)[0]
    c = await _contract(conn, key)
    grace = Thresholds().handover_grace_days
    at_the_edge = c["ends_on"] + timedelta(days=grace)
    assert key not in await open_keys(conn, HANDOVER, Thresholds(as_of=at_the_edge))
    day_after = at_the_edge + timedelta(days=1)
    assert key in await open_keys(conn, HANDOVER, Thresholds(as_of=day_after))
    longer = Thresholds(as_of=day_after, handover_grace_days=grace + 1)
    assert key not in await open_keys(conn, HANDOVER, longer)
    # The evidence names the contract's end date and its payments; the message its number.
    row: Any = await conn.fetchrow(
        "SELECT message, evidence FROM discrepancy WHERE rule = $1 AND subject_key = $2",
        HANDOVER,
        key,
    )
    assert c["number"] in row["message"]
    assert "BAST" in row["message"]
    evidence = json.loads(row["evidence"])
    assert evidence[0] == {
        "entity": "Contract",
        "id": c["id"],
        "field": "endsOn",
        "value": c["ends_on"].isoformat(),
    }
    assert {e["entity"] for e in evidence[1:]} == {"Payment"}
    # A BAST, however late, resolves it.
    await conn.execute(
        "INSERT INTO letter (source_id, source_key, region_id, number, dated_on, kind, "
        "contract_number, contract_id) SELECT source_id, 'uji-bast', $1, 'UJI/BAST/1', $2, "
        "'BAST', $3, $4 FROM letter WHERE region_id = $1 LIMIT 1",
        c["region_id"],
        day_after + timedelta(days=100),
        c["number"],
        c["id"],
    )
    assert key not in await open_keys(conn, HANDOVER, Thresholds(as_of=day_after))
    assert await conn.fetchval(
        "SELECT resolved_at IS NOT NULL FROM discrepancy WHERE rule = $1 AND subject_key = $2",
        HANDOVER,
        key,
    )


def on(day: date) -> Thresholds:
    """The rules on `day`, the Form A due on the 10th (the setting's default)."""
    return Thresholds(as_of=day, monev_deadline_day=10)


async def _late_opd(conn: asyncpg.Connection, key: str) -> tuple[Any, int, int]:
    region, year, opd, period = key.split("/")
    row: Any = await conn.fetchrow(
        "SELECT o.id, o.code, o.region_id, r.code AS region FROM opd o "
        "JOIN region r ON r.id = o.region_id WHERE r.code = $1 AND o.code = $2",
        region,
        opd,
    )
    return row, int(year), int(period[5:])


async def test_monev_report_late_fires_after_the_deadline_day_and_a_report_resolves_it(
    estate: Estate, conn: asyncpg.Connection
) -> None:
    key = seeded(estate, LATE)[0]
    opd, year, month = await _late_opd(conn, key)
    assert month in (3, 6)  # the estate leaves out a first or second quarter
    due = date(year, month + 1, 10)
    assert key not in await open_keys(conn, LATE, on(due))
    after = due + timedelta(days=1)
    assert key in await open_keys(conn, LATE, on(after))
    later_deadline = Thresholds(as_of=after, monev_deadline_day=11)
    assert key not in await open_keys(conn, LATE, later_deadline)
    row: Any = await conn.fetchrow(
        "SELECT opd_id, message, evidence FROM discrepancy WHERE rule = $1 AND subject_key = $2",
        LATE,
        key,
    )
    assert row["opd_id"] == opd["id"]
    assert f"{year}-{month:02d}" in row["message"]
    # A month that does not end a quarter is owed only by an OPD reporting monthly: one
    # monthly report makes the months its quarters covered no more count on their own.
    sa: Any = await conn.fetchrow(
        "SELECT s.id, s.code FROM sub_activity s WHERE s.opd_id = $1 AND s.fiscal_year = $2 "
        "AND EXISTS (SELECT 1 FROM budget_line b WHERE b.sub_activity_id = s.id) LIMIT 1",
        opd["id"],
        year,
    )
    missing_month = f"{opd['region']}/{year}/{opd['code']}/{year}-{month - 1:02d}"
    t = on(date(year + 1, 1, 1))
    assert missing_month not in await open_keys(conn, LATE, t)
    insert = (
        "INSERT INTO progress_report (region_id, fiscal_year, sub_activity_code, "
        "sub_activity_id, period, physical_percent, financial_percent, source_id, source_key) "
        "VALUES ($1, $2, $3, $4, $5, 10, 10, $6, $7)"
    )
    source = await conn.fetchval(
        "SELECT source_id FROM progress_report WHERE region_id = $1 LIMIT 1", opd["region_id"]
    )
    monthly = f"{year}-{month - 2:02d}"  # the quarter's first month, reported monthly
    await conn.execute(
        insert, opd["region_id"], year, sa["code"], sa["id"], monthly, source, "uji-monthly"
    )
    assert missing_month in await open_keys(conn, LATE, t)
    # The quarter's Form A arrives, late: both resolve.
    quarter = f"{year}-Q{month // 3}"
    await conn.execute(
        insert, opd["region_id"], year, sa["code"], sa["id"], quarter, source, "uji-quarter"
    )
    now_open = await open_keys(conn, LATE, t)
    assert key not in now_open
    assert missing_month not in now_open


async def test_an_uploaded_form_a_counts_as_arrived_for_its_opd(
    estate: Estate, conn: asyncpg.Connection
) -> None:
    """Rows of an OPD's uploads source are its Form A, even where they name a sub kegiatan
    the plan of that year lacks."""
    key = seeded(estate, LATE)[0]
    opd, year, month = await _late_opd(conn, key)
    t = on(date(year, month + 1, 11))
    assert key in await open_keys(conn, LATE, t)
    source = f"forma-uji-{opd['id']}"
    await conn.execute(
        "INSERT INTO source (id, name, kind, status, rows) "
        "VALUES ($1, $1, 'xlsx', 'NEVER_SYNCED', 0)",
        source,
    )
    await conn.execute(
        "INSERT INTO upload (source_id, region_code, opd_code, file_name, size, sha256, rows, "
        "content, uploaded_by) VALUES ($1, $2, $3, 'Form A.xlsx', 1, 'uji', 1, 'x', 'uji')",
        source,
        opd["region"],
        opd["code"],
    )
    await conn.execute(
        "INSERT INTO progress_report (region_id, fiscal_year, sub_activity_code, period, "
        "physical_percent, financial_percent, source_id, source_key) "
        "VALUES ($1, $2, '9.99.99.9.99.9999', $3, 10, 10, $4, 'Form A.1.xlsx/x')",
        opd["region_id"],
        year,
        f"{year}-Q{month // 3}",
        source,
    )
    assert key not in await open_keys(conn, LATE, t)


async def test_a_bast_synced_from_the_e_office_resolves_the_finding_incrementally(
    estate: Estate,
) -> None:
    key = seeded(estate, HANDOVER)[0]
    region, number = key.split("/", 1)
    day = date.fromisoformat(estate.manifest["as_of"]).strftime("%d-%m-%Y")
    office = estate.result.data_dir / "legacy" / f"esurat_{region.replace('.', '')}.sqlite"
    with sqlite3.connect(office) as db:
        (last,) = db.execute("SELECT max(id_surat) FROM surat_keluar").fetchone()
        db.execute(
            "INSERT INTO surat_keluar VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                last + 1,
                f"{last + 1:04d}/BAST/UJI",
                day,
                "BAST",
                f"Serah terima pekerjaan Nomor Kontrak: {number}",
                "Pejabat Pembuat Komitmen",
                "Bagian Keuangan",
            ),
        )
    await estate.engine.sync()
    report = estate.engine.discrepancy_report
    assert report is not None
    assert not report.full
    assert HANDOVER in report.by_rule
    assert report.resolved >= 1
    assert key not in (await estate.open())[HANDOVER]


async def test_when_the_day_moves_the_dated_rules_run_everywhere(
    estate: Estate, conn: asyncpg.Connection
) -> None:
    day = date.fromisoformat(estate.manifest["as_of"])
    same = await DiscrepancyEngine(Thresholds(as_of=day)).run(conn)
    assert same.rules == 0  # nothing changed, the same day: nothing runs
    moved = await DiscrepancyEngine(Thresholds(as_of=day + timedelta(days=1))).run(conn)
    assert not moved.full
    assert set(moved.by_rule) == {r.code for r in RULES if r.dated}
    assert {"NOT_PROCURED_BY_Q3", HANDOVER, LATE} <= set(moved.by_rule)
    assert await conn.fetchval("SELECT reference_day FROM discrepancy_state") == moved.reference_day


def test_without_as_of_the_reference_day_is_today_in_wita() -> None:
    before = datetime.now(WITA).date()
    day = Thresholds(monev_deadline_day=10).reference_day()
    assert day in (before, datetime.now(WITA).date())
    fixed = Thresholds(monev_deadline_day=10).on_reference_day()
    assert fixed.as_of in (before, datetime.now(WITA).date())
