"""Families 5, 10 and 11: contracts against their tender's HPS, their amendments and
their payments, and a paid contract's handover letter (BAST, E-Surat); and family 8's SPMK
dated before the signing."""

from __future__ import annotations

from hub.discrepancies.rules.sql import ev, first_letter, in_parts, reference_day
from hub.discrepancies.thresholds import Thresholds


def _contract(where: str, evidence: str, message: str) -> str:
    return f"""
    SELECT r.code || '/' || c.number AS subject_key, ts.region_id, ts.fiscal_year, ts.opd_id,
           COALESCE(c.sub_activity_id, ts.sub_activity_id) AS sub_activity_id,
           {evidence} AS evidence, {message} AS message
    FROM contract c
    JOIN tender t ON t.code = c.tender_code
    JOIN tender_scope ts ON ts.tender_id = t.id
    JOIN region r ON r.id = c.region_id
    WHERE {in_parts("ts")} AND ({where})"""


SIGNED = "COALESCE(c.original_value, c.value)"


def contract_above_owner_estimate(t: Thresholds) -> str:
    return _contract(
        f"{SIGNED} > t.owner_estimate",
        f"""jsonb_build_array({ev("Contract", "c", "originalValue", SIGNED)},
                              {ev("Tender", "t", "ownerEstimate", "t.owner_estimate")})""",
        f"format('Nilai kontrak %s (%s) melebihi HPS %s; ini dilarang.', c.number, "
        f"rantai_rp({SIGNED}), rantai_rp(t.owner_estimate))",
    )


def contract_near_owner_estimate(t: Thresholds) -> str:
    return _contract(
        f"{SIGNED} <= t.owner_estimate AND {SIGNED} * 100 >= t.owner_estimate * "
        f"{t.near_owner_estimate_percent}",
        f"""jsonb_build_array({ev("Contract", "c", "originalValue", SIGNED)},
                              {ev("Tender", "t", "ownerEstimate", "t.owner_estimate")})""",
        f"format('Nilai kontrak %s (%s) hanya %s%% di bawah HPS %s: tanda harga sudah diatur.', "
        f"c.number, rantai_rp({SIGNED}), "
        f"round((1 - {SIGNED} / NULLIF(t.owner_estimate, 0)) * 100, 2), "
        f"rantai_rp(t.owner_estimate))",
    )


def amendment_above_limit(t: Thresholds) -> str:
    return _contract(
        f"""EXISTS (SELECT 1 FROM contract_amendment a WHERE a.region_id = c.region_id
                    AND a.contract_number = c.number)
            AND c.value * 100 > {SIGNED} * {100 + t.amendment_percent}""",
        f"""jsonb_build_array({ev("Contract", "c", "originalValue", SIGNED)})
            || (SELECT jsonb_agg({ev("ContractAmendment", "a", "value", "a.value")}
                                 ORDER BY a.version)
                FROM contract_amendment a WHERE a.region_id = c.region_id
                AND a.contract_number = c.number)""",
        f"format('Addendum kontrak %s menaikkan nilai dari %s menjadi %s (naik %s%%).', "
        f"c.number, rantai_rp({SIGNED}), rantai_rp(c.value), "
        f"round((c.value / NULLIF({SIGNED}, 0) - 1) * 100, 1))",
    )


# The contracts of the Pemda-years evaluated, with their tender's scope: the rules that
# look at a contract's payments start from it (one row per contract).
CONTRACTS = f"""contracts AS MATERIALIZED (
        SELECT c.id, c.number, c.value, c.ends_on, c.region_id, r.code AS region_code,
               c.tender_code, ts.region_id AS scope_region_id, ts.fiscal_year, ts.opd_id,
               COALESCE(c.sub_activity_id, ts.sub_activity_id) AS sub_activity_id
        FROM contract c
        JOIN tender t ON t.code = c.tender_code
        JOIN tender_scope ts ON ts.tender_id = t.id
        JOIN region r ON r.id = c.region_id
        WHERE {in_parts("ts")}
    )"""


# The payments of those contracts. The contracts' Pemda as an array besides: estimated at a
# few contracts (thousands found), the match alone was planned as a hash join over every
# payment of the province (1.1 million rows at NTT scale, 0.3 s); with it, the payments of
# their Pemda along the index (80 ms).
OF_CONTRACTS = """(p.region_id, p.fiscal_year, p.contract_number)
              IN (SELECT k.region_id, k.fiscal_year, k.number FROM contracts k)
          AND p.region_id = ANY(ARRAY(SELECT DISTINCT k.region_id FROM contracts k))"""


def paid_ahead_of_progress(t: Thresholds) -> str:
    # Payments per contract are computed once for the Pemda-years evaluated. A tender's
    # progress is the lowest latest progress of its packages' sub kegiatan, looked up per
    # contract along indexes (latest_progress by its key; NULL when a sub kegiatan has
    # none, which min() skips). The planner misjudges both latest_progress filtered by
    # Pemda-year (3 rows expected, thousands found) and the contracts (tender_scope's
    # year is an expression), so a join against them became a nested loop: probing
    # tender_package by rup_code, which no index leads with, or rescanning a CTE per
    # contract (3 s at province scale).
    return f"""
    WITH {CONTRACTS}, paid AS MATERIALIZED (
        SELECT p.region_id, p.fiscal_year, p.contract_number, sum(p.amount) AS amount,
               jsonb_agg({ev("Payment", "p", "amount", "p.amount")} ORDER BY p.paid_on, p.id)
                   AS evidence
        FROM payment p WHERE {in_parts("p")} AND p.contract_number IS NOT NULL
        GROUP BY 1, 2, 3
    )
    SELECT k.region_code || '/' || k.number AS subject_key, k.scope_region_id AS region_id,
           k.fiscal_year, k.opd_id, k.sub_activity_id,
           jsonb_build_array({ev("Contract", "k", "value", "k.value")}) || paid.evidence
               AS evidence,
           format('Kontrak %s sudah dibayar %s (%s%% dari nilainya) sementara progres fisik '
                  'baru %s%%.', k.number, rantai_rp(paid.amount),
                  round(paid.amount * 100 / NULLIF(k.value, 0), 1), prog.physical) AS message
    FROM contracts k
    JOIN paid ON paid.region_id = k.region_id AND paid.fiscal_year = k.fiscal_year
         AND paid.contract_number = k.number
    CROSS JOIN LATERAL (
        SELECT min((SELECT x.physical_percent FROM latest_progress x
                    WHERE x.region_id = s.region_id AND x.fiscal_year = s.fiscal_year
                      AND x.sub_activity_code = s.code)) AS physical
        FROM tender_package tp
        JOIN procurement_package pk ON pk.rup_code = tp.rup_code
        JOIN sub_activity s ON s.id = pk.sub_activity_id
        WHERE tp.tender_code = k.tender_code AND {in_parts("s")}
    ) prog
    WHERE prog.physical < {t.progress_percent}
      AND paid.amount * 100 >= k.value * {t.paid_percent}"""


def payment_before_handover(t: Thresholds) -> str:
    # Running totals in one pass over the contracts' payments: as a subquery per contract
    # it scanned the Pemda's payments for each (no index has contract_number), quadratic
    # in a Pemda's size (50–114 s at province scale). The evidence lists the payments in the
    # order they are summed (SP2D number within a day; ties were in no defined order).
    # Handover is the first BAST letter (E-Surat) of the contract where there is one, else
    # the contract's end date; the evidence names which.
    return f"""
    WITH {CONTRACTS}, pay AS MATERIALIZED (
        SELECT p.id, p.region_id, p.fiscal_year, p.contract_number, p.paid_on, p.sp2d_number,
               sum(p.amount) OVER (PARTITION BY p.region_id, p.fiscal_year, p.contract_number
                                   ORDER BY p.paid_on, p.sp2d_number) AS running
        FROM payment p
        WHERE {OF_CONTRACTS}
    ), bast AS MATERIALIZED (
        {first_letter("BAST")}
    )
    SELECT k.region_code || '/' || k.number AS subject_key, k.scope_region_id AS region_id,
           k.fiscal_year, k.opd_id, k.sub_activity_id,
           jsonb_build_array(CASE WHEN b.id IS NULL
                   THEN {ev("Contract", "k", "endsOn", "k.ends_on")}
                   ELSE {ev("Letter", "b", "datedOn", "b.dated_on")} END)
               || jsonb_agg({ev("Payment", "p", "paidOn", "p.paid_on")}
                            ORDER BY p.paid_on, p.sp2d_number)
               AS evidence,
           format('Kontrak %s sudah dibayar lunas pada %s, sebelum serah terima (%s).',
                  k.number,
                  to_char(min(p.paid_on) FILTER (WHERE p.running >= k.value), 'DD-MM-YYYY'),
                  CASE WHEN b.id IS NULL
                       THEN 'akhir kontrak ' || to_char(k.ends_on, 'DD-MM-YYYY')
                       ELSE 'BAST ' || b.number || ' tanggal ' || to_char(b.dated_on, 'DD-MM-YYYY')
                  END) AS message
    FROM contracts k
    JOIN pay p ON p.region_id = k.region_id AND p.fiscal_year = k.fiscal_year
         AND p.contract_number = k.number
    LEFT JOIN bast b ON b.contract_id = k.id
    GROUP BY k.id, k.region_code, k.number, k.scope_region_id, k.fiscal_year, k.opd_id,
             k.sub_activity_id, k.ends_on, k.value, b.id, b.number, b.dated_on
    HAVING min(p.paid_on) FILTER (WHERE p.running >= k.value)
           < COALESCE(b.dated_on, k.ends_on)"""


def handover_without_letter(t: Thresholds) -> str:
    # Fully paid (as PAYMENT_BEFORE_HANDOVER sums the payments: the contract's current value)
    # and no BAST letter (E-Surat) of the contract by the reference day, more than the grace
    # after the end date. Any BAST resolves it, however late it came. The message names no
    # count of days: it would change, and be re-announced, every day.
    day = reference_day(t)
    return f"""
    WITH {CONTRACTS}, paid AS MATERIALIZED (
        SELECT p.region_id, p.fiscal_year, p.contract_number, sum(p.amount) AS amount,
               jsonb_agg({ev("Payment", "p", "amount", "p.amount")} ORDER BY p.paid_on, p.id)
                   AS evidence
        FROM payment p
        WHERE {OF_CONTRACTS}
        GROUP BY 1, 2, 3
    )
    SELECT k.region_code || '/' || k.number AS subject_key, k.scope_region_id AS region_id,
           k.fiscal_year, k.opd_id, k.sub_activity_id,
           jsonb_build_array({ev("Contract", "k", "endsOn", "k.ends_on")}) || paid.evidence
               AS evidence,
           format('Kontrak %s sudah dibayar lunas (%s), tetapi belum ada BAST (E-Surat) '
                  'serah terima lebih dari {t.handover_grace_days} hari setelah kontrak '
                  'berakhir %s.', k.number, rantai_rp(paid.amount),
                  to_char(k.ends_on, 'DD-MM-YYYY')) AS message
    FROM contracts k
    JOIN paid ON paid.region_id = k.region_id AND paid.fiscal_year = k.fiscal_year
         AND paid.contract_number = k.number
    WHERE paid.amount >= k.value AND {day} > k.ends_on + {t.handover_grace_days}
      AND NOT EXISTS (SELECT 1 FROM letter l WHERE l.contract_id = k.id AND l.kind = 'BAST')"""


def payee_not_winner(t: Thresholds) -> str:
    # The payments to another tax id first, fenced (MATERIALIZED): a few rows. Joined with
    # the tender scope directly, PostgreSQL misjudged the pairs and compared every payment
    # of a Pemda-year with every tender of it, which never finished at NTT scale
    # (bench/ntt.py); the same answer, from the few, takes milliseconds.
    return f"""
    WITH wrong AS MATERIALIZED (
        SELECT p.id AS payment_id, c.id AS contract_id
        FROM payment p
        JOIN contract c ON c.region_id = p.region_id AND c.number = p.contract_number
        JOIN vendor v ON v.id = c.vendor_id
        WHERE {in_parts("p")}
          AND regexp_replace(COALESCE(p.payee_tax_id, ''), '\\D', '', 'g')
              <> regexp_replace(COALESCE(v.tax_id, ''), '\\D', '', 'g')
    )
    SELECT r.code || '/' || p.fiscal_year || '/' || p.sp2d_number AS subject_key,
           p.region_id, p.fiscal_year, ts.opd_id,
           COALESCE(p.sub_activity_id, c.sub_activity_id) AS sub_activity_id,
           jsonb_build_array({ev("Payment", "p", "payeeTaxId", "p.payee_tax_id")},
                             {ev("Vendor", "v", "taxId", "v.tax_id")}) AS evidence,
           format('SP2D %s untuk kontrak %s dibayarkan ke NPWP %s, bukan NPWP pemenang %s (%s).',
                  p.sp2d_number, c.number, COALESCE(p.payee_tax_id, '(kosong)'), v.tax_id,
                  v.name) AS message
    FROM wrong w
    JOIN payment p ON p.id = w.payment_id
    JOIN contract c ON c.id = w.contract_id
    JOIN tender t ON t.code = c.tender_code
    JOIN tender_scope ts ON ts.tender_id = t.id AND ts.fiscal_year = p.fiscal_year
    JOIN vendor v ON v.id = c.vendor_id
    JOIN region r ON r.id = p.region_id"""


def work_started_before_contract(t: Thresholds) -> str:
    # The SPMK (E-Surat) orders work to start: the contract's first one dated before the
    # signing means work began with no contract. The evidence names the letter.
    return f"""
    SELECT r.code || '/' || c.number AS subject_key, ts.region_id, ts.fiscal_year, ts.opd_id,
           COALESCE(c.sub_activity_id, ts.sub_activity_id) AS sub_activity_id,
           jsonb_build_array({ev("Letter", "s", "datedOn", "s.dated_on")},
                             {ev("Contract", "c", "signedOn", "c.signed_on")}) AS evidence,
           format('SPMK %s tanggal %s mendahului penandatanganan kontrak %s tanggal %s.',
                  s.number, to_char(s.dated_on, 'DD-MM-YYYY'), c.number,
                  to_char(c.signed_on, 'DD-MM-YYYY')) AS message
    FROM contract c
    JOIN tender t ON t.code = c.tender_code
    JOIN tender_scope ts ON ts.tender_id = t.id
    JOIN region r ON r.id = c.region_id
    JOIN LATERAL (
        SELECT l.id, l.number, l.dated_on FROM letter l
        WHERE l.contract_id = c.id AND l.kind = 'SPMK'
        ORDER BY l.dated_on, l.id LIMIT 1
    ) s ON true
    WHERE {in_parts("ts")} AND s.dated_on < c.signed_on"""
