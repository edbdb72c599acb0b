"""SPSE: tenders announced with their schedule and evaluated bids, results (winner, status,
contract), and addenda to running contracts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from estate import names
from estate.simulate.change import SimChange
from estate.simulate.esurat import amendment_letter, award_letters, write_letters
from estate.simulate.formats import (
    OPD_BY_CODE,
    digits_of,
    legacy_date,
    money_text,
    number_seq,
    procurement_day,
    procurement_npwp,
    procurement_shape,
    rupiah,
    winner_flag,
)
from estate.simulate.reads import SpseContract, has_table, paid_by_contract, read_contracts
from estate.simulate.sirup import COMPETITIVE, open_package, publish_package
from estate.simulate.sources import ManifestRegion

if TYPE_CHECKING:
    from estate.simulate.simulator import Simulator

FINISHED_TENDER = ("Selesai", "Gagal", "Batal")
RUNNING_TENDER = "Berlangsung"  # what the generator writes for a running tender, every flavour
BID_WINDOW = (16, 30)  # days from announcement to the close of "Upload Dokumen Penawaran"
BIDDERS = (2, 5)
# A tender reaches SPSE's database here with its bids opened and evaluated: its bid window
# closed this many days before the clock (so a result can follow within simulated days).
EVALUATED_AFTER = (1, 14)
AWARD_DAYS = (21, 55)  # contract signed this many days after the announcement (clean data)
AWARD_AFTER_CLOSE = 5  # … and at least this many days after the bid window closed
LAST_START = (12, 13)  # a contract of the year starts by 13 December (it ends by the 20th)
CONTRACTS_END = (12, 20)
CONSTRUCTION = "Pekerjaan Konstruksi"
SCHEDULE_CLOSE = "Upload Dokumen Penawaran"  # spse_jadwal: the stage that ends the bid window


@dataclass(frozen=True)
class Bidder:
    key: int  # kd_penyedia
    name: str
    npwp: str  # as SPSE writes it in this flavour


async def tender_announced(
    sim: Simulator, region: ManifestRegion, today: date, moment: datetime
) -> SimChange | None:
    """A package SiRUP plans for SPSE (Tender, Seleksi, Tender Cepat) gets its tender:
    the tender row (running), its link to the package, the bid schedule where the estate
    keeps one, and 2–5 evaluated bids, nobody marked the winner yet. Where every such
    package has a tender already (as in a generated estate), the change publishes a
    further package on a mak that already has one, within 97% of its DPA line."""
    if region.procurement is None:
        return None
    rng, f, fy = sim.rng, procurement_shape(region.flavour), sim.fiscal_year
    window = rng.randint(*BID_WINDOW)
    announced = today - timedelta(days=window + rng.randint(*EVALUATED_AFTER))
    closes = announced + timedelta(days=window)
    ready = announced + timedelta(days=max(AWARD_DAYS[0], window + AWARD_AFTER_CLOSE))
    if announced.year != fy or max(today, ready) > date(fy, *LAST_START):
        return None  # no contract of the year could follow cleanly (or not after now)
    pg = sim.postgres(region.procurement)
    async with pg.transaction() as conn:
        package = await open_package(sim, conn, announced)
        if package is None:
            package = await publish_package(sim, conn, region, announced, moment)
        if package is None:
            return None
        # 90.1–99% of the pagu, so that rounding down to the thousand stays ≥ 90%.
        hps = package.pagu * rng.randint(901, 990) // 1000 // 1000 * 1000
        code = await new_tender_code(sim, conn, region)
        vendors = await bidders(sim, conn, f, rng.randint(*BIDDERS))
        amounts = bid_amounts(sim, hps, len(vendors))
        lpse = await conn.fetchval(
            "SELECT kd_lpse FROM spse_tender WHERE kd_lpse IS NOT NULL "
            "ORDER BY kd_tender DESC LIMIT 1"
        )
        if lpse is None:
            lpse = 115 + names.REGION_INDEX.get(region.code, 0)
        await sim.pg_insert(
            conn,
            region,
            moment,
            "spse_tender",
            {
                "kd_tender": code,
                "kd_lpse": lpse,
                "tahun": fy,
                "nama_paket": package.name,
                "hps": Decimal(hps),
                "pagu": Decimal(package.pagu),
                "mtd_pemilihan": package.method,
                "status_tender": RUNNING_TENDER,
                "versi_tender": 1,
                "tgl_pengumuman_tender": procurement_day(f, announced),
            },
        )
        await sim.pg_insert(
            conn,
            region,
            moment,
            "spse_tender_rup",
            {"kd_tender": code, "kd_rup": package.rup_code},
        )
        if await has_table(conn, "spse_jadwal"):  # as the generator writes a schedule
            stages = (
                ("Pengumuman Pascakualifikasi", announced, announced + timedelta(days=7)),
                (SCHEDULE_CLOSE, announced + timedelta(days=1), closes),
                (
                    "Penetapan Pemenang",
                    closes + timedelta(days=3),
                    closes + timedelta(days=4),
                ),
            )
            await sim.pg_insert(
                conn,
                region,
                moment,
                "spse_jadwal",
                *(
                    {
                        "kd_tender": code,
                        "tahapan": stage,
                        "tgl_mulai": procurement_day(f, begins),
                        "tgl_selesai": procurement_day(f, ends),
                    }
                    for stage, begins, ends in stages
                ),
            )
        await sim.pg_insert(
            conn,
            region,
            moment,
            "spse_peserta",
            *(
                {
                    "kd_tender": code,
                    "kd_penyedia": vendor.key,
                    "nama_penyedia": vendor.name,
                    "npwp": vendor.npwp,
                    "nilai_penawaran": Decimal(amount),
                    "nilai_terkoreksi": Decimal(amount),
                    "pemenang": winner_flag(f, False),
                }
                for vendor, amount in zip(vendors, amounts, strict=True)
            ),
        )
    opd = OPD_BY_CODE.get(package.opd_code)
    where = opd.short if opd else package.opd_code
    rup = (
        f"paket RUP baru {package.rup_code} ({money_text(package.pagu)}, "
        f"diumumkan {package.announced_on.strftime('%d-%m-%Y')})"
        if package.published
        else f"paket RUP {package.rup_code}"
    )
    return SimChange(
        source=region.procurement.id,
        entity="tender",
        kind="tender_announced",
        key=f"{region.code}/{code}",
        written_at=datetime.now(UTC),
        summary=(
            f"Tender {code} ({package.method}, {where}) {package.name}: HPS "
            f"{money_text(hps)}, diumumkan {announced.strftime('%d-%m-%Y')}, "
            f"{len(amounts)} penawaran s.d. {closes.strftime('%d-%m-%Y')} "
            f"(terendah {money_text(min(amounts))}) — {rup}"
        ),
    )


async def new_tender_code(sim: Simulator, conn: Any, region: ManifestRegion) -> int:
    """A new kd_tender in the generator's national format for the running year,
    `1<region index:02><yy><sequence:06>`, a few numbers past the largest one."""
    rng = sim.rng
    taken = {
        int(code)
        for (code,) in await conn.fetch(
            "SELECT kd_tender FROM spse_tender UNION SELECT kd_tender FROM spse_tender_rup "
            "UNION SELECT kd_tender FROM spse_peserta UNION SELECT kd_tender FROM spse_kontrak"
        )
    }
    index = names.REGION_INDEX.get(region.code)
    if index is None:  # not an NTT region the generator knows: past the largest code
        code = max(taken, default=1_000_000) + rng.randint(1, 5)
    else:
        prefix = f"1{index:02d}{sim.fiscal_year % 100:02d}"
        sequences = [
            int(str(c)[len(prefix) :])
            for c in taken
            if len(str(c)) == len(prefix) + 6 and str(c).startswith(prefix)
        ]
        sequence = max(sequences, default=1000) + rng.randint(1, 5)
        code = int(f"{prefix}{sequence:06d}")
    while code in taken:
        code += rng.randint(1, 5)
    return code


async def bidders(sim: Simulator, conn: Any, flavour: str, count: int) -> list[Bidder]:
    """`count` distinct vendors, taken from those who bid in this SPSE before; new ones
    (a key past the largest, a fresh NPWP) only where there are too few."""
    rng = sim.rng
    known: list[Bidder] = []
    keys: set[int] = set()
    npwps: set[str] = set()
    for row in await conn.fetch(
        "SELECT DISTINCT kd_penyedia, nama_penyedia, npwp FROM spse_peserta "
        "WHERE kd_penyedia IS NOT NULL ORDER BY kd_penyedia, nama_penyedia, npwp"
    ):
        digits = digits_of(row["npwp"])
        key = int(row["kd_penyedia"])
        if digits is None or not row["nama_penyedia"] or key in keys or digits in npwps:
            continue
        keys.add(key)
        npwps.add(digits)
        known.append(Bidder(key, str(row["nama_penyedia"]), str(row["npwp"])))
    chosen = rng.sample(known, min(count, len(known)))
    while len(chosen) < count:
        key = max(keys, default=100_000) + 1
        npwp = f"{rng.randrange(10**14, 10**15)}"
        if npwp in npwps:
            continue
        keys.add(key)
        npwps.add(npwp)
        words = " ".join(rng.sample(names.VENDOR_WORDS, 2))
        name = f"{rng.choice(names.VENDOR_PREFIX)} {words}"
        chosen.append(Bidder(key, name, procurement_npwp(flavour, npwp)))
    return chosen


def bid_amounts(sim: Simulator, hps: int, count: int) -> list[int]:
    """Distinct offers (corrected amounts the same): the lowest 2.5–11.5% under HPS, so
    the contract lands 2–12% under it; the others 2% to 17% above it (up to 3% over HPS),
    so that neither WINNER_CLOSE_TO_SECOND (≤ 1%) nor HEAVILY_DISCOUNTED_BID (≥ 25%)
    fires."""
    rng = sim.rng
    lowest = hps * rng.randint(885, 975) // 1000 // 100 * 100
    amounts = [lowest]
    above = lowest * 102 // 100
    high = max(above + 2000, hps * 103 // 100)
    while len(amounts) < count:
        amount = rng.randint(above // 100 + 1, high // 100) * 100
        if amount not in amounts:
            amounts.append(amount)
    rng.shuffle(amounts)
    return amounts


async def tender_result(
    sim: Simulator, region: ManifestRegion, today: date, moment: datetime
) -> SimChange | None:
    if region.procurement is None:
        return None
    rng = sim.rng
    pg = sim.postgres(region.procurement)
    async with pg.transaction() as conn:
        running = await conn.fetch(
            "SELECT kd_tender, nama_paket, hps, mtd_pemilihan, tgl_pengumuman_tender "
            "FROM spse_tender t WHERE tahun = $1 AND NOT (status_tender = ANY($2::text[])) "
            "AND NOT EXISTS (SELECT 1 FROM spse_kontrak k WHERE k.kd_tender = t.kd_tender)",
            sim.fiscal_year,
            list(FINISHED_TENDER),
        )
        running = sorted(running, key=lambda r: int(r["kd_tender"]))
        for tender in rng.sample(running, len(running)):
            change = await award(sim, conn, region, tender, today, moment)
            if change is not None:
                break
        else:
            return None
    return SimChange(
        source=region.procurement.id,
        entity="contract",
        kind="tender_result",
        key=change[0],
        written_at=datetime.now(UTC),
        summary=change[1],
    )


async def award(
    sim: Simulator, conn: Any, region: ManifestRegion, tender: Any, today: date, moment: datetime
) -> tuple[str, str] | None:
    """Award one running tender, if it can be done cleanly today: (key, summary)."""
    rng, f = sim.rng, procurement_shape(region.flavour)
    code = int(tender["kd_tender"])
    hps = rupiah(tender["hps"])
    announced = legacy_date(tender["tgl_pengumuman_tender"])
    bids = await conn.fetch(
        "SELECT kd_penyedia, nama_penyedia, npwp, nilai_penawaran, nilai_terkoreksi "
        "FROM spse_peserta WHERE kd_tender = $1",
        code,
    )
    valid = sorted(
        (rupiah(b["nilai_terkoreksi"]), int(b["kd_penyedia"]), b)
        for b in bids
        if b["nilai_terkoreksi"] is not None
    )
    if not valid or (len(valid) > 1 and valid[0][0] == valid[1][0]):
        return None  # no evaluated bid, or no single lowest one
    value, vendor_key, winner = valid[0]
    if not hps * 88 <= value * 100 <= hps * 98:  # 2–12% under HPS, as clean data is
        return None
    closes = None
    if await has_table(conn, "spse_jadwal"):
        closes = await conn.fetchval(
            "SELECT tgl_selesai FROM spse_jadwal WHERE kd_tender = $1 AND tahapan = $2",
            code,
            SCHEDULE_CLOSE,
        )
    closed_on = (
        legacy_date(closes) if closes is not None else announced + timedelta(days=BID_WINDOW[0])
    )
    latest_start = date(sim.fiscal_year, *LAST_START)
    first = max(
        announced + timedelta(days=AWARD_DAYS[0]),
        closed_on + timedelta(days=AWARD_AFTER_CLOSE),
    )
    last = min(announced + timedelta(days=AWARD_DAYS[1]), today, latest_start)
    if first > last:
        return None  # not ready yet (or the window to sign cleanly has passed)
    packages = await conn.fetch(
        "SELECT p.kd_satker_str, p.jenis_pengadaan FROM spse_tender_rup l "
        "JOIN rup_paket p ON p.kd_rup = l.kd_rup WHERE l.kd_tender = $1 ORDER BY p.kd_rup",
        code,
    )
    method = str(tender["mtd_pemilihan"])
    if packages:
        opd = OPD_BY_CODE.get(str(packages[0]["kd_satker_str"]))
        short = opd.short if opd else "UKPBJ"
        construction = packages[0]["jenis_pengadaan"] == CONSTRUCTION
    else:  # a tender SiRUP does not know (TENDER_WITHOUT_RUP): the procurement unit's
        short, construction = "UKPBJ", method == "Tender"
    signed = last  # today where it can be: the result is what happens now
    starts = min(signed + timedelta(days=rng.randint(0, 7)), latest_start)
    length = rng.randint(60, 150) if construction else rng.randint(14, 90)
    ends = min(starts + timedelta(days=length), date(sim.fiscal_year, *CONTRACTS_END))
    ends = max(ends, starts + timedelta(days=7))
    existing = await conn.fetch(
        "SELECT k.no_kontrak FROM spse_kontrak k JOIN spse_tender t "
        "ON t.kd_tender = k.kd_tender WHERE t.tahun = $1",
        sim.fiscal_year,
    )
    taken = {r["no_kontrak"] for r in existing}
    seq = number_seq([r["no_kontrak"] for r in existing]) + 1
    document = "KONTRAK" if method in COMPETITIVE else "SPK"
    number = f"{seq:04d}/{document}/{short}/{sim.fiscal_year}"
    while number in taken:
        seq += 1
        number = f"{seq:04d}/{document}/{short}/{sim.fiscal_year}"

    async def stamp(table: str) -> datetime:
        return sim.next_stamp(moment, await sim.pg_max(conn, region, table))

    await conn.execute(
        "UPDATE spse_tender SET status_tender = 'Selesai', auditupdate = $2 WHERE kd_tender = $1",
        code,
        await stamp("spse_tender"),
    )
    await conn.execute(
        "UPDATE spse_peserta SET pemenang = $3, auditupdate = $4 "
        "WHERE kd_tender = $1 AND kd_penyedia = $2",
        code,
        vendor_key,
        winner_flag(f),
        await stamp("spse_peserta"),
    )
    await conn.execute(
        "INSERT INTO spse_kontrak (no_kontrak, kd_tender, nilai_kontrak, tgl_kontrak, "
        "tgl_mulai, tgl_selesai, nama_penyedia, npwp_penyedia, auditupdate) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        number,
        code,
        Decimal(value),
        procurement_day(f, signed),
        procurement_day(f, starts),
        procurement_day(f, ends),
        winner["nama_penyedia"],
        winner["npwp"],
        await stamp("spse_kontrak"),
    )
    letters = award_letters(number, code, str(tender["nama_paket"]), winner["nama_penyedia"],
                            signed, starts, ends, today)  # fmt: skip
    await write_letters(region.esurat.path if region.esurat else None, letters)
    under = (hps - value) * 1000 // hps
    summary = (
        f"Tender {code} selesai: pemenang {winner['nama_penyedia']}, kontrak {number} "
        f"{money_text(value)} ({under // 10},{under % 10}% di bawah HPS), "
        f"ditandatangani {signed.strftime('%d-%m-%Y')}"
    )
    return f"{region.code}/{number}", summary


async def amendment(
    sim: Simulator, region: ManifestRegion, today: date, moment: datetime
) -> SimChange | None:
    """An addendum on a running contract, −5%…+8% of its signed value, where what was
    paid stays under 85% of both the old and the new effective value."""
    if region.procurement is None:
        return None
    rng, f = sim.rng, procurement_shape(region.flavour)
    paid: dict[str, int] = {}
    if region.finance is not None:
        finance = sim.finance_db(region.finance)
        async with finance.transaction():
            paid = await paid_by_contract(finance, sim.fiscal_year)
    pg = sim.postgres(region.procurement)
    async with pg.transaction() as conn:
        contracts = await read_contracts(conn, sim.fiscal_year)
        options = [
            c
            for c in contracts
            if c.version < 3
            and c.starts_on <= today < c.ends_on
            and c.effective * 100 <= c.value * 110  # not already a seeded ketimpangan
            and paid.get(c.number, 0) * 100 <= c.effective * 85
        ]
        chosen: tuple[SpseContract, int] | None = None
        for c in rng.sample(options, len(options)):
            value = c.value * rng.randint(950, 1080) // 1000 // 1000 * 1000
            if value != c.effective and paid.get(c.number, 0) * 100 <= value * 85:
                chosen = (c, value)
                break
        if chosen is None:
            return None
        c, value = chosen
        version = c.version + 1
        reason = "Pekerjaan tambah kurang (CCO)" if value > c.value else "Perubahan volume"
        stamp = sim.next_stamp(moment, await sim.pg_max(conn, region, "spse_addendum"))
        await conn.execute(
            "INSERT INTO spse_addendum (no_kontrak, versi_addendum, nilai, "
            "alasan_addendum, tgl_addendum, auditupdate) VALUES ($1, $2, $3, $4, $5, $6)",
            c.number,
            version,
            Decimal(value),
            reason,
            procurement_day(f, today),
            stamp,
        )
        letter = amendment_letter(c.number, version, today, c.vendor_name)
        await write_letters(region.esurat.path if region.esurat else None, [letter])
    change = (value - c.value) * 1000 // c.value
    sign = "+" if change >= 0 else "−"
    return SimChange(
        source=region.procurement.id,
        entity="contract_amendment",
        kind="amendment",
        key=f"{region.code}/{c.number}/{version}",
        written_at=datetime.now(UTC),
        summary=(
            f"Addendum {version} kontrak {c.number}: {money_text(c.effective)} → "
            f"{money_text(value)} ({sign}{abs(change) // 10},{abs(change) % 10}% dari "
            f"nilai awal; {reason})"
        ),
    )
