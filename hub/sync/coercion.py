"""Values from records as the store's columns hold them, or why they cannot be.

A record's fields come from mappings (`adapters/field_rules.py`), mostly already of the
column's type; what is not is converted, and what cannot be is `Invalid`: its record then
waits in sync_pending with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.sync.bindings import Binding, Record
from hub.sync.types import TYPES, ColumnType


class Invalid(ValueError):
    """A value the store cannot hold; the record waits in sync_pending with this reason."""


def _quantum(column: str, ct: ColumnType) -> Decimal:
    """A numeric column's step (0.01 for money); `hub.sync.types` gives each one."""
    if ct.quantum is None:
        raise TypeError(f"{column}: a numeric column without a scale")
    return ct.quantum


def coerce(value: Any, column: str, ct: ColumnType) -> Any:
    if value is None:
        return None
    if ct.pg == "numeric":
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            return number.quantize(_quantum(column, ct))
        except (InvalidOperation, ValueError) as exc:
            raise Invalid(f"{column}: {value!r} is not a number") from exc
    if ct.pg in ("int4", "int8"):
        if isinstance(value, bool):
            raise Invalid(f"{column}: {value!r} is not a whole number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise Invalid(f"{column}: {value!r} is not a whole number") from exc
        if number != number.to_integral_value():
            raise Invalid(f"{column}: {value!r} is not a whole number")
        return int(number)
    if ct.pg == "text":
        text = str(value).strip()
        if ct.length is not None and len(text) > ct.length:
            raise Invalid(f"{column}: {text[:40]!r}… is longer than {ct.length} characters")
        return text
    if ct.pg == "date":
        if isinstance(value, datetime):
            return value.date()
        if not isinstance(value, date):
            raise Invalid(f"{column}: {value!r} is not a date")
        return value
    if ct.pg == "bool":
        return bool(value)
    return value


def coercer(column: str, ct: ColumnType) -> Callable[[Any], Any]:
    """`coerce` for one column, with the common case first: a value of the store's type
    already (what the mappings make). Anything else, or a value that fails there, takes
    `coerce` itself, which converts or raises Invalid as before."""
    if ct.pg == "numeric":
        quantum = _quantum(column, ct)

        def numeric(value: Any) -> Any:
            if type(value) is Decimal:
                try:
                    return value.quantize(quantum)
                except (InvalidOperation, ValueError):
                    pass
            return coerce(value, column, ct)

        return numeric
    if ct.pg in ("int4", "int8"):
        return lambda value: value if type(value) is int else coerce(value, column, ct)
    if ct.pg == "text":
        length = ct.length

        def text(value: Any) -> Any:
            if type(value) is str:
                stripped = value.strip()
                if length is None or len(stripped) <= length:
                    return stripped
            return coerce(value, column, ct)

        return text
    if ct.pg == "date":
        return lambda value: value if type(value) is date else coerce(value, column, ct)
    return lambda value: coerce(value, column, ct)


Preparer = tuple[tuple[str, Callable[[Record], Any], Callable[[Any], Any]], ...]
_PREPARERS: dict[str, Preparer] = {}


def preparer(binding: Binding) -> Preparer:
    """(column, value from the record, coercion) for each of the binding's fields."""
    found = _PREPARERS.get(binding.entity)
    if found is None:
        types = TYPES[binding.table]
        found = tuple((c, f, coercer(c, types[c])) for c, f in binding.fields.items())
        _PREPARERS[binding.entity] = found
    return found
