"""Families 9 and 13: RUP packages split under the direct-procurement ceiling, and a
published ceiling that changed."""

from __future__ import annotations

from hub.discrepancies.rules.sql import ev, in_parts, quote
from hub.discrepancies.thresholds import Thresholds


def split_procurement(t: Thresholds) -> str:
    return f"""
    WITH pl AS (
        SELECT p.id, p.region_id, p.fiscal_year, p.opd_code, p.opd_id, br.account_code AS acct,
               p.announced_on AS d, p.ceiling AS v
        FROM procurement_package p JOIN package_budget_row br ON br.package_id = p.id
        WHERE {in_parts("p")} AND p.method = {quote(t.direct_method)}
          AND p.ceiling < {t.direct_ceiling}
    ), hit AS (
        SELECT DISTINCT a.region_id, a.fiscal_year, a.opd_code, a.acct
        FROM pl a JOIN pl b ON b.region_id = a.region_id AND b.fiscal_year = a.fiscal_year
             AND b.opd_code = a.opd_code AND b.acct = a.acct
             AND b.d BETWEEN a.d AND a.d + {t.split_window_days}
        GROUP BY a.id, a.region_id, a.fiscal_year, a.opd_code, a.acct
        HAVING count(*) >= 2 AND sum(b.v) > {t.direct_ceiling}
    )
    SELECT r.code || '/' || h.fiscal_year || '/' || h.opd_code || '/' || h.acct AS subject_key,
           h.region_id, h.fiscal_year, min(pl.opd_id) AS opd_id, NULL::bigint AS sub_activity_id,
           jsonb_agg({ev("ProcurementPackage", "pl", "ceiling", "pl.v")} ORDER BY pl.d, pl.id)
               AS evidence,
           format('OPD %s membagi belanja akun %s menjadi %s paket Pengadaan Langsung (total %s, '
                  'di atas batas %s): indikasi pemecahan paket.', h.opd_code, h.acct, count(*),
                  rantai_rp(sum(pl.v)), rantai_rp({t.direct_ceiling})) AS message
    FROM hit h
    JOIN pl ON pl.region_id = h.region_id AND pl.fiscal_year = h.fiscal_year
         AND pl.opd_code = h.opd_code AND pl.acct = h.acct
    JOIN region r ON r.id = h.region_id
    GROUP BY r.code, h.region_id, h.fiscal_year, h.opd_code, h.acct"""


def published_value_changed(t: Thresholds) -> str:
    first = f"""(SELECT v.* FROM package_version v WHERE v.rup_code = p.rup_code
                 AND v.status = {quote(t.published_status)} ORDER BY v.version LIMIT 1)"""
    return f"""
    SELECT p.rup_code AS subject_key, p.region_id, p.fiscal_year, p.opd_id, p.sub_activity_id,
           jsonb_build_array({ev("ProcurementPackage", "p", "ceiling", "p.ceiling")},
                             {ev("ProcurementPackage", "p", "versions", "fv.ceiling")}) AS evidence,
           format('Pagu paket RUP %s (%s) kini %s, berbeda dari %s saat pertama diumumkan '
                  '(versi %s).', p.rup_code, p.name, rantai_rp(p.ceiling), rantai_rp(fv.ceiling),
                  fv.version) AS message
    FROM procurement_package p
    JOIN LATERAL {first} fv ON true
    WHERE {in_parts("p")} AND fv.ceiling IS DISTINCT FROM p.ceiling"""
