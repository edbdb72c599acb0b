"""`rantai demo`: a generated legacy estate, synced every few seconds and served, while a
simulator keeps changing it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.common import (
    DataDir,
    MariaDbUrl,
    Port,
    check_port,
    command,
    fail,
    load_settings,
    load_sources,
    need_estate,
    refuse_insecure,
    run_migrations,
    store,
)
from hub.cli.serve import run_server, sync_job
from hub.db import asyncpg_dsn
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.serving.app import Background
    from hub.sync.reports import SourceReport


def demo(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Port = 8000,
    scale: Annotated[
        str, typer.Option(help="Estate size when one is generated: small, province or ntt.")
    ] = "small",
    seed: Annotated[int, typer.Option(help="The same seed, the same estate.")] = 1,
    simulate: Annotated[
        bool, typer.Option(help="Keep changing the legacy estate as offices would.")
    ] = True,
    changes_per_minute: Annotated[
        float, typer.Option(min=0.1, help="How often the simulator writes a change (0.1 or more).")
    ] = 6.0,
    sync_every: Annotated[
        float, typer.Option(min=0.1, help="Seconds between two syncs (0.1 or more).")
    ] = 3.0,
    mariadb_url: MariaDbUrl = None,
    legacy_prefix: Annotated[
        str, typer.Option(help="Name prefix of the generated legacy databases.")
    ] = "legacy",
    national_api: Annotated[
        bool,
        typer.Option(
            help="Serve Sumba Barat Daya's procurement through a stand-in for the national "
            "API (INAPROC v1) and sync it from there."
        ),
    ] = True,
    national_api_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the national API's stand-in.")
    ] = 8765,
    national_api_rate: Annotated[
        float,
        typer.Option(min=0.1, help="Requests a second the stand-in answers before its 429s."),
    ] = 20.0,
) -> None:
    """The quick-start demo: a legacy NTT estate (generated into the data dir if it has
    none), synced into the hub every few seconds and served, while a simulator keeps
    writing payments, monev updates, tender announcements and results and addenda into the
    legacy systems. Creates the embedded store if there is none."""
    # Every argument is checked before anything starts: a busy port must not let a second
    # demo sync, or its simulator write into the legacy databases, before it fails.
    if scale not in ("small", "province", "ntt"):
        raise fail(f"--scale must be small, province or ntt, not {scale!r}")
    need_estate("rantai demo")
    check_port(host, port)
    if national_api:
        check_port("127.0.0.1", national_api_port)
    settings = load_settings(data_dir).model_copy(
        update={"config": None, "sync_interval_seconds": sync_every}
    )
    refuse_insecure(settings)
    with store(settings, create=True) as url:
        note = _demo_estate(settings, url, scale, seed, mariadb_url, legacy_prefix)
        api_line = "off"
        if national_api:
            api_line = _route_national_api(settings.data_dir, national_api_port)
        run_migrations(url)
        keys = asyncio.run(_demo_keys(settings, url))
        config = load_sources(settings)
        synced_before = asyncio.run(_synced_before(url))
        on_cycle = _DemoLog(len(config.sources), first=not synced_before)
        background = [sync_job(url, settings, config, on_cycle=on_cycle)]
        if national_api:
            background.append(
                _national_api_job(settings.data_dir, national_api_port, national_api_rate)
            )
        if simulate:
            background.append(_simulator_job(settings.data_dir, seed, changes_per_minute))
        base = f"http://{host}:{port}"
        simulating = (
            f"~{changes_per_minute:g} changes a minute into the legacy databases"
            if simulate
            else "off"
        )
        data_dir_arg = f" --data-dir {settings.data_dir}" if data_dir else ""
        me = command()
        labels = {role: label for role, _, _, label in DEMO_KEYS}
        key_lines = "\n".join(f"  {role:<9} {key}   ({labels[role]})" for role, key in keys.items())
        keys_first = keys["province"]
        typer.echo(
            f"""
Rantai demo: {note}; synced every {sync_every:g} s.
  dashboard      {base}/dashboard (province → Pemda → OPD, ketimpangan, live)
  GraphiQL       {base}/graphql   (example tabs: the whole chain, summaries, OPD, sources)
  health         {base}/healthz   {base}/readyz
  operators      {base}/admin     (keys, sources, sync now, audit log: needs an admin key)
  sources        {me} sources{data_dir_arg}
  ketimpangan    {me} discrepancies{data_dir_arg}
  simulator      {simulating}
  national API   {api_line}
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
    ("admin", None, None, "demo: operator (konsol /admin)"),
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


async def _synced_before(url: str) -> bool:
    """Whether any source of this store was ever synced (a restart, not a first run)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM source WHERE last_synced_at IS NOT NULL)"
            )
        )
    finally:
        await conn.close()


def first_cycle_line(reports: Sequence[SourceReport], *, first: bool) -> str:
    """What this process's first sync did, honestly: the store's first sync, or a catch-up
    with what changed since the last run."""
    rows = sum(r.rows for r in reports)
    created = sum(s.created for r in reports for s in r.streams)
    updated = sum(s.updated for r in reports for s in r.streams)
    deleted = sum(s.deleted for r in reports for s in r.streams)
    seconds = max((r.seconds for r in reports), default=0.0)
    if first:
        return (
            f"sync: first sync of this store: {rows:,} rows from {len(reports)} sources "
            f"in {seconds:.1f} s"
        )
    return (
        f"sync: caught up with {len(reports)} sources in {seconds:.1f} s: {created:,} new, "
        f"{updated:,} changed, {deleted:,} gone since the last run; the store holds {rows:,} rows"
    )


class _DemoLog:
    """Prints what each sync cycle brought in (the first one in full)."""

    def __init__(self, sources: int, *, first: bool) -> None:
        self.sources = sources
        self.first = first
        self.cycles = 0

    def __call__(self, reports: Sequence[SourceReport]) -> None:
        self.cycles += 1
        down = [r for r in reports if r.status == "DOWN"]
        if self.cycles == 1:
            typer.echo(first_cycle_line(reports, first=self.first), err=True)
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


def _route_national_api(data_dir: Path, port: int) -> str:
    """Route the API Pemda's procurement through the stand-in; what the banner says."""
    import os

    from estate.national_api import API_REGION, DEMO_KEY, KEY_ENV, route_through_api

    os.environ.setdefault(KEY_ENV, DEMO_KEY)
    base = f"http://127.0.0.1:{port}/api/v1"
    source_id = route_through_api(data_dir, base)
    return (
        f"{base}/rup/paket-penyedia, /tender/pengumuman (INAPROC v1 stand-in for "
        f"{API_REGION}: source {source_id}; key: ${KEY_ENV})"
    )


def _national_api_job(data_dir: Path, port: int, rate: float) -> Background:
    async def job(stop: asyncio.Event) -> None:
        import json
        import os

        from estate.inaproc import inaproc_app, serving
        from estate.national_api import API_REGION, DEMO_KEY, KEY_ENV, LegacyProcurement

        manifest = json.loads((data_dir / "estate-manifest.json").read_text(encoding="utf-8"))
        legacy = manifest["sources"][f"bpbj-{API_REGION.replace('.', '')}"]["url"]
        provider = LegacyProcurement(legacy, API_REGION)
        app = inaproc_app(provider, api_key=os.environ.get(KEY_ENV, DEMO_KEY), rate=rate)
        try:
            async with serving(app, "127.0.0.1", port):
                await stop.wait()
        finally:
            await provider.close()

    return job


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
