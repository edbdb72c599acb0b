"""`python -m hub.cli`: the `rantai` command."""

from hub.cli import app

if __name__ == "__main__":  # not when a worker process re-imports it (adapters/apart.py)
    app()
