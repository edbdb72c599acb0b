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
