"""What a resolver sees of the request: the scoped data access, its loaders, settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from hub.store.access import DataAccess
from hub.store.scope import EVERYTHING, Scope
from resolvers.loaders import Loaders


@dataclass
class Context:
    access: DataAccess
    settings: Settings
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.access)

    @classmethod
    def create(cls, engine: AsyncEngine, settings: Settings, scope: Scope = EVERYTHING) -> Context:
        return cls(DataAccess(engine, scope), settings)
