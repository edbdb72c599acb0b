"""Families 1 and 2: the budget (DPA) against the plan, and RUP against the budget."""

from __future__ import annotations

from hub.discrepancies.rules.sql import ev, in_parts
from hub.discrepancies.thresholds import Thresholds


def budget_without_plan(t: Thresholds) -> str:
    return f"""
    SELECT r.code || '/' || b.fiscal_year || '/' || b.sub_activity_code AS subject_key,
           b.region_id, b.fiscal_year, NULL::bigint AS opd_id, NULL::bigint AS sub_activity_id,
           jsonb_agg({ev("BudgetLine", "b", "amount", "b.amount")} ORDER BY b.id) AS evidence,
           format('DPA %s tahun %s memuat sub kegiatan %s senilai %s, tetapi sub kegiatan itu '
                  'tidak ada dalam rencana (e-planning).', r.name, b.fiscal_year,
                  b.sub_activity_code, rantai_rp(sum(b.amount))) AS message
    FROM budget_line b JOIN region r ON r.id = b.region_id
    WHERE {in_parts("b")}
      AND NOT EXISTS (SELECT 1 FROM sub_activity s WHERE s.region_id = b.region_id
                      AND s.fiscal_year = b.fiscal_year AND s.code = b.sub_activity_code)
    GROUP BY r.code, r.name, b.region_id, b.fiscal_year, b.sub_activity_code"""


def plan_without_budget(t: Thresholds) -> str:
    return f"""
    SELECT r.code || '/' || s.fiscal_year || '/' || s.code AS subject_key,
           s.region_id, s.fiscal_year, s.opd_id, s.id AS sub_activity_id,
           jsonb_build_array({ev("SubActivity", "s", "plannedAmount", "s.planned_amount")})
               AS evidence,
           format('Sub kegiatan %s (%s) direncanakan %s tetapi tidak punya baris DPA tahun %s.',
                  s.code, s.name, rantai_rp(s.planned_amount), s.fiscal_year) AS message
    FROM sub_activity s JOIN region r ON r.id = s.region_id
    WHERE {in_parts("s")}
      AND NOT EXISTS (SELECT 1 FROM budget_line b WHERE b.region_id = s.region_id
                      AND b.fiscal_year = s.fiscal_year AND b.sub_activity_code = s.code)"""


# --------------------------------------------------------------------------- 2 RUP ↔ DPA


def rup_above_dpa(t: Thresholds) -> str:
    # Both sides are grouped once and joined on one text key: joined on four columns, the
    # planner misjudged the groups and nested-looped (3.6 s on the small demo store).
    def key(a: str) -> str:
        return f"({a}.region_id || '/' || {a}.fiscal_year || '/' || {a}.sa || '/' || {a}.acct)"

    return f"""
    WITH rup AS MATERIALIZED (
        SELECT p.region_id, p.fiscal_year, br.sub_activity_code AS sa, br.account_code AS acct,
               sum(br.amount) AS total, min(p.opd_id) AS opd_id,
               jsonb_agg({ev("ProcurementPackage", "p", "ceiling", "br.amount")} ORDER BY p.id)
                   AS evidence
        FROM package_budget_row br JOIN procurement_package p ON p.id = br.package_id
        WHERE {in_parts("p")}
        GROUP BY 1, 2, 3, 4
    ), dpa AS MATERIALIZED (
        SELECT b.region_id, b.fiscal_year, b.sub_activity_code AS sa, b.account_code AS acct,
               sum(b.amount) AS amount, min(b.sub_activity_id) AS sub_activity_id,
               jsonb_agg({ev("BudgetLine", "b", "amount", "b.amount")} ORDER BY b.id)
                   AS evidence
        FROM budget_line b WHERE {in_parts("b")}
        GROUP BY 1, 2, 3, 4
    )
    SELECT r.code || '/' || rup.fiscal_year || '/' || rup.sa || '.' || rup.acct || '.'
               AS subject_key,
           rup.region_id, rup.fiscal_year, rup.opd_id, dpa.sub_activity_id,
           rup.evidence || dpa.evidence AS evidence,
           format('Pagu RUP pada mak %s.%s berjumlah %s, melebihi anggaran DPA %s.',
                  rup.sa, rup.acct, rantai_rp(rup.total), rantai_rp(dpa.amount)) AS message
    FROM rup JOIN dpa ON {key("rup")} = {key("dpa")}
    JOIN region r ON r.id = rup.region_id
    WHERE rup.total > dpa.amount"""


def rup_without_dpa(t: Thresholds) -> str:
    return f"""
    SELECT p.rup_code AS subject_key, p.region_id, p.fiscal_year, p.opd_id, p.sub_activity_id,
           jsonb_agg({ev("ProcurementPackage", "p", "mak", "br.mak")} ORDER BY br.id)
               AS evidence,
           format('Paket RUP %s (%s) dibebankan pada mak %s yang tidak ada di DPA.',
                  p.rup_code, p.name, string_agg(DISTINCT br.sub_activity_code || '.'
                  || br.account_code, ', ')) AS message
    FROM procurement_package p JOIN package_budget_row br ON br.package_id = p.id
    WHERE {in_parts("p")}
      AND NOT EXISTS (SELECT 1 FROM budget_line b WHERE b.region_id = p.region_id
                      AND b.fiscal_year = p.fiscal_year
                      AND b.sub_activity_code = br.sub_activity_code
                      AND b.account_code = br.account_code)
    GROUP BY p.id"""
