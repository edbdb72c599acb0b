"""Keeping the canonical store current from the legacy sources (see engine.py)."""

from hub.sync.engine import SyncEngine
from hub.sync.relink import resolve_links
from hub.sync.reports import Progress, SourceReport, StreamReport

__all__ = ["Progress", "SourceReport", "StreamReport", "SyncEngine", "resolve_links"]
