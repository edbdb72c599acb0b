"""`rantai estate generate`: the demo's legacy estate."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from hub.cli.common import DataDir, Init, MariaDbUrl, fail, load_settings, need_estate, store

estate_app = typer.Typer(help="The demo's legacy estate.")


@estate_app.command("generate", short_help="Write a legacy estate, its rantai.toml and mappings.")
def estate_generate(
    data_dir: DataDir = None,
    scale: Annotated[str, typer.Option(help="small, province or ntt.")] = "small",
    seed: Annotated[int, typer.Option(help="The same seed, the same estate.")] = 1,
    mariadb_url: MariaDbUrl = None,
    init: Init = False,
) -> None:
    """Write a realistic legacy estate (e-planning, finance, procurement, monev), its
    rantai.toml and one mapping file per source into the data dir."""
    from estate.generate import generate_estate

    if scale not in ("small", "province", "ntt"):
        raise fail(f"--scale must be small, province or ntt, not {scale!r}")
    need_estate("rantai estate generate")
    settings = load_settings(data_dir)
    with store(settings, create=init) as url:
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
