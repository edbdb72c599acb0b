"""`rantai verify`: each source compared with the store, without writing to either
(`hub.sync.verify`)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.common import ConfigFile, DataDir, Init, fail, load_settings, load_sources, store

if TYPE_CHECKING:
    from adapters.mapping import SourceMapping
    from hub.sync.verify import GroupReport, Verification

EXIT_OK, EXIT_DIFFERENT, EXIT_UNREACHABLE = 0, 1, 2


def verify_command(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Verify only this source (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document with every group.")
    ] = False,
    init: Init = False,
) -> None:
    """Compare each source with the store without writing: per source, entity, Pemda and
    fiscal year, the row count, the sum of every money field and a hash of each row's key
    and mapped values. Prints the differences (the keys missing from the store, extra in it,
    or different, at most 20 per group) and keeps the outcome on the source
    (Source.verification). Exit 0 when every source matches, 1 when one differs, 2 when one
    cannot be read."""
    from hub.cli.common import run_migrations

    settings = load_settings(data_dir, config)
    loaded = load_sources(settings)
    known = {s.id: s for s in loaded.sources}
    unknown = [s for s in source or [] if s not in known]
    if unknown:
        raise fail(
            f"no source {', '.join(unknown)} in {loaded.file} (known: {', '.join(sorted(known))})"
        )
    chosen = [known[s] for s in source] if source else list(loaded.sources)
    with store(settings, create=init) as url:
        run_migrations(url)
        results = asyncio.run(_verify(url, chosen))
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in results], indent=2, ensure_ascii=False))
    else:
        for result in results:
            _print(result)
    if any(r.error for r in results):
        raise typer.Exit(code=EXIT_UNREACHABLE)
    if not all(r.ok for r in results):
        raise typer.Exit(code=EXIT_DIFFERENT)


async def _verify(url: str, sources: list[SourceMapping]) -> list[Verification]:
    import asyncpg

    from hub.db import asyncpg_dsn
    from hub.sync.verify import save, verify_source

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        results = []
        for source in sources:
            result = await verify_source(conn, source)
            await save(conn, result)
            results.append(result)
        return results
    finally:
        await conn.close()


def _print(result: Verification) -> None:
    if result.error is not None:
        typer.echo(f"{result.source}: cannot verify: {result.error}", err=True)
        return
    rows = sum(g.source.count for g in result.groups)
    if result.ok:
        typer.echo(
            f"{result.source}: ok: {len(result.groups)} groups, {rows} rows "
            f"({result.seconds:.1f} s)"
        )
        return
    totals = result.totals()
    typer.echo(
        f"{result.source}: DIFFERENT: {totals['missing']} missing from the store, "
        f"{totals['extra']} extra in it, {totals['different']} different "
        f"({result.seconds:.1f} s)"
    )
    for group in result.groups:
        if not group.ok:
            _print_group(group)


def _print_group(group: GroupReport) -> None:
    where = " ".join(str(x) for x in (group.region_code, group.fiscal_year) if x is not None)
    typer.echo(
        f"  {group.entity} {where}: source {group.source.count} rows, "
        f"store {group.store.count} rows"
    )
    for column in sorted(set(group.source.sums) | set(group.store.sums)):
        ours, theirs = group.source.sums.get(column), group.store.sums.get(column)
        if ours != theirs:
            typer.echo(f"    sum of {column}: source {ours}, store {theirs}")
    for label, keys in (
        ("missing", group.missing),
        ("extra", group.extra),
        ("different", group.different),
    ):
        if keys:
            more = f" (and {len(keys) - 20} more)" if len(keys) > 20 else ""
            typer.echo(f"    {label}: {', '.join(keys[:20])}{more}")
