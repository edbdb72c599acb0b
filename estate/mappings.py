"""Mapping files (docs/mappings.md) for each legacy source of the demo estate, per flavour:
their TOML, e-planning, procurement and monev (BPKAD's finance sources: finance_mappings.py)."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from estate import names
from estate.legacy.formats import flavour_of, procurement_flavour
from estate.legacy.monev import MONEV_LAYOUT

Fields = dict[str, Any]
ACCOUNT_WIDTHS = [1, 1, 2, 2, 2, 4]
DMY = "%d-%m-%Y"
SP2D_KIND = r"^\d+/SP2D/(LS|GU|UP|TU)/"  # the jenis inside an SP2D number


@dataclass
class EntityMap:
    name: str
    fields: Fields
    table: str | None = None
    query: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    watermark: str | None = None


@dataclass
class SourceMap:
    id: str
    name: str
    kind: str
    region: str
    owner_opd: str | None = None
    url: str | None = None
    path: str | None = None
    comment: str = ""
    entities: list[EntityMap] = field(default_factory=list)


# --- TOML -----------------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(source: SourceMap) -> str:
    lines = [
        f"# {wrapped}"
        for line in source.comment.splitlines()
        for wrapped in textwrap.wrap(line, 96)
    ]
    lines.append("[source]")
    head: dict[str, Any] = {"id": source.id, "name": source.name, "kind": source.kind}
    if source.url is not None:
        head["url"] = source.url
    if source.path is not None:
        head["path"] = source.path
    head["region"] = source.region
    if source.owner_opd:
        head["owner_opd"] = source.owner_opd
    lines += [f"{k} = {_value(v)}" for k, v in head.items()]
    for entity in source.entities:
        lines += ["", "[[entity]]", f"name = {_value(entity.name)}"]
        for key in ("table", "query", "sheet", "header_row", "watermark"):
            value = getattr(entity, key)
            if value is not None:
                lines.append(f"{key} = {_value(value)}")
        lines += ["", "[entity.fields]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in entity.fields.items()]
    return "\n".join(lines) + "\n"


# --- per source -----------------------------------------------------------------------------


def eplanning_map(region: str, url: str, *, with_regions: bool) -> SourceMap:
    f = flavour_of(region)
    rname = names.REGION_NAMES[region]
    src = SourceMap(
        f"bappeda-{region.replace('.', '')}",
        f"Bappeda {rname} — e-Planning (SIPD)",
        "postgresql",
        region,
        names.BAPPEDA_OPD,
        url=url,
        comment=f"Flavour {f}: "
        + {
            "A": "SIPD column names, padded codes.",
            "B": "kd_*/nm_* columns, codes without zero padding, `nilai` for the pagu.",
            "C": "SIPD column names, codes written with spaces, `pagu` for the pagu.",
        }[f],
    )
    const = {"const": region}
    if with_regions:
        src.entities.append(
            EntityMap(
                "region",
                {
                    "code": "kode_wilayah",
                    "name": "nama_wilayah",
                    "level": {
                        "column": "tingkat",
                        "map": {"Provinsi": "PROVINCE", "Kabupaten": "REGENCY", "Kota": "CITY"},
                    },
                    "parent_code": "kode_induk",
                },
                table="ref_wilayah",
                watermark="updated_at",
            )
        )
    if f == "B":
        wm = "tgl_update"
        src.entities += [
            EntityMap(
                "opd",
                {"region_code": const, "code": "kd_skpd", "name": "nm_skpd"},
                table="data_skpd",
                watermark=wm,
            ),
            EntityMap(
                "program",
                {
                    "region_code": const,
                    "fiscal_year": "thn",
                    "code": "kd_program",
                    "name": "nm_program",
                },
                table="data_program",
                watermark=wm,
            ),
            EntityMap(
                "activity",
                {"region_code": const, "fiscal_year": "thn", "code": "kd_giat", "name": "nm_giat"},
                table="data_giat",
                watermark=wm,
            ),
            EntityMap(
                "sub_activity",
                {
                    "region_code": const,
                    "fiscal_year": "thn",
                    "code": "kd_subkeg",
                    "name": "nm_subkeg",
                    "opd_code": "kd_skpd",
                    "planned_amount": "nilai",
                },
                table="data_sub_keg",
                watermark=wm,
            ),
            EntityMap(
                "indicator",
                {
                    "region_code": const,
                    "fiscal_year": "thn",
                    "sub_activity_code": "kd_subkeg",
                    "seq": "no",
                    "description": "indikator",
                    "unit": "satuan",
                    "target": "target",
                    "achieved": "realisasi",
                },
                table="data_capaian",
                watermark=wm,
            ),
        ]
        return src
    wm = "updated_at"
    src.entities += [
        EntityMap(
            "opd",
            {"region_code": const, "code": "kode_skpd", "name": "nama_skpd"},
            table="data_skpd",
            watermark=wm,
        ),
        EntityMap(
            "program",
            {
                "region_code": const,
                "fiscal_year": "tahun",
                "code": "kode_program",
                "name": "nama_program",
            },
            table="data_program",
            watermark=wm,
        ),
        EntityMap(
            "activity",
            {
                "region_code": const,
                "fiscal_year": "tahun",
                "code": "kode_giat",
                "name": "nama_giat",
            },
            table="data_giat",
            watermark=wm,
        ),
        EntityMap(
            "sub_activity",
            {
                "region_code": const,
                "fiscal_year": "tahun",
                "code": "kode_sub_giat",
                "name": "nama_sub_giat",
                "opd_code": "kode_skpd",
                "planned_amount": "pagu" if f == "C" else "pagu_indikatif",
            },
            table="data_sub_keg",
            watermark=wm,
        ),
        EntityMap(
            "indicator",
            {
                "region_code": const,
                "fiscal_year": "tahun",
                "sub_activity_code": "kode_sub_giat",
                "seq": "no_urut",
                "description": "tolok_ukur",
                "unit": "satuan",
                "target": "target",
                "achieved": "realisasi",
            },
            # SIPD links an indicator to the year's internal id_sub_giat: join to the code.
            query=(
                "SELECT c.id_capaian, c.no_urut, c.tolok_ukur, c.satuan, c.target, "
                "c.realisasi, c.updated_at, s.tahun, s.kode_sub_giat "
                "FROM data_capaian c JOIN data_sub_keg s ON s.id_sub_giat = c.id_sub_giat"
            ),
            watermark=wm,
        ),
    ]
    return src


def procurement_map(region: str, url: str) -> SourceMap:
    f = procurement_flavour(region)
    rname = names.REGION_NAMES[region]
    const = {"const": region}

    def day(column: str) -> Any:
        return {"column": column, "date": DMY} if f == "B" else column

    src = SourceMap(
        f"bpbj-{region.replace('.', '')}",
        f"BPBJ {rname} — SiRUP dan SPSE (LPSE)",
        "postgresql",
        region,
        names.BPBJ_OPD,
        url=url,
        comment=f"Flavour {f}: "
        + {
            "A": "DATE columns, pemenang as boolean.",
            "B": "dates as dd-mm-yyyy text, pemenang as 1/0.",
            "C": "pemenang as Ya/Tidak, NPWP formatted 01.234.567.8-901.000.",
        }[f]
        + "\nrup_paket_histori and spse_jadwal have no updated-at column: keyed diff.",
    )
    src.entities += [
        EntityMap(
            "procurement_package",
            {
                "rup_code": "kd_rup",
                "region_code": const,
                "opd_code": "kd_satker_str",
                "fiscal_year": "tahun",
                "name": "nama_paket",
                "method": "metode_pengadaan",
                "category": "jenis_pengadaan",
                "ceiling": "pagu",
                "funding_source": "sumber_dana",
                "announced_on": day("tgl_umumkan"),
            },
            table="rup_paket",
            watermark="updated_at",
        ),
        EntityMap(
            "package_budget_row",
            {"rup_code": "kd_rup", "mak": "mak", "amount": "pagu"},
            table="rup_anggaran",
            watermark="updated_at",
        ),
        EntityMap(
            "package_version",
            {
                "rup_code": "kd_rup",
                "version": "versi",
                "ceiling": "pagu",
                "status": "status_umumkan",
                "version_date": day("tgl_versi"),
            },
            table="rup_paket_histori",
        ),
        EntityMap(
            "tender",
            {
                "code": "kd_tender",
                "region_code": const,
                "name": "nama_paket",
                "method": "mtd_pemilihan",
                "owner_estimate": "hps",
                "ceiling": "pagu",
                "status": "status_tender",
                "version": "versi_tender",
                "announced_on": day("tgl_pengumuman_tender"),
            },
            table="spse_tender",
            watermark="auditupdate",
        ),
        EntityMap(
            "tender_package",
            {"tender_code": "kd_tender", "rup_code": "kd_rup"},
            table="spse_tender_rup",
            watermark="auditupdate",
        ),
        EntityMap(
            "tender_schedule",
            {
                "tender_code": "kd_tender",
                "stage": "tahapan",
                "starts_on": day("tgl_mulai"),
                "ends_on": day("tgl_selesai"),
            },
            table="spse_jadwal",
        ),
        EntityMap(
            "bid",
            {
                "tender_code": "kd_tender",
                "vendor_key": "npwp",
                "vendor_name": "nama_penyedia",
                "vendor_tax_id": "npwp",
                "amount": "nilai_penawaran",
                "corrected_amount": "nilai_terkoreksi",
                "is_winner": "pemenang",
            },
            table="spse_peserta",
            watermark="auditupdate",
        ),
        EntityMap(
            "contract",
            {
                "region_code": const,
                "number": "no_kontrak",
                "tender_code": "kd_tender",
                "vendor_name": "nama_penyedia",
                "vendor_tax_id": "npwp_penyedia",
                "signed_on": day("tgl_kontrak"),
                "value": "nilai_kontrak",
                "starts_on": day("tgl_mulai"),
                "ends_on": day("tgl_selesai"),
            },
            table="spse_kontrak",
            watermark="auditupdate",
        ),
        EntityMap(
            "contract_amendment",
            {
                "region_code": const,
                "contract_number": "no_kontrak",
                "version": "versi_addendum",
                "value": "nilai",
                "reason": "alasan_addendum",
                "signed_on": day("tgl_addendum"),
            },
            table="spse_addendum",
            watermark="auditupdate",
        ),
    ]
    return src


def monev_map(region: str, path: str) -> SourceMap:
    f = flavour_of(region)
    layout = MONEV_LAYOUT[f]
    cols = layout["columns"]
    rname = names.REGION_NAMES[region]
    if f == "D":
        year, code, quarter, physical, financial, problems = (
            cols[0], cols[3], cols[5], cols[6], cols[7], cols[8],
        )  # fmt: skip
        src = SourceMap(
            f"monev-{region.replace('.', '')}",
            f"e-Monev {rname} — ekspor CSV per OPD",
            "csv",
            region,
            names.BAPPEDA_OPD,
            path=path,
            comment="Flavour D: one CSV export (;) per OPD and year; the year on every line,"
            " the quarter as 1-4, percentages written as text ('45,5').",
        )
        src.entities.append(
            EntityMap(
                "progress_report",
                {
                    "fiscal_year": year,
                    "sub_activity_code": code,
                    "period": {"concat": [year, {"const": "-Q"}, quarter]},
                    "physical_percent": physical,
                    "financial_percent": financial,
                    "problems": problems,
                },
            )
        )
        return src
    if f == "C":
        code, period, physical, financial, problems = cols[0], cols[2], cols[3], cols[4], cols[5]
    else:
        code, period, physical, financial, problems = cols[1], cols[3], cols[4], cols[5], cols[6]
    src = SourceMap(
        f"monev-{region.replace('.', '')}",
        f"e-Monev {rname} — Form A per OPD",
        "xlsx",
        region,
        names.BAPPEDA_OPD,
        path=path,
        comment=f"Flavour {f}: one workbook per OPD and year; the year is cell "
        f"{layout['year_cell']}" + (", percentages written as text ('45,5')." if f == "B" else "."),
    )
    src.entities.append(
        EntityMap(
            "progress_report",
            {
                "region_code": {"const": region},
                "fiscal_year": {"cell": layout["year_cell"]},
                "sub_activity_code": code,
                "period": period,
                "physical_percent": physical,
                "financial_percent": financial,
                "problems": problems,
            },
            sheet="Form A",
            header_row=int(layout["header_row"]),
        )
    )
    return src


CONTRACT_IN_PERIHAL = r"Nomor Kontrak: *([^ ]+)"  # the contract number inside a perihal
TENDER_IN_PERIHAL = r"kd_tender ([0-9]+)"


def esurat_map(region: str, kind: str, url: str) -> SourceMap:
    rname = names.REGION_NAMES[region]
    return SourceMap(
        f"esurat-{region.replace('.', '')}",
        f"E-Surat {rname} — surat keluar",
        kind,
        region,
        names.SETDA_OPD,
        url=url,
        comment="The e-office's outgoing letters: dates as dd-mm-yyyy text, the contract's "
        "number and kd_tender only inside the perihal, read out by patterns. No updated-at "
        "column: keyed diff.",
        entities=[
            EntityMap(
                "letter",
                {
                    "number": "no_surat",
                    "dated_on": {"column": "tgl_surat", "date": DMY},
                    "kind": "jenis_surat",
                    "subject": "perihal",
                    "direction": {"const": "KELUAR"},
                    "sender": "unit_pengirim",
                    "recipient": "unit_tujuan",
                    "contract_number": {"column": "perihal", "pattern": CONTRACT_IN_PERIHAL},
                    "tender_code": {"column": "perihal", "pattern": TENDER_IN_PERIHAL},
                },
                table="surat_keluar",
            )
        ],
    )
