"""Pieces of the compiled statements: names, JSON values, and the checks that keep a stored
value the schema would refuse from reaching a client."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLString,
    get_named_type,
)
from sqlalchemy import (
    Float,
    Integer,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
)

SQL = Any  # a SQLAlchemy column expression
_MAX = "1.7976931348623157e308"  # the largest finite float8
INT32 = (-(2**31), 2**31 - 1)


class Decline(Exception):
    """Not compiled: the ordinary path answers this request."""


_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")


def lit(text: str) -> SQL:
    """A constant string of the compiler's own (names, keys): inlined, never user input."""
    if not _SAFE.match(text):
        raise Decline(f"not a name: {text!r}")
    return literal_column(f"'{text}'", String)


EMPTY_LIST: SQL = literal_column("'[]'::json")


def isoformat(timestamp: SQL) -> SQL:
    """A timestamptz as Python's `datetime.isoformat()` writes the UTC datetimes asyncpg
    gives (Strawberry's DateTime): seconds, then microseconds only when there are any, then
    "+00:00". PostgreSQL's own JSON text drops trailing zeros of the fraction instead."""
    utc = func.timezone(literal_column("'UTC'"), timestamp)
    micro = cast(func.date_part(literal_column("'microseconds'"), utc), Integer) % 1_000_000
    fraction = case(
        (micro == 0, literal_column("''")),
        else_=literal_column("'.'").concat(func.lpad(cast(micro, Text), 6, literal_column("'0'"))),
    )
    text = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
    return case(
        (timestamp.is_(None), null()),
        else_=text.concat(fraction).concat(literal_column("'+00:00'")),
    )


def leaf(value: SQL, field_type: Any, *, nullable: bool = True) -> SQL:
    """A scalar or enum field's value as the ordinary path would serialise it, checked as
    the schema would check it: enum membership, Int range, and null in a non-null field
    (when the column may hold one). A value that fails makes the statement fail
    (`rantai_refuse`, migration 0008), and the ordinary path answers with its error."""
    named = get_named_type(field_type)
    valid: list[SQL] = []
    why = named.name
    if isinstance(named, GraphQLEnumType):
        names = list(named.values)
        if any(
            v.value is not None and getattr(v.value, "value", n) != n
            for n, v in named.values.items()
        ):
            raise Decline(f"enum {named.name} serialises values under other names")
        valid.append(value.in_([literal_column(f"'{n}'") for n in names if _SAFE.match(n)]))
    elif named is GraphQLInt:
        valid.append(value.between(*INT32))
    elif named.name == "Decimal":
        value = cast(value, Text)  # strings on the wire, as Strawberry's Decimal writes them
    elif named.name == "DateTime":
        value = isoformat(value)
    elif named.name == "Date" or named in (GraphQLString, GraphQLID, GraphQLBoolean):
        pass
    elif named is GraphQLFloat:
        # A JSON number in both paths' shortest round-trip digits (PostgreSQL's float8
        # output, orjson's). NaN and the infinities, which JSON cannot hold and graphql-core
        # refuses, fall outside the finite range (NaN sorts above every number).
        value = cast(value, Float)
        valid.append(
            value.between(literal_column(f"'-{_MAX}'::float8"), literal_column(f"'{_MAX}'::float8"))
        )
    elif isinstance(named, GraphQLScalarType):
        raise Decline(f"scalar {named.name} is not compiled")
    if isinstance(field_type, GraphQLNonNull):
        if nullable:
            valid.insert(0, value.is_not(None))
        if not valid:
            return value
        ok = and_(*valid)
    else:
        if not valid:
            return value
        ok = value.is_(None) | and_(*valid)
    return case((ok, value), else_=func.rantai_refuse(value, lit(why)))
