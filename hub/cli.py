"""The `rantai` command: serve, demo, sync, sources, migrate, seed, estate, schema."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    from adapters.mapping import Config
    from hub.discrepancies.engine import DiscrepancyEngine, RunReport
    from hub.serving.app import Background
    from hub.sync.reports import SourceReport

app = typer.Typer(
    help="Rantai: one GraphQL API over the plan → budget → procurement → monev chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

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
        asyncio.run(_check(url))
        yield url
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    finally:
        if embedded is not None:
            embedded.stop()


async def _check(url: str) -> None:
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


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
    config: ConfigFile = None,
    sync_every: Annotated[
        float | None,
        typer.Option(
            help="Sync every source this often (seconds) while serving; 0: never. "
            "Default: RANTAI_SYNC_INTERVAL_SECONDS or 0.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the GraphQL API, GraphiQL, /healthz and /readyz (and sync, with --sync-every)."""
    settings = load_settings(data_dir, config)
    if sync_every is not None:
        settings = settings.model_copy(update={"sync_interval_seconds": sync_every})
    refuse_insecure(settings)
    with store(settings) as url:
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
        )

    return job


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    scale: Annotated[
        str, typer.Option(help="Estate size when one is generated: small, province or ntt.")
    ] = "small",
    seed: Annotated[int, typer.Option(help="The same seed, the same estate.")] = 1,
    simulate: Annotated[
        bool, typer.Option(help="Keep changing the legacy estate as offices would.")
    ] = True,
    changes_per_minute: Annotated[
        float, typer.Option(help="How often the simulator writes a change.")
    ] = 6.0,
    sync_every: Annotated[float, typer.Option(help="Seconds between two syncs.")] = 3.0,
    mariadb_url: MariaDbUrl = None,
    legacy_prefix: Annotated[
        str, typer.Option(help="Name prefix of the generated legacy databases.")
    ] = "legacy",
) -> None:
    """The quick-start demo: a legacy NTT estate (generated into the data dir if it has
    none), synced into the hub every few seconds and served, while a simulator keeps
    writing payments, monev updates, tender announcements and results and addenda into
    the legacy systems."""
    if scale not in ("small", "province", "ntt"):
        raise fail(f"--scale must be small, province or ntt, not {scale!r}")
    if sync_every <= 0:
        raise fail("--sync-every must be above 0")
    settings = load_settings(data_dir).model_copy(
        update={"config": None, "sync_interval_seconds": sync_every}
    )
    refuse_insecure(settings)
    with store(settings) as url:
        note = _demo_estate(settings, url, scale, seed, mariadb_url, legacy_prefix)
        run_migrations(url)
        keys = asyncio.run(_demo_keys(settings, url))
        config = load_sources(settings)
        background = [sync_job(url, settings, config, on_cycle=_DemoLog(len(config.sources)))]
        if simulate:
            background.append(_simulator_job(settings.data_dir, seed, changes_per_minute))
        base = f"http://{host}:{port}"
        simulating = (
            f"~{changes_per_minute:g} changes a minute into the legacy databases"
            if simulate
            else "off"
        )
        data_dir_arg = f" --data-dir {settings.data_dir}" if data_dir else ""
        labels = {role: label for role, _, _, label in DEMO_KEYS}
        key_lines = "\n".join(f"  {role:<9} {key}   ({labels[role]})" for role, key in keys.items())
        keys_first = keys["province"]
        typer.echo(
            f"""
Rantai demo: {note}; synced every {sync_every:g} s.
  dashboard      {base}/dashboard (province → Pemda → OPD, ketimpangan, live)
  GraphiQL       {base}/graphql   (example tabs: the whole chain, summaries, OPD, sources)
  health         {base}/healthz   {base}/readyz
  sources        rantai sources{data_dir_arg}
  ketimpangan    rantai discrepancies{data_dir_arg}
  simulator      {simulating}
API keys (send as Authorization: Bearer KEY; without one you are the public viewer):
{key_lines}
  e.g. curl -H 'Authorization: Bearer {keys_first}' -H 'Content-Type: application/json' \\
         -d '{{"query":"{{ sources {{ id status }} }}"}}' {base}/graphql
Watch changes arrive: in GraphiQL run  {{ sources {{ id status lastSuccessAt rows }} }}
Stop with Ctrl-C; data stays in {settings.data_dir} (delete it for a fresh estate).
""",
            err=True,
        )
        run_server(url, settings, host, port, background)


DEMO_KEYS = (
    ("province", None, None, "demo: province (everything)"),
    ("regency", "53.01", None, "demo: Kabupaten Kupang"),
    ("opd", "53.01", "1.02.0.00.0.00.01.0000", "demo: Dinas Kesehatan, Kabupaten Kupang"),
)


async def _demo_keys(settings: Settings, url: str) -> dict[str, str]:
    """One ready key per role, created once and kept in the data dir (demo only)."""
    import json

    import asyncpg

    from hub.auth import keys as api_keys

    path = settings.data_dir / "demo-keys.json"
    known: dict[str, str] = {}
    if path.exists():
        known = json.loads(path.read_text(encoding="utf-8"))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        live = {r["prefix"] for r in await api_keys.listing(conn) if r["revoked_at"] is None}
        for role, region, opd, label in DEMO_KEYS:
            parsed = api_keys.parse(known.get(role, ""))
            if parsed is None or parsed[0] not in live:
                known[role], _ = await api_keys.create(
                    conn, settings.secret_key, role, region, opd, label
                )
    finally:
        await conn.close()
    path.write_text(json.dumps(known, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return known


def refuse_insecure(settings: Settings) -> None:
    """Production refuses to serve with development secrets: say which, exit 2."""
    if settings.production and settings.production_problems():
        raise fail("refusing to serve in production: " + "; ".join(settings.production_problems()))


def _demo_estate(
    settings: Settings, url: str, scale: str, seed: int, mariadb_url: str | None, prefix: str
) -> str:
    """Generate the estate unless the data dir has one; say what the demo serves."""
    import json

    manifest = settings.data_dir / "estate-manifest.json"
    if manifest.exists() and settings.config_path.exists():
        info = json.loads(manifest.read_text())
        if (info.get("scale"), info.get("seed")) != (scale, seed):
            typer.echo(
                f"rantai: {settings.data_dir} already holds an estate of scale "
                f"{info.get('scale')} seed {info.get('seed')}; serving that one",
                err=True,
            )
        return f"estate of scale {info.get('scale')} ({len(info.get('sources', {}))} sources)"
    from estate.generate import generate_estate

    typer.echo(f"generating the legacy estate (scale {scale}) in {settings.data_dir} …", err=True)
    result = asyncio.run(
        generate_estate(
            settings.data_dir,
            scale=scale,
            seed=seed,
            pg_url=url,
            mariadb_url=mariadb_url,
            db_prefix=prefix,
        )
    )
    made = f"generated in {result.seconds:.1f} s"
    return f"estate of scale {scale} ({len(result.sources)} sources), {made}"


class _DemoLog:
    """Prints what each sync cycle brought in (the first one in full)."""

    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.cycles = 0

    def __call__(self, reports: Sequence[SourceReport]) -> None:
        self.cycles += 1
        down = [r for r in reports if r.status == "DOWN"]
        if self.cycles == 1:
            rows = sum(r.rows for r in reports)
            seconds = max((r.seconds for r in reports), default=0.0)
            typer.echo(
                f"sync: {rows:,} rows from {len(reports)} sources (first sync, {seconds:.1f} s)",
                err=True,
            )
        else:
            for r in reports:
                for s in r.streams:
                    parts = [
                        f"{n} {what}"
                        for n, what in (
                            (s.created, "new"),
                            (s.updated, "changed"),
                            (s.deleted, "gone"),
                        )
                        if n
                    ]
                    if parts:
                        typer.echo(f"sync: {r.source} {s.entity}: {', '.join(parts)}", err=True)
        for r in down:
            typer.echo(f"sync: {r.source} is DOWN: {r.error}", err=True)


def _simulator_job(data_dir: Path, seed: int, per_minute: float) -> Background:
    async def job(stop: asyncio.Event) -> None:
        from estate.simulate import Simulator

        simulator = Simulator(data_dir, seed=seed)
        try:
            await simulator.run(
                per_minute=per_minute,
                stop=stop,
                on_change=lambda c: typer.echo(f"legacy: {c.source} {c.summary}", err=True),
            )
        finally:
            await simulator.close()

    return job


@app.command("migrate")
def migrate_command(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Bring the store's tables to the latest (or the given) revision."""
    from hub import migrate

    settings = load_settings(data_dir)
    with store(settings) as url:
        try:
            migrate.upgrade(url, revision)
        except Exception as exc:
            raise fail(f"migration failed: {exc}") from None
        typer.echo(f"store at revision {revision}", err=True)


@app.command()
def seed(
    data_dir: DataDir = None,
    sub_activities: Annotated[int, typer.Option(help="How many sub kegiatan.")] = 3500,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same rows.")] = 1,
    fiscal_year: Annotated[int, typer.Option(help="Tahun anggaran.")] = 2025,
    if_empty: Annotated[bool, typer.Option(help="Do nothing when the store has data.")] = False,
) -> None:
    """Migrate, then fill an empty store with a synthetic province (canonical rows only).

    Until the legacy estate and sync land, this is what the demo shows in GraphiQL.
    """
    settings = load_settings(data_dir)
    with store(settings) as url:
        run_migrations(url)
        counts = asyncio.run(_seed(url, sub_activities, seed, fiscal_year, if_empty))
        if counts is None:
            typer.echo("store already has data; left as it is", err=True)
        else:
            summary = ", ".join(f"{n} {table}" for table, n in counts.items())
            typer.echo(f"seeded {summary}", err=True)


async def _seed(
    url: str, sub_activities: int, seed: int, fiscal_year: int, if_empty: bool
) -> dict[str, int] | None:
    import asyncpg
    from sqlalchemy.engine import make_url

    from estate.synthetic import seed_canonical

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM region)"):
            if if_empty:
                return None
            raise fail("the store already has data; seed only fills an empty store")
        async with conn.transaction():
            stats = await seed_canonical(
                conn, sub_activities=sub_activities, seed=seed, fiscal_year=fiscal_year
            )
        return stats.counts
    finally:
        await conn.close()


sources_app = typer.Typer(
    help="The legacy sources listed in rantai.toml.", invoke_without_command=True
)
app.add_typer(sources_app, name="sources")


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


@sources_app.callback()
def sources_list(ctx: typer.Context, data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """The configured sources and their health: status, stale, last success, rows, error."""
    if ctx.invoked_subcommand is not None:
        return
    from hub.console import out, sources_table

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    with store(settings) as url:
        run_migrations(url)
        rows = asyncio.run(_source_health(url, loaded, settings))
    out.print(sources_table(rows))
    if any(r["status"] == "DOWN" for r in rows):
        raise typer.Exit(code=1)


async def _source_health(url: str, config: Config, settings: Settings) -> list[dict[str, object]]:
    import asyncpg

    from hub.db import asyncpg_dsn
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
                "last_error": r["last_error"] if r else None,
                "entities": ", ".join(sorted({e.spec.name for e in source.entities})),
            }
        )
    return rows


@app.command("sync")
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
) -> None:
    """Sync the canonical store from the sources (incrementally); exit 1 if one is DOWN."""
    from hub.console import out, report_table

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    known = {s.id for s in loaded.sources}
    unknown = [s for s in source or [] if s not in known]
    if unknown:
        raise fail(
            f"no source {', '.join(unknown)} in {loaded.file} (known: {', '.join(sorted(known))})"
        )
    with store(settings) as url:
        run_migrations(url)
        reports, checked = asyncio.run(_sync(url, settings, loaded, source or None, full, progress))
    out.print(report_table(reports))
    if checked is not None:
        typer.echo(discrepancy_line(checked))
    if any(r.status == "DOWN" for r in reports):
        raise typer.Exit(code=1)


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
) -> tuple[list[SourceReport], RunReport | None]:
    from hub.console import sync_progress
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
        ) as job:
            reports = await job.sync(only, full=full)
            return reports, job.discrepancy_report


@app.command("discrepancies")
def discrepancies_command(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    full: Annotated[
        bool,
        typer.Option(help="Every rule on every Pemda and year, not only what changed."),
    ] = False,
) -> None:
    """Run the ketimpangan rules (after a sync they run on what changed) and print the open
    discrepancies per rule. Thresholds: the [discrepancies] table of rantai.toml."""
    from hub.console import discrepancy_table, out
    from hub.discrepancies import DiscrepancyEngine, ThresholdError, load_thresholds

    settings = load_settings(data_dir, config)
    try:
        thresholds = load_thresholds(settings.config_path)
    except (ThresholdError, OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    with store(settings) as url:
        run_migrations(url)
        report, counts = asyncio.run(_discrepancies(url, DiscrepancyEngine(thresholds), full))
    out.print(discrepancy_table(counts))
    typer.echo(discrepancy_line(report))


async def _discrepancies(
    url: str, engine: DiscrepancyEngine, full: bool
) -> tuple[RunReport, list[tuple[str, str, int, int]]]:
    import asyncpg

    from hub.discrepancies import RULES

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


@sources_app.command("check")
def sources_check(data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """Connect to every source and check its mapping; print file:line: reason for each
    problem and exit 1 if there is any."""
    from adapters.check import check_all

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    # Legacy databases of the demo estate may live in the embedded server: keep it up.
    with store(settings) if settings.database_url is None else nullcontext():
        results = asyncio.run(check_all(list(loaded.sources)))
    failed = 0
    for source_id, problems in results.items():
        if problems:
            failed += 1
            for problem in problems:
                typer.echo(str(problem), err=True)
        else:
            typer.echo(f"ok  {source_id}")
    if failed:
        typer.echo(f"{failed} of {len(results)} sources have problems", err=True)
        raise typer.Exit(code=1)


keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="province, regency, opd or public.")],
    region: Annotated[str | None, typer.Option(help="Kode Pemda (regency and opd roles).")] = None,
    opd: Annotated[str | None, typer.Option(help="Kode OPD (opd role).")] = None,
    label: Annotated[str | None, typer.Option(help="Who or what the key is for.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key; the key itself is printed once, on the last line."""
    from hub.auth import AuthError, check_role
    from hub.auth import keys as api_keys

    settings = load_settings(data_dir)
    try:
        check_role(role, region, opd)
    except AuthError as exc:
        raise fail(str(exc)) from None
    with store(settings) as url:
        run_migrations(url)
        key, prefix = asyncio.run(
            _with_conn(
                url, lambda c: api_keys.create(c, settings.secret_key, role, region, opd, label)
            )
        )
    scope = " ".join(x for x in (role, region, opd) if x)
    typer.echo(f"created API key {prefix} ({scope}); store it now, it is not shown again:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """Every key: prefix, role, scope, label, created, revoked."""
    from hub.auth import keys as api_keys

    settings = load_settings(data_dir)
    with store(settings) as url:
        run_migrations(url)
        rows = asyncio.run(_with_conn(url, api_keys.listing))
    for r in rows:
        state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
        scope = "/".join(x for x in (r["region_code"], r["opd_code"]) if x) or "-"
        typer.echo(
            f"rk_{r['prefix']}  {r['role']:<9} {scope:<32} {state:<24} "
            f"{r['created_at']:%Y-%m-%d %H:%M}  {r['label'] or ''}"
        )


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (rk_xxxxxxxx) or the key.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: it stops working at once, in every process."""
    from hub.auth import keys as api_keys

    settings = load_settings(data_dir)
    with store(settings) as url:
        run_migrations(url)
        done = asyncio.run(
            _with_conn(url, lambda c: api_keys.revoke(c, settings.secret_key, prefix))
        )
        if done:
            asyncio.run(_announce_revocation(settings, url, prefix))
    if not done:
        raise fail(f"no active key {prefix}")
    typer.echo(f"revoked {prefix}")


async def _announce_revocation(settings: Settings, url: str, prefix: str) -> None:
    """Tell every serving process at once (PostgreSQL's broker was told by the revoking
    transaction itself; Redis and NATS are told here). Open sockets also check their key
    again on their own, so a lost message costs at most that interval."""
    from hub.db import asyncpg_dsn
    from hub.events.broker import KEYS, PostgresBroker, broker_for

    broker = broker_for(settings.broker_url, asyncpg_dsn(url))
    if isinstance(broker, PostgresBroker):
        return
    try:
        await broker.publish(KEYS, prefix.removeprefix("rk_").split("_")[0])
    except Exception as exc:
        typer.echo(f"rantai: could not tell the {broker.kind} broker ({exc})", err=True)
    finally:
        await broker.close()


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Walk the audit chain; print every record that was edited and every break where one
    was removed or reordered, and exit 1 if there is any."""
    from hub.auth.audit import verify

    settings = load_settings(data_dir)
    with store(settings) as url:
        run_migrations(url)
        report = asyncio.run(_with_conn(url, lambda c: verify(c, settings.secret_key)))
    for record, why in report.problems:
        typer.echo(f"audit log: record {record}: {why}")
    if not report.intact:
        typer.echo(f"audit log broken: {len(report.problems)} problems in {report.checked} records")
        raise typer.Exit(code=1)
    typer.echo(f"audit log intact: {report.checked} records")


async def _with_conn(url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await work(conn)
    finally:
        await conn.close()


estate_app = typer.Typer(help="The demo's legacy estate.")
app.add_typer(estate_app, name="estate")


@estate_app.command("generate")
def estate_generate(
    data_dir: DataDir = None,
    scale: Annotated[str, typer.Option(help="small, province or ntt.")] = "small",
    seed: Annotated[int, typer.Option(help="The same seed, the same estate.")] = 1,
    mariadb_url: MariaDbUrl = None,
) -> None:
    """Write a realistic legacy estate (e-planning, finance, procurement, monev), its
    rantai.toml and one mapping file per source into the data dir."""
    from estate.generate import generate_estate

    if scale not in ("small", "province", "ntt"):
        raise fail(f"--scale must be small, province or ntt, not {scale!r}")
    settings = load_settings(data_dir)
    with store(settings) as url:
        result = asyncio.run(
            generate_estate(
                settings.data_dir, scale=scale, seed=seed, pg_url=url, mariadb_url=mariadb_url
            )
        )
    seeded = sum(result.discrepancies.values())
    typer.echo(
        f"estate written to {settings.data_dir}: {len(result.sources)} sources, "
        f"{result.counts.get('sub_activity', 0)} sub kegiatan, {seeded} seeded discrepancies "
        f"in {result.seconds:.1f} s\nsources: {result.config}\nmanifest: {result.manifest}",
        err=True,
    )


@app.command("schema")
def schema_command(data_dir: DataDir = None) -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import schema

    sys.stdout.write(schema.as_str() + "\n")


if __name__ == "__main__":
    app()
