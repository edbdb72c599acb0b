"""Family 12: execution, procurement by the end of the third quarter, progress against
schedule, indicators against target, the e-Monev Form A by its deadline."""

from __future__ import annotations

from hub.discrepancies.rules.sql import ev, in_parts, quote, reference_day
from hub.discrepancies.thresholds import Thresholds


def not_procured_by_q3(t: Thresholds) -> str:
    # The packages restricted to the Pemda-years evaluated inside NOT EXISTS too (implied
    # by the correlation, not seen by the planner): else the anti join hashed every RUP
    # budget row of the province (500,000 at NTT scale, 0.6 s a Pemda-year; now 30 ms).
    cutoff = f"make_date(b.fiscal_year, {t.q3_end_month}, {t.q3_end_day})"
    return f"""
    SELECT r.code || '/' || b.fiscal_year || '/' || b.sub_activity_code || '/' || b.account_code
               AS subject_key,
           b.region_id, b.fiscal_year, min(s.opd_id) AS opd_id, min(b.sub_activity_id)
               AS sub_activity_id,
           jsonb_agg({ev("BudgetLine", "b", "amount", "b.amount")} ORDER BY b.id) AS evidence,
           format('Belanja modal %s pada sub kegiatan %s (%s) belum ada paket pengadaannya '
                  'sampai akhir triwulan III.', b.account_code, b.sub_activity_code,
                  rantai_rp(sum(b.amount))) AS message
    FROM budget_line b JOIN region r ON r.id = b.region_id
    LEFT JOIN sub_activity s ON s.id = b.sub_activity_id
    WHERE {in_parts("b")} AND b.account_code LIKE {quote(t.capital_account_prefix + "%")}
      AND {reference_day(t)} > {cutoff}
      AND NOT EXISTS (
          SELECT 1 FROM package_budget_row br JOIN procurement_package p ON p.id = br.package_id
          WHERE p.region_id = b.region_id AND p.fiscal_year = b.fiscal_year
            AND {in_parts("p")}
            AND br.sub_activity_code = b.sub_activity_code AND br.account_code = b.account_code
            AND p.announced_on <= {cutoff})
    GROUP BY r.code, b.region_id, b.fiscal_year, b.sub_activity_code, b.account_code"""


def progress_behind_schedule(t: Thresholds) -> str:
    schedule = " ".join(f"WHEN {q} THEN {v}" for q, v in t.schedule.items())
    target = f"(CASE lp.quarter {schedule} END)"
    return f"""
    SELECT r.code || '/' || lp.fiscal_year || '/' || lp.sub_activity_code AS subject_key,
           lp.region_id, lp.fiscal_year, s.opd_id, s.id AS sub_activity_id,
           jsonb_build_array(jsonb_build_object('entity', 'ProgressReport', 'id', lp.id,
               'field', 'physicalPercent', 'value', lp.physical_percent::text)) AS evidence,
           format('Sub kegiatan %s: progres fisik triwulan %s baru %s%%, jadwal %s%%.',
                  lp.sub_activity_code, lp.quarter, lp.physical_percent, {target}) AS message
    FROM latest_progress lp JOIN region r ON r.id = lp.region_id
    LEFT JOIN sub_activity s ON s.region_id = lp.region_id AND s.fiscal_year = lp.fiscal_year
         AND s.code = lp.sub_activity_code
    -- The `= ANY` conditions are pushed into the view's DISTINCT ON (the pairs alone were
    -- not: every progress report of the province was sorted for one Pemda-year).
    WHERE lp.region_id = ANY($1::bigint[]) AND lp.fiscal_year = ANY($2::int[])
      AND {in_parts("lp")}
      AND lp.physical_percent < {target} - {t.schedule_tolerance}"""


def indicator_below_target(t: Thresholds) -> str:
    return f"""
    SELECT r.code || '/' || i.fiscal_year || '/' || i.sub_activity_code || '/' || i.seq
               AS subject_key,
           i.region_id, i.fiscal_year, s.opd_id, s.id AS sub_activity_id,
           jsonb_build_array({ev("Indicator", "i", "achieved", "i.achieved")}) AS evidence,
           format('Indikator "%s" sub kegiatan %s tercapai %s dari target %s (di bawah %s%%).',
                  i.description, i.sub_activity_code, i.achieved, i.target,
                  {t.indicator_percent}) AS message
    FROM indicator i JOIN region r ON r.id = i.region_id
    LEFT JOIN sub_activity s ON s.region_id = i.region_id AND s.fiscal_year = i.fiscal_year
         AND s.code = i.sub_activity_code
    WHERE {in_parts("i")} AND i.achieved IS NOT NULL AND i.target > 0
      AND i.achieved * 100 < i.target * {t.indicator_percent}"""


def monev_report_late(t: Thresholds) -> str:
    # Who owes a Form A: an OPD with a sub kegiatan in the DPA of the Pemda-year. Its reports
    # are those of its sub kegiatan, and those of its uploads source (an uploaded Form A is
    # the OPD's whatever sub kegiatan it names). The Form A of month m is due on the
    # deadline day of month m + 1; it has arrived when a report covers m (the monthly one
    # or its quarter's), however late. An OPD that reports by quarter (no monthly report
    # that year) owes the months that end a quarter: its quarter's Form A.
    day = reference_day(t)
    return f"""
    WITH owing AS MATERIALIZED (
        SELECT DISTINCT s.region_id, s.fiscal_year, s.opd_id FROM sub_activity s
        WHERE {in_parts("s")} AND s.opd_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM budget_line b WHERE b.sub_activity_id = s.id)
    ), reported AS MATERIALIZED (
        SELECT s.opd_id, p.fiscal_year, p.period FROM progress_report p
        JOIN sub_activity s ON s.id = p.sub_activity_id
        WHERE {in_parts("p")}
        UNION
        SELECT o.id, p.fiscal_year, p.period FROM progress_report p
        JOIN (SELECT DISTINCT source_id, region_code, opd_code FROM upload) u
             ON u.source_id = p.source_id
        JOIN region ur ON ur.code = u.region_code
        JOIN opd o ON o.region_id = ur.id AND o.code = u.opd_code
        WHERE {in_parts("p")}
    ), months AS (
        SELECT w.region_id, w.fiscal_year, w.opd_id, m.m,
               format('%s-%s', w.fiscal_year, lpad(m.m::text, 2, '0')) AS month,
               format('%s-Q%s', w.fiscal_year, (m.m - 1) / 3 + 1) AS quarter,
               make_date(w.fiscal_year + m.m / 12, m.m % 12 + 1, {t.monev_deadline_day}) AS due
        FROM owing w CROSS JOIN generate_series(1, 12) AS m(m)
    )
    SELECT r.code || '/' || x.fiscal_year || '/' || o.code || '/' || x.month AS subject_key,
           x.region_id, x.fiscal_year, x.opd_id, NULL::bigint AS sub_activity_id,
           jsonb_build_array(jsonb_build_object('entity', 'Opd', 'id', o.id,
               'field', 'monevDeadline', 'value', x.due::text)) AS evidence,
           format('Laporan e-Monev Form A %s dari %s belum masuk; batasnya %s.', x.month,
                  o.name, to_char(x.due, 'DD-MM-YYYY')) AS message
    FROM months x JOIN opd o ON o.id = x.opd_id JOIN region r ON r.id = x.region_id
    WHERE {day} > x.due
      AND (x.m % 3 = 0 OR EXISTS (SELECT 1 FROM reported e WHERE e.opd_id = x.opd_id
               AND e.fiscal_year = x.fiscal_year AND e.period !~ 'Q[1-4]$'))
      AND NOT EXISTS (SELECT 1 FROM reported e WHERE e.opd_id = x.opd_id
               AND e.fiscal_year = x.fiscal_year AND e.period IN (x.month, x.quarter))"""
