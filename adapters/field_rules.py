"""Field rules: how one canonical field is read from a source row (a column, a cell, a
constant or a concatenation), then defaulted, mapped and converted to the field's kind
(docs/mappings.md)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class FieldRule:
    """How one canonical field is read from a source row."""

    spec: FieldSpec
    line: int | None
    column: str | None = None
    cell: str | None = None
    const: Any = None
    has_const: bool = False
    concat: tuple[str | tuple[str], ...] = ()  # a column name, or (literal,)
    sep: str = ""
    number: str = "id"
    date: str | None = None
    widths: tuple[int, ...] | None = None
    default: Any = None
    mapping: Mapping[str, Any] | None = None
    strip: bool = True

    def source_columns(self) -> list[str]:
        if self.column:
            return [self.column]
        return [p for p in self.concat if isinstance(p, str)]

    def raw(self, row: Mapping[str, Any]) -> Any:
        if self.has_const:
            return self.const
        if self.cell:
            return row.get(f"@{self.cell}")
        if self.concat:
            parts = []
            for part in self.concat:
                value = part[0] if isinstance(part, tuple) else row.get(part)
                parts.append("" if value is None else str(value).strip())
            return self.sep.join(parts)
        if self.column is None:  # load_mapping refuses such a rule: never from a file
            raise RecordError(f"{self.spec.name}: no column, cell, const or concat to read")
        return row.get(self.column)

    def value(self, row: Mapping[str, Any]) -> Any:
        return self.read(row)

    @cached_property
    def read(self) -> Callable[[Mapping[str, Any]], Any]:
        """`value` made for this rule once: it runs for every field of every source row.

        Raw value (a column, a cell, a constant or a concatenation), stripped, `default`
        for nothing, then `map`, then `convert` for the field's kind. Codes repeat on
        every row of a sync, so a text code's normalised form is remembered per rule.
        """
        column, strip, default, mapping = self.column, self.strip, self.default, self.mapping
        kind, name = self.spec.kind, self.spec.name
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
                raw = mapping.get(str(raw), raw)
                if raw is None:
                    return None
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
