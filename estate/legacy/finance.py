"""BPKAD's finance database (MariaDB or SQLite): DPA lines and SP2D payments; in flavour D
the Renja (sub kegiatan with their OPD and indicator) too, in the same database."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

from estate.legacy.formats import (
    code_as,
    dmy,
    flavour_of,
    money,
    npwp_text,
    percent_text,
    rupiah_text,
    segments,
)
from estate.legacy.tables import Clock, Table
from estate.model import RegionYear


def finance_tables(region: str, years: Sequence[RegionYear], seed: int) -> list[Table]:
    f = flavour_of(region)
    if f == "D":
        return _flavour_d(years, seed, region)
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


# Flavour D's application leaves `tgl_update` empty on some rows it writes (an import, a
# correction made in the database): a watermark on it would never read them.
UNSTAMPED = 0.04


def _flavour_d(years: Sequence[RegionYear], seed: int, region: str) -> list[Table]:
    """One regency finance database (SIMDA-like) holding the Renja, the DPA lines and the
    SP2D: no tables for the Pemda, the OPD, program or kegiatan (the OPD's name is on each
    row), codes with spaces and without zero padding (`1 3 10 2 1 31`), amounts as text
    (`1.250.000,00`), dates as dd-mm-yyyy text, the SP2D's kind only inside its number
    (`00012/SP2D/LS/2025`), and an updated-at DATETIME that is sometimes left empty."""
    rng = random.Random(f"{seed}/{region}/finance")
    clock = Clock(rng)
    f = "D"
    renja = Table(
        "renja",
        [
            ("id", "int"),
            ("tahun", "int"),
            ("kd_skpd", "text"),
            ("nm_skpd", "text"),
            ("kd_sub_kegiatan", "text"),
            ("nm_sub_kegiatan", "text"),
            ("pagu_indikatif", "text"),
            ("indikator", "text"),
            ("satuan", "text"),
            ("target", "text"),
            ("capaian", "text"),
            ("tgl_update", "timestamp"),
        ],
        key=("id",),
    )
    dpa = Table(
        "dpa",
        [
            ("id", "int"),
            ("tahun", "int"),
            ("no_dpa", "text"),
            ("kd_skpd", "text"),
            ("nm_skpd", "text"),
            ("kd_sub_kegiatan", "text"),
            ("kd_rekening", "text"),
            ("nm_rekening", "text"),
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
            ("kd_skpd", "text"),
            ("kd_sub_kegiatan", "text"),
            ("kd_rekening", "text"),
            ("nm_penerima", "text"),
            ("npwp", "text"),
            ("no_kontrak", "text"),
            ("tgl_update", "timestamp"),
        ],
        key=("id",),
    )

    def stamped(stamps: list[datetime]) -> list[datetime | None]:
        return [None if rng.random() < UNSTAMPED else ts for ts in stamps]

    renja_id = line_id = pay_id = 0
    for ry in years:
        fy = ry.fiscal_year
        opd_names = {o.code: o.name for o in ry.opds}
        by_sa = {sa.code: sa for sa in ry.sub_activities}
        indicator = {i.sa_code: i for i in ry.indicators if i.seq == 1}
        planned = [sa for sa in ry.sub_activities if sa.in_plan]
        for sa, ts in zip(planned, stamped(clock.series(fy, ry.cutoff, len(planned))), strict=True):
            renja_id += 1
            ind = indicator.get(sa.code)
            renja.add(
                renja_id,
                fy,
                code_as(sa.opd_code, f),
                opd_names[sa.opd_code].upper(),
                code_as(sa.code, f),
                sa.name,
                rupiah_text(sa.planned),
                ind.description if ind else None,
                ind.unit if ind else None,
                percent_text(ind.target) if ind else None,
                percent_text(ind.achieved) if ind and ind.achieved is not None else None,
                ts,
            )
        lines = ry.budget_lines
        for line, ts in zip(lines, stamped(clock.series(fy, ry.cutoff, len(lines))), strict=True):
            line_id += 1
            opd = by_sa[line.sa_code].opd_code
            dpa.add(
                line_id,
                fy,
                line.dpa_number,
                code_as(opd, f),
                opd_names[opd].upper(),
                code_as(line.sa_code, f),
                code_as(line.account, f),
                line.account_name,
                rupiah_text(line.amount),
                ts,
            )
        pays = ry.payments
        for p, ts in zip(pays, stamped(clock.series(fy, ry.cutoff, len(pays))), strict=True):
            pay_id += 1
            opd_code = by_sa[p.sa_code].opd_code if p.sa_code in by_sa else None
            sp2d.add(
                pay_id,
                fy,
                p.number,
                dmy(p.paid_on),
                rupiah_text(p.amount),
                code_as(opd_code, f) if opd_code else None,
                code_as(p.sa_code, f) if p.sa_code else None,
                code_as(p.account, f) if p.account else None,
                p.payee_name,
                npwp_text(p.payee_npwp) if p.payee_npwp else None,
                p.contract_number,
                ts,
            )
    return [renja, dpa, sp2d]
