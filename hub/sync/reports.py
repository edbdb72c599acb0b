"""What a sync reports: per stream, per source, and its progress as it goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.sync.writer import Outcome


@dataclass
class StreamReport:
    stream: str
    entity: str
    # "watermark", "diff", "unchanged" (diff skipped: files did not change), "blocks" (a
    # diff of the blocks of keys whose checksum moved, hub.sync.checksums), "resumed" (a
    # diff of a paged source resumed after its last committed page), or "waiting":
    # the rows that waited in sync_pending, tried again after the source's streams.
    mode: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    waiting: int = 0
    error: str | None = None
    # Rows made for this stream's rows, per entity (Pemda from the reference data, OPD
    # named by rows, program and kegiatan derived from codes).
    derived: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome, read: int) -> None:
        self.read += read
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.waiting += len(outcome.waiting)
        for entity, n in outcome.derived.items():
            self.derived[entity] = self.derived.get(entity, 0) + n

    @property
    def stored(self) -> int:
        """Rows written or confirmed unchanged."""
        return self.created + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "stream"}


@dataclass
class SourceReport:
    source: str
    status: str = "NEVER_SYNCED"  # OK DEGRADED DOWN, or BUSY (another process syncs it)
    error: str | None = None
    streams: list[StreamReport] = field(default_factory=list)
    rows: int = 0
    waiting: int = 0
    seconds: float = 0.0

    @property
    def changes(self) -> int:
        return sum(s.created + s.updated + s.deleted for s in self.streams)

    @property
    def read(self) -> int:
        """Rows read from the source (not those tried again from the waiting queue)."""
        return sum(s.read for s in self.streams if s.mode != "waiting")

    @property
    def stored(self) -> int:
        """Rows the run wrote or confirmed, from the source or from the waiting queue."""
        return sum(s.stored for s in self.streams)

    @property
    def stored_nothing(self) -> bool:
        """The run read rows and every one of them waits: nothing it read is current."""
        return self.read > 0 and self.stored == 0 and self.waiting > 0


@dataclass(frozen=True)
class SyncProgress:
    """Sent after every batch and at the end of every stream (for progress bars)."""

    source: str
    stream: str
    read: int
    done: bool = False
    error: str | None = None


ProgressCallback = Callable[[SyncProgress], None]
