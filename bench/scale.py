"""What a store holds per Pemda-year: the sizes docs/scale.md extrapolates to Indonesia.

    .venv/bin/python -m bench.scale [--scale small|province|ntt]

Generates the demo legacy estate at `--scale` (two fiscal years), runs the first sync and
the rules into a fresh store (`hub.jobs.SyncJob`, as `rantai sync` does), then an idle
cycle, and prints: the rows read and stored, the store's size with its largest tables
(`change_history` and `outbox` apart from the chain), and each per Pemda-year. Drops every
database it created.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from adapters.mapping import load_config
from bench.sync import DEFAULT_PG_URL, create_store, drop_everything, dsn, pg_dsn
from estate.generate import SCALES, generate_estate
from hub.jobs import SyncJob
from hub.migrate import run_async

LOG_TABLES = ("change_history", "outbox")


def mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


async def measure(admin: str, scale: str, prefix: str, data_dir: Path) -> None:
    began = time.perf_counter()
    result = await generate_estate(
        data_dir, scale=scale, seed=1, pg_url=admin, mariadb_url=None,
        fiscal_years=(2025, 2026), db_prefix=f"{prefix}_legacy",
    )  # fmt: skip
    print(f"estate generated in {time.perf_counter() - began:.1f} s", flush=True)
    name = f"{prefix}_store"
    store = await create_store(admin, name)
    await run_async(store, "upgrade", "head")
    async with SyncJob(store, load_config(result.config)) as job:
        began = time.perf_counter()
        first = await job.sync()
        initial = time.perf_counter() - began
        began = time.perf_counter()
        await job.sync()
        idle = time.perf_counter() - began
    read = sum(report.read for report in first)
    conn = await asyncpg.connect(dsn(admin, name))
    try:
        total = await conn.fetchval("SELECT pg_database_size(current_database())")
        tables = await conn.fetch(
            """SELECT relname, n_live_tup, pg_total_relation_size(relid) AS bytes
               FROM pg_stat_user_tables ORDER BY bytes DESC"""
        )
        years = await conn.fetchval(
            "SELECT count(DISTINCT (region_id, fiscal_year)) FROM sub_activity"
        )
        pemda = await conn.fetchval("SELECT count(DISTINCT region_id) FROM sub_activity")
    finally:
        await conn.close()
    log = {r["relname"]: r for r in tables if r["relname"] in LOG_TABLES}
    chain = [r for r in tables if r["relname"] not in LOG_TABLES]
    chain_rows = sum(r["n_live_tup"] for r in chain)
    chain_bytes = sum(r["bytes"] for r in chain)
    print(f"\nscale {scale}: {pemda} Pemda, {years} Pemda-years (sub kegiatan's region, year)")
    print(f"rows read by the first sync   {read:>12,}")
    print(f"first sync and rules          {initial:>11.1f} s")
    print(f"idle cycle (nothing changed)  {idle:>11.2f} s")
    print(f"store                         {mb(total):>12}")
    for table in LOG_TABLES:
        row = log.get(table)
        if row is not None:
            width = row["bytes"] / max(row["n_live_tup"], 1)
            print(
                f"  {table:<27} {mb(row['bytes']):>12}  {row['n_live_tup']:>10,} rows, "
                f"{width:,.0f} B a row"
            )
    print(f"  the chain and the rest      {mb(chain_bytes):>12}  {chain_rows:>10,} rows")
    for r in chain[:8]:
        print(f"    {r['relname']:<25} {mb(r['bytes']):>12}  {r['n_live_tup']:>10,} rows")
    print(
        f"\nper Pemda-year (÷ {years}; Pemda of very different sizes make this a mean): "
        f"store {mb(total // years)}, chain {mb(chain_bytes // years)} and "
        f"{chain_rows // years:,} rows"
    )


async def main_async(args: argparse.Namespace) -> int:
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    data_dir = Path(tempfile.mkdtemp(prefix="rantai-bench-scale-"))
    try:
        await measure(args.pg_url, args.scale, prefix, data_dir)
    finally:
        dropped = await drop_everything(args.pg_url, None, prefix)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"dropped {len(dropped)} databases ({prefix}_*)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--scale", choices=SCALES, default="province")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RANTAI_DATABASE_URL", DEFAULT_PG_URL),
        help=f"admin URL of the PostgreSQL server (RANTAI_DATABASE_URL, else {DEFAULT_PG_URL})",
    )
    args = parser.parse_args(argv)
    args.pg_url = pg_dsn(args.pg_url)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
