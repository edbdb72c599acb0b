"""Mapping files of BPKAD's finance sources (DPA lines, SP2D; flavour D's Renja too), per
flavour (estate/legacy/finance.py writes the databases they read)."""

from __future__ import annotations

from estate import names
from estate.legacy.formats import flavour_of
from estate.mappings import ACCOUNT_WIDTHS, DMY, SP2D_KIND, EntityMap, SourceMap


def finance_map(region: str, kind: str, url: str) -> SourceMap:
    f = flavour_of(region)
    rname = names.REGION_NAMES[region]
    const = {"const": region}
    src = SourceMap(
        f"bpkad-{region.replace('.', '')}",
        f"BPKAD {rname} — DPA dan SP2D",
        kind,
        region,
        names.BPKAD_OPD,
        url=url,
        comment=f"Flavour {f}: "
        + {
            "A": "SIPD-like names, numeric amounts, DATE columns, updated_at watermark.",
            "B": "SIMDA-like: account code split over kd_rek_1..6, amounts as '1.250.000,00'"
            " text, dates as dd-mm-yyyy text, formatted NPWP, tgl_update watermark.",
            "C": "No updated-at column anywhere: synced by keyed diff. Account codes without"
            " separators (520401010003), sub-activity codes with spaces.",
            "D": "Renja, DPA and SP2D in one database, no tables for the OPD, program or"
            " kegiatan: the OPD comes with its name on each row, program and kegiatan from the"
            " sub kegiatan's code. Codes with spaces and without padding, amounts as"
            " '1.250.000,00' text, dates as dd-mm-yyyy text, the SP2D's kind inside its number."
            " tgl_update is not always set by the application: keyed diff, no watermark.",
        }[f],
    )
    if f == "D":
        src.name = f"BPKAD {rname} — Renja, DPA dan SP2D"
        src.entities += [
            EntityMap(
                "sub_activity",
                {
                    "fiscal_year": "tahun",
                    "code": "kd_sub_kegiatan",
                    "name": "nm_sub_kegiatan",
                    "opd_code": "kd_skpd",
                    "opd_name": "nm_skpd",
                    "planned_amount": "pagu_indikatif",
                },
                table="renja",
            ),
            EntityMap(
                "indicator",
                {
                    "fiscal_year": "tahun",
                    "sub_activity_code": "kd_sub_kegiatan",
                    "seq": {"const": 1},
                    "description": "indikator",
                    "unit": "satuan",
                    "target": "target",
                    "achieved": "capaian",
                },
                table="renja",
            ),
            EntityMap(
                "budget_line",
                {
                    "fiscal_year": "tahun",
                    "sub_activity_code": "kd_sub_kegiatan",
                    "account_code": "kd_rekening",
                    "account_name": "nm_rekening",
                    "amount": "nilai",
                    "dpa_number": "no_dpa",
                    "opd_code": "kd_skpd",
                    "opd_name": "nm_skpd",
                },
                table="dpa",
            ),
            EntityMap(
                "payment",
                {
                    "fiscal_year": "tahun",
                    "sp2d_number": "no_sp2d",
                    "paid_on": "tgl_sp2d",
                    "amount": "nilai",
                    "kind": {"column": "no_sp2d", "pattern": SP2D_KIND},
                    "account_code": "kd_rekening",
                    "sub_activity_code": "kd_sub_kegiatan",
                    "opd_code": "kd_skpd",
                    "contract_number": "no_kontrak",
                    "payee_name": "nm_penerima",
                    "payee_tax_id": "npwp",
                },
                table="sp2d",
            ),
        ]
        return src
    if f == "A":
        src.entities += [
            EntityMap(
                "budget_line",
                {
                    "region_code": const,
                    "fiscal_year": "tahun",
                    "sub_activity_code": "kd_sub_keg",
                    "account_code": "kode_akun",
                    "account_name": "nama_akun",
                    "amount": "nilai",
                    "dpa_number": "no_dpa",
                },
                table="dpa_rinci",
                watermark="updated_at",
            ),
            EntityMap(
                "payment",
                {
                    "region_code": const,
                    "fiscal_year": "tahun",
                    "sp2d_number": "nomor_sp2d",
                    "paid_on": "tanggal_sp2d",
                    "amount": "nilai_sp2d",
                    "kind": "jenis",
                    "account_code": "kode_akun",
                    "sub_activity_code": "kd_sub_keg",
                    "contract_number": "no_kontrak",
                    "payee_name": "nama_penerima",
                    "payee_tax_id": "npwp_penerima",
                },
                table="sp2d",
                watermark="updated_at",
            ),
        ]
    elif f == "B":
        src.entities += [
            EntityMap(
                "budget_line",
                {
                    "region_code": const,
                    "fiscal_year": "tahun",
                    "sub_activity_code": "kd_sub_keg",
                    "account_code": {
                        "concat": [f"kd_rek_{n}" for n in range(1, 7)],
                        "sep": ".",
                    },
                    "account_name": "nm_rek",
                    "amount": {"column": "nilai", "number": "id"},
                    "dpa_number": "no_dpa",
                },
                table="dpa_rinci",
                watermark="tgl_update",
            ),
            EntityMap(
                "payment",
                {
                    "region_code": const,
                    "fiscal_year": "tahun",
                    "sp2d_number": "no_sp2d",
                    "paid_on": {"column": "tgl_sp2d", "date": DMY},
                    "amount": {"column": "nilai", "number": "id"},
                    "kind": "jns_sp2d",
                    "account_code": "kd_rek",
                    "sub_activity_code": "kd_sub_keg",
                    "contract_number": "no_kontrak",
                    "payee_name": "nm_penerima",
                    "payee_tax_id": "npwp",
                },
                table="sp2d",
                watermark="tgl_update",
            ),
        ]
    else:
        src.entities += [
            EntityMap(
                "budget_line",
                {
                    "region_code": const,
                    "fiscal_year": "tahun",
                    "sub_activity_code": "kd_sub_keg",
                    "account_code": {"column": "kode_rekening", "widths": ACCOUNT_WIDTHS},
                    "account_name": "uraian_rekening",
                    "amount": "pagu",
                    "dpa_number": "no_dpa",
                },
                table="dpa_rinci",
            ),
            EntityMap(
                "payment",
                {
                    "region_code": const,
                    "fiscal_year": "tahun",
                    "sp2d_number": "nomor_sp2d",
                    "paid_on": "tanggal_sp2d",
                    "amount": "nilai_sp2d",
                    "kind": "jenis",
                    "account_code": {"column": "kode_rekening", "widths": ACCOUNT_WIDTHS},
                    "sub_activity_code": "kd_sub_keg",
                    "contract_number": "no_kontrak",
                    "payee_name": "nama_penerima",
                    "payee_tax_id": "npwp_penerima",
                },
                table="sp2d",
            ),
        ]
    return src
