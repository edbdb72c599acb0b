"""`rantai export`: open data written from the store, through the API's one request path."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from hub.cli.common import DataDir, fail, load_settings, store
from hub.settings import Settings

export_app = typer.Typer(help="Open data: OCDS.", no_args_is_help=True)


@export_app.command("ocds", short_help="A Pemda-year as an OCDS 1.1 release or record package.")
def export_ocds(
    region: Annotated[
        str, typer.Option(help="Kode Pemda, e.g. 53.71 (a province: and its regencies).")
    ],
    year: Annotated[int, typer.Option(help="Tahun anggaran.")],
    out: Annotated[
        Path | None, typer.Option(help="File to write; default: standard output.")
    ] = None,
    records: Annotated[bool, typer.Option(help="A record package instead of releases.")] = False,
    key: Annotated[
        str | None,
        typer.Option(
            help="Export what this API key may see (SP2D payments need a key that sees them); "
            "default: the public viewer, what is published anonymously."
        ),
    ] = None,
    base_url: Annotated[
        str, typer.Option(help="The hub's public address, for the package's `uri`.")
    ] = "http://127.0.0.1:8000",
    data_dir: DataDir = None,
) -> None:
    """Write the procurement chain of a Pemda and year as an OCDS 1.1 package (JSON)."""
    settings = load_settings(data_dir)
    kind = "records" if records else "releases"
    uri = f"{base_url.rstrip('/')}/ocds/{region}/{year}/{kind}.json"
    with store(settings) as url:
        body = asyncio.run(_export(url, settings, region, year, kind, uri, key))
    raw = orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
    if out is None:
        sys.stdout.buffer.write(raw)
    else:
        out.write_bytes(raw)
        count = len(body.get(kind) or ())
        typer.echo(f"wrote {count} {kind} of {region} {year} to {out}", err=True)


async def _export(
    url: str, settings: Settings, region: str, year: int, kind: str, uri: str, key: str | None
) -> dict[str, Any]:
    from hub.auth import AuthError
    from hub.serving.app import create_app
    from hub.serving.opendata.pages import ExportFailed
    from hub.serving.opendata.routes import ocds_document

    quiet = settings.model_copy(update={"dev_anonymous_role": "public"})
    app = create_app(url, quiet)
    async with app.router.lifespan_context(app):
        try:
            viewer = await app.state.gate.authenticate(f"Bearer {key}" if key else None, "cli")
        except AuthError as exc:
            raise fail(f"the key is not valid: {exc}") from None
        try:
            body = await ocds_document(app.state, viewer, region, year, kind, uri, "cli")
        except ExportFailed as failure:
            raise fail(f"the API refused the export: {failure.code}: {failure}") from None
    if body is None:
        raise fail(f"no Pemda {region!r} (or not visible with this key)")
    return body
