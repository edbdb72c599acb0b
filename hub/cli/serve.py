"""`rantai serve` and `rantai schema`: the API, and the schema it serves."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.common import (
    ConfigFile,
    DataDir,
    Port,
    check_port,
    load_settings,
    load_sources,
    refuse_insecure,
    run_migrations,
    store,
)
from hub.settings import Settings

if TYPE_CHECKING:
    from adapters.mapping import Config
    from hub.serving.app import Background
    from hub.sync.reports import SourceReport


def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Port = 8000,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
    config: ConfigFile = None,
    sync_every: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Sync every source this often (seconds) while serving; 0: never. "
            "Default: RANTAI_SYNC_INTERVAL_SECONDS or 0.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the GraphQL API, GraphiQL, the dashboard, the operators' console, /healthz and
    /readyz (and sync, with --sync-every). Creates the embedded store if there is none."""
    check_port(host, port)
    settings = load_settings(data_dir, config)
    if sync_every is not None:
        settings = settings.model_copy(update={"sync_interval_seconds": sync_every})
    refuse_insecure(settings)
    with store(settings, create=True) as url:
        if migrate:
            run_migrations(url)
        background = []
        if settings.sync_interval_seconds > 0:
            background.append(sync_job(url, settings, load_sources(settings)))
        typer.echo(f"Rantai on http://{host}:{port}/graphql (GraphiQL in a browser)", err=True)
        run_server(url, settings, host, port, background)


def run_server(
    url: str, settings: Settings, host: str, port: int, background: list[Background]
) -> None:
    import uvicorn

    from hub.serving.app import create_app
    from hub.serving.server import config

    # uvicorn re-raises SIGTERM once it has shut down; exiting through SystemExit
    # instead lets the embedded PostgreSQL be stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app(url, settings, background=background)
    uvicorn.Server(config(app, settings, host, port, log_level="info")).run()


def sync_job(
    url: str,
    settings: Settings,
    config: Config,
    on_cycle: Callable[[Sequence[SourceReport]], None] | None = None,
) -> Background:
    """The sync loop as a background job of the app."""

    async def job(stop: asyncio.Event) -> None:
        from hub.jobs import sync_forever

        await sync_forever(
            url,
            config,
            interval=settings.sync_interval_seconds,
            stop=stop,
            concurrency=settings.sync_concurrency,
            freshness_seconds=settings.source_freshness_seconds,
            on_cycle=on_cycle,
            outbox_retention_seconds=settings.outbox_retention_seconds,
            broker_url=settings.broker_url,
            probe_every=settings.sync_probe_seconds,
            unchanged_seconds=settings.sync_unchanged_seconds,
        )

    return job


def schema_command(
    data_dir: DataDir = None,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            help="Compare with a previous SDL (e.g. the last release's docs/schema.graphql): "
            "print breaking and dangerous changes, exit 1 on a breaking one or a deprecation "
            "without a date. A removal is allowed once the previous SDL deprecated it.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Print the GraphQL schema (SDL), or check it against a previous one (--check)."""
    from schema import schema

    if check is None:
        sys.stdout.write(schema.as_str() + "\n")
        return
    from hub.cli.schema_check import compare

    report = compare(check.read_text(encoding="utf-8"), schema._schema)
    sys.stdout.write("\n".join(report.lines()) + "\n")
    if report.failed:
        raise typer.Exit(1)
