"""The subscription benchmark: N WebSocket subscribers on one hub process, a burst of changes.

    .venv/bin/python -m bench.subscriptions [--subscribers 1000,5000,10000] [--burst 100]
                                            [--quick]

One run creates a fresh database (on RANTAI_DATABASE_URL's server, or an embedded
PostgreSQL in a temporary folder), migrates and seeds it with the synthetic province, and
starts the real hub (uvicorn, one process, as `rantai serve` runs it). Then, for each N:

1. N graphql-transport-ws connections, each with one `changes` subscription. The mix is
   what a province has: 90% regency apps, each filtered on its own Pemda (round robin over
   the province's regencies), 10% province dashboards filtered on the province (they get
   everything). The document asks the event's fields and its source's health.
2. A warm-up transaction changes one sub kegiatan of every Pemda; the bench waits until
   every subscriber has it (proof that all N are live), then the measured burst: one
   transaction changes `--burst` sub kegiatan spread over every Pemda, written through the
   sync's own `Writer.record` (change_history + outbox + NOTIFY), as a sync batch is.
3. Every frame is timestamped on arrival. Latency = arrival - the moment COMMIT was sent.
   Each subscriber must get exactly the events its filter selects, once, in commit order;
   the bench fails otherwise.
4. Server CPU (utime + stime of the hub process from COMMIT until the last frame arrived)
   and RSS (before the connections and with all N subscribed).

Baseline, measured in the same run on the same hub process: Strawberry's stock WebSocket
handler (`strawberry.asgi.GraphQL`, mounted by this bench at /stock over the same change
feed), which executes the selection once per event *per subscriber*, at the smallest N.
The clients are raw asyncio WebSocket clients in this process (handshake, masked sends,
frame parsing; ~3 µs a frame), so that the bench measures the server, not a client library.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.chain import HubProcess, Store, cpu_model
from estate.names import REGIONS as NTT
from estate.synthetic import SeedStats, seed_canonical
from hub import migrate
from hub.events.changelog import Change
from hub.events.outbox import parse_cursor
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer

PROVINCE = "53"
SOURCE = "bappeda-eplanning"  # the synthetic store's e-planning source
DOCUMENT = """
subscription ($filter: ChangeFilter) {
  changes(filter: $filter) {
    cursor entity entityId op regionCode opdCode fiscalYear changedFields occurredAt
    source { id status }
  }
}
"""

# The hub as `rantai serve` runs it, plus Strawberry's stock handler at /stock (the baseline).
LAUNCHER = """\
import sys
import uvicorn
from starlette.routing import WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from hub.serving.app import create_app
from resolvers.context import Context
from hub.db import normalise_database_url
from hub.settings import Settings
from schema import schema

class Stock(GraphQL):
    async def get_context(self, request, response):
        state = request.app.state
        return Context.create(state.engine, state.settings, feed=state.feed)

settings = Settings()
app = create_app(normalise_database_url(settings.database_url), settings)
stock = Stock(schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,))
app.router.routes.append(WebSocketRoute("/stock", stock))
from hub.serving.server import LiveProtocol
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096,
            ws=LiveProtocol)
"""


# --------------------------------------------------------------------------- a raw client


class Client(asyncio.Protocol):
    """One graphql-transport-ws connection with one subscription; frames timestamped."""

    def __init__(self, host: str, port: int, path: str, variables: dict[str, Any]) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        self.variables = variables
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.acked = asyncio.get_running_loop().create_future()
        self.frames: list[tuple[float, bytes]] = []
        self.closed: str | None = None
        self.waiting_for = 0
        self.reached: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def send(self, message: dict[str, Any], opcode: int = 1) -> None:
        assert self.transport is not None
        payload = orjson.dumps(message)
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:end]).split(b"\r\n")[0]
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.closed = status.decode(errors="replace")
                self.acked.set_exception(RuntimeError(self.closed))
                return
            self.upgraded = True
            self.send({"type": "connection_init"})
        buf = self.buffer
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            n = buf[1] & 0x7F
            offset = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = struct.unpack_from("!H", buf, 2)[0]
                offset = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = struct.unpack_from("!Q", buf, 2)[0]
                offset = 10
            if len(buf) < offset + n:
                return
            payload = bytes(buf[offset : offset + n])
            del buf[: offset + n]
            if opcode == 1:
                self._message(now, payload)
            elif opcode == 9:  # ping: pong, masked like every client frame
                self._control(0xA, payload)
            elif opcode == 8:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                self.closed = f"closed {code} {payload[2:].decode(errors='replace')}"
                if not self.acked.done():
                    self.acked.set_exception(RuntimeError(self.closed))

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _message(self, now: float, payload: bytes) -> None:
        if not self.acked.done():
            if payload.startswith(b'{"type":"connection_ack"'):
                self.acked.set_result(None)
                self.send(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": DOCUMENT, "variables": self.variables},
                    }
                )
            return
        if b'"type":"ping"' in payload[:40]:
            self.send({"type": "pong"})
            return
        self.frames.append((now, payload))
        reached = self.reached
        if reached is not None and len(self.frames) >= self.waiting_for and not reached.done():
            reached.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = f"connection lost ({exc})"
        if not self.acked.done():
            self.acked.set_exception(RuntimeError(self.closed))
        if self.reached is not None and not self.reached.done():
            self.reached.set_result(None)

    async def wait_for(self, count: int) -> None:
        self.waiting_for = count
        if len(self.frames) >= count:
            return
        self.reached = asyncio.get_running_loop().create_future()
        await self.reached

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_clients(
    port: int, path: str, filters: Sequence[dict[str, Any]], parallel: int = 200
) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []

    async def one(variables: dict[str, Any]) -> Client:
        for attempt in range(5):
            _, client = await loop.create_connection(
                lambda: Client("127.0.0.1", port, path, variables), "127.0.0.1", port
            )
            try:
                await asyncio.wait_for(client.acked, 60)
                return client
            except RuntimeError:
                client.close()
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    for start in range(0, len(filters), parallel):
        chunk = filters[start : start + parallel]
        clients += await asyncio.gather(*(one({"filter": f}) for f in chunk))
    return clients


# --------------------------------------------------------------------------- the changes


async def seed(dsn: str) -> tuple[SeedStats, str]:
    """The synthetic store over NTT's 23 Pemda (the province and its 22 regencies/city)."""
    conn = await asyncpg.connect(dsn)
    try:
        stats = await seed_canonical(conn, sub_activities=2300, seed=1, regions=NTT)
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return stats, str(version)


@dataclass
class Burst:
    commit_sent: float
    commit_done: float
    rows: list[tuple[int, str, str]]  # (sub_activity id, Pemda, OPD), in commit order


async def write_burst(
    conn: asyncpg.Connection, rows: list[tuple[int, str, str]], bump: int
) -> Burst:
    """Change the rows' planned amount and record it as the sync does, in one transaction."""
    binding = BY_ENTITY["sub_activity"]
    writer = Writer(conn, SOURCE)
    tx = conn.transaction()
    await tx.start()
    try:
        ids = [r[0] for r in rows]
        updated = await conn.fetch(
            """UPDATE sub_activity s SET planned_amount = s.planned_amount + $2
            FROM unnest($1::int8[]) AS v(id) WHERE s.id = v.id
            RETURNING s.id, s.code, s.planned_amount""",
            ids,
            bump,
        )
        by_id = {r["id"]: r for r in updated}
        changes = [
            Change(
                i,
                str(by_id[i]["code"]),
                "UPDATED",
                {"planned_amount": str(by_id[i]["planned_amount"] - bump)},
                {"planned_amount": str(by_id[i]["planned_amount"])},
            )
            for i in ids
        ]
        await writer.record(binding, changes)
    except BaseException:
        await tx.rollback()
        raise
    sent = time.time()
    await tx.commit()
    done = time.time()
    return Burst(sent, done, rows)


async def pick_rows(
    conn: asyncpg.Connection, count: int, rng: random.Random
) -> list[tuple[int, str, str]]:
    """`count` sub kegiatan (id, Pemda, OPD) spread evenly over every Pemda (round robin)."""
    found = await conn.fetch(
        "SELECT s.id, r.code, o.code AS opd FROM sub_activity s "
        "JOIN region r ON r.id = s.region_id JOIN opd o ON o.id = s.opd_id"
    )
    by_region: dict[str, list[tuple[int, str, str]]] = {}
    for row in found:
        by_region.setdefault(row["code"], []).append((row["id"], row["code"], row["opd"]))
    for ids in by_region.values():
        rng.shuffle(ids)
    regions = sorted(by_region)
    out: list[tuple[int, str, str]] = []
    n = 0
    while len(out) < count:
        rows = by_region[regions[n % len(regions)]]
        index = n // len(regions)
        if index < len(rows):
            out.append(rows[index])
        n += 1
    return out


def subscriber_filters(
    count: int, regencies: list[str], opds: list[tuple[str, str]], *, firehose: bool
) -> list[dict[str, Any]]:
    """Who subscribes. The province mix: 2% province-wide dashboards (every change), 48%
    Pemda apps (their own Pemda, round robin over the 22 regencies and the city), 50% OPD
    apps (their Pemda and OPD, round robin over every OPD). Firehose: everyone everything."""
    if firehose:
        return [{"regionCode": PROVINCE}] * count
    out: list[dict[str, Any]] = []
    for n in range(count):
        if n % 50 == 49:
            out.append({"regionCode": PROVINCE})
        elif n % 2 == 0:
            out.append({"regionCode": regencies[(n // 2) % len(regencies)]})
        else:
            region, opd = opds[(n // 2) % len(opds)]
            out.append({"regionCode": region, "opdCode": opd})
    return out


async def one_per_opd(conn: asyncpg.Connection) -> list[tuple[int, str, str]]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (s.opd_id) s.id, r.code, o.code AS opd FROM sub_activity s "
        "JOIN region r ON r.id = s.region_id JOIN opd o ON o.id = s.opd_id ORDER BY s.opd_id, s.id"
    )
    return [(r["id"], r["code"], r["opd"]) for r in rows]


def matches(filter_: dict[str, Any], row: tuple[int, str, str]) -> bool:
    code = filter_["regionCode"]
    region = row[1]
    if "opdCode" in filter_:  # with an OPD, the region names that OPD's own Pemda
        return bool(region == code and filter_["opdCode"] == row[2])
    return region == code or region.startswith(code + ".")


# --------------------------------------------------------------------------- the process


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Result:
    handler: str
    scenario: str
    subscribers: int
    frames: int
    p50: float
    p99: float
    max: float
    cpu: float
    rss_idle: int
    rss_subscribed: int
    connect_seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def rss_per_connection(self) -> float:
        return (self.rss_subscribed - self.rss_idle) / self.subscribers


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


async def run_one(
    hub: HubProcess,
    port: int,
    dsn: str,
    handler: str,
    scenario: str,
    count: int,
    burst_size: int,
    regencies: list[str],
    opds: list[tuple[str, str]],
    rng: random.Random,
    bump: int,
) -> Result:
    pid = hub.proc.pid
    path = "/graphql" if handler == "rantai" else "/stock"
    filters = subscriber_filters(count, regencies, opds, firehose=scenario == "firehose")
    conn = await asyncpg.connect(dsn)
    rss_idle = proc_rss(pid)
    started = time.perf_counter()
    clients = await open_clients(port, path, filters)
    connect_seconds = time.perf_counter() - started
    try:
        # Warm-up: one change in every OPD; every subscriber must see it (all are live).
        warm = await one_per_opd(conn)
        await write_burst(conn, warm, bump)
        expected_warm = [sum(matches(f, r) for r in warm) for f in filters]
        await asyncio.wait_for(
            asyncio.gather(*(c.wait_for(n) for c, n in zip(clients, expected_warm, strict=True))),
            300,
        )
        rss_subscribed = proc_rss(pid)
        for c in clients:
            c.frames.clear()
        await asyncio.sleep(1)  # let the server settle (its GC, late pongs)
        rows = await pick_rows(conn, burst_size, rng)
        expected = [sum(matches(f, r) for r in rows) for f in filters]
        cpu_before = proc_cpu(pid)
        burst = await write_burst(conn, rows, bump + 1)
        with contextlib.suppress(TimeoutError):  # what is missing is reported below
            await asyncio.wait_for(
                asyncio.gather(*(c.wait_for(n) for c, n in zip(clients, expected, strict=True))),
                600,
            )
        cpu = proc_cpu(pid) - cpu_before
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
        latencies: list[float] = []
        problems: list[str] = []
        for client, f, want in zip(clients, filters, expected, strict=True):
            got = []
            for arrived, raw in client.frames:
                message = orjson.loads(raw)
                if message.get("type") != "next" or "errors" in message["payload"]:
                    problems.append(f"unexpected frame {raw[:200]!r}")
                    continue
                event = message["payload"]["data"]["changes"]
                got.append(parse_cursor(event["cursor"]))
                latencies.append(arrived - burst.commit_sent)
            if len(got) != want or got != sorted(set(got)):
                problems.append(
                    f"{f}: {len(got)} events, {want} expected "
                    f"({'out of order or doubled' if got != sorted(set(got)) else 'count'})"
                )
            if client.closed:
                problems.append(f"{f}: {client.closed}")
        return Result(
            handler,
            scenario,
            count,
            len(latencies),
            percentile(latencies, 0.5) if latencies else float("nan"),
            percentile(latencies, 0.99) if latencies else float("nan"),
            max(latencies) if latencies else float("nan"),
            cpu,
            rss_idle,
            rss_subscribed,
            connect_seconds,
            problems,
        )
    finally:
        for c in clients:
            c.close()
        await conn.close()
        await asyncio.sleep(2)  # the server notices the closed sockets


async def run_all(
    hub: HubProcess, store: Store, plan: list[tuple[str, str, int]], burst: int
) -> list[Result]:
    port = int(hub.base_url.rsplit(":", 1)[1])
    conn = await asyncpg.connect(store.dsn)
    try:
        regions = [r[0] for r in await conn.fetch("SELECT code FROM region ORDER BY code")]
        opds = [
            (r[0], r[1])
            for r in await conn.fetch(
                "SELECT r.code, o.code FROM opd o JOIN region r ON r.id = o.region_id "
                "ORDER BY r.code, o.code"
            )
        ]
    finally:
        await conn.close()
    regencies = [r for r in regions if r != PROVINCE]
    rng = random.Random(7)
    results = []
    for n, (handler, scenario, count) in enumerate(plan):
        print(f"... {handler}, {scenario}: {count} subscribers, burst of {burst}", flush=True)
        result = await run_one(
            hub,
            port,
            store.dsn,
            handler,
            scenario,
            count,
            burst,
            regencies,
            opds,
            rng,
            1000 * (n + 1),
        )
        results.append(result)
        report_line(result)
        for problem in result.problems[:5]:
            print(f"    PROBLEM: {problem}", flush=True)
    return results


def report_line(r: Result) -> None:
    print(
        f"{r.handler:>6} {r.scenario:>8} N={r.subscribers:>6}  frames {r.frames:>7}  "
        f"p50 {r.p50 * 1000:8.0f} ms  p99 {r.p99 * 1000:8.0f} ms  max {r.max * 1000:8.0f} ms  "
        f"server CPU {r.cpu:6.2f} s  RSS {r.rss_subscribed / 2**20:6.0f} MiB "
        f"({r.rss_per_connection / 1024:5.1f} KiB/connection)  connect {r.connect_seconds:5.1f} s",
        flush=True,
    )


def summary(results: Sequence[Result]) -> None:
    """One line per figure: ours, the stock handler's, the ratio, the target."""
    for r in results:
        if r.handler != "rantai":
            continue
        stock = next(
            (x for x in results if x.handler == "stock" and x.scenario == r.scenario), None
        )
        rate = r.frames / r.cpu if r.cpu else float("nan")
        line = (
            f"{r.scenario} N={r.subscribers}: p99 {r.p99:.3f} s, {r.frames} frames, "
            f"{rate:,.0f} frames per server CPU second"
        )
        if stock is not None:
            stock_rate = stock.frames / stock.cpu if stock.cpu else float("nan")
            line += (
                f"; stock handler at N={stock.subscribers}: {stock_rate:,.0f} frames/CPU s "
                f"(ratio {rate / stock_rate:.1f}x)"
            )
        if r.scenario == "province" and r.subscribers == 5000:
            line += "  [target p99 < 1 s: " + ("met" if r.p99 < 1 else "MISSED") + "]"
        print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.subscriptions", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--subscribers", default="1000,5000,10000", help="N values (1000,5000,10000)"
    )
    parser.add_argument("--burst", type=int, default=100, help="changes in the burst (100)")
    parser.add_argument(
        "--baseline", type=int, default=None, help="N for the stock handler (smallest N)"
    )
    parser.add_argument(
        "--firehose", type=int, default=1000, help="N where everyone gets everything (1000)"
    )
    parser.add_argument("--quick", action="store_true", help="N = 1000 and 5000 only")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    counts = [int(x) for x in args.subscribers.split(",")]
    if args.quick:
        counts = [c for c in counts if c <= 5000] or counts[:1]
    baseline = args.baseline or min(counts)
    plan = [("stock", "province", baseline)]
    plan += [("rantai", "province", c) for c in counts]
    plan += [("stock", "firehose", args.firehose // 10), ("rantai", "firehose", args.firehose)]

    began = time.perf_counter()
    store = Store.open()
    hub: HubProcess | None = None
    logs = tempfile.mkdtemp(prefix="rantai-bench-logs-")
    try:
        migrate.upgrade(store.url)
        stats, pg_version = asyncio.run(seed(store.dsn))
        affinity = len(os.sched_getaffinity(0))
        print(
            f"machine: nproc {affinity} ({cpu_model()}), Python {sys.version.split()[0]}, "
            f"PostgreSQL {pg_version.split()[0]} ({store.where}); "
            f"store: {stats.counts.get('sub_activity', 0)} sub kegiatan",
            flush=True,
        )
        # Thousands of subscribers come from one address: the per-caller rate limit and the
        # per-address connection caps would refuse most of them (that is their job); the
        # bench measures the fan-out.
        unlimited = "100000000"
        hub = HubProcess.start(
            store.url,
            Path(logs),
            launcher=LAUNCHER,
            extra_env={
                "RANTAI_RATE_LIMIT_PER_MINUTE": unlimited,
                "RANTAI_WS_MAX_CONNECTIONS_PER_ADDRESS": unlimited,
                "RANTAI_WS_MAX_CONNECTIONS": unlimited,
                "RANTAI_HTTP_MAX_CONNECTIONS_PER_ADDRESS": unlimited,
                "RANTAI_MAX_DISTINCT_SUBSCRIPTIONS_PER_ADDRESS": unlimited,
            },
        )
        results = asyncio.run(run_all(hub, store, plan, args.burst))
    finally:
        if hub is not None:
            hub.stop()
        shutil.rmtree(logs, ignore_errors=True)
        store.close()
    print()
    summary(results)
    print(f"total: {time.perf_counter() - began:.0f} s", flush=True)
    failed = any(r.problems for r in results if r.handler == "rantai")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
