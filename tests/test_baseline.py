"""An initial load is a baseline: no per-row CREATED history and outbox rows, one LOADED
event per stream, Pemda and fiscal year; per-row history after it; `--history-on-load`
keeps one CREATED change per row; a load killed half-way resumes as a baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.store.codec import encode_cursor
from hub.sync import SyncProgress
from tests.conftest import Server, running
from tests.test_subscriptions import next_message
from tests.test_sync import YEAR, Estate, build_estate

LOADED = """SELECT h.entity, h.natural_key, h.after, o.entity AS type, o.region_code,
    o.fiscal_year, o.changed_fields, o.source_id, o.entity_id
FROM change_history h JOIN outbox o ON o.history_id = h.id
WHERE h.op = 'LOADED' AND o.op = 'LOADED' ORDER BY h.id"""


class Crash(Exception):
    pass


async def _estate(server: Server, tmp_path: Path, name: str, batch: int = 1000) -> Estate:
    url = await server.create_database("rantai_baseline")
    await run_async(url, "upgrade", "head")
    return build_estate(tmp_path / name, url, batch=batch)


async def _created(estate: Estate) -> dict[str, int]:
    rows = await estate.fetch(
        "SELECT entity, count(*) FROM change_history WHERE op = 'CREATED' GROUP BY 1"
    )
    return {r[0]: r[1] for r in rows}


async def _loaded(estate: Estate) -> dict[str, tuple[Any, ...]]:
    out = {}
    for r in await estate.fetch(LOADED):
        after = json.loads(r["after"]) if isinstance(r["after"], str) else r["after"]
        assert r["entity_id"] == 0
        assert r["changed_fields"] == []
        out[r["entity"]] = (r["type"], r["region_code"], r["fiscal_year"], after["count"],
                            r["source_id"])  # fmt: skip
    return out


async def test_a_first_load_is_one_loaded_event_per_stream_pemda_and_year(
    server: Server, tmp_path: Path
) -> None:
    estate = await _estate(server, tmp_path, "first")
    reports = await estate.sync()
    assert reports["plan"].streams[-1].created > 0
    created = await _created(estate)
    for entity in ("sub_activity", "budget_line", "payment", "opd", "program", "activity"):
        assert entity not in created, created
    loaded = await _loaded(estate)
    assert loaded["sub_activity"] == ("SubActivity", "53", YEAR, 7, "plan")
    assert loaded["budget_line"] == ("BudgetLine", "53", YEAR, 8, "finance")
    assert loaded["payment"] == ("Payment", "53", YEAR, 5, "finance")
    history = await estate.value("SELECT count(*) FROM change_history")
    assert history == await estate.value("SELECT count(*) FROM outbox")

    # Per-row history starts after the baseline.
    estate.sub_activity("1.02.02.1.01.0050", "Sub kegiatan baru", 5_000_000, 99)
    await estate.sync()
    assert (await _created(estate)).get("sub_activity") == 1
    assert len(await estate.fetch(LOADED)) == len(loaded)  # no second baseline


async def test_history_on_load_keeps_a_created_change_per_row(
    server: Server, tmp_path: Path
) -> None:
    estate = await _estate(server, tmp_path, "per-row")
    await estate.sync(history_on_load=True)
    created = await _created(estate)
    assert (created["sub_activity"], created["budget_line"], created["payment"]) == (7, 8, 5)
    assert await _loaded(estate) == {}


async def test_a_load_killed_half_way_resumes_as_a_baseline(server: Server, tmp_path: Path) -> None:
    estate = await _estate(server, tmp_path, "killed", batch=2)

    def crash(event: SyncProgress) -> None:
        if event.stream.startswith("sub_activity") and not event.done and event.read >= 4:
            raise Crash

    with pytest.raises(Crash):
        await estate.sync(on_progress=crash, concurrency=1)
    stored = await estate.value("SELECT count(*) FROM sub_activity")
    assert 0 < stored < 7
    assert await estate.value("SELECT loading FROM sync_state WHERE stream = 'sub_activity:subkeg'")
    await estate.sync()
    assert "sub_activity" not in await _created(estate)
    assert (await _loaded(estate))["sub_activity"] == ("SubActivity", "53", YEAR, 7, "plan")
    assert not await estate.value(
        "SELECT loading FROM sync_state WHERE stream = 'sub_activity:subkeg'"
    )


async def test_subscribers_get_loaded_with_its_count(server: Server, tmp_path: Path) -> None:
    estate = await _estate(server, tmp_path, "live")
    app = create_app(estate.store_url, Settings(database_url=None))
    query = """subscription ($after: String) {
      changes(after: $after, filter: {entities: ["SubActivity"]}) {
        entity op count regionCode fiscalYear changes { field }
      }
    }"""
    async with running(app) as port:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        )
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": query, "variables": {"after": encode_cursor("change", [0])}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        await estate.sync()
        message = await next_message(ws, wait=30)
        await ws.close()
    assert message["payload"]["data"]["changes"] == {
        "entity": "SubActivity",
        "op": "LOADED",
        "count": 7,
        "regionCode": "53",
        "fiscalYear": YEAR,
        "changes": [],
    }
