"""Field rules: how one canonical field is read from a source row (a column, a cell, a
constant or a concatenation), cut (a regular expression's group, some segments of a code),
then defaulted, mapped and converted to the field's kind, and checked against the field's
closed vocabulary (docs/mappings.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from adapters import codes, parsing
from adapters.records import FieldSpec

CODE_NORMALISERS: dict[str, Callable[[str], str]] = {
    "region_code": codes.normalise_region_code,
    "opd_code": codes.normalise_opd_code,
    "program_code": codes.normalise_program_code,
    "activity_code": codes.normalise_activity_code,
    "sub_activity_code": codes.normalise_sub_activity_code,
    "account_code": codes.normalise_account_code,
}


class RecordError(ValueError):
    """A source row could not be turned into a canonical record."""


# What separates the segments of a code as legacy systems write it (adapters/codes.py).
_SEGMENT_SEPARATOR = re.compile(r"\s*[.\-/]\s*|\s+")


@dataclass(frozen=True)
class Cut:
    """What is kept of a raw text value: a regular expression's group (or match), then some
    of its segments. Nothing matched: no value (the field's `default` then applies)."""

    pattern: re.Pattern[str] | None = None
    segments: tuple[int, int | None] | None = None  # a slice of the code's segments

    def __call__(self, raw: Any) -> Any:
        if raw is None:
            return None
        text = str(raw)
        if self.pattern is not None:
            match = self.pattern.search(text)
            if match is None:
                return None
            text = match.group(1) if self.pattern.groups else match.group(0)
            if text is None:
                return None
        if self.segments is not None:
            parts = [p for p in _SEGMENT_SEPARATOR.split(text.strip()) if p]
            start, stop = self.segments
            kept = parts[start:stop]
            if not kept or (stop is not None and len(parts) < stop):
                return None
            text = ".".join(kept)
        return text

    def __bool__(self) -> bool:
        return self.pattern is not None or self.segments is not None


NO_CUT = Cut()


@dataclass(frozen=True)
class ConcatPart:
    """A part of a `concat`: a constant kept verbatim, or a column (stripped, cut)."""

    column: str | None = None
    literal: str | None = None
    cut: Cut = NO_CUT


@dataclass(frozen=True)
class FieldRule:
    """How one canonical field is read from a source row."""

    spec: FieldSpec
    line: int | None
    column: str | None = None
    cell: str | None = None
    const: Any = None
    has_const: bool = False
    concat: tuple[ConcatPart, ...] = ()
    sep: str = ""
    number: str = "id"
    date: str | None = None
    widths: tuple[int, ...] | None = None
    default: Any = None
    mapping: Mapping[str, Any] | None = None
    strict: bool = False  # `map` refuses a value it does not list
    strip: bool = True
    cut: Cut = NO_CUT

    def source_columns(self) -> list[str]:
        if self.column:
            return [self.column]
        return [p.column for p in self.concat if p.column is not None]

    def raw(self, row: Mapping[str, Any]) -> Any:
        if self.has_const:
            return self.const
        if self.cell:
            return row.get(f"@{self.cell}")
        if self.concat:
            parts = []
            for part in self.concat:
                if part.column is None:
                    parts.append(part.literal or "")  # constants verbatim, spaces and all
                    continue
                value = row.get(part.column)
                if isinstance(value, str) and self.strip:
                    value = value.strip()
                value = part.cut(value) if part.cut else value
                parts.append("" if value is None else str(value))
            return self.sep.join(parts)
        if self.column is None:  # load_mapping refuses such a rule: never from a file
            raise RecordError(f"{self.spec.name}: no column, cell, const or concat to read")
        return row.get(self.column)

    def value(self, row: Mapping[str, Any]) -> Any:
        return self.read(row)

    @cached_property
    def read(self) -> Callable[[Mapping[str, Any]], Any]:
        """`value` made for this rule once: it runs for every field of every source row.

        Raw value (a column, a cell, a constant or a concatenation); a column or cell
        stripped (a constant and a concatenation's constants are kept verbatim), cut
        (`pattern`, `segments`), `default` for nothing, then `map` (`strict`: only the
        values it lists), then `convert` for the field's kind, then the field's closed
        vocabulary. Codes repeat on every row of a sync, so a text code's normalised form
        is remembered per rule.
        """
        column, default, mapping = self.column, self.default, self.mapping
        strip = self.strip and not (self.has_const or self.concat)
        kind, name = self.spec.kind, self.spec.name
        cut = self.cut if self.cut else None
        strict = self.strict and mapping is not None
        vocabulary = {" ".join(v.split()).lower(): v for v in self.spec.vocabulary} or None
        raw_of: Callable[[Mapping[str, Any]], Any]
        if self.has_const or self.cell or self.concat or column is None:
            raw_of = self.raw
        else:
            raw_of = lambda row: row.get(column)  # noqa: E731
        codes_seen: dict[str, Any] | None = {} if kind in CODE_NORMALISERS else None
        text = kind == "text"
        fast = _FAST.get(kind)

        def read(row: Mapping[str, Any]) -> Any:
            raw = raw_of(row)
            if cut is not None and raw is not None:
                raw = cut(raw.strip() if strip and isinstance(raw, str) else raw)
            if isinstance(raw, str):
                if strip:
                    raw = raw.strip()
                if raw == "":
                    raw = default
            elif raw is None:
                raw = default
            if raw is None:
                return None
            if mapping is not None:
                found = mapping.get(str(raw), _MISS)
                if found is _MISS:
                    if strict:
                        raise RecordError(
                            f"{name}: {raw!r} is not one of the values `map` lists "
                            f"({', '.join(repr(k) for k in mapping)})"
                        )
                else:
                    raw = found
                if raw is None:
                    return None
            if vocabulary is not None:
                word = vocabulary.get(" ".join(str(raw).split()).lower())
                if word is None:
                    raise RecordError(
                        f"{name}: {raw!r} is not one of {', '.join(self.spec.vocabulary)}"
                    )
                return word
            if type(raw) is str:
                if text:
                    return raw
                done = codes_seen.get(raw) if codes_seen is not None else None
                if done is not None:
                    return done
            elif fast is not None:
                done = fast(raw)
                if done is not _MISS:
                    return done
            try:
                done = convert(raw, kind, self)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise RecordError(f"{name}: {exc}") from None
            if codes_seen is not None and type(raw) is str and len(codes_seen) < 65536:
                codes_seen[raw] = done
            return done

        return read


_MISS = object()
_CENT = Decimal("0.01")


def _fast_money(raw: Any) -> Any:
    try:
        if type(raw) is Decimal and raw.is_finite():
            return (raw.copy_abs() if raw.is_zero() else raw).quantize(_CENT, ROUND_HALF_UP)
        if type(raw) is int:
            return Decimal(raw).quantize(_CENT)
    except InvalidOperation:  # too large: `convert` says so
        pass
    return _MISS


def _fast_decimal(raw: Any) -> Any:
    if type(raw) is Decimal and raw.is_finite():
        return raw.copy_abs() if raw.is_zero() else raw
    if type(raw) is int:
        return Decimal(raw)
    return _MISS


def _fast_date(raw: Any) -> Any:
    if type(raw) is date:
        return raw
    if type(raw) is datetime:
        return raw.date()
    return _MISS


# What `convert` gives for the values database drivers return (Decimal, int, date),
# without its parsing; anything else, or a value it would refuse, takes `convert`.
_FAST: dict[str, Callable[[Any], Any]] = {
    "money": _fast_money,
    "decimal": _fast_decimal,
    "percent": _fast_decimal,
    "int": lambda raw: raw if type(raw) is int else _MISS,
    "date": _fast_date,
}


def convert(raw: Any, kind: str, rule: FieldRule) -> Any:
    if kind == "text":
        return str(raw)
    if kind == "int":
        if isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not a whole number")
        number = parsing.parse_decimal(raw, locale=rule.number)
        if number is None or number != number.to_integral_value():
            raise ValueError(f"{raw!r} is not a whole number")
        return int(number)
    if kind == "money":
        return parsing.parse_money(raw, locale=rule.number)
    if kind == "decimal":
        return parsing.parse_decimal(raw, locale=rule.number)
    if kind == "percent":
        return parsing.parse_percent(raw, locale=rule.number)
    if kind == "date":
        formats = None if rule.date in (None, "auto") else [rule.date]
        return parsing.parse_date(raw, formats=formats)
    if kind == "bool":
        return parse_bool(raw)
    text = str(int(raw)) if isinstance(raw, int | float) and kind == "region_code" else str(raw)
    if rule.widths is not None:
        return codes.normalise_code(text, rule.widths)
    return CODE_NORMALISERS[kind](text)


_TRUE = {"1", "true", "t", "y", "ya", "yes", "benar", "menang", "pemenang"}
_FALSE = {"0", "false", "f", "n", "no", "tidak", "bukan", ""}


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a yes/no value")
