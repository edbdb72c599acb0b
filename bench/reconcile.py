"""Reconciliation and verification at province scale: what they cost, and what the API's
queries feel while a reconciliation runs.

One run: the province estate (`estate.generate`), an initial sync, then

1. a read-only pass over every source (`bench.sync.read_everything`): the baseline both
   ratios below are measured against, in the same run;
2. the API's p99 latency on an idle hub (a separate `uvicorn` process, as `rantai serve`);
3. a reconciliation of every source, one after the other as `serve` schedules them
   (`hub.jobs.reconcile`: batches of 1,000 rows), while the same queries run, and their p99;
4. `rantai verify` of every source (`hub.sync.verify`).

It prints seconds and the ratios: p99 during the reconciliation / p99 idle, reconciliation
/ read-only pass, verify / read-only pass; and fails when the reconciliation of an
unchanged estate changed anything or verify found a difference.

    RANTAI_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.reconcile [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import httpx

from adapters.mapping import load_config
from bench.chain import HubProcess
from bench.sync import (
    DEFAULT_MARIADB_URL,
    DEFAULT_PG_URL,
    create_store,
    drop_everything,
    dsn,
    mariadb_reachable,
    num,
    pg_dsn,
    read_everything,
    secs,
)
from estate.generate import generate_estate
from hub.jobs.reconcile import reconcile, reconciling
from hub.sync import SyncEngine
from hub.sync.verify import verify_source

QUERY = """query ($fy: Int!, $after: String) {
  subActivities(filter: {fiscalYear: $fy}, first: 50, after: $after) {
    pageInfo { endCursor hasNextPage }
    edges { node { code name budget { allocated paid } opd { code } } }
  }
}"""
FISCAL_YEAR = 2025


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def ask(client: httpx.AsyncClient, after: str | None) -> tuple[float, str | None]:
    started = time.perf_counter()
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"fy": FISCAL_YEAR, "after": after}}
    )
    took = time.perf_counter() - started
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"the query failed: {response.status_code} {str(body)[:300]}")
    page = body["data"]["subActivities"]["pageInfo"]
    return took, page["endCursor"] if page["hasNextPage"] else None


async def latencies(
    client: httpx.AsyncClient, count: int | None, until: asyncio.Task[object] | None
) -> list[float]:
    """Sequential queries walking the pages: `count` of them, or until `until` is done."""
    out: list[float] = []
    after: str | None = None
    while (count is not None and len(out) < count) or (until is not None and not until.done()):
        took, after = await ask(client, after)
        out.append(took)
    return out


async def run(args: argparse.Namespace, prefix: str, data_dir: Path) -> list[str]:
    problems: list[str] = []
    estate = await generate_estate(
        data_dir, scale=args.scale, seed=1, pg_url=args.pg_url, mariadb_url=args.mariadb_url,
        db_prefix=prefix,
    )  # fmt: skip
    config = load_config(estate.config)
    store_url = await create_store(args.pg_url, f"{prefix}_store")
    started = time.perf_counter()
    async with SyncEngine(store_url, config) as engine:
        await engine.sync()
    print(f"initial sync: {secs(time.perf_counter() - started)}", flush=True)

    read = await read_everything(config)
    print(f"read-only pass: {num(read.rows)} rows in {secs(read.seconds)}", flush=True)

    # One client asks as fast as it can: the per-address rate limit is lifted for it.
    hub = HubProcess.start(
        store_url, data_dir, extra_env={"RANTAI_RATE_LIMIT_PER_MINUTE": "1000000"}
    )
    try:
        async with httpx.AsyncClient(base_url=hub.base_url, timeout=120) as client:
            await latencies(client, 10, None)  # warm-up
            idle = await latencies(client, args.requests, None)
            print(
                f"idle hub: {len(idle)} queries, p50 {statistics.median(idle) * 1000:.1f} ms, "
                f"p99 {p99(idle) * 1000:.1f} ms",
                flush=True,
            )
            async with SyncEngine(store_url, reconciling(config), concurrency=1) as engine:
                began = time.perf_counter()
                task = asyncio.create_task(reconcile(engine, list(config.sources)))
                during = await latencies(client, None, task)
                reports = await task
                reconcile_seconds = time.perf_counter() - began
    finally:
        hub.stop()
    changed = sum(r.changes for r in reports)
    failed = [r.source for r in reports if r.error or r.status == "BUSY"]
    if changed:
        problems.append(f"the reconciliation of an unchanged estate changed {changed} rows")
    if failed:
        problems.append(f"the reconciliation did not finish for {', '.join(failed)}")
    print(
        f"reconciliation of {len(reports)} sources: {secs(reconcile_seconds)}; meanwhile "
        f"{len(during)} queries, p50 {statistics.median(during) * 1000:.1f} ms, "
        f"p99 {p99(during) * 1000:.1f} ms",
        flush=True,
    )

    conn = await asyncpg.connect(dsn(args.pg_url, f"{prefix}_store"))
    try:
        began = time.perf_counter()
        results = [await verify_source(conn, source) for source in config.sources]
        verify_seconds = time.perf_counter() - began
    finally:
        await conn.close()
    groups = sum(len(r.groups) for r in results)
    compared = sum(g.source.count for r in results for g in r.groups)
    different = [f"{r.source}: {r.error or r.totals()}" for r in results if not r.ok]
    if different:
        problems.append("verify found differences: " + "; ".join(different))
    print(
        f"verify of {len(results)} sources: {num(compared)} rows in {groups} groups in "
        f"{secs(verify_seconds)}",
        flush=True,
    )
    print()
    print("figure                                   ours        baseline    ratio")
    rows = [
        ("query p99 during reconciliation vs idle", p99(during), p99(idle), "ms"),
        ("reconciliation vs read-only pass", reconcile_seconds, read.seconds, "s"),
        ("verify vs read-only pass", verify_seconds, read.seconds, "s"),
    ]
    for label, ours, base, unit in rows:
        scale = 1000 if unit == "ms" else 1
        print(
            f"{label:<40} {ours * scale:>8.1f} {unit:<2} {base * scale:>8.1f} {unit:<2} "
            f"{ours / base:>6.2f}×"
        )
    return problems


async def main_async(args: argparse.Namespace) -> int:
    if args.mariadb_url and await mariadb_reachable(args.mariadb_url) is None:
        args.mariadb_url = None
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    data_dir = Path(tempfile.mkdtemp(prefix="rantai-bench-reconcile-"))
    try:
        problems = await run(args, prefix, data_dir)
    finally:
        await drop_everything(args.pg_url, args.mariadb_url, prefix)
        shutil.rmtree(data_dir, ignore_errors=True)
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile")
    parser.add_argument("--quick", action="store_true", help="scale small: runs in seconds")
    parser.add_argument("--requests", type=int, default=200, help="idle queries (200)")
    parser.add_argument("--pg-url", default=os.environ.get("RANTAI_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument(
        "--mariadb-url", default=os.environ.get("RANTAI_MARIADB_URL", DEFAULT_MARIADB_URL)
    )
    args = parser.parse_args(argv)
    args.scale = "small" if args.quick else "province"
    args.pg_url = pg_dsn(args.pg_url)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
