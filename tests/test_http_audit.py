"""The GraphQL-over-HTTP audit of the npm package graphql-http (`serverAudits`) against the
real hub: no error, no warning, no notice. Needs Node.js and npm (the package is installed
into tests/http_audit/ from package-lock.json on first use)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import running

AUDIT = Path(__file__).parent / "http_audit"
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="the graphql-http audit needs Node.js and npm (Debian: apt-get install nodejs npm)",
)


def _install() -> None:
    if (AUDIT / "node_modules" / "graphql-http").exists():
        return
    assert NPM is not None
    result = subprocess.run(
        [NPM, "ci", "--no-audit", "--no-fund"],
        cwd=AUDIT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot install graphql-http from the npm registry: {result.stderr[-300:]}")


@pytest.fixture
async def hub_url(store_url: str) -> AsyncIterator[str]:
    app = create_app(store_url, Settings(database_url=store_url, dev_anonymous_role="public"))
    async with running(app) as port:
        yield f"http://127.0.0.1:{port}/graphql"


async def test_graphql_over_http_audit_passes_cleanly(hub_url: str) -> None:
    await asyncio.to_thread(_install)
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE, str(AUDIT / "audit.mjs"), hub_url, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    results = json.loads(out)
    assert len(results) > 50  # the whole audit ran
    failed = [r for r in results if r["status"] != "ok"]
    assert failed == [], json.dumps(failed, indent=1)
