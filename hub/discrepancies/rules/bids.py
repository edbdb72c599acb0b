"""Family 7, continued: bid prices measured against each other, as OCP's red-flag guide
codes them in cardinal (R024, R058: the winner against the second-lowest valid bid; R025:
a tenderer that keeps losing).

Cardinal flags an outlier against the quartiles of the data set it is given; a rule here
runs on the Pemda-years that changed, so its finding may not move because another Pemda's
tenders moved. The fence is therefore a fixed threshold, cardinal's own `threshold`
setting, configurable in rantai.toml (docs/ocds.md compares both).
"""

from __future__ import annotations

from hub.discrepancies.rules.sql import in_parts, sql_list
from hub.discrepancies.thresholds import Thresholds

# The winner's valid bid and the lowest other valid bid of a tender whose one winner
# offered the lowest valid price (cardinal excludes the others: its winner is not the
# lowest bid, or there is more than one award). A valid bid has a corrected price
# (nilai terkoreksi): it passed evaluation.
_PAIR = """CROSS JOIN LATERAL (
        SELECT w.id AS won_id, w.corrected_amount AS won, s.id AS second_id,
               s.corrected_amount AS second
        FROM bid w
        JOIN LATERAL (SELECT o.id, o.corrected_amount FROM bid o
                      WHERE o.tender_code = w.tender_code AND o.id <> w.id
                      AND o.corrected_amount IS NOT NULL
                      ORDER BY o.corrected_amount, o.id LIMIT 1) s ON true
        WHERE w.tender_code = t.code AND w.is_winner AND w.corrected_amount > 0
        AND (SELECT count(*) FROM bid x WHERE x.tender_code = t.code AND x.is_winner) = 1
        AND w.corrected_amount <= s.corrected_amount
    ) g"""

_EVIDENCE = """jsonb_build_array(
        jsonb_build_object('entity', 'Bid', 'id', g.won_id, 'field', 'correctedAmount',
                           'value', g.won::text),
        jsonb_build_object('entity', 'Bid', 'id', g.second_id, 'field', 'correctedAmount',
                           'value', g.second::text))"""

_GAP = "round((g.second - g.won) * 100 / g.won, 2)"


def _bid_gap(t: Thresholds, where: str, message: str) -> str:
    return f"""
    SELECT t.code AS subject_key, ts.region_id, ts.fiscal_year, ts.opd_id, ts.sub_activity_id,
           {_EVIDENCE} AS evidence, {message} AS message
    FROM tender t JOIN tender_scope ts ON ts.tender_id = t.id {_PAIR}
    WHERE {in_parts("ts")} AND t.method IN {sql_list(t.price_only_methods)} AND ({where})"""


def winner_close_to_second(t: Thresholds) -> str:
    return _bid_gap(
        t,
        f"(g.second - g.won) * 100 <= g.won * {t.close_bid_percent}",
        f"format('Tender %s: penawaran sah terendah kedua (%s) hanya %s%% di atas pemenang "
        f"(%s), paling banyak {t.close_bid_percent}%%.', t.code, rantai_rp(g.second), "
        f"{_GAP}, rantai_rp(g.won))",
    )


def heavily_discounted_bid(t: Thresholds) -> str:
    return _bid_gap(
        t,
        f"(g.second - g.won) * 100 >= g.won * {t.discounted_bid_percent}",
        f"format('Tender %s: pemenang menawar %s, %s%% di bawah penawaran sah terendah "
        f"berikutnya (%s; batas {t.discounted_bid_percent}%%).', t.code, rantai_rp(g.won), "
        f"{_GAP}, rantai_rp(g.second))",
    )


def excessive_unsuccessful_bids(t: Thresholds) -> str:
    """A vendor with at least `unsuccessful_min_bids` valid bids in a Pemda-year that won at
    most `unsuccessful_win_percent` of them."""
    return f"""
    SELECT r.code || '/' || s.fiscal_year || '/' || v.vendor_key AS subject_key,
           s.region_id, s.fiscal_year, NULL::bigint AS opd_id, NULL::bigint AS sub_activity_id,
           s.evidence,
           format('Penyedia %s menang %s dari %s penawaran sah di tahun %s (paling banyak '
                  '{t.unsuccessful_win_percent}%% dari sedikitnya {t.unsuccessful_min_bids} '
                  'penawaran).', v.name, s.won, s.valid, s.fiscal_year) AS message
    FROM (
        SELECT ts.region_id, ts.fiscal_year, b.vendor_id, count(*) AS valid,
               count(*) FILTER (WHERE b.is_winner) AS won,
               jsonb_agg(jsonb_build_object('entity', 'Bid', 'id', b.id, 'field', 'isWinner',
                                            'value', b.is_winner::text) ORDER BY b.id) AS evidence
        FROM bid b JOIN tender t ON t.code = b.tender_code
        JOIN tender_scope ts ON ts.tender_id = t.id
        WHERE {in_parts("ts")} AND b.corrected_amount IS NOT NULL
        GROUP BY ts.region_id, ts.fiscal_year, b.vendor_id
    ) s
    JOIN vendor v ON v.id = s.vendor_id JOIN region r ON r.id = s.region_id
    WHERE s.valid >= {t.unsuccessful_min_bids}
    AND s.won * 100 <= s.valid * {t.unsuccessful_win_percent}"""
