"""The `rantai` command: clear one-line errors, the embedded default, the schema printout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.db import DatabaseError, EmbeddedPostgres, normalise_database_url

RANTAI = [sys.executable, "-m", "hub.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    full_env.update(env or {})
    return subprocess.run(
        [*RANTAI, *args], capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1/x", "must be a postgresql+asyncpg:// URL"),
        ("not a url", "is not a database URL"),
        ("postgresql://postgres@127.0.0.1:1/rantai", "cannot reach the database"),
    ],
)
def test_bad_database_url_is_one_line_and_exit_2(url: str, message: str) -> None:
    result = run("migrate", env={"RANTAI_DATABASE_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rantai: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_normalise_accepts_plain_postgresql_urls() -> None:
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(DatabaseError):
        normalise_database_url("sqlite:///x.db")


def test_schema_prints_the_sdl() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert "type SubActivity implements Node" in result.stdout
    assert "scalar Decimal" in result.stdout


def test_migrate_on_embedded_postgres_then_reuse_and_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = run("migrate", "--data-dir", str(data_dir))
    assert first.returncode == 0, first.stderr
    assert (data_dir / "pg" / "PG_VERSION").exists()
    # The server stopped with the last process that used it...
    assert not (data_dir / "pg" / "postmaster.pid").exists()
    # ...and the next command starts it again on the same data.
    second = run("migrate", "--data-dir", str(data_dir))
    assert second.returncode == 0, second.stderr


HOLDER = """
import sys
from pathlib import Path
from hub.db import EmbeddedPostgres
embedded = EmbeddedPostgres(Path(sys.argv[1]))
print(embedded.start(), flush=True)
sys.stdin.readline()
embedded.stop()
"""


def test_embedded_server_is_shared_and_stopped_by_the_last_holder(tmp_path: Path) -> None:
    pid_file = tmp_path / "pg" / "postmaster.pid"
    here = EmbeddedPostgres(tmp_path)
    url = here.start()
    # A holder that died without leaving does not keep the server alive.
    holders = tmp_path / "pg.holders"
    holders.write_text(holders.read_text() + "999999999\n")
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as other:
        assert other.stdout is not None
        assert other.stdin is not None
        assert other.stdout.readline().strip() == url  # reused, not a second server
        here.stop()
        assert pid_file.exists()  # the other process still holds it
        other.stdin.write("\n")
        other.stdin.close()
        assert other.wait(timeout=60) == 0
    assert not pid_file.exists()
