"""E-Surat: each Pemda's e-office, its outgoing letters in one `surat_keluar` table, as
such systems keep them: the letter's number, date (dd-mm-yyyy text), type, perihal and the
sending and receiving units; the contract's number or kd_tender only inside the perihal.

Letters follow the work: the contract (surat perjanjian) on its signing day, the SPMK on
the day work starts (before the signing for the WORK_STARTED_BEFORE_CONTRACT seeds), an
addendum letter per addendum, the BAST on the contract's end day once the year's data
reaches it (none for the HANDOVER_WITHOUT_LETTER seeds), and invitations that name no
contract (kept unlinked).
Their dates are the contracts' own, so the ketimpangan the estate seeds stay exactly those
the manifest lists (PAYMENT_BEFORE_HANDOVER and SLOW_AWARD read the letters' dates)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from estate.legacy.tables import Table
from estate.model import RegionYear

COLUMNS = [
    ("id_surat", "int"),
    ("no_surat", "text"),
    ("tgl_surat", "text"),
    ("jenis_surat", "text"),
    ("perihal", "text"),
    ("unit_pengirim", "text"),
    ("unit_tujuan", "text"),
]
SENDER = "Pejabat Pembuat Komitmen"


def _dmy(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def esurat_tables(region: str, region_years: Sequence[RegionYear]) -> list[Table]:
    table = Table("surat_keluar", COLUMNS, key=("id_surat",))
    seq = 0

    def letter(kind: str, code: str, on: date, subject: str, to: str) -> None:
        nonlocal seq
        seq += 1
        table.add(seq, f"{seq:04d}/{code}/{on.year}", _dmy(on), kind, subject, SENDER, to)

    for ry in region_years:
        for tender in ry.tenders:
            c = tender.contract
            if c is None:
                continue
            vendor = c.vendor.name
            letter(
                "KONTRAK",
                "SP",
                c.signed_on,
                f"Surat perjanjian kd_tender {tender.code} Nomor Kontrak: {c.number}",
                vendor,
            )
            letter(
                "SPMK",
                "SPMK",
                c.spmk_on or c.starts_on,
                f"Perintah mulai kerja {tender.name} Nomor Kontrak: {c.number}",
                vendor,
            )
            for a in sorted(c.amendments, key=lambda a: a.version):
                letter(
                    "ADENDUM",
                    "ADD",
                    a.signed_on,
                    f"Addendum {a.version} Nomor Kontrak: {c.number}",
                    vendor,
                )
            if c.ends_on <= ry.cutoff and c.handover_letter:
                letter("BAST", "BAST", c.ends_on,
                       f"Serah terima pekerjaan {tender.name} Nomor Kontrak: {c.number}",
                       "Bagian Keuangan")  # fmt: skip
        for quarter in (1, 2, 3):
            on = date(ry.fiscal_year, quarter * 3, 20)
            if on <= ry.cutoff:
                letter(
                    "LAINNYA",
                    "UND",
                    on,
                    f"Undangan rapat evaluasi triwulan {quarter} {region}",
                    "Semua OPD",
                )
    return [table]
