"""BPKAD's finance database (MariaDB or SQLite): DPA lines and SP2D payments."""

from __future__ import annotations

import random
from collections.abc import Sequence

from estate.legacy.formats import (
    code_as,
    dmy,
    flavour_of,
    money,
    npwp_text,
    rupiah_text,
    segments,
)
from estate.legacy.tables import Clock, Table
from estate.model import RegionYear


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
