"""`rantai --help` and every command's help read as written: no markup eaten, no sentence
cut short, no type placeholders beside flags."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hub.cli import app

COMMAND = typer.main.get_command(app)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path; typer keeps its own click, so groups are known by `commands`."""
    found = [path]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            found += _commands(sub, (*path, name))
    return found


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("path", _commands(COMMAND), ids=lambda p: " ".join(p) or "rantai")
def test_help_reads_as_written(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    shown = _words(result.output)
    command: Any = COMMAND
    for name in path:
        command = command.commands[name]
    written = _words(command.help or "")
    assert written in shown  # the whole text, its [brackets] and sentences intact
    for option in command.params:
        if getattr(option, "help", None):
            assert _words(option.help) in shown, option.name
    assert "<bool>" not in result.output
    listed = result.output.partition("Commands:")[2]
    assert "..." not in listed  # no listed command's help cut short
