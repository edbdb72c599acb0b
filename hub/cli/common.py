"""What every `rantai` command shares: its options, its settings, the data dir and the store
it runs on, the port it serves on, and how the command names itself to the user."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import sys
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

DATA_DIR_NAME = ".rantai"

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the embedded PostgreSQL and the demo's estate (used when "
        "RANTAI_DATABASE_URL is unset). Default: RANTAI_DATA_DIR, else the nearest .rantai "
        "in this folder or one above it, else ./.rantai.",
        show_default=False,
    ),
]

Init = Annotated[
    bool,
    typer.Option(
        "--init",
        help="Create a new embedded store in the data dir if it has none (without it, a "
        "command refuses rather than start an empty store by mistake).",
    ),
]

Port = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on (1-65535, and free).")]


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
    """The settings of the environment; the data dir the one given, else RANTAI_DATA_DIR,
    else the nearest `.rantai` found upward from here, else `./.rantai`."""
    try:
        settings = load_environment()
    except SettingsError as exc:
        raise fail(f"refusing to start: {exc}") from None
    if data_dir is None and not os.environ.get("RANTAI_DATA_DIR"):
        data_dir = find_data_dir(Path.cwd())
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    if config is not None:
        settings = settings.model_copy(update={"config": config})
    return settings


def find_data_dir(start: Path) -> Path | None:
    """The nearest `.rantai` folder in `start` or a folder above it (as git finds .git), so
    a command typed in a subfolder of the project uses the project's store."""
    for folder in (start, *start.parents):
        candidate = folder / DATA_DIR_NAME
        if candidate.is_dir():
            return candidate if folder != start else Path(DATA_DIR_NAME)
    return None


def has_store(data_dir: Path) -> bool:
    """Whether the data dir holds an embedded PostgreSQL cluster."""
    return (data_dir / "pg" / "PG_VERSION").exists()


def command() -> str:
    """How to type this command again: `rantai` when that is what the shell finds, else its
    path (`.venv/bin/rantai` in a clone set up by scripts/bootstrap)."""
    me = Path(sys.argv[0]).resolve()
    found = shutil.which("rantai")
    if me.name == "rantai" and found and Path(found).resolve() == me:
        return "rantai"
    if me.name != "rantai":  # python -m hub.cli
        return f"{Path(sys.executable).name} -m hub.cli"
    try:
        return os.path.relpath(me.parent / "rantai")
    except ValueError:
        return str(me)


def need_estate(what: str) -> None:
    """The demo's estate lives in the repository, not in the wheel: say so in one line."""
    import importlib.util

    if importlib.util.find_spec("estate") is None:
        raise fail(
            f"{what} needs the demo estate (estate/), which is in Rantai's repository but not "
            "in the installed package: run it from a clone (scripts/demo)"
        )


def check_port(host: str, port: int) -> None:
    """Fail now, before anything is started or written, when `port` is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise fail(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a server that just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise fail(
                    f"port {port} on {host} is in use (another rantai?); stop it or give --port"
                ) from None
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def fail(message: str) -> typer.Exit:
    typer.echo(f"rantai: {message}", err=True)
    return typer.Exit(code=2)


@contextmanager
def store(settings: Settings, *, create: bool = False) -> Iterator[str]:
    """The store's URL, checked reachable; the embedded server runs for the block. Without
    `create`, an embedded store that does not exist yet is refused, saying where it looked
    and how to make one (`--init`, or `rantai demo`/`serve`)."""
    if not settings.database_url and not create and not has_store(settings.data_dir):
        raise fail(
            f"no store in {settings.data_dir.resolve()}; give --data-dir or RANTAI_DATA_DIR "
            "for an existing one (or RANTAI_DATABASE_URL), or add --init to create one there"
        )
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
