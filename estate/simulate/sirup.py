"""SiRUP: the package a new tender is for, published first where none is waiting."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters.codes import normalise_sub_activity_code, split_mak
from estate import names
from estate.simulate.formats import legacy_date, procurement_day, procurement_shape, rupiah
from estate.simulate.reads import has_table, read_dpa_lines
from estate.simulate.sources import ManifestRegion

if TYPE_CHECKING:
    from estate.simulate.simulator import Simulator

COMPETITIVE = ("Tender", "Seleksi", "Tender Cepat")
PUBLISHED = "Terumumkan"  # SiRUP's status of a published package
# Below these a package needs no tender (Perpres 12/2021: Pengadaan Langsung up to Rp 200 jt,
# consultancy up to Rp 100 jt): the least a package the simulator publishes for SPSE holds.
MIN_TENDER_PAGU = {"Tender": 200_000_000, "Tender Cepat": 200_000_000, "Seleksi": 100_000_000}
RUP_SHARE = 97  # % of its DPA line the packages on a mak stay within (clean data)


@dataclass(frozen=True)
class OpenPackage:
    """A SiRUP package about to get its SPSE tender."""

    rup_code: int
    opd_code: str  # kd_satker_str
    name: str
    pagu: int
    method: str
    announced_on: date
    published: bool  # by this change


async def open_package(sim: Simulator, conn: Any, announced: date) -> OpenPackage | None:
    """A published package of the year for SPSE, announced by `announced`, no tender."""
    rows = await conn.fetch(
        "SELECT p.kd_rup, p.kd_satker_str, p.nama_paket, p.pagu, p.metode_pengadaan, "
        "p.tgl_umumkan FROM rup_paket p WHERE p.tahun = $1 "
        "AND p.metode_pengadaan = ANY($2::text[]) AND p.status_umumkan = $3 "
        "AND NOT EXISTS (SELECT 1 FROM spse_tender_rup l WHERE l.kd_rup = p.kd_rup) "
        "ORDER BY p.kd_rup",
        sim.fiscal_year,
        list(COMPETITIVE),
        PUBLISHED,
    )
    options = [
        OpenPackage(
            rup_code=int(r["kd_rup"]),
            opd_code=str(r["kd_satker_str"]),
            name=str(r["nama_paket"]),
            pagu=rupiah(r["pagu"]),
            method=str(r["metode_pengadaan"]),
            announced_on=legacy_date(r["tgl_umumkan"]),
            published=False,
        )
        for r in rows
        if r["tgl_umumkan"] is not None and legacy_date(r["tgl_umumkan"]) <= announced
    ]
    options = [p for p in options if p.pagu > 0]
    return sim.rng.choice(options) if options else None


async def publish_package(
    sim: Simulator, conn: Any, region: ManifestRegion, tender_announced: date, moment: datetime
) -> OpenPackage | None:
    """Publish a further Tender/Seleksi package in SiRUP on a mak that has one announced
    by the end of Q3 (so NOT_PROCURED_BY_Q3 stays as it is), with the OPD, category and
    funding of that one, keeping all packages on the mak within 97% of the DPA line
    (no RUP_ABOVE_DPA) and its first published version at its pagu. Needs the region's
    DPA (finance database): None without one."""
    if region.finance is None:
        return None
    rng, f, fy = sim.rng, procurement_shape(region.flavour), sim.fiscal_year
    finance = sim.finance_db(region.finance)
    async with finance.transaction():
        dpa_rows = await read_dpa_lines(finance, sim.fiscal_year)
    dpa: dict[tuple[str, str], int] = defaultdict(int)
    for sa_text, account, amount, _ in dpa_rows:
        dpa[(normalise_sub_activity_code(sa_text), account)] += amount
    rows = await conn.fetch(
        # Each package's first budget row by one join (no index on rup_anggaran.kd_rup).
        "SELECT p.kd_rup, p.kd_satker, p.kd_satker_str, p.nama_satker, p.pagu, "
        "p.metode_pengadaan, p.jenis_pengadaan, p.sumber_dana, p.tgl_umumkan, g.mak "
        "FROM rup_paket p LEFT JOIN (SELECT DISTINCT ON (kd_rup) kd_rup, mak FROM rup_anggaran "
        "ORDER BY kd_rup, id) g ON g.kd_rup = p.kd_rup WHERE p.tahun = $1 ORDER BY p.kd_rup",
        fy,
    )
    q3_end = date(fy, 9, 30)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    siblings: dict[tuple[str, str], Any] = {}
    for row in rows:
        if row["mak"] is None:
            continue
        mak = split_mak(str(row["mak"]))
        totals[mak] += rupiah(row["pagu"])
        if (
            row["metode_pengadaan"] in MIN_TENDER_PAGU
            and row["tgl_umumkan"] is not None
            and legacy_date(row["tgl_umumkan"]) <= q3_end
        ):
            siblings.setdefault(mak, row)
    options = []
    for mak, sibling in sorted(siblings.items(), key=lambda item: item[0]):
        least = MIN_TENDER_PAGU[str(sibling["metode_pengadaan"])]
        room = dpa.get(mak, 0) * RUP_SHARE // 100 - totals[mak]
        if mak in dpa and room >= least:
            options.append((sibling, least, min(room, max(least, rupiah(sibling["pagu"])))))
    if not options:
        return None
    sibling, least, most = rng.choice(options)
    pagu = rng.randint(least // 1000, most // 1000) * 1000
    announced = max(date(fy, 1, 2), tender_announced - timedelta(days=rng.randint(7, 30)))
    taken_sql = "SELECT kd_rup FROM rup_paket UNION SELECT kd_rup FROM rup_anggaran "
    taken_sql += "UNION SELECT kd_rup FROM spse_tender_rup"
    history = await has_table(conn, "rup_paket_histori")
    if history:
        taken_sql += " UNION SELECT kd_rup FROM rup_paket_histori"
    taken = {int(code) for (code,) in await conn.fetch(taken_sql)}
    rup_code = max(int(r["kd_rup"]) for r in rows) + rng.randint(1, 7)
    while rup_code in taken:
        rup_code += rng.randint(1, 7)
    name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
    method = str(sibling["metode_pengadaan"])
    await sim.pg_insert(
        conn,
        region,
        moment,
        "rup_paket",
        {
            "kd_rup": rup_code,
            "tahun": fy,
            "kd_satker": sibling["kd_satker"],
            "kd_satker_str": sibling["kd_satker_str"],
            "nama_satker": sibling["nama_satker"],
            "nama_paket": name,
            "pagu": Decimal(pagu),
            "metode_pengadaan": method,
            "jenis_pengadaan": sibling["jenis_pengadaan"],
            "sumber_dana": sibling["sumber_dana"],
            "tgl_umumkan": procurement_day(f, announced),
            "status_umumkan": PUBLISHED,
        },
    )
    budget_id = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM rup_anggaran")
    await sim.pg_insert(
        conn,
        region,
        moment,
        "rup_anggaran",
        {
            "id": int(budget_id),
            "kd_rup": rup_code,
            "mak": sibling["mak"],
            "pagu": Decimal(pagu),
        },
    )
    if history:
        await sim.pg_insert(
            conn,
            region,
            moment,
            "rup_paket_histori",
            {
                "kd_rup": rup_code,
                "versi": 1,
                "pagu": Decimal(pagu),
                "status_umumkan": PUBLISHED,
                "tgl_versi": procurement_day(f, announced),
            },
        )
    return OpenPackage(
        rup_code=rup_code,
        opd_code=str(sibling["kd_satker_str"]),
        name=name,
        pagu=pagu,
        method=method,
        announced_on=announced,
        published=True,
    )
