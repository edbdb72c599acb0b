"""The ways to run Rantai in production, read as files (no Docker daemon runs where the
tests run; CI's scripts/package-check installs and serves the wheel, scripts/check lints
the Dockerfile with hadolint): the image runs the hub alone as a user of its own, and
compose keeps its secrets in the environment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_image_is_the_hub_alone_run_by_a_user_of_its_own() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final = dockerfile.split("\nFROM ")[-1]  # the stage that ships
    assert re.search(r"^USER 10001:10001$", final, re.MULTILINE)
    assert "HEALTHCHECK" in final
    assert "/readyz" in final
    copied = re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE)
    assert "estate" not in " ".join(copied)  # the demo's estate stays out
    assert "--no-cache-dir" in final
    assert 'VOLUME ["/var/lib/rantai"]' in final


def test_compose_takes_its_secrets_from_the_environment() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "hub"}
    for service in services.values():
        assert service["healthcheck"]["test"]
        assert service["volumes"]
    hub = services["hub"]
    assert hub["depends_on"]["db"]["condition"] == "service_healthy"
    environment = hub["environment"]
    assert environment["RANTAI_ENV"] == "production"
    assert environment["RANTAI_SECRET_KEY"].startswith("${RANTAI_SECRET_KEY:?")
    assert "${RANTAI_DB_PASSWORD:?" in environment["RANTAI_DATABASE_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${RANTAI_DB_PASSWORD:?")
    assert set(compose["volumes"]) == {"pgdata", "rantai-data"}


def test_the_systemd_unit_runs_the_hub_unprivileged() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    [unit] = re.findall(r"```ini\n(.*?)```", operations, re.DOTALL)
    assert "User=rantai" in unit
    assert "EnvironmentFile=/etc/rantai/rantai.env" in unit
    assert re.search(r"^ExecStart=/opt/rantai/bin/rantai serve ", unit, re.MULTILINE)
    assert "NoNewPrivileges=yes" in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit as written, but with this machine's rantai, user and an optional
    environment file: the paths and the user of the docs do not exist here."""
    operations = (ROOT / "docs" / "operations.md").read_text()
    [unit] = re.findall(r"```ini\n(.*?)```", operations, re.DOTALL)
    here = (
        unit.replace("/opt/rantai/bin/rantai", str(Path(sys.executable).with_name("rantai")))
        .replace("User=rantai", "User=root")
        .replace("Group=rantai", "Group=root")
        .replace("EnvironmentFile=/etc", "EnvironmentFile=-/etc")
    )
    path = tmp_path / "rantai.service"
    path.write_text(here)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
