"""Canonical records: what every adapter yields, whatever the legacy source looked like.

A record names its rows by natural keys (codes), never by store ids; the sync engine
resolves codes to rows. Each entity declares its fields, their kinds (which decide the
parsing and code normalisation a mapping applies) and which fields form its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

FieldKind = Literal[
    "text",
    "int",
    "money",
    "decimal",
    "percent",
    "date",
    "bool",
    "region_code",
    "opd_code",
    "program_code",
    "activity_code",
    "sub_activity_code",
    "account_code",
]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    required: bool = False
    description: str = ""
    # A closed vocabulary: the only values the field may hold (matched ignoring case and
    # spaces around them, stored as written here); anything else refuses the row.
    vocabulary: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntitySpec:
    name: str
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    description: str

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @cached_property
    def required(self) -> tuple[str, ...]:
        # Read for every record a mapping makes: computed once per spec.
        return tuple(f.name for f in self.fields if f.required or f.name in self.key)


def _f(
    name: str,
    kind: FieldKind,
    required: bool = False,
    description: str = "",
    vocabulary: tuple[str, ...] = (),
) -> FieldSpec:
    return FieldSpec(name, kind, required, description, vocabulary)


REGION_LEVELS = ("PROVINCE", "REGENCY", "CITY")
# Metode pemilihan penyedia (Perpres 16/2018 jo. 12/2021), as SiRUP and SPSE name them,
# and SiRUP's "Dikecualikan" for packages outside those rules.
PROCUREMENT_METHODS = (
    "Tender",
    "Tender Cepat",
    "Seleksi",
    "Pengadaan Langsung",
    "Penunjukan Langsung",
    "E-Purchasing",
    "Sayembara",
    "Kontes",
    "Dikecualikan",
)
PROCUREMENT_CATEGORIES = ("Barang", "Pekerjaan Konstruksi", "Jasa Konsultansi", "Jasa Lainnya")
PAYMENT_KINDS = ("LS", "UP", "GU", "TU")  # jenis SP2D
# Jenis surat (E-Surat): order to start work, handover, the contract, an addendum, other.
LETTER_KINDS = ("SPMK", "BAST", "KONTRAK", "ADENDUM", "LAINNYA")
LETTER_DIRECTIONS = ("KELUAR", "MASUK")
OPD_NAME = "the OPD's name: creates the OPD of opd_code in the Pemda when it does not exist"


ENTITIES: dict[str, EntitySpec] = {
    e.name: e
    for e in [
        EntitySpec(
            "region",
            ("code",),
            (
                _f("code", "region_code"),
                _f("name", "text", True),
                _f("level", "text", True, "PROVINCE, REGENCY or CITY", REGION_LEVELS),
                _f("parent_code", "region_code"),
            ),
            "Pemda (provinsi, kabupaten, kota)",
        ),
        EntitySpec(
            "opd",
            ("region_code", "code"),
            (_f("region_code", "region_code"), _f("code", "opd_code"), _f("name", "text", True)),
            "OPD / SKPD / satker",
        ),
        EntitySpec(
            "program",
            ("region_code", "fiscal_year", "code"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("code", "program_code"),
                _f("name", "text", False, "default: the nomenclature's name of the code"),
            ),
            "Program; derived from its kegiatan's code when the source has no program rows",
        ),
        EntitySpec(
            "activity",
            ("region_code", "fiscal_year", "code"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("code", "activity_code"),
                _f("name", "text", False, "default: the nomenclature's name of the code"),
            ),
            "Kegiatan; its program is the code's first three segments (derived from it when "
            "the source has no program rows)",
        ),
        EntitySpec(
            "sub_activity",
            ("region_code", "fiscal_year", "code"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("code", "sub_activity_code"),
                _f("name", "text", False, "default: the nomenclature's name of the code"),
                _f("opd_code", "opd_code", True),
                _f("opd_name", "text", False, OPD_NAME),
                _f("planned_amount", "money", False, "pagu indikatif"),
            ),
            "Sub kegiatan; its kegiatan is the code's first five segments (derived from it "
            "when the source has no kegiatan rows)",
        ),
        EntitySpec(
            "indicator",
            ("region_code", "fiscal_year", "sub_activity_code", "seq"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("sub_activity_code", "sub_activity_code"),
                _f("seq", "int"),
                _f("description", "text", True),
                _f("unit", "text"),
                _f("target", "decimal"),
                _f("achieved", "decimal"),
            ),
            "Indikator kinerja",
        ),
        EntitySpec(
            "budget_line",
            ("region_code", "fiscal_year", "sub_activity_code", "account_code"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("sub_activity_code", "sub_activity_code"),
                _f("account_code", "account_code"),
                _f("account_name", "text"),
                _f("amount", "money", True),
                _f("dpa_number", "text"),
                _f("opd_code", "opd_code", False, "kd_skpd of the line"),
                _f("opd_name", "text", False, OPD_NAME),
            ),
            "Rincian DPA",
        ),
        EntitySpec(
            "payment",
            ("region_code", "fiscal_year", "sp2d_number"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("sp2d_number", "text"),
                _f("paid_on", "date", True),
                _f("amount", "money", True),
                _f("kind", "text", False, "jenis: LS, UP, GU or TU", PAYMENT_KINDS),
                _f("account_code", "account_code"),
                _f("sub_activity_code", "sub_activity_code"),
                _f("contract_number", "text"),
                _f("payee_name", "text"),
                _f("payee_tax_id", "text", False, "NPWP"),
                _f("opd_code", "opd_code", False, "kd_skpd of the SP2D"),
                _f("opd_name", "text", False, OPD_NAME),
            ),
            "SP2D",
        ),
        EntitySpec(
            "procurement_package",
            ("rup_code",),
            (
                _f("rup_code", "text"),
                _f("region_code", "region_code", True),
                _f("opd_code", "opd_code"),
                _f("opd_name", "text", False, OPD_NAME),
                _f("fiscal_year", "int", True),
                _f("name", "text", True),
                _f("method", "text", True, "metode_pengadaan", PROCUREMENT_METHODS),
                _f("category", "text", False, "jenis_pengadaan", PROCUREMENT_CATEGORIES),
                _f("ceiling", "money", True, "pagu"),
                _f("funding_source", "text", False, "sumber_dana"),
                _f("announced_on", "date"),
            ),
            "Paket RUP (SiRUP)",
        ),
        EntitySpec(
            "package_budget_row",
            ("rup_code", "mak"),
            (
                _f("rup_code", "text"),
                _f("mak", "text", False, "sub-activity code + account code + '.'"),
                _f("amount", "money", True),
            ),
            "Anggaran paket RUP per mak",
        ),
        EntitySpec(
            "tender",
            ("code",),
            (
                _f("code", "text", False, "kd_tender"),
                _f("region_code", "region_code", True),
                _f("name", "text", True),
                _f("method", "text", True, "mtd_pemilihan", PROCUREMENT_METHODS),
                _f("owner_estimate", "money", False, "HPS"),
                _f("ceiling", "money"),
                _f("status", "text", True),
                _f("version", "int"),
                _f("announced_on", "date"),
            ),
            "Tender / non-tender (SPSE)",
        ),
        EntitySpec(
            "tender_package",
            ("tender_code", "rup_code"),
            (_f("tender_code", "text"), _f("rup_code", "text")),
            "Paket RUP covered by a tender",
        ),
        EntitySpec(
            "package_version",
            ("rup_code", "version"),
            (
                _f("rup_code", "text"),
                _f("version", "int"),
                _f("ceiling", "money"),
                _f("status", "text", False, '"Terumumkan" once announced, e.g. "Draft" before'),
                _f("version_date", "date"),
            ),
            "Versi paket RUP (riwayat SiRUP)",
        ),
        EntitySpec(
            "tender_schedule",
            ("tender_code", "stage"),
            (
                _f("tender_code", "text"),
                _f("stage", "text", False, 'tahapan, e.g. "Upload Dokumen Penawaran"'),
                _f("starts_on", "date"),
                _f("ends_on", "date"),
            ),
            "Jadwal tender (SPSE)",
        ),
        EntitySpec(
            "bid",
            ("tender_code", "vendor_key"),
            (
                _f("tender_code", "text"),
                _f("vendor_key", "text", False, "NPWP, or the name when there is none"),
                _f("vendor_name", "text", True),
                _f("vendor_tax_id", "text"),
                _f("amount", "money"),
                _f("corrected_amount", "money"),
                _f("is_winner", "bool"),
            ),
            "Peserta / penawaran",
        ),
        EntitySpec(
            "contract",
            ("region_code", "number"),
            (
                _f("region_code", "region_code"),
                _f("number", "text"),
                _f("tender_code", "text"),
                _f("vendor_name", "text"),
                _f("vendor_tax_id", "text"),
                _f("signed_on", "date"),
                _f("value", "money", True),
                _f("starts_on", "date"),
                _f("ends_on", "date"),
            ),
            "Kontrak",
        ),
        EntitySpec(
            "contract_amendment",
            ("region_code", "contract_number", "version"),
            (
                _f("region_code", "region_code"),
                _f("contract_number", "text"),
                _f("version", "int"),
                _f("value", "money", True),
                _f("reason", "text"),
                _f("signed_on", "date"),
            ),
            "Addendum kontrak",
        ),
        EntitySpec(
            "letter",
            ("region_code", "number"),
            (
                _f("region_code", "region_code"),
                _f("number", "text", False, "nomor surat"),
                _f("dated_on", "date", True, "tanggal surat"),
                _f("kind", "text", True, "SPMK, BAST, KONTRAK, ADENDUM or LAINNYA", LETTER_KINDS),
                _f("subject", "text", False, "perihal"),
                _f("direction", "text", False, "KELUAR or MASUK", LETTER_DIRECTIONS),
                _f("sender", "text", False, "unit pengirim"),
                _f("recipient", "text", False, "unit penerima"),
                _f("contract_number", "text", False, "often only in the perihal: a `pattern`"),
                _f("tender_code", "text", False, "kd_tender, often only in the perihal"),
            ),
            "Surat (E-Surat): SPMK, BAST, kontrak, addendum",
        ),
        EntitySpec(
            "progress_report",
            ("region_code", "fiscal_year", "sub_activity_code", "period"),
            (
                _f("region_code", "region_code"),
                _f("fiscal_year", "int"),
                _f("sub_activity_code", "sub_activity_code"),
                _f("period", "text", False, '"2025-Q2" or "2025-06"'),
                _f("physical_percent", "percent", True),
                _f("financial_percent", "percent", True),
                _f("problems", "text"),
            ),
            "Laporan e-Monev (Form A)",
        ),
    ]
}
