"""NTT scale end to end: the province and its 22 regencies and city, as `rantai demo --scale
ntt` runs them, measured step by step.

    .venv/bin/python -m bench.ntt [--years 1|2] [--seconds 180] [--per-pemda 2]

1. Generates the demo estate at scale `ntt` (`estate.generate.generate_estate`, finance on
   SQLite files as the demo writes it by default; `--mariadb-url` for MariaDB): wall and
   this process's CPU.
2. The initial sync into a fresh migrated store (`bench.sync.timed_sync`: rows read, wall,
   this process's CPU, the database servers' CPU from /proc), then the ketimpangan rules in
   full (`DiscrepancyEngine.run(full=True)`), then idle cycles as the demo's loop runs them
   (`hub.jobs.SyncJob.sync`: the sync and the rules on what changed; nothing changed), each
   as % of one core at the demo's 3 s interval.
3. Starts `rantai demo --sync-every 3 --no-simulate --no-national-api` in its own process on
   that store and data dir (it serves the estate it finds), and measures in it:
   - its idle CPU over `--idle-window` seconds, sync loop and server together (/proc);
   - the dashboard's province page in headless Chromium (`bench.browser`): the time from
     the first API call's start to the last one's end, as the page's Performance API reads it;
   - the deep chain (`hub.serving.examples.DEEP_CHAIN`) at `first: 100` and `first: 500`
     through `/graphql`, sequential requests, p50/p99 (`bench.chain.measure`);
   - a legacy change reaching a subscriber: the simulator (`estate.simulate.Simulator`, in
     this process) writes `--per-pemda` changes a minute per Pemda (× 23) for `--seconds`,
     while one `changes` subscriber with the province key timestamps every frame; latency =
     the frame's arrival − the simulator's commit of the legacy write (`SimChange.written_at`).
     Each change is matched to the first unmatched event of its source and entity that
     arrived after its commit.

Drops every database it created (`bench_<random>_*`) and its data dir, unless `--keep DIR`
names a directory: then the estate, its databases and its store stay there, and a later
`--keep DIR` with `--reuse` measures step 3 on them again without generating or syncing
(`--reuse` alone drops them at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from adapters.mapping import load_config
from bench.chain import ROOT, Result, free_port, measure
from bench.subscriptions import Client, percentile
from bench.sync import (
    DEFAULT_PG_URL,
    TimedEngine,
    create_store,
    drop_everything,
    dsn,
    server_cpu,
    timed_sync,
)
from estate.generate import SCALES, generate_estate, region_plans
from estate.simulate import SimChange, Simulator
from estate.writers import pg_dsn
from hub.discrepancies.engine import DiscrepancyEngine
from hub.jobs import SyncJob
from hub.serving.examples import DEEP_CHAIN
from hub.settings import Settings
from hub.tuning import tune_gc

INTERVAL = 3.0  # the demo's sync interval, and the target's
IDLE_CYCLES = 3


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def core(cpu: float, interval: float = INTERVAL) -> str:
    return f"{100 * cpu / interval:.0f}% of one core at a {interval:g} s interval"


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def servers_text(before: dict[str, float], after: dict[str, float]) -> str:
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    return ", ".join(f"{k} {secs(v)}" for k, v in sorted(used.items())) or "not readable"


# --------------------------------------------------------------------------- in process


async def estate_and_store(args: argparse.Namespace, prefix: str, data_dir: Path) -> str:
    """Generate, sync, run the rules, idle cycles; returns the store's URL."""
    years = (2026,) if args.years == 1 else (2025, 2026)
    cpu, began = time.process_time(), time.perf_counter()
    estate = await generate_estate(
        data_dir, scale=args.scale, seed=1, pg_url=args.pg_url, mariadb_url=args.mariadb_url,
        fiscal_years=years, db_prefix=f"{prefix}_legacy",
    )  # fmt: skip
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    config = load_config(estate.config)
    print(
        f"ntt estate generation: {secs(wall)} wall, {secs(cpu)} CPU of this process "
        f"({len(config.sources)} sources, {sum(estate.counts.values()):,} canonical rows in the "
        f"manifest, fiscal years {', '.join(map(str, years))}; "
        f"`generate_estate(scale={args.scale!r})`)",
        flush=True,
    )
    threshold = Settings().gc_threshold
    if threshold:
        tune_gc(threshold)
    store_url = await create_store(args.pg_url, f"{prefix}_store")
    async with TimedEngine(store_url, config) as engine:
        initial = await timed_sync(engine)
    initial.check_up()
    print(
        f"ntt initial sync: {initial.read:,} rows read in {secs(initial.seconds)} wall, "
        f"{secs(initial.cpu)} CPU of the sync process, servers "
        f"{', '.join(f'{k} {secs(v)}' for k, v in sorted(initial.servers.items()))} "
        f"(`SyncEngine.sync()`, concurrency {Settings().sync_concurrency}, fresh store)",
        flush=True,
    )
    conn = await asyncpg.connect(dsn(args.pg_url, f"{prefix}_store"))
    try:
        if await conn.fetchval("SHOW autovacuum") == "off":
            # The sync analyses a table when it first fills (hub.sync.engine); the rest of
            # a load this size is autovacuum's, which this machine's server runs without.
            began = time.perf_counter()
            await conn.execute("ANALYZE")
            print(
                f"ntt store: ANALYZE after the load in {secs(time.perf_counter() - began)} "
                "(the server runs with autovacuum off; autovacuum would have analysed it)",
                flush=True,
            )
        before, began = server_cpu(), time.perf_counter()
        try:
            rules = await asyncio.wait_for(
                DiscrepancyEngine().run(conn, full=True), args.rules_timeout
            )
        except TimeoutError:
            rules = None
            print(
                f"ntt rules run (full): did not finish in {args.rules_timeout:g} s (cancelled; "
                "`DiscrepancyEngine().run(full=True)`); the idle cycles below are the sync "
                "alone (`SyncEngine.sync()`), without the rules",
                flush=True,
            )
        wall = time.perf_counter() - began
        if rules is not None:
            print(
                f"ntt rules run (full): {rules.rules} rules on {rules.partitions} Pemda-years, "
                f"{rules.raised:,} found in {secs(wall)} wall; servers "
                f"{servers_text(before, server_cpu())} (`DiscrepancyEngine().run(full=True)`)",
                flush=True,
            )
    finally:
        conn.terminate()
    kind = SyncJob if rules is not None else TimedEngine
    options = {"concurrency": Settings().sync_concurrency} if rules is not None else {}
    async with kind(store_url, config, **options) as job:
        for n in range(IDLE_CYCLES):
            await asyncio.sleep(INTERVAL)
            before, cpu, began = server_cpu(), time.process_time(), time.perf_counter()
            reports = await job.sync()
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            after = server_cpu()
            read = sum(s.read for r in reports for s in r.streams)
            pg = after.get("postgresql", 0.0) - before.get("postgresql", 0.0)
            print(
                f"ntt idle sync cycle {n + 1}: {secs(wall)} wall, {read:,} rows read; "
                f"sync process {secs(cpu)} CPU = {core(cpu)}; PostgreSQL server {secs(pg)} CPU = "
                f"{core(pg)}; servers {servers_text(before, after)} (`{kind.__name__}.sync()` with "
                "nothing changed; server CPU includes other work on it)",
                flush=True,
            )
    return store_url


# --------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    base: str
    port: int
    key: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def start_demo(args: argparse.Namespace, store_url: str, data_dir: Path) -> Demo:
    port = free_port()
    env = {
        **os.environ,
        "RANTAI_DATABASE_URL": store_url,
        "RANTAI_RATE_LIMIT_PER_MINUTE": "100000000",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("RANTAI_DEV_ANONYMOUS_ROLE", None)
    log = data_dir / "demo.log"
    command = [
        sys.executable, "-m", "hub.cli", "demo", "--data-dir", str(data_dir), "--port",
        str(port), "--no-simulate", "--no-national-api", "--sync-every", str(INTERVAL),
    ]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once; polled, never awaited
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    demo = Demo(proc, base, port, "", log)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for _ in range(3000):
            if proc.poll() is not None:
                raise RuntimeError(f"rantai demo exited {proc.returncode}:\n{demo.tail()}")
            if "sync: caught up" in log.read_text(errors="replace"):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"rantai demo did not come up:\n{demo.tail()}")
    keys = json.loads((data_dir / "demo-keys.json").read_text(encoding="utf-8"))
    demo.key = keys["province"]
    return demo


def stop_demo(demo: Demo) -> None:
    demo.proc.terminate()
    try:
        demo.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        demo.proc.kill()
        demo.proc.wait()


async def demo_idle(demo: Demo, window: float) -> None:
    before, cpu = server_cpu(), proc_cpu(demo.proc.pid)
    await asyncio.sleep(window)
    used, after = proc_cpu(demo.proc.pid) - cpu, server_cpu()
    pg = after.get("postgresql", 0.0) - before.get("postgresql", 0.0)
    print(
        f"ntt demo idle: the `rantai demo` process (sync loop every {INTERVAL:g} s and server, "
        f"no requests) {secs(used)} CPU in {window:g} s = {core(used, window)}; PostgreSQL "
        f"server {secs(pg)} = {core(pg, window)} (/proc, other work on the server included)",
        flush=True,
    )


async def deep_chain(demo: Demo, year: int, requests: int) -> None:
    headers = {"content-type": "application/json", "authorization": f"Bearer {demo.key}"}
    async with httpx.AsyncClient(base_url=demo.base, timeout=httpx.Timeout(300.0)) as client:
        for first, n in ((100, requests), (500, max(requests // 3, 10))):
            body = orjson.dumps(
                {"query": DEEP_CHAIN, "variables": {"fiscalYear": year, "first": first}}
            )

            async def call(body: bytes = body) -> bytes:
                response = await client.post("/graphql", content=body, headers=headers)
                answer = response.json()
                if response.status_code != 200 or answer.get("errors"):
                    raise RuntimeError(f"deep chain: {response.status_code} {response.text[:300]}")
                return response.content

            size = len(await call())
            result: Result = await measure(
                call, warmup=2, sequential=n, concurrent=0, concurrency=1
            )
            print(
                f"ntt deep chain first={first}: p50 {ms(result.percentile(0.5))}, "
                f"p99 {ms(result.percentile(0.99))} over {n} sequential requests "
                f"({size / 1024:,.0f} KiB; province key, `rantai demo` idle-syncing meanwhile)",
                flush=True,
            )


# --------------------------------------------------------------------------- legacy → subscriber


class KeyedClient(Client):
    """A `bench.subscriptions.Client` that authenticates in its connection_init."""

    key = ""

    def send(self, message: dict[str, Any], opcode: int = 1) -> None:
        if message.get("type") == "connection_init":
            message = {**message, "payload": {"Authorization": f"Bearer {self.key}"}}
        super().send(message, opcode)


def camel(entity: str) -> str:
    return "".join(part.capitalize() for part in entity.split("_"))


def match(
    changes: Sequence[SimChange], frames: Sequence[tuple[float, bytes]]
) -> list[tuple[SimChange, float]]:
    """Each change with its latency: the first unused event of its source and entity after
    its commit (arrival − commit, seconds)."""
    events: list[tuple[float, str, str]] = []
    for arrived, payload in frames:
        message = orjson.loads(payload)
        event = ((message.get("payload") or {}).get("data") or {}).get("changes")
        if message.get("type") == "next" and event and event.get("source"):
            events.append((arrived, event["source"]["id"], event["entity"]))
    used: set[int] = set()
    latencies = []
    for change in sorted(changes, key=lambda c: c.written_at):
        committed = change.written_at.timestamp()
        for i, (arrived, source, entity) in enumerate(events):
            if i in used or arrived < committed:
                continue
            if source == change.source and entity == camel(change.entity):
                used.add(i)
                latencies.append((change, arrived - committed))
                break
    return latencies


async def legacy_to_subscriber(demo: Demo, data_dir: Path, args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    KeyedClient.key = demo.key
    _, client = await loop.create_connection(
        lambda: KeyedClient("127.0.0.1", demo.port, "/graphql", {}), "127.0.0.1", demo.port
    )
    await asyncio.wait_for(client.acked, 30)
    await asyncio.sleep(1)
    pemda = len(region_plans(args.scale))
    per_minute = args.per_pemda * pemda
    changes: list[SimChange] = []
    stop = asyncio.Event()
    before, cpu = server_cpu(), proc_cpu(demo.proc.pid)
    async with Simulator(data_dir, seed=2) as simulator:
        task = asyncio.create_task(
            simulator.run(per_minute=per_minute, stop=stop, on_change=changes.append)
        )
        await asyncio.sleep(args.seconds)
        stop.set()
        await task
    await asyncio.sleep(2 * INTERVAL + 3)  # the last changes' sync and delivery
    used, after = proc_cpu(demo.proc.pid) - cpu, server_cpu()
    window = args.seconds + 2 * INTERVAL + 3
    client.close()
    if client.closed and "lost" not in client.closed and "closed" in client.closed:
        print(f"ntt subscriber: {client.closed}")
    matched = match(changes, client.frames)
    latencies = [seconds for _, seconds in matched]
    missing = len(changes) - len(latencies)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(_count(c.kind for c in changes).items()))
    pg = after.get("postgresql", 0.0) - before.get("postgresql", 0.0)
    print(
        f"ntt simulator: {len(changes)} legacy changes in {args.seconds:g} s at "
        f"{per_minute:g} a minute ({args.per_pemda:g} per Pemda × {pemda}): {kinds}; "
        f"{len(client.frames)} events to the subscriber; `rantai demo` process "
        f"{secs(used)} CPU = {core(used, window)}, PostgreSQL server {core(pg, window)}",
        flush=True,
    )
    if latencies:
        print(
            f"ntt legacy change → subscriber: p50 {ms(statistics.median(latencies))}, p99 "
            f"{ms(percentile(latencies, 0.99))}, max {ms(max(latencies))} over "
            f"{len(latencies)} changes ({missing} without a matching event); sync every "
            f"{INTERVAL:g} s, one `changes` subscriber with the province key",
            flush=True,
        )
        by_kind: dict[str, list[float]] = {}
        for change, seconds in matched:
            by_kind.setdefault(change.kind, []).append(seconds)
        print(
            "ntt legacy change → subscriber by kind (p50 / max): "
            + "; ".join(
                f"{kind} {ms(statistics.median(xs))} / {ms(max(xs))} ({len(xs)})"
                for kind, xs in sorted(by_kind.items())
            ),
            flush=True,
        )
    else:
        print("ntt legacy change → subscriber: no change reached the subscriber", flush=True)


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


# --------------------------------------------------------------------------- main


KEPT = "bench-ntt.json"  # in a kept data dir: the prefix and store of its databases


async def main_async(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    demo: Demo | None = None
    kept = Path(args.keep) / KEPT if args.keep else None
    if args.reuse:
        if kept is None or not kept.exists():
            print(f"--reuse: no kept estate in {args.keep!r} (run with --keep DIR first)")
            return 2
        state = json.loads(kept.read_text(encoding="utf-8"))
        prefix, store_url, data_dir = state["prefix"], state["store_url"], Path(args.keep)
        print(f"ntt: reusing the estate and store kept in {data_dir} ({prefix}_*)", flush=True)
    else:
        prefix = f"bench_{uuid.uuid4().hex[:8]}"
        if args.keep:
            data_dir = Path(args.keep)
            data_dir.mkdir(parents=True, exist_ok=False)
        else:
            data_dir = Path(tempfile.mkdtemp(prefix="rantai-bench-ntt-"))
    try:
        if not args.reuse:
            store_url = await estate_and_store(args, prefix, data_dir)
            if kept is not None:
                kept.write_text(json.dumps({"prefix": prefix, "store_url": store_url}))
        if args.estate_only:
            return 0
        demo = await start_demo(args, store_url, data_dir)
        print(f"ntt demo: `rantai demo` serving at {demo.base} (log {demo.log})", flush=True)
        await demo_idle(demo, args.idle_window)
        if "dashboard" not in args.skip:
            from bench.browser import province_page

            print(await province_page(demo.base, demo.key), flush=True)
        if "chain" not in args.skip:
            await deep_chain(demo, 2026, args.requests)
        if "subscriber" not in args.skip:
            await legacy_to_subscriber(demo, data_dir, args)
        if demo.proc.poll() is not None:
            print(f"FAILED: rantai demo exited {demo.proc.returncode}:\n{demo.tail()}")
            return 1
    finally:
        if demo is not None:
            stop_demo(demo)
        total = f"total {secs(time.perf_counter() - began)} ({datetime.now():%Y-%m-%d %H:%M})"
        if args.keep and not (args.reuse and args.drop):
            print(f"kept the estate in {data_dir} and its databases ({prefix}_*); {total}")
        else:
            dropped = await drop_everything(args.pg_url, args.mariadb_url, prefix)
            shutil.rmtree(data_dir, ignore_errors=True)
            print(f"dropped {len(dropped)} databases ({prefix}_*); {total}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ntt", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--years",
        type=int,
        choices=(1, 2),
        default=2,
        help="fiscal years generated: 2 (2025 and 2026, the demo's) or 1 (2026)",
    )
    parser.add_argument(
        "--seconds", type=float, default=180.0, help="how long the simulator writes (180)"
    )
    parser.add_argument(
        "--per-pemda",
        type=float,
        default=2.0,
        help="simulated changes a minute per Pemda (2: ≈1,000 a working day)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=30,
        help="sequential deep chain requests at first=100 (a third at 500)",
    )
    parser.add_argument(
        "--idle-window",
        type=float,
        default=30.0,
        help="seconds the idle demo's CPU is read over (30)",
    )
    parser.add_argument(
        "--scale", choices=SCALES, default="ntt", help="ntt; the others try the bench out quickly"
    )
    parser.add_argument(
        "--rules-timeout",
        type=float,
        default=900.0,
        help="seconds the full rules run may take before it is cancelled (900)",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        default=None,
        help="generate into DIR (new) and keep it and its databases; with --reuse: measure "
        "the demo's steps again on what DIR kept",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep DIR: no generation, sync or rules"
    )
    parser.add_argument(
        "--drop", action="store_true", help="with --reuse: drop the kept estate at the end"
    )
    parser.add_argument(
        "--estate-only", action="store_true", help="stop after the idle cycles (step 2)"
    )
    parser.add_argument("--skip", default="", help="comma-separated: dashboard,chain,subscriber")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RANTAI_DATABASE_URL", DEFAULT_PG_URL),
        help=f"admin URL of the PostgreSQL server (RANTAI_DATABASE_URL, else {DEFAULT_PG_URL})",
    )
    parser.add_argument(
        "--mariadb-url",
        default=None,
        help="MariaDB for the finance databases (default: SQLite, as the demo)",
    )
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.pg_url = pg_dsn(args.pg_url)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
