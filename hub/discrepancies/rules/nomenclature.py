"""Codes the nomenclature does not know (CODE_NOT_IN_NOMENCLATURE).

A program, kegiatan or sub kegiatan of the plan whose code is not in the nomenclature
edition in force for its fiscal year (Kepmendagri 050-5889/2021 and its updates, loaded by
migration 0010 and `rantai reference load`) is kept as its source wrote it, and raised
here with its code as evidence. A code is checked only where a loaded edition covers its
annex: a kegiatan or sub kegiatan by its 4th segment (1 provincial, else regency/city), a
program by its Pemda's level. The edition shipped with the hub covers the regency/city
annex only, so a province's codes are not checked until an edition of the provincial annex
is loaded (`rantai_annex`, `rantai_nomenclature_edition`: migration 0010).
"""

from __future__ import annotations

from hub.discrepancies.rules.sql import ev, in_parts
from hub.discrepancies.thresholds import Thresholds

# (table, GraphQL type, Indonesian level name, its OPD, its sub kegiatan)
_LEVELS = (
    ("program", "Program", "program", "NULL::bigint", "NULL::bigint"),
    ("activity", "Activity", "kegiatan", "NULL::bigint", "NULL::bigint"),
    ("sub_activity", "SubActivity", "sub kegiatan", "x.opd_id", "x.id"),
)


def code_not_in_nomenclature(t: Thresholds) -> str:
    rows = " UNION ALL ".join(
        f"""SELECT x.id, x.region_id, x.fiscal_year, x.code, x.name, {opd} AS opd_id,
                   {sub} AS sub_activity_id, '{level}' AS level,
                   {ev(entity, "x", "code", "x.code")} AS evidence
            FROM {table} x WHERE {in_parts("x")}"""
        for table, entity, level, opd, sub in _LEVELS
    )
    return f"""
    SELECT r.code || '/' || c.fiscal_year || '/' || c.code AS subject_key,
           c.region_id, c.fiscal_year, c.opd_id, c.sub_activity_id,
           jsonb_build_array(c.evidence) AS evidence,
           format('Kode %s %s (%s) tahun %s tidak ada dalam nomenklatur %s.', c.level,
                  c.code, c.name, c.fiscal_year, e.name) AS message
    FROM ({rows}) c
    JOIN region r ON r.id = c.region_id
    JOIN reference_edition e
      ON e.id = rantai_nomenclature_edition(c.fiscal_year, rantai_annex(c.code, r.level))
    WHERE NOT EXISTS (SELECT 1 FROM nomenclature n WHERE n.edition_id = e.id AND n.code = c.code)"""
