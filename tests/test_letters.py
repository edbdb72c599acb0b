"""E-Surat as a source: an e-office database in its own legacy shape (one `surat_keluar`
table, the contract number only inside the perihal), synced through a mapping whose
patterns read the numbers out. Letters link to their contracts and tenders, unlinked ones
are kept and counted, `Contract.letters` shows them, PAYMENT_BEFORE_HANDOVER and
SLOW_AWARD use the letters' dates where there are letters, and an OPD's answer to a
follow-up cites letters by number."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from adapters.mapping import load_config
from estate.synthetic.seed import seed_canonical
from hub.auth import keys
from hub.discrepancies.engine import DiscrepancyEngine
from hub.discrepancies.thresholds import Thresholds
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.reference.clock import province_today
from hub.serving.app import create_app
from hub.store.codec import global_id
from tests.conftest import Server, asyncpg_dsn, running
from tests.test_security import SECRET_KEY, secure_settings

FY = 2025
REGION = "53.01"
TABLE = """CREATE TABLE surat_keluar (id_surat INTEGER PRIMARY KEY, no_surat TEXT,
    tgl_surat TEXT, perihal TEXT, jenis_surat TEXT, unit_pengirim TEXT, unit_tujuan TEXT)"""
MAPPING = f"""
[source]
id = "eoffice-5301"
name = "E-Surat Kabupaten Kupang"
kind = "sqlite"
url = "sqlite:///../eoffice.sqlite"
region = "{REGION}"

[[entity]]
name = "letter"
table = "surat_keluar"
key = ["id_surat"]
[entity.fields]
number = "no_surat"
dated_on = "tgl_surat"
kind = {{ column = "jenis_surat", map = {{ "Surat Perintah Mulai Kerja" = "SPMK", \
"Berita Acara Serah Terima" = "BAST", "Surat Perjanjian" = "KONTRAK", "Undangan" = "LAINNYA" }} }}
subject = "perihal"
direction = {{ const = "KELUAR" }}
sender = "unit_pengirim"
recipient = "unit_tujuan"
contract_number = {{ column = "perihal", pattern = 'Nomor Kontrak:? *([^ ]+)' }}
tender_code = {{ column = "perihal", pattern = 'kd_tender ([0-9]+)' }}
"""


@dataclass
class Office:
    folder: Path
    store: str
    contract: asyncpg.Record  # a contract of 53.01 with its tender, fully paid before its end

    @property
    def database(self) -> Path:
        return self.folder / "eoffice.sqlite"

    def write(self, sql: str, *params: Any) -> None:
        with sqlite3.connect(self.database) as conn:
            conn.execute(sql, params)

    async def sync(self) -> None:
        async with SyncJob(self.store, load_config(self.folder / "rantai.toml")) as job:
            await job.sync()

    async def fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.store))
        try:
            return list(await conn.fetch(sql, *params))
        finally:
            await conn.close()

    async def finding(self, rule: str) -> asyncpg.Record | None:
        subject = (
            self.contract["code"] if rule == "SLOW_AWARD" else f"{REGION}/{self.contract['number']}"
        )
        rows = await self.fetch(
            "SELECT message, evidence, resolved_at FROM discrepancy WHERE rule = $1 "
            "AND subject_key = $2",
            rule,
            subject,
        )
        return rows[0] if rows else None


def dmy(day: date) -> str:
    return day.strftime("%d-%m-%Y")  # as the e-office writes dates


@pytest.fixture(scope="module")
async def office(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Office:
    store = await server.create_database("rantai_letters")
    await run_async(store, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        await seed_canonical(conn, sub_activities=300, seed=3, fiscal_year=FY)
        contract = await conn.fetchrow(
            """SELECT c.id, c.number, c.value, c.signed_on, c.ends_on, c.region_id, t.code,
                      t.announced_on
               FROM contract c JOIN tender t ON t.code = c.tender_code
               JOIN region r ON r.id = c.region_id JOIN tender_scope ts ON ts.tender_id = t.id
               WHERE r.code = $1 AND c.ends_on IS NOT NULL AND t.announced_on IS NOT NULL
               ORDER BY c.id LIMIT 1""",
            REGION,
        )
        # Paid in full ten days before its end date (SP2D from BPKAD's source).
        await conn.execute(
            """INSERT INTO payment (region_id, fiscal_year, sp2d_number, paid_on, amount, kind,
                   contract_number, source_id, source_key)
               VALUES ($1, $2, 'UJI/SP2D/LS/1', $3, $4, 'LS', $5, 'bpkad-keuangan', 'uji-1')""",
            contract["region_id"], FY, contract["ends_on"] - timedelta(days=10),
            contract["value"], contract["number"],
        )  # fmt: skip
        await DiscrepancyEngine().run(conn, full=True)
    finally:
        await conn.close()
    folder = tmp_path_factory.mktemp("eoffice")
    (folder / "mappings").mkdir()
    (folder / "rantai.toml").write_text('[[source]]\nmapping = "mappings/eoffice.toml"\n')
    (folder / "mappings" / "eoffice.toml").write_text(MAPPING)
    office = Office(folder, store, contract)
    number, ends = contract["number"], contract["ends_on"]
    late = contract["announced_on"] + timedelta(days=Thresholds().slow_award_days + 12)
    with sqlite3.connect(office.database) as db:
        db.execute(TABLE)
        db.executemany(
            "INSERT INTO surat_keluar VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (1, "027/SPMK/PUPR/2025", dmy(contract["signed_on"] + timedelta(days=3)),
                 f"Perintah mulai kerja Nomor Kontrak: {number} pembangunan jalan",
                 "Surat Perintah Mulai Kerja", "Dinas PUPR", "CV Penyedia"),
                # handed over after the full payment (but before the end date)
                (2, "028/BAST/PUPR/2025", dmy(ends - timedelta(days=5)),
                 f"Serah terima pekerjaan Nomor Kontrak {number}",
                 "Berita Acara Serah Terima", "Dinas PUPR", "Bagian Keuangan"),
                (3, "020/SP/PUPR/2025", dmy(late),
                 f"Surat perjanjian kd_tender {contract['code']} Nomor Kontrak: {number}",
                 "Surat Perjanjian", "Dinas PUPR", "CV Penyedia"),
                (4, "031/SPMK/PUPR/2025", dmy(ends),
                 "Perintah mulai kerja Nomor Kontrak: 999/TIDAK-ADA/2099",
                 "Surat Perintah Mulai Kerja", "Dinas PUPR", "CV Lain"),
                (5, "005/UND/2025", dmy(ends), "Undangan rapat koordinasi", "Undangan",
                 "Sekretariat", "Semua OPD"),
            ],
        )  # fmt: skip
    await office.sync()
    return office


async def test_letters_link_to_their_contracts_and_tenders_by_their_perihal(
    office: Office,
) -> None:
    rows = await office.fetch(
        "SELECT number, kind, dated_on, contract_number, contract_id, tender_id, direction "
        "FROM letter ORDER BY number"
    )
    by_number = {r["number"]: r for r in rows}
    assert set(by_number) == {
        "027/SPMK/PUPR/2025", "028/BAST/PUPR/2025", "020/SP/PUPR/2025",
        "031/SPMK/PUPR/2025", "005/UND/2025",
    }  # fmt: skip
    spmk = by_number["027/SPMK/PUPR/2025"]
    assert (spmk["kind"], spmk["contract_id"], spmk["direction"]) == (
        "SPMK", office.contract["id"], "KELUAR",
    )  # fmt: skip
    assert spmk["dated_on"] == office.contract["signed_on"] + timedelta(days=3)
    assert by_number["020/SP/PUPR/2025"]["tender_id"] is not None
    unlinked = by_number["031/SPMK/PUPR/2025"]
    assert (unlinked["contract_number"], unlinked["contract_id"]) == ("999/TIDAK-ADA/2099", None)
    assert by_number["005/UND/2025"]["kind"] == "LAINNYA"


@pytest.fixture(scope="module")
async def api(office: Office) -> AsyncIterator[tuple[str, dict[str, str]]]:
    conn = await asyncpg.connect(asyncpg_dsn(office.store))
    try:
        opd = await conn.fetchval(
            "SELECT o.code FROM discrepancy d JOIN opd o ON o.id = d.opd_id "
            "WHERE d.rule = 'PAYMENT_BEFORE_HANDOVER' ORDER BY d.id LIMIT 1"
        )
        made = {
            "province": (await keys.create(conn, SECRET_KEY, "province"))[0],
            "opd": (await keys.create(conn, SECRET_KEY, "opd", REGION, opd))[0],
        }
    finally:
        await conn.close()
    app = create_app(office.store, secure_settings(office.store))
    async with running(app) as port:
        yield f"http://127.0.0.1:{port}", made


async def post(api: tuple[str, dict[str, str]], query: str, variables: Any = None,
               role: str | None = "province") -> dict[str, Any]:  # fmt: skip
    base, made = api
    headers = {"Authorization": f"Bearer {made[role]}"} if role else {}
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_contract_shows_its_letters_and_the_unlinked_are_counted(
    office: Office, api: tuple[str, dict[str, str]]
) -> None:
    contract_id = global_id("Contract", office.contract["id"])
    answer = await post(
        api,
        "query C($id: ID!) { node(id: $id) { ... on Contract { letters { number kind datedOn "
        "contract { number } provenance { source { id } } } } } "
        'unlinked: letters(filter: {regionCode: "53.01", linked: false}) { totalCount '
        "edges { node { number contractNumber contract { number } } } } }",
        {"id": contract_id},
        role=None,  # letters are as public as the contracts they name
    )
    assert "errors" not in answer, answer
    letters = answer["data"]["node"]["letters"]
    assert {(x["number"], x["kind"]) for x in letters} == {
        ("027/SPMK/PUPR/2025", "SPMK"), ("020/SP/PUPR/2025", "KONTRAK"),
        ("028/BAST/PUPR/2025", "BAST"),
    }  # fmt: skip
    assert [x["datedOn"] for x in letters] == sorted(x["datedOn"] for x in letters)
    assert {x["contract"]["number"] for x in letters} == {office.contract["number"]}
    assert {x["provenance"]["source"]["id"] for x in letters} == {"eoffice-5301"}
    # A letter that names no contract or tender is internal (an invitation, a memo): the
    # public sees none of them, a key of the Pemda sees them counted.
    assert answer["data"]["unlinked"] == {"totalCount": 0, "edges": []}
    keyed = await post(
        api,
        'query { letters(filter: {regionCode: "53.01", linked: false}) { totalCount '
        "edges { node { number } } } }",
    )
    unlinked = keyed["data"]["letters"]
    assert unlinked["totalCount"] == 2  # the SPMK of an unknown contract, the invitation
    assert {e["node"]["number"] for e in unlinked["edges"]} == {
        "031/SPMK/PUPR/2025", "005/UND/2025",
    }  # fmt: skip


async def test_payment_before_handover_uses_the_bast_date_and_names_the_letter(
    office: Office,
) -> None:
    finding = await office.finding("PAYMENT_BEFORE_HANDOVER")
    assert finding is not None
    assert finding["resolved_at"] is None
    assert "BAST 028/BAST/PUPR/2025" in finding["message"]
    assert '"entity": "Letter"' in finding["evidence"]
    # The BAST was really signed before the payment: the next sync resolves the finding,
    # although the payment is still before the contract's end date.
    before = office.contract["ends_on"] - timedelta(days=20)
    office.write("UPDATE surat_keluar SET tgl_surat = ? WHERE id_surat = 2", dmy(before))
    await office.sync()
    finding = await office.finding("PAYMENT_BEFORE_HANDOVER")
    assert finding is not None
    assert finding["resolved_at"] is not None


async def test_slow_award_uses_the_contract_letters_date(office: Office) -> None:
    finding = await office.finding("SLOW_AWARD")
    assert finding is not None
    assert finding["resolved_at"] is None
    assert '"entity": "Letter"' in finding["evidence"]


async def test_an_opd_answer_cites_letters_that_resolve(
    office: Office, api: tuple[str, dict[str, str]]
) -> None:
    [row] = await office.fetch(
        "SELECT id FROM discrepancy WHERE rule = 'SLOW_AWARD' AND resolved_at IS NULL "
        "AND subject_key = $1", office.contract["code"],
    )  # fmt: skip
    finding = global_id("Discrepancy", row["id"])
    [opd] = await office.fetch(
        "SELECT o.code FROM discrepancy d JOIN opd o ON o.id = d.opd_id WHERE d.id = $1", row["id"]
    )
    _, made = api
    conn = await asyncpg.connect(asyncpg_dsn(office.store))
    try:
        made["opd"] = (await keys.create(conn, SECRET_KEY, "opd", REGION, opd["code"]))[0]
    finally:
        await conn.close()
    tomorrow = (province_today() + timedelta(days=2)).isoformat()
    assign = await post(
        api,
        "mutation A($i: AssignDiscrepancyInput!) { assignDiscrepancy(input: $i) { followUp { "
        "version } } }",
        {
            "i": {
                "discrepancyId": finding,
                "opdCode": opd["code"],
                "dueOn": tomorrow,
                "note": "Jelaskan.",
                "version": 0,
            }
        },
    )
    assert assign["data"]["assignDiscrepancy"]["followUp"]["version"] == 1, assign
    respond = (
        "mutation R($i: RespondToDiscrepancyInput!) { respondToDiscrepancy(input: $i) { "
        "followUp { actions { references { kind value letter { number kind datedOn } } } } } }"
    )
    missing = await post(
        api, respond,
        {"i": {"discrepancyId": finding, "explanation": "Lihat surat.", "version": 1,
               "letters": ["020/SP/PUPR/2025", "404/TIDAK/ADA"]}},
        role="opd",
    )  # fmt: skip
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert missing["errors"][0]["extensions"]["argument"] == "input.letters[1]"
    # A letter of the Pemda the OPD may not read (an internal memo, no contract or tender
    # of its own) is as absent as one that does not exist: nothing shows through.
    await office.fetch(
        "INSERT INTO letter (source_id, source_key, region_id, number, dated_on, kind) "
        "SELECT source_id, 'memo-1', region_id, '900/NOTA/SETDA/2025', dated_on, 'LAINNYA' "
        "FROM letter LIMIT 1"
    )
    hidden = await post(
        api, respond,
        {"i": {"discrepancyId": finding, "explanation": "Lihat nota.", "version": 1,
               "letters": ["900/NOTA/SETDA/2025"]}},
        role="opd",
    )  # fmt: skip
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND", hidden
    assert hidden["errors"][0]["extensions"]["argument"] == "input.letters[0]"
    cited = await post(
        api, respond,
        {"i": {"discrepancyId": finding, "explanation": "Lihat surat perjanjian.",
               "version": 1, "letters": ["020/SP/PUPR/2025"]}},
        role="opd",
    )  # fmt: skip
    assert "errors" not in cited, cited
    [_, answer] = cited["data"]["respondToDiscrepancy"]["followUp"]["actions"]
    assert answer["references"] == [
        {"kind": "letter", "value": "020/SP/PUPR/2025",
         "letter": {"number": "020/SP/PUPR/2025", "kind": "KONTRAK",
                    "datedOn": answer["references"][0]["letter"]["datedOn"]}},
    ]  # fmt: skip


async def test_an_spmk_before_the_signing_is_work_started_before_contract(
    office: Office,
) -> None:
    assert await office.finding("WORK_STARTED_BEFORE_CONTRACT") is None  # SPMK after signing
    signed = office.contract["signed_on"]
    office.write(
        "INSERT INTO surat_keluar VALUES (?, ?, ?, ?, ?, ?, ?)",
        6, "026/SPMK/PUPR/2025", dmy(signed - timedelta(days=4)),
        f"Perintah mulai kerja Nomor Kontrak: {office.contract['number']} (awal)",
        "Surat Perintah Mulai Kerja", "Dinas PUPR", "CV Penyedia",
    )  # fmt: skip
    await office.sync()
    finding = await office.finding("WORK_STARTED_BEFORE_CONTRACT")
    assert finding is not None
    assert finding["resolved_at"] is None
    assert "SPMK 026/SPMK/PUPR/2025" in finding["message"]
    assert '"entity": "Letter"' in finding["evidence"]
    # The letter's date was mistyped in the e-office; corrected, the finding resolves.
    office.write("UPDATE surat_keluar SET tgl_surat = ? WHERE id_surat = 6", dmy(signed))
    await office.sync()
    finding = await office.finding("WORK_STARTED_BEFORE_CONTRACT")
    assert finding is not None
    assert finding["resolved_at"] is not None
