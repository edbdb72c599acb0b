"""Several `rantai serve` processes on one store: events cross processes, syncing survives one.

Process A and process B both serve and sync the same sources (one at a time per source, by
advisory lock). A subscriber on B sees every change; when A is killed, syncing goes on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets

from hub.auth import keys
from hub.db import asyncpg_dsn
from hub.events.outbox import parse_cursor
from hub.migrate import run_async
from hub.settings import Settings
from tests.conftest import Server, free_port
from tests.test_subscriptions import change_plan, events, next_message, subscribe
from tests.test_sync import Estate, build_estate

RANTAI = [sys.executable, "-m", "hub.cli"]


async def province_key(url: str) -> str:
    """An API key of the province role in the store at `url` (the processes run without
    credentials-free access: a request without a key is the public viewer)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        key, _ = await keys.create(conn, Settings().secret_key, "province", label="test")
    finally:
        await conn.close()
    return key


async def serve(url: str, config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env["RANTAI_DATABASE_URL"] = url
    args = ["serve", "--port", str(port), "--config", str(config), "--sync-every", "0.5"]
    with log.open("w") as sink:
        return await asyncio.create_subprocess_exec(
            *RANTAI, *args, env=env, stdout=sink, stderr=subprocess.STDOUT
        )


async def test_events_cross_processes_and_syncing_survives_a_killed_process(
    server: Server, tmp_path: Path
) -> None:
    url = await server.create_database("rantai_procs")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path / "estate", url)
    config = estate.folder / "rantai.toml"
    port_a, port_b = free_port(), free_port()
    key = await province_key(url)
    a = await serve(url, config, port_a, tmp_path / "a.log")
    b = await serve(url, config, port_b, tmp_path / "b.log")
    try:
        async with subscribe(
            f"ws://127.0.0.1:{port_b}/graphql", {}, wait_for_server=True, key=key
        ) as ws:
            # Both processes sync; whichever holds a source's lock writes, B's feed sees it.
            await asyncio.sleep(1.5)
            change_plan(estate, 8_000_000, 90)
            first = await _until_sub_activity(ws)
            assert first["changedFields"] == ["plannedAmount"]

            a.send_signal(signal.SIGKILL)  # no clean shutdown: its locks die with its sessions
            await a.wait()
            change_plan(estate, 8_100_000, 91)
            second = await _until_sub_activity(ws)
            assert second["cursor"] != first["cursor"]
    finally:
        for process in (a, b):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 60)
    rows = await estate.fetch(
        "SELECT count(*) FROM change_history WHERE entity = 'sub_activity' AND op = 'UPDATED'"
    )
    assert rows[0][0] == 2  # each change synced once, never by both processes


async def _until_sub_activity(ws: websockets.ClientConnection) -> dict[str, Any]:
    while True:
        [event] = await events(ws, 1)
        if event["entity"] == "SubActivity" and event["op"] == "UPDATED":
            return event


async def test_reconnect_after_a_burst_of_1000_changes_gets_exactly_the_missed(
    server: Server, tmp_path: Path
) -> None:
    url = await server.create_database("rantai_burst")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path / "estate", url)
    await estate.sync()
    key = await province_key(url)
    port = free_port()
    b = await serve(url, estate.folder / "rantai.toml", port, tmp_path / "b.log")
    ws_url = f"ws://127.0.0.1:{port}/graphql"
    only_payments = {"filter": {"entities": ["Payment"]}}
    try:
        async with subscribe(ws_url, only_payments, wait_for_server=True, key=key) as ws:
            await asyncio.sleep(1)
            sql = "UPDATE sp2d SET nilai = nilai + 1 WHERE nomor LIKE '00001/%'"
            estate.execute(estate.finance, sql)
            [last] = await events(ws, 1)
        rows = [
            (2025, f"B{n:05d}/SP2D/LS/2025", "2025-07-01", 1000 + n, "1.02.02.1.01.0001",
             "5.2.02.01.01.0001")
            for n in range(1000)
        ]  # fmt: skip
        with sqlite3.connect(estate.finance) as conn:
            conn.executemany("INSERT INTO sp2d VALUES (?, ?, ?, ?, ?, ?)", rows)
        # Let the burst be synced while nobody listens.
        await _until_count(estate, 1005)
        async with subscribe(ws_url, {**only_payments, "after": last["cursor"]}, key=key) as ws:
            missed = await events(ws, 1000)
            numbers = [e["entityId"] for e in missed]
            assert len(set(numbers)) == 1000
            assert all(e["op"] == "CREATED" for e in missed)
            positions = [parse_cursor(e["cursor"]) for e in missed]
            assert positions == sorted(positions)  # commit order
            assert parse_cursor(last["cursor"]) < positions[0]
            with pytest.raises(TimeoutError):
                await next_message(ws, wait=1.5)  # nothing more, nothing twice
    finally:
        b.send_signal(signal.SIGTERM)
        await asyncio.wait_for(b.wait(), 60)
    history = await estate.fetch(
        "SELECT count(*) FILTER (WHERE op = 'CREATED'), count(*) FILTER (WHERE op = 'LOADED') "
        "FROM change_history WHERE entity = 'payment'"
    )
    # The burst one by one; the first load's five payments are one baseline (LOADED).
    assert tuple(history[0]) == (1000, 1)


async def _until_count(estate: Estate, count: int) -> None:
    for _ in range(600):
        rows = await estate.fetch("SELECT count(*) FROM payment")
        if rows[0][0] >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the burst was not synced: {rows[0][0]} payments")
