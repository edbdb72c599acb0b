"""`rantai sources scaffold`: a draft mapping file for a database or spreadsheet the hub has
never seen (adapters/scaffold.py), written for a person to review and then check."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qsl, urlsplit

import typer

from hub.cli.common import fail
from hub.cli.sync import sources_app

if TYPE_CHECKING:
    from adapters.http_json import HttpQuery
    from adapters.scaffold import Scaffold

SQL_SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "mysql": "mariadb",
    "mariadb": "mariadb",
    "sqlite": "sqlite",
}


def _endpoint(url: str) -> tuple[str, HttpQuery]:
    """A JSON API's endpoint URL as the base URL and the entity's path and parameters."""
    from adapters.http_json import HttpQuery

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    params = tuple((k, v) for k, v in parse_qsl(parts.query) if k not in ("limit", "cursor"))
    return base, HttpQuery(path=parts.path or "/", params=params, limit=100)


def describe(result: Scaffold) -> str:
    """What the source holds, table by table: columns, types, empty values, distinct
    values and samples, and the entity each table was read as."""
    read: dict[str, list[str]] = {}
    for entity, name in result.entities:
        read.setdefault(name, []).append(entity)
    lines: list[str] = []
    for table in result.tables:
        entities = ", ".join(read.get(table.name, [])) or "not recognised"
        lines.append(f"{table.name} ({table.rows:,} rows) → {entities}")
        width = max([len(c.name) for c in table.columns] + [6])
        for column in table.columns:
            samples = ", ".join(str(v) for v in column.samples[:3])
            lines.append(
                f"  {column.name:<{width}}  {column.type or '-':<12} "
                f"empty {column.nulls:>6,}  distinct {column.distinct:>6,}  {samples[:60]}"
            )
    return "\n".join(lines)


@sources_app.command("scaffold", short_help="Draft a mapping file from what a legacy source holds.")
def sources_scaffold(
    url: Annotated[
        str | None,
        typer.Option(
            help="A legacy database: postgresql://…, mysql://… or sqlite:///file; or a JSON "
            "API's endpoint, https://…/api/v1/rup/paket?kode_klpd=…&tahun=2025."
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(help="A workbook or CSV export, or a glob of them (monev/*.csv)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the draft here (paths in it become relative to it)."),
    ] = None,
    source_id: Annotated[
        str | None, typer.Option("--id", help="The source id; default: from the name.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A readable name.")] = None,
    region: Annotated[
        str | None,
        typer.Option(help="The Pemda code of the source (53.18); default: from the name."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="A JSON API: the environment variable holding its key."),
    ] = None,
    api_key_header: Annotated[
        str, typer.Option(help="A JSON API: the header its key goes in.")
    ] = "X-API-Key",
) -> None:
    """List the tables (or sheets) of a legacy source with their columns, types and sample
    values, and write a draft mapping: entities and fields guessed from the names SIPD,
    SiRUP, SPSE, BPKAD and e-Monev use, formats from the values, a watermark only where an
    updated-at column looks maintained. Every unsure guess is marked `# TODO:`."""
    from adapters.base import AdapterError, SourceConfig
    from adapters.http_json import HttpOptions
    from adapters.scaffold import SourceDraft, guess_region, mapping_location, scaffold
    from adapters.vocabulary import normal
    from hub.reference import read_regions

    if (url is None) == (path is None):
        raise fail("give exactly one of --url (a database) or --path (a workbook or CSV)")
    draft_extra: tuple[str, ...] = ()
    endpoints: tuple[HttpQuery, ...] = ()
    http: HttpOptions | None = None
    if url is not None and url.partition("://")[0] in ("http", "https"):
        kind, location, endpoint = "http-json", *_endpoint(url)
        endpoints = (endpoint,)
        label = Path(endpoint.path.rstrip("/")).name
        if api_key_env is not None:
            key = os.environ.get(api_key_env)
            if key is None:
                raise fail(f"--api-key-env: the environment has no {api_key_env}")
            http = HttpOptions(api_key=key, api_key_header=api_key_header)
            draft_extra = (
                f'api_key = "${{{api_key_env}}}"',
                f'api_key_header = "{api_key_header}"',
            )
    elif url is not None:
        scheme = url.partition("://")[0]
        sql_kind = SQL_SCHEMES.get(scheme)
        if sql_kind is None:
            raise fail(
                "--url must start with postgresql://, mysql://, sqlite:/// or http(s)://, "
                f"not {scheme}"
            )
        kind = sql_kind
        location = url
        label = Path(url.rsplit("/", 1)[-1].split("?", 1)[0]).stem
    elif path is not None:
        suffix = Path(path).suffix.lower()
        kind = {".xlsx": "xlsx", ".csv": "csv"}.get(suffix, "")
        if not kind:
            raise fail(f"--path must name .xlsx or .csv files, not {path!r}")
        location = mapping_location(path, out)
        label = Path(path).parent.name if "*" in Path(path).name else Path(path).stem
    else:  # pragma: no cover - one of the two was given (checked above)
        raise fail("give --url or --path")
    if kind == "sqlite" and out is not None:
        file = url.split(":///", 1)[1] if url else ""
        location = "sqlite:///" + mapping_location(file, out)
    regions = {r.code: r.name for r in read_regions()}
    region_todo = None
    if region is None:
        region = guess_region(label, regions)
        if region is not None:
            region_todo = f"read from the name {label!r}: {regions[region]}?"
    elif region not in regions:
        raise fail(f"--region {region!r} is not a Pemda of the reference data")
    identifier = source_id or normal(label).replace("_", "-")
    config = SourceConfig(
        id=identifier,
        kind=kind,
        url=location if kind == "http-json" else url,
        path=path if url is None else None,
        base_dir=Path.cwd(),
        http=http,
    )
    draft = SourceDraft(
        identifier,
        name or identifier,
        kind,
        location,
        region,
        region_todo,
        extra=draft_extra,
        endpoints=endpoints,
    )
    try:
        result = asyncio.run(scaffold(config, draft, datetime.now()))
    except AdapterError as exc:
        raise fail(str(exc)) from None
    listing = describe(result)
    if out is None:
        typer.echo(listing, err=True)
        typer.echo(result.text, nl=False)
    else:
        typer.echo(listing)
        out.write_text(result.text, encoding="utf-8")
    read = ", ".join(f"{table} → {entity}" for entity, table in result.entities)
    typer.echo(f"scaffold: {read or 'no entity recognised'}", err=True)
    if result.unrecognised:
        typer.echo(f"scaffold: not recognised: {', '.join(result.unrecognised)}", err=True)
    typer.echo(
        f"scaffold: {result.todos} lines marked TODO"
        + (f" in {out}" if out else "")
        + "; then run `rantai sources check`",
        err=True,
    )
