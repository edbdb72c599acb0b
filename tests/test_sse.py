"""Subscriptions and queries over Server-Sent Events (graphql-sse, distinct connections
mode) on /graphql/stream: the npm client `graphql-sse` follows `changes` and resumes after
its connection is dropped with nothing missed; the stream's framing, refusals and errors.
The client test needs Node.js and npm (installed into tests/sse_client/ from its lock file
on first use) and skips, saying why, without them."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import Server, free_port, running
from tests.test_subscriptions import CHANGES, change_plan
from tests.test_sync import Estate, build_estate

CLIENT = Path(__file__).parent / "sse_client"
NODE, NPM = shutil.which("node"), shutil.which("npm")
needs_node = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="the graphql-sse client needs Node.js and npm (Debian: apt-get install nodejs npm)",
)


def _install() -> None:
    if (CLIENT / "node_modules" / "graphql-sse").exists():
        return
    assert NPM is not None
    result = subprocess.run(
        [NPM, "ci", "--no-audit", "--no-fund"],
        cwd=CLIENT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot install graphql-sse from the npm registry: {result.stderr[-300:]}")


@dataclass
class Hub:
    estate: Estate
    port: int

    @property
    def stream_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql/stream"


@pytest.fixture
async def hub(server: Server, tmp_path: Path) -> AsyncIterator[Hub]:
    url = await server.create_database("rantai_sse")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path / "estate", url)
    await estate.sync()
    app = create_app(url, Settings(database_url=url))
    async with running(app) as port:
        yield Hub(estate, port)


class DroppingProxy:
    """A TCP proxy in front of the hub that can drop every connection and refuse new ones
    for a while: what a regency network's proxy does to a long request."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def drop(self) -> None:
        """Every open connection is cut, and the port refuses connections until `start`."""
        assert self.server is not None
        self.server.close()
        for task in list(self.pipes):
            task.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)
        await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.pipes.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
            self.pipes.discard(task)


class Follower:
    """The graphql-sse npm client following one subscription, in its own process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, **options: Any) -> Follower:
        await asyncio.to_thread(_install)
        assert NODE is not None
        process = await asyncio.create_subprocess_exec(
            NODE, str(CLIENT / "follow.mjs"), json.dumps(options),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def line(self, wait: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), wait)
        if not raw:
            assert self.process.stderr is not None
            raise AssertionError((await self.process.stderr.read()).decode())
        value: dict[str, Any] = json.loads(raw)
        return value

    async def changes(self, count: int) -> list[dict[str, Any]]:
        out = []
        while len(out) < count:
            line = await self.line()
            assert "error" not in line, line
            if "result" in line:
                assert "errors" not in line["result"], line
                out.append(line["result"]["data"]["changes"])
        return out

    async def until_connected(self, reconnected: bool) -> None:
        while (line := await self.line()).get("connected") is not True or (
            line["reconnected"] is not reconnected
        ):
            assert "error" not in line, line

    async def stop(self) -> None:
        with suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


@needs_node
async def test_the_graphql_sse_client_resumes_after_a_dropped_connection_missing_nothing(
    hub: Hub,
) -> None:
    proxy = DroppingProxy(hub.port)
    await proxy.start()
    url = f"http://127.0.0.1:{proxy.port}/graphql/stream"
    follower = await Follower.start(url=url, query=CHANGES, variables={})
    try:
        await follower.until_connected(reconnected=False)
        await asyncio.sleep(0.3)  # the subscription is registered on the feed
        [(before,)] = await hub.estate.fetch("SELECT max(id) FROM outbox")
        change_plan(hub.estate, 7_100_000, 81)
        await hub.estate.sync()
        [first] = await follower.changes(1)
        await proxy.drop()
        # While the connection is down: every payment changes (5 events).
        hub.estate.execute(hub.estate.finance, "UPDATE sp2d SET nilai = nilai + 7")
        await hub.estate.sync()
        await proxy.start()
        await follower.until_connected(reconnected=True)
        missed = await follower.changes(5)
        change_plan(hub.estate, 7_200_000, 82)  # then live, on the resumed stream
        await hub.estate.sync()
        [live] = await follower.changes(1)
    finally:
        await follower.stop()
        await proxy.drop()
    assert first["entity"] == "SubActivity"
    assert {e["entity"] for e in missed} == {"Payment"}
    assert live["entity"] == "SubActivity"
    # Every change written since the client subscribed reached it, once.
    [(written,)] = await hub.estate.fetch("SELECT count(*) FROM outbox WHERE id > $1", before)
    cursors = [e["cursor"] for e in (first, *missed, live)]
    assert len(set(cursors)) == len(cursors) == written == 7


async def _stream(
    url: str, body: dict[str, Any], **headers: str
) -> tuple[httpx.Response, list[tuple[str, str]]]:
    """POST one operation to /graphql/stream; the response and its events (name, data)."""
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST", url, json=body, headers={"Accept": "text/event-stream", **headers}
        ) as response,
    ):
        events: list[tuple[str, str]] = []
        if response.headers["content-type"].startswith("text/event-stream"):
            name = data = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data:"):
                    data = line.removeprefix("data:").strip()
                elif line == "" and name:
                    events.append((name, data))
                    if name == "complete":
                        break
                    name = data = ""
        else:
            await response.aread()
        return response, events


async def test_a_query_over_the_stream_is_one_next_then_complete(hub: Hub) -> None:
    response, events = await _stream(hub.stream_url, {"query": "{ regions { code } }"})
    assert response.status_code == 200
    assert [name for name, _ in events] == ["next", "complete"]
    assert {"code": "53"} in json.loads(events[0][1])["data"]["regions"]


async def test_a_bad_cursor_ends_the_stream_with_its_code(hub: Hub) -> None:
    body = {"query": CHANGES, "variables": {"after": "not-a-cursor"}}
    response, events = await _stream(hub.stream_url, body)
    assert response.status_code == 200
    assert [name for name, _ in events] == ["next", "complete"]
    assert json.loads(events[0][1])["errors"][0]["extensions"]["code"] == "BAD_CURSOR"


async def test_a_document_that_does_not_validate_is_a_400_with_its_errors(hub: Hub) -> None:
    response, events = await _stream(hub.stream_url, {"query": "subscription { nope }"})
    assert (response.status_code, events) == (400, [])
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_an_invalid_key_is_401_and_no_event_stream_is_406(hub: Hub) -> None:
    response, _ = await _stream(
        hub.stream_url, {"query": CHANGES}, Authorization="Bearer rk_nope_nope"
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with httpx.AsyncClient() as client:
        plain = await client.post(hub.stream_url, json={"query": "{ regions { code } }"})
    assert plain.status_code == 406
