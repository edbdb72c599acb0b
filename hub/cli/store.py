"""`rantai migrate` and `rantai seed`: the store's tables, and synthetic rows in them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from hub.cli.common import DataDir, Init, fail, load_settings, need_estate, run_migrations, store


def migrate_command(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    init: Init = False,
) -> None:
    """Bring the store's tables to the latest (or the given) revision."""
    from hub import migrate

    settings = load_settings(data_dir)
    with store(settings, create=init) as url:
        try:
            migrate.upgrade(url, revision)
        except Exception as exc:
            raise fail(f"migration failed: {exc}") from None
        typer.echo(f"store at revision {revision}", err=True)


def seed(
    data_dir: DataDir = None,
    sub_activities: Annotated[int, typer.Option(help="How many sub kegiatan.")] = 3500,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same rows.")] = 1,
    fiscal_year: Annotated[int, typer.Option(help="Tahun anggaran.")] = 2025,
    if_empty: Annotated[
        bool, typer.Option(help="Do nothing when the store has data (else exit 2).")
    ] = False,
    init: Init = False,
) -> None:
    """Fill an empty store with a deterministic synthetic province, migrating it first:
    canonical rows only, no sources and no sync (estate/synthetic, which the tests and
    benchmarks use too)."""
    need_estate("rantai seed")
    settings = load_settings(data_dir)
    with store(settings, create=init) as url:
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
