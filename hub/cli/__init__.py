"""The `rantai` command: serve, demo, sync, sources, migrate, seed, estate, schema.

One module per group of commands; this one lists them in the order `rantai --help` shows.
Each command imports what it runs when it runs, so `rantai keys list` never loads the API.
"""

from __future__ import annotations

import typer

from hub.cli.demo import demo
from hub.cli.estate import estate_app
from hub.cli.keys import audit_app, keys_app
from hub.cli.reference import reference_app
from hub.cli.scaffold import sources_scaffold
from hub.cli.serve import schema_command, serve
from hub.cli.store import migrate_command, seed
from hub.cli.sync import discrepancies_command, sources_app, sync_command

app = typer.Typer(
    help="Rantai: one GraphQL API over the plan → budget → procurement → monev chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(demo)
app.command("migrate")(migrate_command)
app.command()(seed)
app.add_typer(sources_app, name="sources")
app.add_typer(reference_app, name="reference")
app.command("sync")(sync_command)
app.command("discrepancies")(discrepancies_command)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(estate_app, name="estate")
app.command("schema")(schema_command)

__all__ = ["app", "sources_scaffold"]
