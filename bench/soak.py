"""Soak: the demo running with its simulator on, queries at a steady rate and N subscribers,
for a while; memory must stay flat, nothing may fail, delivery p99 must stay under 2 s.

    .venv/bin/python -m bench.soak [--seconds 600] [--subscribers 500] [--rate 5]

It starts `rantai demo` (small estate, simulator at 60 changes a minute, sync every 2 s)
in its own process on a throwaway store and legacy databases of RANTAI_DATABASE_URL's
server (or an embedded PostgreSQL), opens N graphql-transport-ws subscriptions to every
change, and sends `--rate` queries a second (Pemda summaries and a page of the deep
chain). Every 10 s it samples the hub's RSS. It reports:

- errors: failed queries or error frames (target 0);
- delivery latency, arrival minus `occurredAt` (when the sync committed the change to the
  hub), p50/p99 (target p99 < 2 s);
- RSS growth from the first sample after warm-up to the last (target < 20%).

Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import orjson

from bench.chain import ROOT, Store, free_port
from bench.subscriptions import Client, percentile, proc_rss
from estate.writers import drop_pg_database

QUERIES = [
    "{ regions { code summary(fiscalYear: 2026) { paid contracted openDiscrepancies } } }",
    "{ subActivities(filter: {fiscalYear: 2026}, first: 10) { edges { node { code "
    "budget { allocated paid } procurementPackages { rupCode tenders { code } } } } } }",
]


async def soak(args: argparse.Namespace, store: Store) -> int:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="rantai-soak-"))
    prefix = f"soak_{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "RANTAI_DATABASE_URL": store.url,
        "RANTAI_DEV_ANONYMOUS_ROLE": "province",
        "RANTAI_RATE_LIMIT_PER_MINUTE": "100000000",
        "PYTHONPATH": str(ROOT),
    }
    log = data_dir / "demo.log"
    command = [
        sys.executable, "-m", "hub.cli", "demo", "--data-dir", str(data_dir), "--port",
        str(port), "--changes-per-minute", "60", "--sync-every", "2", "--legacy-prefix", prefix,
    ]  # fmt: skip
    with log.open("wb") as sink:
        demo = subprocess.Popen(  # noqa: ASYNC220 - started once; polled, never awaited
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if demo.poll() is not None:
                    print(log.read_text(errors="replace")[-3000:])
                    return 1
                await asyncio.sleep(0.2)
            await asyncio.sleep(5)  # the first sync
            return await _run(args, client, port, demo.pid)
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
        for name in ("bappeda_53", "bappeda_5301", "bappeda_5371", "bpbj_53", "bpbj_5301",
                     "bpbj_5371"):  # fmt: skip
            try:
                await drop_pg_database(store.admin_dsn, f"{prefix}_{name}")
            except Exception as exc:
                print(f"could not drop {prefix}_{name}: {exc}")
        shutil.rmtree(data_dir, ignore_errors=True)


async def _run(args: argparse.Namespace, client: httpx.AsyncClient, port: int, pid: int) -> int:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    for start in range(0, args.subscribers, 100):
        batch = []
        for _ in range(min(100, args.subscribers - start)):
            _, c = await loop.create_connection(
                lambda: Client("127.0.0.1", port, "/graphql", {}), "127.0.0.1", port
            )
            batch.append(c)
        await asyncio.gather(*(asyncio.wait_for(c.acked, 60) for c in batch))
        clients += batch
    print(f"{len(clients)} subscribers live; soaking {args.seconds} s", flush=True)
    errors: list[str] = []
    latencies: list[float] = []
    rss: list[tuple[float, int]] = []
    queries = 0
    started = time.monotonic()
    next_sample = started
    while time.monotonic() - started < args.seconds:
        tick = time.monotonic()
        for i in range(args.rate):
            response = await client.post("/graphql", json={"query": QUERIES[i % len(QUERIES)]})
            queries += 1
            if response.status_code != 200 or "errors" in response.json():
                errors.append(f"query: {response.status_code} {response.text[:200]}")
        if tick >= next_sample:
            rss.append((tick - started, proc_rss(pid)))
            next_sample += 10
        for c in clients:
            for arrived, raw in c.frames:
                message = orjson.loads(raw)
                if message.get("type") != "next" or "errors" in message.get("payload", {}):
                    errors.append(f"frame: {raw[:200]!r}")
                    continue
                occurred = message["payload"]["data"]["changes"]["occurredAt"]
                latencies.append(arrived - datetime.fromisoformat(occurred).timestamp())
            c.frames.clear()
            if c.closed:
                errors.append(f"subscriber closed: {c.closed}")
        await asyncio.sleep(max(0.0, 1 - (time.monotonic() - tick)))
    for c in clients:
        c.close()
    warm = [v for t, v in rss if t >= min(60, args.seconds / 3)] or [v for _, v in rss]
    growth = (warm[-1] - warm[0]) / warm[0] if warm and warm[0] else 0.0
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = percentile(latencies, 0.99) if latencies else float("nan")
    print(
        f"soak: {args.seconds} s, {queries} queries, {len(latencies)} events delivered to "
        f"{len(clients)} subscribers, {len(errors)} errors"
    )
    print(f"delivery latency (commit → arrival): p50 {p50:.2f} s, p99 {p99:.2f} s (target < 2 s)")
    print(
        "hub RSS (MiB) every 10 s: "
        + " ".join(f"{v / 2**20:.0f}" for _, v in rss)
        + f"; growth after warm-up {growth:+.1%} (target < 20%)"
    )
    for error in errors[:10]:
        print(f"  ERROR {error}")
    missed = bool(errors) or not latencies or p99 >= 2.0 or growth >= 0.20
    print("targets: " + ("MISSED" if missed else "met"))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=int, default=5, help="queries per second")
    args = parser.parse_args(argv)
    store = Store.open()
    try:
        return asyncio.run(soak(args, store))
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
