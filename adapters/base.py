"""The adapter interface: read rows of a legacy source in batches, never write to it.

An adapter knows one *kind* of source (SQL engines, spreadsheets). What to read is an
`EntityQuery`, built from a mapping file; the adapter yields the source's own rows as
dicts of column → value, in batches. Turning them into canonical records is the mapping's
job (`adapters/mapping.py`), the same for every kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from adapters.http_json import HttpOptions, HttpQuery

Row = dict[str, Any]


@dataclass(frozen=True)
class Look:
    """A cheap look at a source between two syncs (`Adapter.look`): a value that differs
    from the last look's when the source changed since. `settled` is False while the
    source changed within its clock's tick (a file system's, or a server's second): a
    second change within that tick could leave the value as it was, so an unsettled look
    is looked at again once it has settled."""

    value: str
    settled: bool = True


@dataclass(frozen=True)
class SourceConfig:
    """How to reach one source (the `[source]` table of a mapping file)."""

    id: str
    kind: str  # postgresql | mariadb | sqlite | xlsx | csv | http-json
    url: str | None = None  # SQL kinds; http-json: the base URL
    path: str | None = None  # spreadsheet kinds: file or glob
    base_dir: Path = Path(".")  # relative paths and sqlite files resolve against it
    batch_size: int = 5000
    timeout_seconds: float = 60.0
    # A watermarked read starts this far before the stored watermark (time watermarks):
    # rows committed late with an older updated-at are read on the next run.
    overlap_seconds: int = 600
    # Seconds between two scheduled full comparisons in `serve` (None: never), or the
    # local time of day ("02:00") they run at.
    reconcile_every: float | None = 6 * 3600.0
    reconcile_at: str | None = None
    http: HttpOptions | None = field(default=None, repr=False)  # http-json


@dataclass(frozen=True)
class EntityQuery:
    """What to read for one `[[entity]]` of a mapping file."""

    table: str | None = None  # SQL table/view
    query: str | None = None  # or a SELECT
    sheet: str | None = None  # spreadsheet sheet (None: the first)
    header_row: int = 1  # spreadsheets, 1-based
    columns: tuple[str, ...] = ()  # columns to read; empty: all
    watermark: str | None = None  # order by it and resume after `since`
    cells: tuple[str, ...] = ()  # spreadsheet cells (e.g. "B3") added to every row as "@B3"
    http: HttpQuery | None = None  # http-json: path, parameters, records, paging


@dataclass(frozen=True)
class Batch:
    rows: list[Row]
    origin: str = ""  # e.g. the workbook a spreadsheet batch came from
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Sources read in pages (http-json): what asks for the page after this batch (None:
    # this was the last), and whether a resumed read had to start again from the first.
    position: Any = None
    restarted: bool = False


class AdapterError(Exception):
    """The source cannot be read as asked; the message names the source and the cause."""


class MissingTable(AdapterError):
    pass


class MissingColumns(AdapterError):
    def __init__(self, message: str, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


def redacted_url(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


class Adapter(ABC):
    """One open connection (or set of files) to a legacy source, read-only."""

    kinds: ClassVar[tuple[str, ...]]

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    async def __aenter__(self) -> Adapter:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect (read-only where the engine allows); AdapterError if unreachable."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def columns(self, query: EntityQuery) -> list[str]:
        """The columns the table/query/sheet offers; MissingTable if it does not exist."""

    @abstractmethod
    def stream(
        self, query: EntityQuery, *, since: Any = None, resume: Any = None
    ) -> AsyncIterator[Batch]:
        """Rows in batches of `config.batch_size`, never the whole table in memory.

        With a watermark: rows in watermark order, only those with watermark > `since`.
        `resume`: a `Batch.position` of an earlier read, for sources read in pages (the
        others read from the start).
        """

    def keepable(self) -> bool:
        """Whether the open adapter may be kept for the next run of its source: a server
        connection (`hub/sync/connections.py`); files are opened afresh each run."""
        return False

    async def reusable(self) -> bool:
        """Whether a kept adapter can still serve (its connection answers)."""
        return False

    def change_stamp(self) -> str | None:
        """What the source's files look like, when that tells every change since (equal
        stamps: nothing changed), taken before the adapter opens; None: no such thing."""
        return None

    async def look(self, tables: Sequence[str] | None) -> Look | None:
        """A look telling, for a few microseconds of the source's time, whether it changed
        since the last look (`hub/sync/probe.py`); `tables`: those the mapping reads (None:
        a query reads them, so all of them). None: this kind of source offers none. May
        need the adapter open. An accelerator only: every change is also read by the next
        sync, whatever the looks said."""
        return None

    # Checksums per block of keys (`adapters/blocks.py`), where the source computes them.

    def supports_blocks(self) -> bool:
        return False

    async def block_sums(
        self, query: EntityQuery, key: Sequence[str], digits: int
    ) -> dict[str, str]:
        raise AdapterError(f"source {self.config.id}: no checksums for a {self.config.kind} source")

    def block_rows(
        self, query: EntityQuery, key: Sequence[str], digits: int, blocks: Sequence[str] | None
    ) -> AsyncIterator[Batch]:
        raise AdapterError(f"source {self.config.id}: no checksums for a {self.config.kind} source")


def open_adapter(config: SourceConfig) -> Adapter:
    """The adapter for `config.kind`, imported lazily (each needs its own driver)."""
    if config.kind in ("postgresql", "mariadb", "mysql", "sqlite"):
        from adapters.sql import SqlAdapter

        return SqlAdapter(config)
    if config.kind in ("xlsx", "csv"):
        from adapters.spreadsheet import SpreadsheetAdapter

        return SpreadsheetAdapter(config)
    if config.kind == "http-json":
        from adapters.http_json import HttpJsonAdapter

        return HttpJsonAdapter(config)
    raise AdapterError(f"source {config.id}: no adapter for kind {config.kind!r}")
