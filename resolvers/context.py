"""What a resolver sees of the request: the scoped data access, its loaders, settings, and
for the operators' fields and mutations, the process they run in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    from hub.events.broker import Broker
    from hub.events.feed import ChangeFeed


@dataclass(frozen=True)
class Process:
    """The serving process, as the operators' console sees it: the broker that wakes the
    other processes (a mutation's wake-up), and counters kept in memory."""

    broker: Broker | None = None
    # The compiled path's declines by reason, since this process started.
    declines: Callable[[], Mapping[str, int]] = dict


@dataclass
class Context:
    access: DataAccess
    settings: Settings
    feed: ChangeFeed | None = None  # live updates (WebSocket only)
    viewer: Viewer = INTERNAL
    process: Process = field(default_factory=Process)
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
        process: Process | None = None,
    ) -> Context:
        """A context for the hub itself (`scope`), or for a viewer (its scope)."""
        if viewer is not None:
            scope = viewer.scope
        return cls(
            DataAccess(engine, scope), settings, feed, viewer or INTERNAL, process or Process()
        )
