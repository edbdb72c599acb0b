"""Checksums per block of source keys, computed by a SQL source itself.

A row's block is a prefix of the MD5 of its source key (the mapping's key columns, as
`EntityMapping.source_key` joins them: trimmed text, `/` between, empty for NULL). The
same block is computed here in Python (`block_of`) and in the source's SQL (`Dialect.block`),
so the hub can read the rows of a few blocks and know which of its stored rows those
blocks cover. A block's checksum is its row count and the sum of a 64-bit hash of each
row's mapped columns, exactly the columns the stream reads, from the mapped table or query
(joins included): order does not matter, NULL differs from empty text, and a value's every
byte counts (case, trailing spaces, a decimal's scale), whatever the column's collation.

PostgreSQL hashes a row's text form (`ROW(...)::text`); MariaDB/MySQL the length-prefixed
bytes of each column (`CAST(... AS BINARY)`). SQLite has no hash function in SQL: the
adapter gives its connection its own (`sqlite_functions`), which compute the block from
the key as `EntityMapping.source_key` writes it and a 40-bit hash of the row's values as
SQLite hands them over (their type counts: 1, 1.0 and '1' differ), both in one call a row
for the sums, so that a block's sum stays within SQLite's 64-bit integers up to 2^23 rows
a block (a stream's blocks are sized at its first read, about 64 rows each: at 16 blocks,
134 million rows). They run in the
adapter's SQLite thread, about a microsecond a row, where mapping and comparing a row
costs tens.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

BLOCK_COLUMN = "rantai_block"
_BLOCK = re.compile(r"^[0-9a-f]{1,4}$")
ROWS_PER_BLOCK = 64  # the width is chosen for about this many rows a block at most


def block_of(key: str, digits: int) -> str:
    """The block of a source key: the first `digits` hex digits of its MD5."""
    return hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:digits]


def digits_for(rows: int) -> int:
    """How many hex digits name a block for a stream of `rows` rows (1 to 4: 16 to 65,536
    blocks), about ROWS_PER_BLOCK rows a block."""
    digits = 1
    while digits < 4 and rows > ROWS_PER_BLOCK * 16**digits:
        digits += 1
    return digits


def block_list(blocks: Sequence[str]) -> str:
    """Blocks as SQL literals (they are checked to be hex: nothing else is inlined)."""
    for block in blocks:
        if not _BLOCK.match(block):
            raise ValueError(f"not a block: {block!r}")
    return ", ".join(f"'{b}'" for b in sorted(blocks))


class Dialect:
    """The SQL of one engine's block, row hash and checksum sum."""

    def __init__(self, quote: Callable[[str], str]) -> None:
        self.quote = quote

    def key(self, columns: Sequence[str]) -> str:
        raise NotImplementedError

    def block(self, columns: Sequence[str], digits: int) -> str:
        raise NotImplementedError

    def row_hash(self, columns: Sequence[str]) -> str:
        raise NotImplementedError

    def total(self, column: str) -> str:
        raise NotImplementedError

    def sums_sql(self, source: str, key: Sequence[str], columns: Sequence[str], digits: int) -> str:
        """One row per non-empty block: the block, its row count `n` and hash sum `s`."""
        return (
            f"SELECT {BLOCK_COLUMN}, COUNT(*) AS n, {self.total('rantai_hash')} AS s FROM "
            f"(SELECT {self.block(key, digits)} AS {BLOCK_COLUMN}, "
            f"{self.row_hash(columns)} AS rantai_hash FROM {source}) AS rantai_c "
            f"GROUP BY {BLOCK_COLUMN}"
        )

    def rows_sql(
        self,
        source: str,
        key: Sequence[str],
        columns: Sequence[str],
        digits: int,
        blocks: Sequence[str] | None,
    ) -> str:
        """The stream's columns and each row's block; only `blocks`' rows (None: all)."""
        select = ", ".join(self.quote(c) for c in columns)
        sql = (
            f"SELECT * FROM (SELECT {select}, {self.block(key, digits)} AS {BLOCK_COLUMN} "
            f"FROM {source}) AS rantai_b"
        )
        if blocks is not None:
            sql += f" WHERE {BLOCK_COLUMN} IN ({block_list(blocks)})"
        return sql


class PostgresDialect(Dialect):
    def key(self, columns: Sequence[str]) -> str:
        # str.strip() strips more than these (other Unicode spaces): such a key's block
        # differs from Python's, which the sync notices when it reads the row.
        parts = [
            f"coalesce(btrim({self.quote(c)}::text, E' \\t\\n\\r\\x0b\\x0c'), '')" for c in columns
        ]
        return f"concat_ws('/', {', '.join(parts)})"

    def block(self, columns: Sequence[str], digits: int) -> str:
        return f"left(md5(convert_to({self.key(columns)}, 'UTF8')), {int(digits)})"

    def row_hash(self, columns: Sequence[str]) -> str:
        row = ", ".join(self.quote(c) for c in columns)
        return f"('x' || left(md5(ROW({row})::text), 16))::bit(64)::int8"

    def total(self, column: str) -> str:
        return f"sum({column})::text"


class MariaDbDialect(Dialect):
    def key(self, columns: Sequence[str]) -> str:
        parts = [f"IFNULL(TRIM({self.quote(c)}), '')" for c in columns]
        return f"CONCAT_WS('/', {', '.join(parts)})"

    def block(self, columns: Sequence[str], digits: int) -> str:
        return f"LEFT(MD5(CONVERT({self.key(columns)} USING utf8mb4)), {int(digits)})"

    def row_hash(self, columns: Sequence[str]) -> str:
        # Each column's bytes with their length before them, '-' for NULL: no two rows
        # give the same text, whatever separators their values hold.
        parts = [
            f"IFNULL(CONCAT(LENGTH(CAST({q} AS BINARY)), ':', CAST({q} AS BINARY)), '-')"
            for q in (self.quote(c) for c in columns)
        ]
        return f"CAST(CONV(LEFT(MD5(CONCAT_WS(',', {', '.join(parts)})), 16), 16, 10) AS UNSIGNED)"

    def total(self, column: str) -> str:
        return f"CAST(SUM({column}) AS CHAR)"


_HASH_BITS = 40


def sqlite_block(digits: int, *key: Any) -> str:
    """A SQLite row's block, from its key's values as `EntityMapping.source_key` joins them."""
    return block_of("/".join("" if v is None else str(v).strip() for v in key), digits)


def sqlite_row_hash(*values: Any) -> int:
    """A SQLite row's hash: `_HASH_BITS` of BLAKE2b over its values with their types."""
    digest = hashlib.blake2b(repr(values).encode(), digest_size=_HASH_BITS // 8).digest()
    return int.from_bytes(digest, "big")


def _sqlite_block_hash(digits: int, keys: int, *values: Any) -> int:
    """A row's block (the first `keys` values are its key) and hash in one integer, the
    block above `_HASH_BITS`: one call a row where the checksums are summed."""
    block = int(sqlite_block(digits, *values[:keys]), 16)
    return (block << _HASH_BITS) | sqlite_row_hash(*values[keys:])


def sqlite_functions() -> dict[str, Callable[..., Any]]:
    """The functions `SqliteDialect` calls, to register on each SQLite connection."""
    return {"rantai_block": sqlite_block, "rantai_block_hash": _sqlite_block_hash}


class SqliteDialect(Dialect):
    def key(self, columns: Sequence[str]) -> str:
        return ", ".join(self.quote(c) for c in columns)

    def block(self, columns: Sequence[str], digits: int) -> str:
        return f"rantai_block({int(digits)}, {self.key(columns)})"

    def total(self, column: str) -> str:
        return f"CAST(sum({column}) AS TEXT)"

    def sums_sql(self, source: str, key: Sequence[str], columns: Sequence[str], digits: int) -> str:
        """As `Dialect.sums_sql`, with one function call a row (`_sqlite_block_hash`)."""
        values = ", ".join(self.quote(c) for c in [*key, *columns])
        mask = (1 << _HASH_BITS) - 1
        return (
            f"SELECT printf('%0{int(digits)}x', v >> {_HASH_BITS}) AS {BLOCK_COLUMN}, "
            f"COUNT(*) AS n, {self.total(f'v & {mask}')} AS s FROM "
            # LIMIT -1: the subquery is not flattened into the grouping, which would call
            # the function once for each use of `v`.
            f"(SELECT rantai_block_hash({int(digits)}, {len(key)}, {values}) AS v FROM {source} "
            f"LIMIT -1) AS rantai_c GROUP BY v >> {_HASH_BITS}"
        )
