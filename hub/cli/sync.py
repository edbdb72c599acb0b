"""`rantai sources`, `rantai sync` and `rantai discrepancies`: the legacy sources, syncing
them into the store, and the ketimpangan rules over what they brought."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.common import (
    ConfigFile,
    DataDir,
    Init,
    fail,
    load_settings,
    load_sources,
    run_migrations,
    store,
    with_conn,
)
from hub.db import asyncpg_dsn
from hub.settings import Settings

if TYPE_CHECKING:
    import asyncpg

    from adapters.mapping import Config, Problem, SourceMapping
    from hub.discrepancies.engine import DiscrepancyEngine, RunReport
    from hub.sync.reports import SourceReport

sources_app = typer.Typer(
    help="The legacy sources listed in rantai.toml.", invoke_without_command=True
)


@sources_app.callback()
def sources_list(
    ctx: typer.Context, data_dir: DataDir = None, config: ConfigFile = None, init: Init = False
) -> None:
    """The configured sources and their health: status, stale, last success, rows, error."""
    if ctx.invoked_subcommand is not None:
        return
    from hub.cli.console import out, sources_table

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    with store(settings, create=init) as url:
        run_migrations(url)
        rows = asyncio.run(_source_health(url, loaded, settings))
    out.print(sources_table(rows))
    if any(r["status"] == "DOWN" for r in rows):
        raise typer.Exit(code=1)


async def _source_health(url: str, config: Config, settings: Settings) -> list[dict[str, object]]:
    import asyncpg

    from hub.store.freshness import source_health
    from hub.store.models import metadata

    statement = source_health(metadata.tables["source"], settings.source_freshness_seconds)
    sql = str(statement.compile(compile_kwargs={"literal_binds": True}))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        stored = {r["id"]: r for r in await conn.fetch(sql)}
    finally:
        await conn.close()
    rows: list[dict[str, object]] = []
    for source in config.sources:
        r = stored.get(source.id)
        rows.append(
            {
                "id": source.id,
                "kind": source.kind,
                "status": r["status"] if r else "NEVER_SYNCED",
                "stale": r["stale"] if r else True,
                "last_success_at": r["last_success_at"] if r else None,
                "rows": r["rows"] if r else 0,
                "waiting": r["waiting"] if r else 0,
                "waiting_reasons": _json(r["waiting_reasons"]) if r else [],
                "last_run_read": r["last_run_read"] if r else None,
                "last_run_stored": r["last_run_stored"] if r else None,
                "last_error": r["last_error"] if r else None,
                "entities": ", ".join(sorted({e.spec.name for e in source.entities})),
                "last_upload_file": r["last_upload_file"] if r else None,
                "last_upload_at": r["last_upload_at"] if r else None,
            }
        )
    return rows


def _json(value: object) -> list[dict[str, object]]:
    import json

    loaded = json.loads(value) if isinstance(value, str) else value
    return list(loaded) if isinstance(loaded, list) else []


# `rantai sync` exits with the worst status of the sources it synced.
EXIT_OK, EXIT_DOWN, EXIT_DEGRADED = 0, 1, 3


def exit_code(statuses: list[str]) -> int:
    """0 when every source is OK (or busy in another process), 1 when one is DOWN, else 3
    when one is DEGRADED (rows waiting: some of what it read is not in the store)."""
    if "DOWN" in statuses:
        return EXIT_DOWN
    if "DEGRADED" in statuses:
        return EXIT_DEGRADED
    return EXIT_OK


def sync_command(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Sync only this source (repeatable)."),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            help="Read every row of every stream, watermark or not, and delete rows "
            "that left the source."
        ),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    history_on_load: Annotated[
        bool,
        typer.Option(
            help="A stream's first load records one CREATED change per row, as before, "
            "instead of one LOADED event per Pemda and fiscal year."
        ),
    ] = False,
    init: Init = False,
) -> None:
    """Sync the canonical store from the sources (incrementally). Exit 0 when every source is
    OK, 1 when one is DOWN, 3 when one is DEGRADED (rows waiting for a parent or refused)."""
    from hub.cli.console import out, report_table

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    known = {s.id for s in loaded.sources}
    unknown = [s for s in source or [] if s not in known]
    if unknown:
        raise fail(
            f"no source {', '.join(unknown)} in {loaded.file} (known: {', '.join(sorted(known))})"
        )
    with store(settings, create=init) as url:
        run_migrations(url)
        reports, checked = asyncio.run(
            _sync(url, settings, loaded, source or None, full, progress, history_on_load)
        )
    out.print(report_table(reports))
    if checked is not None:
        typer.echo(discrepancy_line(checked))
    code = exit_code([r.status for r in reports])
    if code:
        raise typer.Exit(code=code)


def discrepancy_line(report: RunReport) -> str:
    scope = "all Pemda-years" if report.full else f"{report.partitions} Pemda-years"
    return (
        f"ketimpangan: {report.rules} rules on {scope} in {report.seconds:.1f} s: "
        f"{report.raised} raised, {report.resolved} resolved, {report.open} open"
    )


async def _sync(
    url: str,
    settings: Settings,
    config: Config,
    only: list[str] | None,
    full: bool,
    progress: bool,
    history_on_load: bool = False,
) -> tuple[list[SourceReport], RunReport | None]:
    from hub.cli.console import sync_progress
    from hub.jobs import SyncJob
    from hub.tuning import tune_gc

    if settings.gc_threshold:
        tune_gc(settings.gc_threshold)
    ids = only or [s.id for s in config.sources]
    with sync_progress(ids) if progress else nullcontext(None) as on_progress:
        async with SyncJob(
            url,
            config,
            concurrency=settings.sync_concurrency,
            on_progress=on_progress,
            freshness_seconds=settings.source_freshness_seconds,
            broker_url=settings.broker_url,
            history_on_load=history_on_load,
        ) as job:
            reports = await job.sync(only, full=full)
            return reports, job.discrepancy_report


def discrepancies_command(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    full: Annotated[
        bool,
        typer.Option(help="Every rule on every Pemda and year, not only what changed."),
    ] = False,
    init: Init = False,
) -> None:
    """Run the ketimpangan rules (after a sync they run on what changed) and print the open
    discrepancies per rule. Thresholds: the [discrepancies] table of rantai.toml."""
    from hub.cli.console import discrepancy_table, out
    from hub.discrepancies.engine import DiscrepancyEngine
    from hub.discrepancies.thresholds import ThresholdError, load_thresholds

    settings = load_settings(data_dir, config)
    try:
        thresholds = load_thresholds(settings.config_path)
    except (ThresholdError, OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    with store(settings, create=init) as url:
        run_migrations(url)
        report, counts = asyncio.run(_discrepancies(url, DiscrepancyEngine(thresholds), full))
    out.print(discrepancy_table(counts))
    typer.echo(discrepancy_line(report))


async def _discrepancies(
    url: str, engine: DiscrepancyEngine, full: bool
) -> tuple[RunReport, list[tuple[str, str, int, int]]]:
    import asyncpg

    from hub.discrepancies.rules import RULES

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        report = await engine.run(conn, full=full)
        rows = await conn.fetch(
            """SELECT rule, count(*) FILTER (WHERE resolved_at IS NULL) AS open,
                      count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved
               FROM discrepancy GROUP BY rule"""
        )
    finally:
        await conn.close()
    by_rule = {r["rule"]: (r["open"], r["resolved"]) for r in rows}
    counts = [
        (
            rule.code,
            engine.thresholds.severity_of(rule.code, rule.severity),
            *by_rule.get(rule.code, (0, 0)),
        )
        for rule in RULES
    ]
    return report, counts


@sources_app.command("check", short_help="Connect to every source and check its mapping.")
def sources_check(data_dir: DataDir = None, config: ConfigFile = None, init: Init = False) -> None:
    """Connect to every source and check its mapping, then a sample of its rows against the
    store and the reference data: the rows that would wait, per reason, with the mapping line
    to change. Prints file:line: reason for each problem (and file:line: warning: … for what
    would not stop a sync) and exits 1 if there is any problem."""
    from adapters.check import check_all

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    with store(settings, create=init) as url:
        run_migrations(url)
        results = asyncio.run(check_all(list(loaded.sources)))
        clean = [s for s in loaded.sources if not [p for p in results[s.id] if not p.warning]]
        if clean:
            found = asyncio.run(with_conn(url, partial(_preflight, clean)))
            for source_id, problems in found.items():
                results[source_id] += problems
    failed = 0
    for source_id, problems in results.items():
        for problem in problems:
            typer.echo(str(problem), err=True)
        errors = [p for p in problems if not p.warning]
        if errors:
            failed += 1
        else:
            warned = len(problems)
            plural = "" if warned == 1 else "s"
            typer.echo(f"ok  {source_id}" + (f" ({warned} warning{plural})" if warned else ""))
    if failed:
        typer.echo(f"{failed} of {len(results)} sources have problems", err=True)
        raise typer.Exit(code=1)


async def _preflight(
    sources: list[SourceMapping], conn: asyncpg.Connection
) -> dict[str, list[Problem]]:
    from hub.sync.preflight import preflight

    return await preflight(conn, sources)
