"""What a resolver sees of the request: the scoped data access, its loaders, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth import INTERNAL, Viewer
from hub.settings import Settings
from hub.store.access import DataAccess
from hub.store.freshness import FRESHNESS
from hub.store.scope import EVERYTHING, Scope
from resolvers.loaders import Loaders

if TYPE_CHECKING:
    from hub.events.feed import ChangeFeed


@dataclass
class Context:
    access: DataAccess
    settings: Settings
    feed: ChangeFeed | None = None  # live updates (WebSocket only)
    viewer: Viewer = INTERNAL
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.access, {FRESHNESS: self.settings.source_freshness_seconds})

    @classmethod
    def create(
        cls,
        engine: AsyncEngine,
        settings: Settings,
        scope: Scope = EVERYTHING,
        feed: ChangeFeed | None = None,
        viewer: Viewer | None = None,
    ) -> Context:
        """A context for the hub itself (`scope`), or for a viewer (its scope)."""
        if viewer is not None:
            scope = viewer.scope
        return cls(DataAccess(engine, scope), settings, feed, viewer or INTERNAL)
