"""Global ids and cursors, in Python and in SQL, declared once.

A global id is base64url (no padding) of `<GraphQL type>:<row id>`. A cursor is base64url
of the compact JSON array `[kind, *sort key values]`. The resolvers encode them in Python;
the compiled path builds the same text in PostgreSQL (`global_id_sql`, `cursor_sql`), so
both live here, side by side, and `tests/test_paging.py` checks that they agree.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import String, Text, cast, func, literal_column

from hub.errors import BadCursor, BadId

INT64 = 2**63


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def global_id(type_name: str, pk: int) -> str:
    return _b64(f"{type_name}:{pk}".encode())


_ROW_ID = re.compile(r"-?[1-9][0-9]{0,18}")


def parse_global_id(value: str) -> tuple[str, int]:
    """(GraphQL type, row id); BAD_ID unless this API could have issued `value`."""
    try:
        type_name, _, pk = _unb64(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadId(f"{value!r} is not an id issued by this API.") from None
    # As `global_id` writes it: no "+5", " 5", "0005", "5_0" or other digits than ASCII.
    if not _ROW_ID.fullmatch(pk):
        raise BadId(f"{value!r} is not an id issued by this API.")
    number = int(pk)
    # Row ids are positive bigints; a payee known only by its payment is its id negated.
    if number == 0 or not -INT64 < number < INT64:
        raise BadId(f"{value!r} is not an id issued by this API.")
    return type_name, number


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    return _b64(orjson.dumps([kind, *values]))


def _key_value(value: Any) -> bool:
    """A sort-key value a cursor may carry: text PostgreSQL can hold (no NUL), or an
    integer the store's bigint holds."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return "\x00" not in value
    return isinstance(value, int) and -INT64 <= value < INT64


def decode_cursor(kind: str, cursor: str, arity: int) -> list[Any]:
    """The sort-key values in `cursor`; BAD_CURSOR unless it is one of ours for `kind`."""
    try:
        payload = orjson.loads(_unb64(cursor))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadCursor(f"Cursor {cursor!r} is not a cursor this API issued.") from None
    if (
        not isinstance(payload, list)
        or len(payload) != arity + 1
        or payload[0] != kind
        or not all(_key_value(v) for v in payload[1:])
    ):
        raise BadCursor(f"Cursor {cursor!r} does not belong to a list of {kind}.")
    return payload[1:]


# --------------------------------------------------------------------------- the same in SQL


def _name(text: str) -> str:
    """A GraphQL type name or cursor kind: the codec's own constants, never user input,
    and safe to inline in SQL."""
    if not text.isalnum():
        raise ValueError(f"not a name: {text!r}")
    return text


def b64url_sql(text: Any) -> Any:
    """base64url without padding of `text` (UTF-8), as `_b64` writes it."""
    encoded = func.encode(
        func.convert_to(text, literal_column("'UTF8'")), literal_column("'base64'")
    )
    # encode() wraps lines at 76 characters: the newline goes with '+' and '/'.
    return func.rtrim(
        func.translate(encoded, literal_column("E'+/\\n'"), literal_column("'-_'")),
        literal_column("'='"),
    )


def global_id_sql(type_name: str, id_column: Any) -> Any:
    prefix = literal_column(f"'{_name(type_name)}:'", String)
    return b64url_sql(prefix.concat(cast(id_column, Text)))


def cursor_sql(kind: str, columns: Sequence[Any]) -> Any:
    """The cursor of a row sorted by `columns` (text or integers), as encode_cursor writes
    it: orjson's compact array, built by hand (json_build_array puts spaces in)."""
    text: Any = literal_column(f"'[\"{_name(kind)}\"'", String)
    for column in columns:
        value = (
            cast(func.to_json(column), Text)
            if isinstance(column.type, String | Text)
            else cast(column, Text)
        )
        text = text.concat(literal_column("','")).concat(value)
    return b64url_sql(text.concat(literal_column("']'")))
