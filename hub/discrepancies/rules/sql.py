"""SQL pieces the rules share: the Pemda-years evaluated, evidence, literals."""

from __future__ import annotations

from hub.discrepancies.thresholds import Thresholds

PARTS = "parts(pr, py) AS (SELECT * FROM unnest($1::bigint[], $2::int[]))"


def in_parts(alias: str, year: str = "fiscal_year") -> str:
    return f"({alias}.region_id, {alias}.{year}) IN (SELECT pr, py FROM parts)"


def ev(entity: str, alias: str, field: str, value: str) -> str:
    return (
        f"jsonb_build_object('entity', '{entity}', 'id', {alias}.id, "
        f"'field', '{field}', 'value', ({value})::text)"
    )


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


def rank(expr: str, t: Thresholds) -> str:
    cases = " ".join(f"WHEN {quote(m)} THEN {r}" for m, r in t.method_rank.items())
    return f"(CASE {expr} {cases} END)"


def first_letter(kind: str, contracts: str = "SELECT id FROM contracts") -> str:
    """The first letter (E-Surat) of `kind` of each contract among `contracts` (SQL giving
    their ids): contract_id, id, number, dated_on."""
    return f"""SELECT DISTINCT ON (l.contract_id) l.contract_id, l.id, l.number, l.dated_on
        FROM letter l WHERE l.kind = {quote(kind)} AND l.contract_id IN ({contracts})
        ORDER BY l.contract_id, l.dated_on, l.id"""


def reference_day(t: Thresholds) -> str:
    """The day the rules compare with (`Thresholds.as_of`; the engine fixes it per run)."""
    return f"DATE {quote(t.reference_day().isoformat())}"
