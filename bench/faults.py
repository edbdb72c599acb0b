"""The hub's own PostgreSQL restarted under load: clear errors while it is down, recovery
without restarting the hub, every change event delivered once and in order.

    .venv/bin/python -m bench.faults [--outage 3] [--after 4] [--modes fast,immediate]

This machine's PostgreSQL is shared, so the store here is always an embedded one (the
pgserver wheel, `hub.db.EmbeddedPostgres`) in a temporary folder, which this script stops
and starts itself with pg_ctl: the same data dir and the same address. The embedded server
listens on a Unix socket only (`-h ""`); the socket's path, its "port", is derived from the
data dir, so clients reconnect to the very address they used before.

One run:

* migrates and seeds a store, and serves it with the real hub in a separate process
  (uvicorn, the WebSocket protocol of `rantai serve`);
* a writer keeps committing change events to the outbox (history + outbox rows, as the
  sync writes them), reconnecting after every failure;
* two HTTP clients keep querying: an anonymous one and one with an API key (whose key is
  looked up in the store on every request);
* a subscriber stays connected over WebSocket (`changes`) the whole time;
* then, for each mode (`fast`: a clean restart, `immediate`: a crash and WAL recovery), the
  server is stopped, stays down `--outage` seconds, and is started again; during each
  outage a second subscriber tries to resume from its last cursor until the hub can serve
  it, then follows to the end;
* finally it checks: every failed answer carried a stable `extensions.code`
  (STORE_UNAVAILABLE) and none came outside an outage; the hub answered again after each
  restart without being restarted (same process); each subscriber received exactly the
  outbox rows after its cursor, each once, in order.

It prints what it checked and exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import websockets
from sqlalchemy.engine import make_url

from bench import abuse
from bench.chain import HubProcess
from estate.synthetic import seed_canonical
from hub.auth import keys
from hub.db import EmbeddedPostgres, asyncpg_dsn
from hub.events.changelog import Change
from hub.events.outbox import parse_cursor
from hub.migrate import run_async
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer

QUERY = "{ regions { code summary(fiscalYear: 2025) { paid } } }"
CHANGES = "subscription ($after: String) { changes(after: $after) { cursor entityId op } }"
SECRET_KEY = "bench-faults-" + "k" * 40  # the hub's RANTAI_SECRET_KEY for this run
PROTOCOL = [websockets.Subprotocol("graphql-transport-ws")]
MODES = {
    "fast": "clean restart: pg_ctl stop -m fast (sessions ended, open transactions rolled back)",
    "immediate": "crash: pg_ctl stop -m immediate (no shutdown checkpoint; WAL recovery on start)",
}

# The hub as `rantai serve` runs it: the real app under uvicorn with the hub's WebSocket
# protocol (several frames per write), no sync loop (the writer below is the only writer).
LAUNCHER = """\
import sys
import uvicorn
from hub.serving.app import create_app
from hub.db import normalise_database_url
from hub.serving.server import config
from hub.settings import Settings

settings = Settings(max_page_size=int(sys.argv[2]))
url = normalise_database_url(settings.database_url)
app = create_app(url, settings)
uvicorn.Server(config(app, settings, "127.0.0.1", int(sys.argv[1]), log_level="warning")).run()
"""


# --------------------------------------------------------------------------- the server


@dataclass
class Store:
    """An embedded PostgreSQL this script may stop and start, and a database on it."""

    embedded: EmbeddedPostgres
    url: str  # the store database's SQLAlchemy URL
    socket_dir: str

    @classmethod
    async def create(cls, folder: Path) -> Store:
        embedded = EmbeddedPostgres(folder)
        base = await asyncio.to_thread(embedded.start)
        socket_dir = parse_qs(urlsplit(base).query)["host"][0]
        name = f"rantai_faults_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(asyncpg_dsn(base))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        return cls(embedded, url, socket_dir)

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.url)

    def _pg_ctl(self, args: list[str]) -> None:
        from pgserver._commands import pg_ctl

        server = self.embedded._server  # pgserver's handle: runs as its system user as root
        pg_ctl(args, pgdata=self.embedded.pgdata, user=server.system_user, timeout=60)

    def stop(self, mode: str) -> None:
        self._pg_ctl(["-w", "-m", mode, "stop"])

    def postmaster(self) -> tuple[int, str, str, str]:
        """(pid, data dir, port, socket dir) of the running server, from postmaster.pid."""
        lines = (self.embedded.pgdata / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), lines[1], lines[3].strip(), lines[4].strip()

    def start(self) -> None:
        # The options pgserver starts it with: no TCP, the same socket directory.
        log = str(self.embedded.pgdata / "log")
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", log, "start"])

    def close(self) -> None:
        self.embedded.stop()


# --------------------------------------------------------------------------- the load


@dataclass
class Clock:
    """Which phase the run is in, for sorting every answer into before/outage/after."""

    phase: str = "before"
    outages: list[tuple[float, float]] = field(default_factory=list)  # (stopped, started)


class Producer:
    """Commits change events (history + outbox, the sync's own writer) in a loop."""

    def __init__(self, dsn: str, ids: list[int], clock: Clock) -> None:
        self.dsn = dsn
        self.ids = ids
        self.clock = clock
        self.commits = 0
        self.by_phase: Counter[str] = Counter()  # commits per phase of the run
        self.failures: Counter[str] = Counter()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        conn: asyncpg.Connection | None = None
        bump = 0
        try:
            while not self.stop.is_set():
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.dsn, timeout=2)
                    bump += 1
                    changes = [
                        Change(
                            i, f"k{i}", "UPDATED", {"amount": str(bump)}, {"amount": str(bump + 1)}
                        )
                        for i in random.sample(self.ids, 3)
                    ]
                    async with conn.transaction():
                        await Writer(conn, "bpkad-sipd").record(BY_ENTITY["payment"], changes)
                    self.commits += 1
                    self.by_phase[self.clock.phase] += 1
                    await asyncio.sleep(0.02)
                except Exception as exc:  # the store is down, or a bug: counted, shown, retried
                    name = type(exc).__name__
                    if name not in self.failures:
                        print(f"  writer: {name}: {exc}", flush=True)
                    self.failures[name] += 1
                    if conn is not None:
                        conn.terminate()
                        conn = None
                    await asyncio.sleep(0.1)
        finally:
            if conn is not None:
                await conn.close()


@dataclass
class Answer:
    client: str
    phase: str
    status: int | None
    code: str | None  # extensions.code of the first error; None: a full answer
    message: str = ""
    ended: str = ""  # the phase when the answer came (a request can straddle a stop)


class Load:
    """One HTTP client querying in a loop and remembering every answer."""

    def __init__(self, name: str, base_url: str, clock: Clock, key: str | None) -> None:
        self.name = name
        self.base_url = base_url
        self.clock = clock
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.answers: list[Answer] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=15) as client:
            while not self.stop.is_set():
                phase = self.clock.phase
                try:
                    response = await client.post(
                        "/graphql", json={"query": QUERY}, headers=self.headers
                    )
                except httpx.HTTPError as exc:
                    self.answers.append(
                        Answer(self.name, phase, None, type(exc).__name__, "", self.clock.phase)
                    )
                    await asyncio.sleep(0.05)
                    continue
                code, message = None, ""
                try:
                    body = response.json()
                except ValueError:
                    code, message = "NOT_JSON", response.text[:120]
                else:
                    if response.status_code != 200 or "errors" in body:
                        error = (body.get("errors") or [{}])[0]
                        code = (error.get("extensions") or {}).get("code") or "NO_CODE"
                        message = str(error.get("message", ""))[:120]
                self.answers.append(
                    Answer(self.name, phase, response.status_code, code, message, self.clock.phase)
                )
                await asyncio.sleep(0.02)


class Subscriber:
    """A graphql-transport-ws client following `changes`, from `after` (None: from now).

    It subscribes once `go` is set (at once without one). A refused subscription (`error`)
    is sent again on the same socket; a closed socket is opened again."""

    def __init__(
        self,
        name: str,
        ws_url: str,
        after: str | None,
        key: str | None = None,
        go: asyncio.Event | None = None,
    ) -> None:
        self.name = name
        self.ws_url = ws_url
        self.after = after
        self.go = go
        self.init: dict[str, Any] = {"type": "connection_init"}
        if key is not None:
            self.init["payload"] = {"Authorization": f"Bearer {key}"}
        self.ids: list[int] = []
        self.cursor: str | None = None  # the last event's
        self.errors: list[Any] = []  # `error` payloads and closes, in order
        self.connections = 0
        self.subscriptions = 0
        self.acked = asyncio.Event()
        self.live = asyncio.Event()  # received a first event

    @property
    def last(self) -> int | None:
        return self.ids[-1] if self.ids else None

    async def follow(self) -> None:
        """Subscribe until the hub accepts; then receive until cancelled."""
        while True:
            self.connections += 1
            try:
                async with websockets.connect(self.ws_url, subprotocols=PROTOCOL) as ws:
                    await ws.send(json.dumps(self.init))
                    ack = json.loads(await ws.recv())
                    if ack["type"] != "connection_ack":
                        raise RuntimeError(f"no connection_ack: {ack}")
                    self.acked.set()
                    if self.go is not None:
                        await self.go.wait()
                    while True:
                        if not await self._subscription(ws):
                            break
                        await asyncio.sleep(0.3)  # refused: ask again on this socket
            except websockets.ConnectionClosed as exc:
                self.errors.append(f"close {exc.rcvd.code if exc.rcvd else None}")
            except (OSError, websockets.WebSocketException) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.3)

    async def _subscription(self, ws: websockets.ClientConnection) -> bool:
        """One subscription; True when the hub refused or ended it."""
        self.subscriptions += 1
        op = str(self.subscriptions)
        payload = {"query": CHANGES, "variables": {"after": self.after}}
        await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("id") != op:
                continue
            elif message["type"] == "next":
                cursor = message["payload"]["data"]["changes"]["cursor"]
                self.ids.append(parse_cursor(cursor))
                self.cursor = cursor
                self.live.set()
            elif message["type"] in ("error", "complete"):
                self.errors.append(message.get("payload", "complete"))
                return True
        return False


# --------------------------------------------------------------------------- the run


@dataclass
class Report:
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.checks.append((ok, text))
        print(f"  {'ok  ' if ok else 'FAIL'} {text}", flush=True)

    @property
    def failed(self) -> int:
        return sum(1 for ok, _ in self.checks if not ok)


async def outbox_after(dsn: str, after: int) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            r[0] for r in await conn.fetch("SELECT id FROM outbox WHERE id > $1 ORDER BY id", after)
        ]
    finally:
        await conn.close()


async def wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def first_answer_ok(load: Load, since: int) -> float | None:
    """Seconds until the first full answer among `load.answers[since:]` (polled)."""
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if any(a.code is None for a in load.answers[since:]):
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return None


async def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="rantai-faults-"))
    report = Report()
    store = await Store.create(folder)
    try:
        print(f"store: embedded PostgreSQL in {store.embedded.pgdata}, socket {store.socket_dir}")
        await run_async(store.url, "upgrade", "head")
        conn = await asyncpg.connect(store.dsn)
        try:
            await seed_canonical(conn, sub_activities=200, seed=5)
            ids = [r[0] for r in await conn.fetch("SELECT id FROM payment ORDER BY id LIMIT 200")]
            key, _ = await keys.create(conn, SECRET_KEY, "province", label="bench.faults")
        finally:
            await conn.close()
        if "outage" in args.sections:
            await outages(args, store, folder, report, ids, key)
        if "abuse" in args.sections:
            print("\nabuse: a production hub under hostile clients", flush=True)
            for outcome in await abuse.run(store.url, folder, SECRET_KEY):
                report.checks.append((outcome.ok, outcome.line()))
    finally:
        await asyncio.to_thread(store.close)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{len(report.checks) - report.failed} of {len(report.checks)} checks passed")
    return 1 if report.failed else 0


async def outages(
    args: argparse.Namespace,
    store: Store,
    folder: Path,
    report: Report,
    ids: list[int],
    key: str,
) -> None:
    """The store restarted under load (the module's docstring)."""
    hub: HubProcess | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        hub = await asyncio.to_thread(
            HubProcess.start, store.url, folder, LAUNCHER, {"RANTAI_SECRET_KEY": SECRET_KEY}
        )
        pid = hub.proc.pid
        ws_url = hub.base_url.replace("http://", "ws://") + "/graphql"
        print(f"hub: pid {pid} at {hub.base_url}")

        clock = Clock()
        producer = Producer(store.dsn, ids, clock)
        loads = [
            Load("anonymous", hub.base_url, clock, None),
            Load("api-key", hub.base_url, clock, key),
        ]
        live = Subscriber("live", ws_url, None)
        tasks.append(asyncio.create_task(live.follow()))
        tasks.append(asyncio.create_task(producer.run()))
        if not await wait_for(lambda: _true(live.live.is_set()), 30):
            report.check(False, "the live subscriber received a first event")
            return
        start_id = live.ids[0] - 1  # it follows from its first event on
        tasks += [asyncio.create_task(load.run()) for load in loads]
        await asyncio.sleep(args.before)

        # Subscribers that resume from a cursor while the store is down, until served.
        resumers: list[tuple[str, Subscriber, int, str]] = []  # …, how it must be refused
        recoveries: dict[str, float | None] = {}
        restarts: list[tuple[str, tuple[int, str, str, str], tuple[int, str, str, str]]] = []
        for mode in args.modes:
            print(f"\n{mode}: {MODES[mode]}; down for {args.outage:g} s", flush=True)
            cursor, cursor_id = live.cursor, live.last or start_id
            old = store.postmaster()
            # Two resumers connect (and are acknowledged) now and subscribe once the store
            # is down; a third connects while it is down, so its key cannot be checked.
            go = asyncio.Event()
            waiting = [
                Subscriber(f"anonymous resumer, {mode}", ws_url, cursor, None, go),
                Subscriber(f"api-key resumer, {mode}", ws_url, cursor, key, go),
            ]
            for resumer in waiting:
                tasks.append(asyncio.create_task(resumer.follow()))
                resumers.append((mode, resumer, cursor_id, "STORE_UNAVAILABLE"))
            await asyncio.wait_for(asyncio.gather(*(r.acked.wait() for r in waiting)), 30)
            clock.phase = f"outage:{mode}"
            stopped = time.monotonic()
            await asyncio.to_thread(store.stop, mode)
            go.set()
            late = Subscriber(f"api-key resumer connecting while down, {mode}", ws_url, cursor, key)
            tasks.append(asyncio.create_task(late.follow()))
            resumers.append((mode, late, cursor_id, "close 1013"))
            await asyncio.sleep(args.outage)
            await asyncio.to_thread(store.start)
            clock.outages.append((stopped, time.monotonic()))
            new = store.postmaster()
            restarts.append((mode, old, new))
            marks = [len(load.answers) for load in loads]
            clock.phase = f"after:{mode}"
            recoveries[mode] = await first_answer_ok(loads[0], marks[0])
            await asyncio.sleep(args.after)

        clock.phase = "end"
        for load in loads:
            load.stop.set()
        producer.stop.set()
        await asyncio.gather(*(t for t in tasks[1:2]), return_exceptions=True)  # the writer
        # Everything committed is in the outbox: wait for each subscriber to reach its end.
        head = (await outbox_after(store.dsn, 0) or [0])[-1]
        followers = [live] + [r for _, r, _, _ in resumers]
        await wait_for(lambda: _true(all(s.last == head for s in followers)), 60)
        for load_task in tasks[2 : 2 + len(loads)]:
            await load_task

        print("\nchecks:")
        for mode, old, new in restarts:
            report.check(
                old[0] != new[0] and old[1:] == new[1:],
                f"{mode}: a new server (pid {old[0]} → {new[0]}) on the same data dir, port "
                f"and socket ({new[1]}, {new[2]}, {new[3]})",
            )
        answers = [a for load in loads for a in load.answers]
        failed = [a for a in answers if a.code is not None]
        codes = Counter((a.client, a.phase, a.status, a.code) for a in failed)
        for (client, phase, status, code), n in sorted(codes.items(), key=str):
            print(f"  {n:5d} × {client:9s} {phase:17s} HTTP {status}: {code}")
        others = sorted({(a.code, a.message) for a in failed if a.code != "STORE_UNAVAILABLE"})
        report.check(
            not others,
            f"every failed answer ({len(failed)} of {len(answers)}) has extensions.code "
            f"STORE_UNAVAILABLE{f'; others: {others}' if others else ''}",
        )
        report.check(
            not [a for a in failed if a.phase == a.ended == "before"],
            "no failure before the first outage (a request in flight when it began may fail)",
        )
        for mode in args.modes:
            for load in loads:
                during = [a for a in load.answers if a.phase == f"outage:{mode}"]
                report.check(
                    any(a.code is not None for a in during),
                    f"{mode}: the {load.name} client saw the outage "
                    f"({sum(a.code is not None for a in during)} of {len(during)} answers failed)",
                )
            seconds = recoveries[mode]
            report.check(
                seconds is not None,
                f"{mode}: answered again {seconds:.2f} s after the server was back"
                if seconds is not None
                else f"{mode}: never answered again",
            )
        for load in loads:
            tail = load.answers[-5:]
            report.check(
                len(tail) == 5 and all(a.code is None for a in tail),
                f"the {load.name} client's last answers are full answers",
            )
        report.check(
            hub.proc.poll() is None and hub.proc.pid == pid,
            f"the hub was never restarted (pid {pid} still serving)",
        )
        async with httpx.AsyncClient(timeout=5) as http:
            ready = await http.get(f"{hub.base_url}/readyz")
        report.check(ready.status_code == 200, f"/readyz: {ready.status_code} {ready.text}")
        print(
            f"  writer: {producer.commits} commits, failures {dict(producer.failures)}; "
            f"outbox head {head}"
        )
        for phase in ["before"] + [f"after:{mode}" for mode in args.modes]:
            report.check(
                producer.by_phase[phase] > 0,
                f"the writer committed {producer.by_phase[phase]} times in phase {phase}",
            )
        expected = await outbox_after(store.dsn, start_id)
        report.check(
            live.ids == expected,
            f"live subscriber: {len(live.ids)} events = the outbox's {len(expected)} after its "
            f"start, each once, in order (errors seen: {len(live.errors)}, connections: "
            f"{live.connections})",
        )
        for _, resumer, cursor_id, refusal in resumers:
            expected = await outbox_after(store.dsn, cursor_id)
            refused = Counter(_error_code(e) for e in resumer.errors)
            same_socket = refusal != "STORE_UNAVAILABLE" or resumer.connections == 1
            report.check(
                set(refused) == {refusal} and same_socket,
                f"{resumer.name}: refused while down with {dict(refused)}, "
                f"{resumer.subscriptions} subscriptions on {resumer.connections} connection(s)",
            )
            report.check(
                bool(expected) and resumer.ids == expected,
                f"{resumer.name}: {len(resumer.ids)} events after its cursor = the outbox's "
                f"{len(expected)}, each once, in order",
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if hub is not None:
            await asyncio.to_thread(hub.stop)
            if report.failed:
                print(f"\nthe hub's unhandled errors ({hub.log_path}):\n{unhandled(hub.log_path)}")


def unhandled(log: Path) -> str:
    """The hub's own frames and the exception lines of each "Exception in ASGI application"
    in its log (a 500 without a code), or the log's tail if there is none."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    blocks = text.split("Exception in ASGI application")[1:]
    if not blocks:
        return text[-4000:]
    shown = []
    for block in blocks[:3]:
        lines = block.splitlines()
        keep = [
            line
            for i, line in enumerate(lines)
            if (line.startswith('  File "') and "/hub/" in line and "site-packages" not in line)
            or (line and not line.startswith((" ", "^", "Traceback")))
        ]
        shown.append("\n".join(keep[:40]))
    return f"{len(blocks)} unhandled:\n" + "\n---\n".join(shown)


async def _true(value: bool) -> bool:
    return value


def _error_code(error: Any) -> str:
    if isinstance(error, list) and error and isinstance(error[0], dict):
        return str((error[0].get("extensions") or {}).get("code") or "NO_CODE")
    return str(error)[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=3.0, help="seconds the server is down")
    parser.add_argument("--before", type=float, default=2.0, help="seconds of load first")
    parser.add_argument("--after", type=float, default=4.0, help="seconds after each restart")
    parser.add_argument(
        "--modes",
        type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
        default=list(MODES),
        help="pg_ctl stop modes, in order: fast, immediate",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--sections",
        type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
        default=["outage", "abuse"],
        help="outage (the store restarted under load), abuse (hostile clients)",
    )
    args = parser.parse_args()
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; use {', '.join(MODES)}")
    os.environ.pop("RANTAI_DATABASE_URL", None)  # the store is ours, never a shared server
    raise SystemExit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
