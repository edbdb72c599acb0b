"""Families 3, 4, 6, 7 and 8: tenders against their RUP packages, their bids and their
times."""

from __future__ import annotations

from hub.discrepancies.rules.sql import ev, in_parts, quote, rank, sql_list
from hub.discrepancies.thresholds import Thresholds


def _tender(where: str, evidence: str, message: str, extra: str = "") -> str:
    return f"""
    SELECT t.code AS subject_key, ts.region_id, ts.fiscal_year, ts.opd_id, ts.sub_activity_id,
           {evidence} AS evidence, {message} AS message
    FROM tender t JOIN tender_scope ts ON ts.tender_id = t.id {extra}
    WHERE {in_parts("ts")} AND ({where})"""


LINKED = """(SELECT p.* FROM tender_package tp JOIN procurement_package p
             ON p.rup_code = tp.rup_code WHERE tp.tender_code = t.code)"""


def tender_without_rup(t: Thresholds) -> str:
    return _tender(
        f"NOT EXISTS (SELECT 1 FROM {LINKED} lp)",
        f"jsonb_build_array({ev('Tender', 't', 'code', 't.code')})",
        "format('Tender %s (%s) tidak terhubung ke paket RUP mana pun (di luar rencana).', "
        "t.code, t.name)",
    )


def tender_before_rup(t: Thresholds) -> str:
    return _tender(
        f"EXISTS (SELECT 1 FROM {LINKED} lp WHERE t.announced_on < lp.announced_on)",
        f"""jsonb_build_array({ev("Tender", "t", "announcedOn", "t.announced_on")})
            || (SELECT jsonb_agg(
                    {ev("ProcurementPackage", "lp", "announcedOn", "lp.announced_on")})
                FROM {LINKED} lp WHERE t.announced_on < lp.announced_on)""",
        "format('Tender %s diumumkan %s, sebelum paket RUP-nya diumumkan.', t.code, "
        "to_char(t.announced_on, 'DD-MM-YYYY'))",
    )


def method_deviation(t: Thresholds) -> str:
    worse = f"{rank('t.method', t)} < {rank('lp.method', t)}"
    return _tender(
        f"EXISTS (SELECT 1 FROM {LINKED} lp WHERE {worse})",
        f"""jsonb_build_array({ev("Tender", "t", "method", "t.method")})
            || (SELECT jsonb_agg({ev("ProcurementPackage", "lp", "method", "lp.method")})
                FROM {LINKED} lp WHERE {worse})""",
        f"""format('Tender %s memakai metode %s, kurang kompetitif dari metode di RUP (%s).',
                   t.code, t.method,
                   (SELECT string_agg(DISTINCT lp.method, ', ') FROM {LINKED} lp WHERE {worse}))""",
    )


def single_bidder(t: Thresholds) -> str:
    submitted = "(SELECT count(*) FROM bid b WHERE b.tender_code = t.code AND b.amount IS NOT NULL)"
    return _tender(
        f"t.method IN {sql_list(t.competitive_methods)} AND {submitted} = 1",
        f"""(SELECT jsonb_agg({ev("Bid", "b", "amount", "b.amount")}) FROM bid b
             WHERE b.tender_code = t.code AND b.amount IS NOT NULL)""",
        "format('Tender %s (%s) hanya memiliki satu penawaran yang masuk.', t.code, t.method)",
    )


def identical_bids(t: Thresholds) -> str:
    pair = """FROM bid b JOIN bid o ON o.tender_code = b.tender_code AND o.amount = b.amount
              AND o.vendor_id IS DISTINCT FROM b.vendor_id
              WHERE b.tender_code = t.code AND b.amount IS NOT NULL"""
    return _tender(
        f"EXISTS (SELECT 1 {pair})",
        f"(SELECT jsonb_agg(DISTINCT {ev('Bid', 'b', 'amount', 'b.amount')}) {pair})",
        f"format('Tender %s: beberapa peserta berbeda menawar harga yang sama persis (%s).', "
        f"t.code, (SELECT rantai_rp(min(b.amount)) {pair}))",
    )


def winner_not_lowest(t: Thresholds) -> str:
    winner = """(SELECT min(b.corrected_amount) FROM bid b WHERE b.tender_code = t.code
                 AND b.is_winner AND b.corrected_amount IS NOT NULL)"""
    lowest = """(SELECT min(b.corrected_amount) FROM bid b WHERE b.tender_code = t.code
                 AND b.corrected_amount IS NOT NULL)"""
    return _tender(
        f"t.method IN {sql_list(t.price_only_methods)} AND {lowest} < {winner}",
        f"""(SELECT jsonb_agg({ev("Bid", "b", "correctedAmount", "b.corrected_amount")}
                    ORDER BY b.corrected_amount)
             FROM bid b WHERE b.tender_code = t.code AND b.corrected_amount IS NOT NULL
             AND (b.is_winner OR b.corrected_amount < {winner}))""",
        f"format('Tender %s (evaluasi harga): pemenang menawar %s, padahal ada penawaran sah "
        f"lebih rendah %s.', t.code, rantai_rp({winner}), rantai_rp({lowest}))",
    )


def retender(t: Thresholds) -> str:
    return _tender(
        "t.version > 1",
        f"jsonb_build_array({ev('Tender', 't', 'version', 't.version')})",
        "format('Tender %s adalah tender ulang (versi %s).', t.code, t.version)",
    )


def slow_award(t: Thresholds) -> str:
    # The contract's date is its KONTRAK letter's (E-Surat) where there is one, else the
    # signing date eKontrak gives; the evidence names which.
    signed = """COALESCE((SELECT min(l.dated_on) FROM letter l
                          WHERE l.contract_id = c.id AND l.kind = 'KONTRAK'), c.signed_on)"""
    letter = """(SELECT l.id FROM letter l WHERE l.contract_id = c.id AND l.kind = 'KONTRAK'
                 ORDER BY l.dated_on, l.id LIMIT 1)"""
    late = f"""FROM contract c WHERE c.tender_code = t.code
               AND {signed} - t.announced_on > {t.slow_award_days}"""
    contract_ev = ev("Contract", "c", "signedOn", "c.signed_on")
    letter_ev = f"""jsonb_build_object('entity', 'Letter', 'id', {letter}, 'field', 'datedOn',
                        'value', ({signed})::text)"""
    return _tender(
        f"EXISTS (SELECT 1 {late})",
        f"""jsonb_build_array({ev("Tender", "t", "announcedOn", "t.announced_on")})
            || (SELECT jsonb_agg(CASE WHEN {letter} IS NULL THEN {contract_ev}
                                      ELSE {letter_ev} END) {late})""",
        f"format('Tender %s: kontrak ditandatangani %s hari setelah pengumuman (batas "
        f"{t.slow_award_days} hari).', t.code, (SELECT max({signed} - t.announced_on) {late}))",
    )


def short_bid_window(t: Thresholds) -> str:
    closes = f"""(SELECT min(sc.ends_on) FROM tender_schedule sc WHERE sc.tender_code = t.code
                  AND sc.stage = {quote(t.bid_close_stage)})"""
    return _tender(
        f"t.method IN {sql_list(t.windowed_methods)} AND {closes} - t.announced_on "
        f"< {t.min_bid_window_days}",
        f"""jsonb_build_array({ev("Tender", "t", "announcedOn", "t.announced_on")})
            || (SELECT jsonb_agg({ev("Tender", "t", "schedule", "sc.ends_on")})
                FROM tender_schedule sc WHERE sc.tender_code = t.code
                AND sc.stage = {quote(t.bid_close_stage)})""",
        f"format('Tender %s: masa pemasukan penawaran hanya %s hari (minimal "
        f"{t.min_bid_window_days} hari).', t.code, {closes} - t.announced_on)",
    )
