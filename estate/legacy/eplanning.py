"""Bappeda's e-planning database (PostgreSQL): regions, OPD, programs, kegiatan, sub kegiatan
and their indicators, in SIPD's shape (A, C) or SIMDA's (B)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from estate import names
from estate.legacy.formats import code_as, flavour_of, money
from estate.legacy.tables import Clock, Table
from estate.model import RegionYear


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
