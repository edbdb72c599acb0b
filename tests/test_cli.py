"""The `rantai` command: clear one-line errors, the embedded default, the schema printout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.db import DatabaseError, EmbeddedPostgres, normalise_database_url

RANTAI = [sys.executable, "-m", "hub.cli"]


ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    full_env["PYTHONPATH"] = str(ROOT)  # `python -m hub.cli` from any folder
    full_env.update(env or {})
    return subprocess.run(
        [*RANTAI, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
        cwd=cwd,
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


def test_a_missing_trusted_documents_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "trusted.json"
    result = run("migrate", env={"RANTAI_TRUSTED_DOCUMENTS": str(missing)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rantai: refusing to start: RANTAI_TRUSTED_DOCUMENTS=")
    assert "Traceback" not in result.stderr


def test_a_variable_that_sets_nothing_is_named_with_its_likely_meaning(tmp_path: Path) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/rantai"
    result = run("migrate", env={"RANTAI_MAX_COSTS": "5", "RANTAI_DATABASE_URL": unreachable})
    assert "RANTAI_MAX_COSTS sets nothing (did you mean RANTAI_MAX_COST?)" in result.stderr


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
    first = run("migrate", "--data-dir", str(data_dir), "--init")
    assert first.returncode == 0, first.stderr
    assert (data_dir / "pg" / "PG_VERSION").exists()
    # The server stopped with the last process that used it...
    assert not (data_dir / "pg" / "postmaster.pid").exists(), first.stderr
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


def test_a_command_without_a_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    result = run("keys", "list", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"rantai: no store in {tmp_path.resolve() / '.rantai'}")
    assert "--init" in line
    assert list(tmp_path.iterdir()) == []


def test_the_nearest_data_dir_above_is_used_and_no_warning_is_printed(tmp_path: Path) -> None:
    made = run("keys", "create", "--role", "province", "--init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""  # no RuntimeDirWarning nor anything else on a normal run
    deeper = tmp_path / "a" / "b"
    deeper.mkdir(parents=True)
    listed = run("keys", "list", cwd=deeper)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    assert "province" in listed.stdout
    assert not (deeper / ".rantai").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "--port", "99999"), "'--port': Input should be less than or equal to 65535"),
        (("demo", "--port", "0"), "'--port': Input should be greater than or equal to 1"),
        (
            ("serve", "--sync-every", "-1"),
            "'--sync-every': Input should be greater than or equal to 0",
        ),
        (
            ("demo", "--sync-every", "0"),
            "'--sync-every': Input should be greater than or equal to 0.1",
        ),
    ],
)
def test_ports_and_intervals_are_checked(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_busy_port_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("demo", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert (
        line
        == f"rantai: port {port} on 127.0.0.1 is in use (another rantai?); stop it or give --port"
    )
    assert list(tmp_path.iterdir()) == []  # no store, no estate, no simulator


def test_the_first_cycle_says_whether_it_was_the_first_sync_or_a_catch_up() -> None:
    from hub.cli.demo import first_cycle_line
    from hub.sync.reports import SourceReport, StreamReport

    stream = StreamReport("sp2d", "payment", "watermark", created=3, updated=1)
    reports = [SourceReport("bpkad-53", "OK", streams=[stream], rows=120, seconds=0.4)]
    assert first_cycle_line(reports, first=True).startswith("sync: first sync of this store:")
    again = first_cycle_line(reports, first=False)
    assert again.startswith("sync: caught up with 1 sources in 0.4 s: 3 new, 1 changed, 0 gone")
    assert "first" not in again
