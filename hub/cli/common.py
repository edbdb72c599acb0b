"""What every `rantai` command shares: its options, its settings, the store it runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from hub.db import (
    DatabaseError,
    asyncpg_dsn,
    check_connection,
    create_engine,
    resolve_database_url,
)
from hub.settings import Settings, SettingsError
from hub.settings import load as load_environment

if TYPE_CHECKING:
    import asyncpg

    from adapters.mapping import Config

T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the embedded PostgreSQL (used when RANTAI_DATABASE_URL is unset). "
        "Default: ./.rantai or RANTAI_DATA_DIR.",
        show_default=False,
    ),
]


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="rantai.toml listing the sources. Default: RANTAI_CONFIG or <data dir>/rantai.toml.",
        show_default=False,
    ),
]


MariaDbUrl = Annotated[
    str | None,
    typer.Option(
        envvar="RANTAI_DEMO_MARIADB_URL",
        help="mysql://… server for BPKAD's databases; default: SQLite files.",
    ),
]


def load_settings(data_dir: Path | None, config: Path | None = None) -> Settings:
    try:
        settings = load_environment()
    except SettingsError as exc:
        raise fail(f"refusing to start: {exc}") from None
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    if config is not None:
        settings = settings.model_copy(update={"config": config})
    return settings


def fail(message: str) -> typer.Exit:
    typer.echo(f"rantai: {message}", err=True)
    return typer.Exit(code=2)


@contextmanager
def store(settings: Settings) -> Iterator[str]:
    """The store's URL, checked reachable; the embedded server runs for the block."""
    try:
        url, embedded = resolve_database_url(settings)
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    try:
        asyncio.run(check_store(url))
        yield url
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    finally:
        if embedded is not None:
            embedded.stop()


async def check_store(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        await check_connection(engine)
    finally:
        await engine.dispose()


def run_migrations(url: str) -> None:
    from hub import migrate

    try:
        migrate.upgrade(url)
    except Exception as exc:
        raise fail(f"migration failed: {exc}") from None


def refuse_insecure(settings: Settings) -> None:
    """Production refuses to serve with development secrets: say which, exit 2."""
    if settings.production and settings.production_problems():
        raise fail("refusing to serve in production: " + "; ".join(settings.production_problems()))


def load_sources(settings: Settings) -> Config:
    from adapters.mapping import MappingError, load_config

    path = settings.config_path
    if not path.exists():
        raise fail(f"no source configuration at {path} (give --config or RANTAI_CONFIG)")
    try:
        return load_config(path)
    except MappingError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(code=1) from None


async def with_conn(url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` done on a connection of its own, closed after."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await work(conn)
    finally:
        await conn.close()
