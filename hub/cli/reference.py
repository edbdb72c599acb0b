"""`rantai reference`: the reference data in the store (Kemendagri region codes, the planning
nomenclature) and `rantai reference load FILE`, which adds a newer edition."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.common import (
    ConfigFile,
    DataDir,
    fail,
    load_settings,
    run_migrations,
    store,
    with_conn,
)

if TYPE_CHECKING:
    import asyncpg

    from hub.sync.editions import LoadReport

reference_app = typer.Typer(
    help="Reference data: Kemendagri region codes and the nomenclature of urusan, bidang "
    "urusan, program, kegiatan and sub kegiatan.",
    short_help="Reference data: Pemda codes and the planning nomenclature.",
    invoke_without_command=True,
)


@reference_app.callback()
def reference_list(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """The editions loaded: kind, name, first fiscal year, annexes, rows, origin, licence."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from hub.cli.console import out
    from hub.sync.editions import editions

    settings = load_settings(data_dir)
    with store(settings) as url:
        run_migrations(url)
        rows = asyncio.run(with_conn(url, editions))
    table = Table(title="reference", title_justify="left")
    for name in ("kind", "edition", "from", "annexes", "rows", "origin / licence"):
        table.add_column(name, overflow="fold")
    for r in rows:
        counts = r["counts"].get("rows", r["counts"])
        table.add_row(
            r["kind"],
            r["name"],
            str(r["first_fiscal_year"] or ""),
            ", ".join(r["annexes"]),
            ", ".join(f"{n:,} {level}" for level, n in counts.items()),
            f"{r['origin'] or ''}\n{r['licence'] or ''}".strip(),
        )
    out.print(table)


@reference_app.command(
    "load", short_help="Load a newer edition of the region codes or nomenclature."
)
def reference_load(
    file: Annotated[
        Path,
        typer.Argument(
            help="A regions CSV (code,name,level,parent_code) or a nomenclature CSV "
            "(level,code,name,parent_code), as in hub/reference/.",
            exists=True,
            dir_okay=False,
        ),
    ],
    edition: Annotated[
        str,
        typer.Option(help='The decree the file transcribes, e.g. "Kepmendagri 900.1-2850/2025".'),
    ],
    first_year: Annotated[
        int | None,
        typer.Option(
            "--first-year",
            help="Nomenclature: the first fiscal year the edition applies to (required).",
        ),
    ] = None,
    origin: Annotated[str | None, typer.Option(help="Where the file comes from.")] = None,
    licence: Annotated[str | None, typer.Option(help="Its licence or copyright status.")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Load a newer edition of the region codes or of the nomenclature (one transaction), then
    check the plan's codes against it (CODE_NOT_IN_NOMENCLATURE). Problems in the file are
    printed as file:line: reason and load nothing (exit 1)."""
    from hub import reference
    from hub.cli.sync import discrepancy_line
    from hub.discrepancies.engine import DiscrepancyEngine
    from hub.discrepancies.thresholds import ThresholdError, load_thresholds
    from hub.sync.editions import EditionError, load_nomenclature, load_regions

    kind = reference.kind_of_file(file)
    if kind is None:
        raise fail(
            f"{file}:1: the header must be code,name,level,parent_code (regions) or "
            "level,code,name,parent_code (nomenclature)"
        )
    if kind == "nomenclature" and first_year is None:
        raise fail(
            "a nomenclature edition needs --first-year (the first fiscal year it applies to)"
        )
    try:
        regions = reference.read_regions(file) if kind == "regions" else None
        nomenclature = reference.read_nomenclature(file) if kind == "nomenclature" else None
    except reference.ReferenceFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    settings = load_settings(data_dir, config)
    try:
        thresholds = load_thresholds(settings.config_path)
    except (ThresholdError, OSError, ValueError) as exc:
        raise fail(str(exc)) from None

    async def load(conn: asyncpg.Connection) -> tuple[LoadReport, str]:
        if regions is not None:
            report = await load_regions(
                conn, regions, edition=edition, origin=origin, licence=licence
            )
        elif nomenclature is not None and first_year is not None:
            report = await load_nomenclature(
                conn,
                nomenclature,
                edition=edition,
                first_fiscal_year=first_year,
                origin=origin,
                licence=licence,
            )
        else:  # pragma: no cover - the file's kind decided which was read
            raise RuntimeError("nothing was read")
        checked = await DiscrepancyEngine(thresholds).run(conn, full=True)
        return report, discrepancy_line(checked)

    with store(settings) as url:
        run_migrations(url)
        try:
            report, line = asyncio.run(with_conn(url, load))
        except EditionError as exc:
            raise fail(str(exc)) from None
    rows = ", ".join(f"{n:,} {level}" for level, n in report.counts.items())
    typer.echo(f"loaded {report.kind} edition {report.edition!r}: {rows}")
    if report.kind == "nomenclature":
        typer.echo(
            f"in force from fiscal year {report.first_fiscal_year} for the "
            f"{' and '.join(report.annexes) or 'no'} annex; {report.renamed} rows named by "
            "their code got their official name"
        )
    else:
        typer.echo(
            f"{report.removed} codes no longer listed; {report.renamed} Pemda created from the "
            "code list updated"
        )
    typer.echo(line)
