"""`rantai sync`, `rantai sources` and `rantai demo` as a user runs them (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from hub.migrate import run_async
from tests.conftest import Server, asyncpg_dsn
from tests.test_sync import build_estate

RANTAI = [sys.executable, "-m", "hub.cli"]


def rantai(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env["RANTAI_DATABASE_URL"] = url
    return subprocess.run(
        [*RANTAI, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


async def test_sync_and_sources_commands(server: Server, tmp_path: Path) -> None:
    url = await server.create_database("rantai_cli")
    estate = build_estate(tmp_path / "estate", url)
    config = str(estate.folder / "rantai.toml")

    before = rantai("sources", "--config", config, url=url)
    assert before.returncode == 0, before.stderr
    assert before.stdout.count("NEVER_SYNCED") == 2

    first = rantai("sync", "--config", config, "--no-progress", url=url)
    assert first.returncode == 0, first.stderr
    assert "plan" in first.stdout
    assert "finance" in first.stdout
    assert first.stdout.count(" OK ") == 2

    listed = rantai("sources", "--config", config, url=url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count(" OK ") == 2
    assert "NEVER_SYNCED" not in listed.stdout

    only = rantai("sync", "--config", config, "--source", "finance", url=url)
    assert only.returncode == 0, only.stderr
    assert "finance" in only.stdout
    assert "plan" not in only.stdout

    unknown = rantai("sync", "--config", config, "--source", "simda", url=url)
    assert unknown.returncode == 2
    assert "no source simda" in unknown.stderr
    assert "known: finance, plan" in unknown.stderr

    estate.finance.rename(estate.folder / "finance.moved")
    down = rantai("sync", "--config", config, "--no-progress", url=url)
    assert down.returncode == 1
    assert "DOWN" in down.stdout
    health = rantai("sources", "--config", config, url=url)
    assert health.returncode == 1  # a DOWN source is worth a non-zero exit in scripts
    assert "DOWN" in health.stdout
    assert "yes" in health.stdout  # its rows are stale


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_demo_generates_syncs_serves_and_keeps_changing(
    server: Server, tmp_path: Path
) -> None:
    """`rantai demo` from an empty data dir: estate, sync, API, simulator → hub."""
    url = await server.create_database("rantai_demo")
    prefix = f"legacy_d{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env["RANTAI_DATABASE_URL"] = url
    args = [
        *RANTAI, "demo", "--data-dir", str(tmp_path / "demo"), "--port", str(port),
        "--legacy-prefix", prefix, "--changes-per-minute", "60", "--sync-every", "1",
        "--national-api-port", str(free_port()),
    ]  # fmt: skip
    log = tmp_path / "demo.log"
    with log.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await _until(lambda: _ok(client, "/healthz"), "the demo to answer /healthz")
            query = {"query": "{ sources { id status rows } }"}

            async def all_synced() -> bool:
                body = (await client.post("/graphql", json=query)).json()
                sources = body["data"]["sources"]
                # The estate's 19 sources, Sumba Barat Daya's procurement through the
                # national API's stand-in, and the reference data the Pemda came from.
                return len(sources) == 21 and all(s["status"] == "OK" for s in sources)

            await _until(all_synced, "every source of the estate to be synced")
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                start = await conn.fetchval("SELECT max(id) FROM outbox")

                async def simulated_change_arrived() -> bool:
                    newer = await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE id > $1 AND source_id IS NOT NULL",
                        start,
                    )
                    return bool(newer)

                await _until(simulated_change_arrived, "a simulated change to reach the hub")
            finally:
                await conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
        dropped = await _drop_legacy(server, prefix)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "GraphiQL" in output
    assert "national API   http://127.0.0.1:" in output
    assert "legacy: " in output  # the simulator's log
    assert "sync: " in output
    manifest = json.loads((tmp_path / "demo" / "estate-manifest.json").read_text())
    assert manifest["scale"] == "small"
    # The legacy databases are named by --legacy-prefix: e-planning and procurement of
    # the province and two regencies, procurement of Sumba Barat Daya (flavour D keeps its
    # plan in its finance database; finance is on SQLite files here).
    assert len(dropped) == 7, dropped


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    try:
        return (await client.get(path)).status_code == 200
    except httpx.TransportError:
        return False


async def _until(check: object, what: str, limit: float = 120.0) -> None:
    """Poll `check` until true; the limit only keeps a broken demo from hanging the run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"gave up waiting for {what}")


async def _drop_legacy(server: Server, prefix: str) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(server.admin_url))
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')
        return [row[0] for row in names]
    finally:
        await conn.close()


async def test_serve_syncs_in_the_background(server: Server, tmp_path: Path) -> None:
    url = await server.create_database("rantai_serve")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path / "estate", url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env["RANTAI_DATABASE_URL"] = url
    args = [*RANTAI, "serve", "--port", str(port), "--config", str(estate.folder / "rantai.toml")]
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            *args, "--sync-every", "1", env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await _until(lambda: _ok(client, "/healthz"), "serve to answer /healthz")
            query = {"query": '{ subActivity(regionCode: "53", fiscalYear: 2025, '
                     'code: "1.02.02.1.01.0001") { plannedAmount } }'}  # fmt: skip

            async def planned(value: str) -> bool:
                body = (await client.post("/graphql", json=query)).json()
                sub = body["data"]["subActivity"]
                return sub is not None and sub["plannedAmount"] == value

            await _until(lambda: planned("1000000.00"), "the first background sync")
            estate.execute(
                estate.plan, "UPDATE subkeg SET pagu = 2500000, versi = 99 WHERE kode = ?",
                "1.02.02.1.01.0001",
            )  # fmt: skip
            await _until(lambda: planned("2500000.00"), "the change to be synced")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
    assert process.returncode == 0, log.read_text()
