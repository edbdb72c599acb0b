"""Keeping the canonical store current from the legacy sources (see engine.py)."""

from hub.sync.engine import Progress, SourceReport, StreamReport, SyncEngine
from hub.sync.relink import resolve_links

__all__ = ["Progress", "SourceReport", "StreamReport", "SyncEngine", "resolve_links"]
