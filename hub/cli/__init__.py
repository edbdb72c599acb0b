"""The `rantai` command: serve, demo, sync, sources, migrate, seed, estate, schema.

One module per group of commands; this one lists them in the order `rantai --help` shows.
Each command imports what it runs when it runs, so `rantai keys list` never loads the API.
"""

from __future__ import annotations

import typer

from hub.cli.demo import demo
from hub.cli.estate import estate_app
from hub.cli.export import export_app
from hub.cli.keys import audit_app, keys_app
from hub.cli.reference import reference_app
from hub.cli.scaffold import sources_scaffold
from hub.cli.serve import schema_command, serve
from hub.cli.store import migrate_command, seed
from hub.cli.sync import discrepancies_command, sources_app, sync_command
from hub.cli.verify import verify_command

app = typer.Typer(
    help="Rantai: one GraphQL API over the plan → budget → procurement → monev chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: rich markup ate "[discrepancies]" from help texts and printed a <bool>
    # placeholder beside every flag.
    rich_markup_mode=None,
)
app.command(short_help="Serve the API, GraphiQL, the dashboard and the console.")(serve)
app.command(short_help="The quick start: a live legacy estate, synced and served.")(demo)
app.command("migrate", short_help="Bring the store's tables to the latest revision.")(
    migrate_command
)
app.command(short_help="Fill an empty store with a synthetic province.")(seed)
app.add_typer(sources_app, name="sources")
app.add_typer(reference_app, name="reference")
app.command("sync", short_help="Sync the store; exit 1 if a source is DOWN, 3 if DEGRADED.")(
    sync_command
)
app.command("verify", short_help="Compare each source with the store; exit 1 if one differs.")(
    verify_command
)
app.command("discrepancies", short_help="Run the ketimpangan rules; print them per rule.")(
    discrepancies_command
)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(estate_app, name="estate")
app.add_typer(export_app, name="export")
app.command("schema", short_help="Print the GraphQL schema (SDL).")(schema_command)

__all__ = ["app", "sources_scaffold"]
