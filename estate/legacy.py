"""The estate in each legacy system's own shape: tables, column names, code and number formats.

Three flavours of the same systems, so that mappings have something to do:

- A (the province, SIPD-like): `kode_sub_giat`, padded codes, numeric amounts, DATE columns,
  an `updated_at` on every row.
- B (Kabupaten Kupang, SIMDA-like copies): `kd_subkeg`/`nilai`, codes without zero padding
  (`1.3.10.2.1.31`), account codes split over `kd_rek_1` … `kd_rek_6`, amounts as Indonesian
  text (`1.250.000,00`), dates as `dd-mm-yyyy` text, `tgl_update` watermarks.
- C (Kota Kupang): SIPD names with spaced codes (`1. 03. 10. 2. 01. 0031`), account codes
  without separators (`520401010003`), `pagu` instead of `pagu_indikatif`, and a finance
  database with no updated-at column at all (synced by keyed diff).

In the `ntt` scale the other regencies take these flavours in turn.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from estate import names
from estate.model import RegionYear

# column kinds → engine types (see writers.py)
Kind = str  # int | bigint | smallint | text | money | decimal | date | timestamp | bool


@dataclass
class Table:
    name: str
    columns: list[tuple[str, Kind]]
    key: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def add(self, *values: Any) -> None:
        self.rows.append(values)


@dataclass
class Workbook:
    path: str  # relative to the region's monev folder
    rows: list[list[Any]]  # sheet rows from row 1, [] for an empty row
    sheet: str = "Form A"


def flavour_of(region: str) -> str:
    if region == "53":
        return "A"
    if region == "53.01":
        return "B"
    if region == "53.71":
        return "C"
    return "ABC"[names.REGION_INDEX[region] % 3]


# --- value formats --------------------------------------------------------------------------


def segments(code: str) -> list[str]:
    return code.split(".")


def code_as(code: str, flavour: str) -> str:
    """A canonical code as the flavour writes it."""
    if flavour == "B":
        return ".".join(str(int(s)) for s in segments(code))
    if flavour == "C":
        return ". ".join(segments(code))
    return code


def rupiah_text(amount: int) -> str:
    """1250000 → "1.250.000,00" (Indonesian format, as text)."""
    return f"{amount:,}".replace(",", ".") + ",00"


def npwp_text(npwp: str) -> str:
    """15 digits → 01.234.567.8-901.000"""
    return f"{npwp[:2]}.{npwp[2:5]}.{npwp[5:8]}.{npwp[8]}-{npwp[9:12]}.{npwp[12:15]}"


def dmy(day: date | None) -> str | None:
    return None if day is None else day.strftime("%d-%m-%Y")


def percent_text(value: Decimal) -> str:
    return str(value).replace(".", ",")


class Clock:
    """Unique, increasing update timestamps per table and fiscal year (a watermark needs
    no two rows on one instant, or a resumed sync could skip the rest of that instant)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def series(self, fy: int, last: date, count: int) -> list[datetime]:
        start = datetime(fy, 1, 5, 7)
        span = max(
            count, int((datetime(last.year, last.month, last.day, 17) - start).total_seconds())
        )
        step = max(1, span // max(1, count))
        return [
            start + timedelta(seconds=i * step + self.rng.randint(0, step - 1))
            for i in range(count)
        ]


def money(amount: int) -> Decimal:
    return Decimal(amount)


# --- e-planning (Bappeda, PostgreSQL) -------------------------------------------------------


def eplanning_tables(
    region: str, years: Sequence[RegionYear], seed: int, *, with_regions: bool
) -> list[Table]:
    f = flavour_of(region)
    clock = Clock(random.Random(f"{seed}/{region}/eplanning"))
    tables: list[Table] = []
    if with_regions:
        wilayah = Table(
            "ref_wilayah",
            [
                ("kode_wilayah", "text"),
                ("nama_wilayah", "text"),
                ("tingkat", "text"),
                ("kode_induk", "text"),
                ("updated_at", "timestamp"),
            ],
            key=("kode_wilayah",),
        )
        level_names = {"PROVINCE": "Provinsi", "REGENCY": "Kabupaten", "CITY": "Kota"}
        stamps = clock.series(
            min(y.fiscal_year for y in years),
            date(min(y.fiscal_year for y in years), 1, 31),
            len(names.REGIONS),
        )
        for (code, name, level), ts in zip(names.REGIONS, stamps, strict=True):
            wilayah.add(code, name, level_names[level], None if code == "53" else "53", ts)
        tables.append(wilayah)

    first = years[0]
    opd_stamps = clock.series(first.fiscal_year, date(first.fiscal_year, 1, 31), len(first.opds))
    if f == "B":
        skpd = Table(
            "data_skpd",
            [("kd_skpd", "text"), ("nm_skpd", "text"), ("tgl_update", "timestamp")],
            key=("kd_skpd",),
        )
        for opd, ts in zip(first.opds, opd_stamps, strict=True):
            skpd.add(code_as(opd.code, f), opd.name.upper(), ts)
    else:
        skpd = Table(
            "data_skpd",
            [
                ("id_skpd", "int"),
                ("kode_skpd", "text"),
                ("nama_skpd", "text"),
                ("is_skpd", "smallint"),
                ("updated_at", "timestamp"),
            ],
            key=("id_skpd",),
        )
        for opd, ts in zip(first.opds, opd_stamps, strict=True):
            is_skpd = 1 if opd.code.endswith(".0000") else 0  # sub-units are not SKPD
            skpd.add(opd.id_skpd, code_as(opd.code, f), opd.name, is_skpd, ts)
    tables.append(skpd)

    if f == "B":
        program = Table(
            "data_program",
            [
                ("thn", "int"),
                ("kd_program", "text"),
                ("nm_program", "text"),
                ("tgl_update", "timestamp"),
            ],
            key=("thn", "kd_program"),
        )
        giat = Table(
            "data_giat",
            [("thn", "int"), ("kd_giat", "text"), ("nm_giat", "text"), ("tgl_update", "timestamp")],
            key=("thn", "kd_giat"),
        )
        subkeg = Table(
            "data_sub_keg",
            [
                ("id_subkeg", "int"),
                ("thn", "int"),
                ("kd_subkeg", "text"),
                ("nm_subkeg", "text"),
                ("kd_skpd", "text"),
                ("nilai", "money"),
                ("tgl_update", "timestamp"),
            ],
            key=("id_subkeg",),
        )
        capaian = Table(
            "data_capaian",
            [
                ("id", "int"),
                ("thn", "int"),
                ("kd_subkeg", "text"),
                ("no", "int"),
                ("indikator", "text"),
                ("satuan", "text"),
                ("target", "decimal"),
                ("realisasi", "decimal"),
                ("tgl_update", "timestamp"),
            ],
            key=("id",),
        )
    else:
        program = Table(
            "data_program",
            [
                ("id_program", "int"),
                ("tahun", "int"),
                ("kode_program", "text"),
                ("nama_program", "text"),
                ("updated_at", "timestamp"),
            ],
            key=("id_program",),
        )
        giat = Table(
            "data_giat",
            [
                ("id_giat", "int"),
                ("tahun", "int"),
                ("kode_giat", "text"),
                ("nama_giat", "text"),
                ("updated_at", "timestamp"),
            ],
            key=("id_giat",),
        )
        amount_column = "pagu" if f == "C" else "pagu_indikatif"
        subkeg = Table(
            "data_sub_keg",
            [
                ("id_sub_giat", "int"),
                ("tahun", "int"),
                ("kode_sub_giat", "text"),
                ("nama_sub_giat", "text"),
                ("kode_skpd", "text"),
                (amount_column, "money"),
                ("updated_at", "timestamp"),
            ],
            key=("id_sub_giat",),
        )
        capaian = Table(
            "data_capaian",
            [
                ("id_capaian", "int"),
                ("id_sub_giat", "int"),
                ("no_urut", "int"),
                ("tolok_ukur", "text"),
                ("satuan", "text"),
                ("target", "decimal"),
                ("realisasi", "decimal"),
                ("updated_at", "timestamp"),
            ],
            key=("id_capaian",),
        )
    capaian_id = 0
    for ry in years:
        fy, last = ry.fiscal_year, ry.cutoff
        for p, ts in zip(
            ry.programs, clock.series(fy, date(fy, 2, 28), len(ry.programs)), strict=True
        ):
            if f == "B":
                program.add(fy, code_as(p.code, f), p.name.upper(), ts)
            else:
                program.add(p.internal_id, fy, code_as(p.code, f), p.name, ts)
        for a, ts in zip(
            ry.activities, clock.series(fy, date(fy, 2, 28), len(ry.activities)), strict=True
        ):
            if f == "B":
                giat.add(fy, code_as(a.code, f), a.name.upper(), ts)
            else:
                giat.add(a.internal_id, fy, code_as(a.code, f), a.name, ts)
        planned = [sa for sa in ry.sub_activities if sa.in_plan]
        ids = {sa.code: sa.internal_id for sa in planned}
        for sa, ts in zip(planned, clock.series(fy, last, len(planned)), strict=True):
            if f == "B":
                subkeg.add(
                    sa.internal_id,
                    fy,
                    code_as(sa.code, f),
                    sa.name.upper(),
                    code_as(sa.opd_code, f),
                    money(sa.planned),
                    ts,
                )
            else:
                subkeg.add(
                    sa.internal_id,
                    fy,
                    code_as(sa.code, f),
                    sa.name,
                    code_as(sa.opd_code, f),
                    money(sa.planned),
                    ts,
                )
        indicators = [i for i in ry.indicators if i.sa_code in ids]
        for ind, ts in zip(indicators, clock.series(fy, last, len(indicators)), strict=True):
            capaian_id += 1
            if f == "B":
                capaian.add(
                    capaian_id,
                    fy,
                    code_as(ind.sa_code, f),
                    ind.seq,
                    ind.description,
                    ind.unit,
                    ind.target,
                    ind.achieved,
                    ts,
                )
            else:
                capaian.add(
                    capaian_id * 3 + 17,
                    ids[ind.sa_code],
                    ind.seq,
                    ind.description,
                    ind.unit,
                    ind.target,
                    ind.achieved,
                    ts,
                )
    tables += [program, giat, subkeg, capaian]
    return tables


# --- finance (BPKAD, MariaDB or SQLite) -----------------------------------------------------


def finance_tables(region: str, years: Sequence[RegionYear], seed: int) -> list[Table]:
    f = flavour_of(region)
    clock = Clock(random.Random(f"{seed}/{region}/finance"))
    if f == "A":
        dpa = Table(
            "dpa_rinci",
            [
                ("id", "int"),
                ("tahun", "int"),
                ("no_dpa", "text"),
                ("kd_sub_keg", "text"),
                ("kode_akun", "text"),
                ("nama_akun", "text"),
                ("nilai", "money"),
                ("updated_at", "timestamp"),
            ],
            key=("id",),
        )
        sp2d = Table(
            "sp2d",
            [
                ("id", "int"),
                ("tahun", "int"),
                ("nomor_sp2d", "text"),
                ("tanggal_sp2d", "date"),
                ("nilai_sp2d", "money"),
                ("jenis", "text"),
                ("kode_akun", "text"),
                ("kd_sub_keg", "text"),
                ("nama_penerima", "text"),
                ("npwp_penerima", "text"),
                ("no_kontrak", "text"),
                ("updated_at", "timestamp"),
            ],
            key=("id",),
        )
    elif f == "B":
        dpa = Table(
            "dpa_rinci",
            [
                ("id", "int"),
                ("tahun", "int"),
                ("no_dpa", "text"),
                ("kd_sub_keg", "text"),
                *[(f"kd_rek_{n}", "int") for n in range(1, 7)],
                ("nm_rek", "text"),
                ("nilai", "text"),
                ("tgl_update", "timestamp"),
            ],
            key=("id",),
        )
        sp2d = Table(
            "sp2d",
            [
                ("id", "int"),
                ("tahun", "int"),
                ("no_sp2d", "text"),
                ("tgl_sp2d", "text"),
                ("nilai", "text"),
                ("jns_sp2d", "text"),
                ("kd_rek", "text"),
                ("kd_sub_keg", "text"),
                ("nm_penerima", "text"),
                ("npwp", "text"),
                ("no_kontrak", "text"),
                ("tgl_update", "timestamp"),
            ],
            key=("id",),
        )
    else:
        dpa = Table(
            "dpa_rinci",
            [
                ("tahun", "int"),
                ("no_dpa", "text"),
                ("kd_sub_keg", "text"),
                ("kode_rekening", "text"),
                ("uraian_rekening", "text"),
                ("pagu", "money"),
            ],
            key=("tahun", "kd_sub_keg", "kode_rekening"),
        )
        sp2d = Table(
            "sp2d",
            [
                ("tahun", "int"),
                ("nomor_sp2d", "text"),
                ("tanggal_sp2d", "date"),
                ("nilai_sp2d", "money"),
                ("jenis", "text"),
                ("kode_rekening", "text"),
                ("kd_sub_keg", "text"),
                ("nama_penerima", "text"),
                ("npwp_penerima", "text"),
                ("no_kontrak", "text"),
            ],
            key=("tahun", "nomor_sp2d"),
        )
    line_id = pay_id = 0
    for ry in years:
        fy = ry.fiscal_year
        stamps = clock.series(fy, ry.cutoff, len(ry.budget_lines))
        for line, ts in zip(ry.budget_lines, stamps, strict=True):
            line_id += 1
            sa = code_as(line.sa_code, f)
            if f == "A":
                dpa.add(
                    line_id,
                    fy,
                    line.dpa_number,
                    sa,
                    line.account,
                    line.account_name,
                    money(line.amount),
                    ts,
                )
            elif f == "B":
                parts = [int(s) for s in segments(line.account)]
                dpa.add(
                    line_id,
                    fy,
                    line.dpa_number,
                    sa,
                    *parts,
                    line.account_name,
                    rupiah_text(line.amount),
                    ts,
                )
            else:
                dpa.add(
                    fy,
                    line.dpa_number,
                    sa,
                    line.account.replace(".", ""),
                    line.account_name,
                    money(line.amount),
                )
        stamps = clock.series(fy, ry.cutoff, len(ry.payments))
        for p, ts in zip(ry.payments, stamps, strict=True):
            pay_id += 1
            sa_text = code_as(p.sa_code, f) if p.sa_code else None
            if f == "A":
                sp2d.add(
                    pay_id,
                    fy,
                    p.number,
                    p.paid_on,
                    money(p.amount),
                    p.kind,
                    p.account,
                    sa_text,
                    p.payee_name,
                    p.payee_npwp,
                    p.contract_number,
                    ts,
                )
            elif f == "B":
                account = code_as(p.account, f) if p.account else None
                npwp = npwp_text(p.payee_npwp) if p.payee_npwp else None
                sp2d.add(
                    pay_id,
                    fy,
                    p.number,
                    dmy(p.paid_on),
                    rupiah_text(p.amount),
                    p.kind,
                    account,
                    sa_text,
                    p.payee_name,
                    npwp,
                    p.contract_number,
                    ts,
                )
            else:
                account = p.account.replace(".", "") if p.account else None
                sp2d.add(
                    fy,
                    p.number,
                    p.paid_on,
                    money(p.amount),
                    p.kind,
                    account,
                    sa_text,
                    p.payee_name,
                    p.payee_npwp,
                    p.contract_number,
                )
    return [dpa, sp2d]


# --- procurement (BPBJ: SiRUP and SPSE, PostgreSQL) -----------------------------------------


def procurement_tables(region: str, years: Sequence[RegionYear], seed: int) -> list[Table]:
    """The same SiRUP/SPSE schema everywhere (a national system); regencies export dates as
    dd-mm-yyyy text (B) or flag winners with Ya/Tidak and format NPWPs (C)."""
    f = flavour_of(region)
    clock = Clock(random.Random(f"{seed}/{region}/procurement"))
    day_kind = "text" if f == "B" else "date"
    win_kind = {"A": "bool", "B": "smallint", "C": "text"}[f]

    def day(value: date | None) -> date | str | None:
        return dmy(value) if f == "B" else value

    def winner(flag: bool) -> bool | int | str:
        if f == "A":
            return flag
        if f == "B":
            return int(flag)
        return "Ya" if flag else "Tidak"

    def npwp(value: str) -> str:
        return npwp_text(value) if f == "C" else value

    paket = Table(
        "rup_paket",
        [
            ("kd_rup", "bigint"),
            ("tahun", "int"),
            ("kd_satker", "int"),
            ("kd_satker_str", "text"),
            ("nama_satker", "text"),
            ("nama_paket", "text"),
            ("pagu", "money"),
            ("metode_pengadaan", "text"),
            ("jenis_pengadaan", "text"),
            ("sumber_dana", "text"),
            ("tgl_umumkan", day_kind),
            ("status_umumkan", "text"),
            ("updated_at", "timestamp"),
        ],
        key=("kd_rup",),
    )
    anggaran = Table(
        "rup_anggaran",
        [
            ("id", "int"),
            ("kd_rup", "bigint"),
            ("mak", "text"),
            ("pagu", "money"),
            ("updated_at", "timestamp"),
        ],
        key=("id",),
    )
    histori = Table(
        "rup_paket_histori",
        [
            ("kd_rup", "bigint"),
            ("versi", "int"),
            ("pagu", "money"),
            ("status_umumkan", "text"),
            ("tgl_versi", day_kind),
        ],
        key=("kd_rup", "versi"),
    )
    tender = Table(
        "spse_tender",
        [
            ("kd_tender", "bigint"),
            ("kd_lpse", "int"),
            ("tahun", "int"),
            ("nama_paket", "text"),
            ("hps", "money"),
            ("pagu", "money"),
            ("mtd_pemilihan", "text"),
            ("status_tender", "text"),
            ("versi_tender", "int"),
            ("tgl_pengumuman_tender", day_kind),
            ("auditupdate", "timestamp"),
        ],
        key=("kd_tender",),
    )
    link = Table(
        "spse_tender_rup",
        [("kd_tender", "bigint"), ("kd_rup", "bigint"), ("auditupdate", "timestamp")],
        key=("kd_tender", "kd_rup"),
    )
    jadwal = Table(
        "spse_jadwal",
        [
            ("kd_tender", "bigint"),
            ("tahapan", "text"),
            ("tgl_mulai", day_kind),
            ("tgl_selesai", day_kind),
        ],
        key=("kd_tender", "tahapan"),
    )
    peserta = Table(
        "spse_peserta",
        [
            ("kd_tender", "bigint"),
            ("kd_penyedia", "bigint"),
            ("nama_penyedia", "text"),
            ("npwp", "text"),
            ("nilai_penawaran", "money"),
            ("nilai_terkoreksi", "money"),
            ("pemenang", win_kind),
            ("auditupdate", "timestamp"),
        ],
        key=("kd_tender", "kd_penyedia"),
    )
    kontrak = Table(
        "spse_kontrak",
        [
            ("no_kontrak", "text"),
            ("kd_tender", "bigint"),
            ("nilai_kontrak", "money"),
            ("tgl_kontrak", day_kind),
            ("tgl_mulai", day_kind),
            ("tgl_selesai", day_kind),
            ("nama_penyedia", "text"),
            ("npwp_penyedia", "text"),
            ("auditupdate", "timestamp"),
        ],
        key=("no_kontrak",),
    )
    addendum = Table(
        "spse_addendum",
        [
            ("no_kontrak", "text"),
            ("versi_addendum", "int"),
            ("nilai", "money"),
            ("alasan_addendum", "text"),
            ("tgl_addendum", day_kind),
            ("auditupdate", "timestamp"),
        ],
        key=("no_kontrak", "versi_addendum"),
    )
    lpse = 115 + names.REGION_INDEX[region]
    satker_ids = {
        o.code: 60_000 + names.REGION_INDEX[region] * 1000 + i for i, o in enumerate(years[0].opds)
    }
    budget_id = 0
    for ry in years:
        fy, last = ry.fiscal_year, ry.cutoff
        stamps = clock.series(fy, last, len(ry.packages))
        for p, ts in zip(ry.packages, stamps, strict=True):
            paket.add(
                p.rup_code,
                fy,
                satker_ids[p.opd_code],
                p.opd_code,
                p.opd_name,
                p.name,
                money(p.pagu),
                p.method,
                p.category,
                p.funding,
                day(p.announced_on),
                "Terumumkan",
                ts,
            )
            for versi, pagu, status, when in p.history:
                histori.add(p.rup_code, versi, money(pagu), status, day(when))
        stamps = clock.series(fy, last, len(ry.packages))
        for p, ts in zip(ry.packages, stamps, strict=True):
            budget_id += 1
            anggaran.add(budget_id, p.rup_code, p.mak, money(p.pagu), ts)
        stamps = clock.series(fy, last, len(ry.tenders))
        links = clock.series(fy, last, sum(len(t.rup_codes) for t in ry.tenders))
        bid_count = sum(len(t.bids) for t in ry.tenders)
        bid_stamps = iter(clock.series(fy, last, bid_count))
        contracts = ry.contracts
        contract_stamps = iter(clock.series(fy, last, len(contracts)))
        amendment_stamps = iter(clock.series(fy, last, sum(len(c.amendments) for c in contracts)))
        link_stamps = iter(links)
        for t, ts in zip(ry.tenders, stamps, strict=True):
            tender.add(
                t.code,
                lpse,
                fy,
                t.name,
                money(t.hps),
                money(t.pagu),
                t.method,
                t.status,
                t.version,
                day(t.announced_on),
                ts,
            )
            for code in t.rup_codes:
                link.add(t.code, code, next(link_stamps))
            if t.bid_closes_on is not None:
                ann = t.announced_on
                jadwal.add(
                    t.code, "Pengumuman Pascakualifikasi", day(ann), day(ann + timedelta(days=7))
                )
                jadwal.add(
                    t.code,
                    "Upload Dokumen Penawaran",
                    day(ann + timedelta(days=1)),
                    day(t.bid_closes_on),
                )
                jadwal.add(
                    t.code,
                    "Penetapan Pemenang",
                    day(t.bid_closes_on + timedelta(days=3)),
                    day(t.bid_closes_on + timedelta(days=4)),
                )
            for b in t.bids:
                peserta.add(
                    t.code,
                    b.vendor.key,
                    b.vendor.name,
                    npwp(b.vendor.npwp),
                    None if b.amount is None else money(b.amount),
                    None if b.corrected is None else money(b.corrected),
                    winner(b.winner),
                    next(bid_stamps),
                )
            c = t.contract
            if c is None:
                continue
            kontrak.add(
                c.number,
                t.code,
                money(c.value),
                day(c.signed_on),
                day(c.starts_on),
                day(c.ends_on),
                c.vendor.name,
                npwp(c.vendor.npwp),
                next(contract_stamps),
            )
            for a in c.amendments:
                addendum.add(
                    c.number,
                    a.version,
                    money(a.value),
                    a.reason,
                    day(a.signed_on),
                    next(amendment_stamps),
                )
    return [paket, anggaran, histori, tender, link, jadwal, peserta, kontrak, addendum]


# --- monitoring (OPD spreadsheets) ----------------------------------------------------------

MONEV_LAYOUT: dict[str, dict[str, Any]] = {
    # header_row, cell holding the year, column headers in order
    "A": {
        "header_row": 8,
        "year_cell": "C5",
        "columns": [
            "No",
            "Kode Sub Kegiatan",
            "Nama Sub Kegiatan",
            "Periode",
            "Realisasi Fisik (%)",
            "Realisasi Keuangan (%)",
            "Permasalahan",
        ],
    },
    "B": {
        "header_row": 7,
        "year_cell": "B4",
        "columns": [
            "NO",
            "KODE SUBKEG",
            "URAIAN SUB KEGIATAN",
            "TRIWULAN",
            "FISIK (%)",
            "KEUANGAN (%)",
            "MASALAH",
        ],
    },
    "C": {
        "header_row": 6,
        "year_cell": "B4",
        "columns": ["Kode", "Sub Kegiatan", "Periode", "Fisik", "Keuangan", "Kendala"],
    },
}


def monev_workbooks(region: str, years: Sequence[RegionYear]) -> list[Workbook]:
    """One Form A workbook per OPD and fiscal year: header cells, a header row, then one row
    per sub-activity and quarter. B writes percentages as text ("45,5")."""
    f = flavour_of(region)
    layout = MONEV_LAYOUT[f]
    out: list[Workbook] = []
    for ry in years:
        names_by_code = {sa.code: sa.name for sa in ry.sub_activities}
        by_opd: dict[str, list[Any]] = {}
        for rep in ry.progress:
            by_opd.setdefault(rep.opd_code, []).append(rep)
        for opd in ry.opds:
            reports = sorted(by_opd.get(opd.code, []), key=lambda r: (r.sa_code, r.quarter))
            if not reports:
                continue
            region_name = names.REGION_NAMES[region]
            if f == "A":
                rows: list[list[Any]] = [
                    ["FORM A - LAPORAN REALISASI FISIK DAN KEUANGAN SUB KEGIATAN"],
                    [],
                    ["Kode OPD", None, opd.code],
                    ["Nama OPD", None, opd.name],
                    ["Tahun Anggaran", None, ry.fiscal_year],
                    ["Pemerintah Daerah", None, region_name],
                    [],
                ]
            elif f == "B":
                rows = [
                    [f"LAPORAN TRIWULANAN (FORM A) {region_name.upper()}"],
                    ["KODE SKPD", code_as(opd.code, f)],
                    ["NAMA SKPD", opd.name.upper()],
                    ["TAHUN", str(ry.fiscal_year)],
                    ["KABUPATEN", region_name],
                    [],
                ]
            else:
                rows = [
                    ["Evaluasi Hasil Pelaksanaan RKPD - Form A"],
                    ["OPD", code_as(opd.code, f), opd.name],
                    ["Pemda", region_name],
                    ["Tahun", ry.fiscal_year],
                    [],
                ]
            assert len(rows) == layout["header_row"] - 1
            rows.append(list(layout["columns"]))
            for n, rep in enumerate(reports, start=1):
                period = f"{ry.fiscal_year}-Q{rep.quarter}"
                code = code_as(rep.sa_code, f)
                name = names_by_code.get(rep.sa_code, "")
                if f == "A":
                    rows.append(
                        [
                            n,
                            code,
                            name,
                            period,
                            float(rep.physical),
                            float(rep.financial),
                            rep.problems,
                        ]
                    )
                elif f == "B":
                    rows.append(
                        [
                            str(n),
                            code,
                            name.upper(),
                            period,
                            percent_text(rep.physical),
                            percent_text(rep.financial),
                            rep.problems,
                        ]
                    )
                else:
                    rows.append(
                        [
                            code,
                            name,
                            period,
                            float(rep.physical),
                            float(rep.financial),
                            rep.problems,
                        ]
                    )
            out.append(Workbook(f"{ry.fiscal_year}_{opd.short.lower()}.xlsx", rows))
    return out
