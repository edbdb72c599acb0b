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
    mode: str  # "watermark", "diff", "unchanged" (diff skipped: files did not change)
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    waiting: int = 0
    error: str | None = None

    def count(self, outcome: Outcome, read: int) -> None:
        self.read += read
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.waiting += len(outcome.waiting)

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


@dataclass(frozen=True)
class SyncProgress:
    """Sent after every batch and at the end of every stream (for progress bars)."""

    source: str
    stream: str
    read: int
    done: bool = False
    error: str | None = None


ProgressCallback = Callable[[SyncProgress], None]
