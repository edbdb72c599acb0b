"""Guesses for `rantai sources scaffold`: which canonical entity a table holds, which column
each field reads and in what format, and whether a column can be a watermark.

A guess the names or the values do not settle carries a `todo` saying what to confirm; the
scaffold writes it beside the line (`# TODO: …`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from adapters import codes, parsing
from adapters.field_rules import CODE_NORMALISERS, parse_bool
from adapters.inspect import ColumnProfile, TableProfile
from adapters.records import ENTITIES as SPECS
from adapters.records import FieldSpec
from adapters.vocabulary import ENTITIES, UPDATED_AT, WORDS, normal

# Fields the scaffold can fill without a column of their own.
FILLABLE = {"region_code", "fiscal_year", "seq"}
_WORDED_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")  # 1,250,000.00: English
_KIND = re.compile(r"(?:^|[/.\- ])(LS|UP|GU|TU)(?:[/.\- ]|$)")
_YEAR = re.compile(r"^(19|20)\d\d$")
_QUARTER = re.compile(r"^[1-4]$")
_PERIOD = re.compile(r"^\d{4}-(Q[1-4]|\d{2})$")
_DATE_PATTERNS = ("%d/%m/%Y %H:%M:%S", "%Y%m%d", "%d%m%Y", "%m/%d/%Y")


@dataclass
class Guess:
    """How one field is read: a column name, or a table of options (`column`, `concat`,
    `const`, `cell`, …), and what to confirm."""

    value: Any
    todo: str | None = None


@dataclass
class EntityGuess:
    entity: str
    table: TableProfile
    score: float
    fields: dict[str, Guess] = field(default_factory=dict)
    todo: str | None = None
    query: str | None = None  # a join that brings a code the table lacks
    watermark: str | None = None
    watermark_note: str | None = None

    @property
    def matched(self) -> set[str]:
        return set(self.fields)


def _columns(table: TableProfile) -> dict[str, ColumnProfile]:
    return {normal(c.name): c for c in table.columns}


def find_column(table: TableProfile, aliases: Sequence[str]) -> tuple[ColumnProfile, bool] | None:
    """The column an alias names (sure), else one whose name holds an alias as whole words
    (a guess)."""
    columns = _columns(table)
    for alias in aliases:
        if alias in columns:
            return columns[alias], True
    for alias in aliases:
        for name, column in columns.items():
            if len(alias) >= 4 and re.search(rf"(^|_){re.escape(alias)}(_|$)", name):
                return column, False
    return None


def candidates(table: TableProfile) -> list[EntityGuess]:
    """Every entity whose key (and required) fields this table can give, best first."""
    found: list[EntityGuess] = []
    name = normal(table.name)
    for entity, (hints, aliases) in ENTITIES.items():
        spec = SPECS[entity]
        guess = EntityGuess(entity, table, 0.0)
        sure = 0
        for field_name, names in aliases.items():
            hit = find_column(table, names)
            if hit is None:
                continue
            column, exact = hit
            guess.fields[field_name] = Guess(column.name, None if exact else _fuzzy(column))
            sure += exact
        needed = [f for f in spec.required if f not in guess.fields and f not in FILLABLE]
        if needed or len(guess.fields) < 2:
            continue
        hinted = any(h in name for h in hints)
        guess.score = 10 * len(guess.fields) / len(aliases) + sure * 0.5 + (3 if hinted else 0)
        found.append(guess)
    return sorted(found, key=lambda g: -g.score)


def _fuzzy(column: ColumnProfile) -> str:
    return f"column {column.name!r} guessed from its name"


# -------------------------------------------------------------------------- formats


def _texts(column: ColumnProfile) -> list[str]:
    return [str(v).strip() for v in column.samples if isinstance(v, str) and v.strip()]


def field_rule(spec: FieldSpec, column: ColumnProfile, guess: Guess) -> Guess:
    """The field's rule, with the options its sample values need."""
    options: dict[str, Any] = {}
    todo = guess.todo
    texts = _texts(column)
    kind = spec.kind
    if kind in ("money", "decimal", "percent", "int") and texts:
        if any(_WORDED_NUMBER.match(t) for t in texts):
            options["number"] = "en"
        locale = options.get("number", "id")
        bad = [
            t for t in texts if not _parses(lambda t: parsing.parse_decimal(t, locale=locale), t)
        ]
        if bad:
            todo = _join(todo, f"values such as {bad[0]!r} do not read as numbers")
    elif kind == "date" and texts:
        bad = [t for t in texts if not _parses(parsing.parse_date, t)]
        if bad:
            pattern = next(
                (
                    p
                    for p in _DATE_PATTERNS
                    if all(_parses(lambda t, p=p: datetime.strptime(t, p), t) for t in texts)
                ),
                None,
            )
            if pattern is not None:
                options["date"] = pattern
            else:
                todo = _join(todo, f'dates such as {bad[0]!r}: give date = "%d-%m-%Y"-like')
    elif kind in CODE_NORMALISERS and column.samples:
        normalise = CODE_NORMALISERS[kind]
        bad = [v for v in column.samples if not _parses(normalise, str(v))]
        if bad:
            todo = _join(todo, f"codes such as {bad[0]!r} do not read as a {kind}")
    elif kind == "bool" and column.samples:
        bad = [v for v in column.samples if not _parses(parse_bool, v)]
        if bad:
            todo = _join(todo, f"values such as {bad[0]!r} are not yes/no: add map")
    if spec.vocabulary:
        mapped, unknown = vocabulary_map(spec, column)
        if mapped:
            options["map"] = mapped
        if unknown:
            listed = ", ".join(repr(u) for u in unknown[:5])
            todo = _join(todo, f"{listed} not in {', '.join(spec.vocabulary)}: map them")
    if not options:
        return Guess(column.name, todo)
    return Guess({"column": column.name, **options}, todo)


def vocabulary_map(spec: FieldSpec, column: ColumnProfile) -> tuple[dict[str, str], list[str]]:
    """The `map` a closed-vocabulary field needs for its sample values, and the values
    neither the vocabulary nor its legacy words cover."""
    allowed = {v.lower(): v for v in spec.vocabulary}
    words = WORDS.get(spec.name, {})
    mapped: dict[str, str] = {}
    unknown: list[str] = []
    for value in column.samples:
        text = " ".join(str(value).split())
        if text.lower() in allowed:
            continue
        target = words.get(normal(text))
        if target is not None:
            mapped[text] = target
        else:
            unknown.append(text)
    return mapped, unknown


def _parses(call: Any, value: Any) -> bool:
    try:
        call(value)
    except (ValueError, TypeError, ArithmeticError):
        return False
    return True


def _join(first: str | None, second: str) -> str:
    return second if first is None else f"{first}; {second}"


# -------------------------------------------------------------------------- special fields


def kind_from_number(table: TableProfile, number: str | None) -> Guess | None:
    """A payment kind read out of the SP2D number (`00012/SP2D/LS/2025`)."""
    column = table.column(number) if number else None
    if column is None or not column.samples:
        return None
    if not all(_KIND.search(str(v)) for v in column.samples):
        return None
    return Guess(
        {"column": column.name, "pattern": r"(?:^|[/.\- ])(LS|UP|GU|TU)(?:[/.\- ]|$)"},
        "the SP2D number holds the kind: check the pattern against a few numbers",
    )


def account_parts(table: TableProfile) -> Guess | None:
    """An account code split over numbered columns (kd_rek_1 … kd_rek_6): joined by dots."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for column in table.columns:
        match = re.match(r"^(kd_rek|kode_rek|kd_akun|kode_akun)_?(\d)$", normal(column.name))
        if match:
            groups.setdefault(match.group(1), []).append((int(match.group(2)), column.name))
    for parts in groups.values():
        ordered = [name for _, name in sorted(parts)]
        if len(ordered) == len(codes.ACCOUNT_WIDTHS):
            return Guess({"concat": ordered, "sep": "."})
    return None


def period_from_quarter(
    table: TableProfile, column: ColumnProfile, year: Guess | None
) -> Guess | None:
    """A period written as the quarter alone (1–4), with the year beside it."""
    values = [str(v).strip() for v in column.samples]
    if not values or not all(_QUARTER.match(v) for v in values):
        return None
    if year is None or not isinstance(year.value, str):
        return None
    return Guess({"concat": [year.value, {"const": "-Q"}, column.name]})


def is_period(column: ColumnProfile) -> bool:
    return bool(column.samples) and all(_PERIOD.match(str(v).strip()) for v in column.samples)


def year_column(table: TableProfile) -> ColumnProfile | None:
    """A column holding nothing but years."""
    for column in table.columns:
        values = [str(v).strip() for v in column.samples]
        if values and all(_YEAR.match(v) for v in values):
            return column
    return None


# -------------------------------------------------------------------------- watermark


def watermark(table: TableProfile, now: datetime) -> tuple[str | None, str | None]:
    """The column to sync after (a maintained updated-at), or why there is none."""
    for column in table.columns:
        name = normal(column.name)
        kind = column.type.lower()
        if name not in UPDATED_AT and not (
            any(w in kind for w in ("timestamp", "datetime"))
            and any(w in name for w in ("update", "ubah", "audit", "modified"))
        ):
            continue
        if column.nulls:
            return None, (
                f"{column.name} is empty in {column.nulls} of {column.rows} rows (the "
                "application does not always set it): keyed diff, no watermark"
            )
        highest = column.maximum
        if isinstance(highest, datetime) and highest.replace(tzinfo=None) > now:
            return None, f"{column.name} holds values in the future ({highest}): keyed diff"
        if isinstance(highest, date) and not isinstance(highest, datetime) and highest > now.date():
            return None, f"{column.name} holds dates in the future ({highest}): keyed diff"
        if column.rows > 1 and column.distinct <= 1:
            return None, f"{column.name} has one value on every row: keyed diff"
        return column.name, None
    return None, "no updated-at column: keyed diff (every row read and compared each sync)"
