"""The abuse section of bench/faults.py: hostile clients against a production hub, while a
prober asks /healthz every 20 ms and the hub's resident memory is read from /proc.

    .venv/bin/python -m bench.faults --sections abuse

Attacks, one after another, each for a few seconds:

* fragment bombs: a 30-level document whose fragments spread the next one twice (2^30
  fields once expanded, under 1 kB), over HTTP and over WebSocket, as fast as the attacker
  can send them;
* big WebSocket messages: `{ __typename }` behind a unique 8 MB comment, which
  permessage-deflate shrinks to a few kB on the wire;
* 500 sockets from one address;
* slowloris: 200 connections that send a header line now and then and never finish.

Each passes when /healthz's p99 stays under 100 ms and the hub's RSS stays within 50 MB of
where it started, and the attack got its refusals (codes, close codes, cut connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.chain import HubProcess

PROTOCOL = [websockets.Subprotocol("graphql-transport-ws")]
HEALTH_P99_MS = 100.0
RSS_GROWTH_MB = 50.0

# The hub in production, as an outside tester would meet it.
LAUNCHER = """\
import sys
import uvicorn
from hub.serving.app import create_app
from hub.db import normalise_database_url
from hub.serving.server import config
from hub.settings import Settings

settings = Settings()
url = normalise_database_url(settings.database_url)
app = create_app(url, settings)
uvicorn.Server(config(app, settings, "127.0.0.1", int(sys.argv[1]), log_level="warning")).run()
"""


def bomb(levels: int = 30) -> str:
    spreads = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query Q {{ ...F0 }} {spreads} fragment F{levels} on Query {{ __typename }}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# The prober runs in a process of its own: in the attacker's process its timings would
# include the attacker's own work (building and compressing 8 MB messages).
PROBER = """\
import json, sys, threading, time
import httpx
pid, url = int(sys.argv[1]), sys.argv[2]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
latencies, failures, rss = [], 0, []
def memory():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
with httpx.Client(base_url=url, timeout=5) as client:
    last = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            ok = client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append((time.perf_counter() - started) * 1000)
        failures += not ok
        if time.monotonic() - last > 0.1:
            rss.append(memory())
            last = time.monotonic()
        time.sleep(0.02)
print(json.dumps({"latencies": latencies, "failures": failures, "rss": rss}))
"""


@dataclass
class Probe:
    """/healthz every 20 ms and the hub's RSS every 100 ms, while an attack runs."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    rss: list[float] = field(default_factory=list)

    @classmethod
    async def start(cls, base_url: str, pid: int) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROBER, str(pid), base_url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip

    @classmethod
    async def finish(cls, process: asyncio.subprocess.Process) -> Probe:
        out, _ = await process.communicate(b"")
        data = json.loads(out)
        return cls(data["latencies"], data["failures"], data["rss"])

    def p99(self) -> float:
        if len(self.latencies) < 2:
            return float("inf")
        return statistics.quantiles(self.latencies, n=100)[98]


@dataclass
class Outcome:
    name: str
    health_p99_ms: float
    health_failures: int
    rss_start_mb: float
    rss_peak_mb: float
    refusals: str
    refused_as_expected: bool

    @property
    def ok(self) -> bool:
        return (
            self.health_p99_ms < HEALTH_P99_MS
            and self.health_failures == 0
            and self.rss_peak_mb - self.rss_start_mb < RSS_GROWTH_MB
            and self.refused_as_expected
        )

    def line(self) -> str:
        return (
            f"{self.name}: /healthz p99 {self.health_p99_ms:.1f} ms "
            f"({self.health_failures} failed), RSS {self.rss_start_mb:.0f} → peak "
            f"{self.rss_peak_mb:.0f} MB (+{self.rss_peak_mb - self.rss_start_mb:.1f}); "
            f"{self.refusals}"
        )


Attack = Callable[[str, float], Awaitable[tuple[str, bool]]]


async def fragment_bombs(base_url: str, seconds: float) -> tuple[str, bool]:
    document = bomb()
    codes: dict[str, int] = {}
    slowest = 0.0
    deadline = time.monotonic() + seconds
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            body = (await client.post("/graphql", json={"query": document})).json()
            slowest = max(slowest, time.perf_counter() - started)
            code = body["errors"][0]["extensions"]["code"]
            codes[f"http {code}"] = codes.get(f"http {code}", 0) + 1
            async with websockets.connect(ws_url, subprotocols=PROTOCOL) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                await ws.recv()
                for i in range(10):
                    payload = {"query": document}
                    await ws.send(
                        json.dumps({"id": str(i), "type": "subscribe", "payload": payload})
                    )
                    message = json.loads(await ws.recv())
                    key = f"ws {message['payload'][0]['extensions']['code']}"
                    codes[key] = codes.get(key, 0) + 1
    summary = ", ".join(f"{n} × {c}" for c, n in sorted(codes.items()))
    expected = set(codes) == {"http COST_LIMIT_EXCEEDED", "ws COST_LIMIT_EXCEEDED"}
    return f"{summary}; slowest HTTP answer {slowest * 1000:.1f} ms", expected


async def big_messages(base_url: str, seconds: float) -> tuple[str, bool]:
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    closes: dict[int | None, int] = {}
    wire = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with websockets.connect(
            ws_url, subprotocols=PROTOCOL, compression="deflate", max_size=None
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.recv()
            comment = "#" + secrets.token_hex(8) + "x" * (8 * 1024 * 1024) + "\n"
            payload = {"query": comment + "{ __typename }"}
            text = json.dumps({"id": "1", "type": "subscribe", "payload": payload})
            wire = len(zlib.compress(text.encode()))
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(text)
                await asyncio.wait_for(ws.recv(), 5)
            closes[ws.close_code] = closes.get(ws.close_code, 0) + 1
    summary = ", ".join(f"{n} closed with {c}" for c, n in closes.items())
    return f"{summary} (about {wire / 1024:.0f} kB on the wire each)", set(closes) == {1009}


async def many_sockets(base_url: str, seconds: float) -> tuple[str, bool]:
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    opened: list[Any] = []
    refused = 0
    for _ in range(500):
        try:
            ws = await websockets.connect(ws_url, subprotocols=PROTOCOL)
            opened.append(ws)
        except websockets.InvalidStatus:
            refused += 1
    await asyncio.sleep(seconds)
    for ws in opened:
        await ws.close()
    return f"{len(opened)} accepted, {refused} refused (HTTP 403)", refused == 500 - len(opened) > 0


async def slowloris(base_url: str, seconds: float) -> tuple[str, bool]:
    host, port = base_url.removeprefix("http://").split(":")
    connections = []
    for _ in range(200):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        connections.append((reader, writer))
    cut = 0
    deadline = time.monotonic() + seconds
    alive = list(connections)
    while alive and time.monotonic() < deadline:
        still = []
        for reader, writer in alive:
            try:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                if reader.at_eof():
                    cut += 1
                    continue
            except ConnectionError:
                cut += 1
                continue
            still.append((reader, writer))
        alive = still
        await asyncio.sleep(1)
    for _, writer in connections:
        writer.close()
    return f"{cut} of 200 cut off by the header deadline", cut == 200


ATTACKS: list[tuple[str, Attack, float]] = [
    ("fragment bombs", fragment_bombs, 6.0),
    ("8 MB WebSocket messages", big_messages, 6.0),
    ("500 sockets from one address", many_sockets, 4.0),
    ("slowloris", slowloris, 14.0),
]


async def run(store_url: str, folder: Path, secret_key: str) -> list[Outcome]:
    env = {
        "RANTAI_ENV": "production",
        "RANTAI_SECRET_KEY": secret_key,
        "RANTAI_DEV_ANONYMOUS_ROLE": "public",
        "RANTAI_RATE_LIMIT_PER_MINUTE": "1000000",  # the attacks here are not about rate
    }
    hub = await asyncio.to_thread(HubProcess.start, store_url, folder, LAUNCHER, env)
    outcomes = []
    try:
        for name, attack, seconds in ATTACKS:
            await asyncio.sleep(1)  # settle
            start = rss_mb(hub.proc.pid)
            probing = await Probe.start(hub.base_url, hub.proc.pid)
            try:
                refusals, expected = await attack(hub.base_url, seconds)
            finally:
                probe = await Probe.finish(probing)
            outcome = Outcome(
                name, probe.p99(), probe.failures, start, max(probe.rss, default=start),
                refusals, expected,
            )  # fmt: skip
            print(f"  {'ok  ' if outcome.ok else 'FAIL'} {outcome.line()}", flush=True)
            outcomes.append(outcome)
    finally:
        await asyncio.to_thread(hub.stop)
    return outcomes
