"""Keeping the canonical store current from the legacy sources (see engine.py)."""

from hub.sync.engine import SyncEngine
from hub.sync.relink import resolve_links
from hub.sync.reports import SourceReport, StreamReport, SyncProgress

__all__ = ["SourceReport", "StreamReport", "SyncEngine", "SyncProgress", "resolve_links"]
