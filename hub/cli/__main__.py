"""`python -m hub.cli`: the `rantai` command."""

from hub.cli import app

app()
