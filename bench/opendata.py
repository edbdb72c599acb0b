"""Downloads against the GraphQL pages they are made of, in the same run.

The baseline is the work a download cannot avoid: the same `subActivities` pages, with the
same selection and page size, fetched through /graphql and thrown away. The figures are the
XLSX and CSV downloads of the same rows (`/export/sub-kegiatan.xlsx|csv`), and the OCDS
release package of the province, as ratios and rows per second; plus one /metrics scrape.

    RANTAI_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.opendata [--sub-activities 3500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx

from bench.chain import Store, seed
from hub import migrate
from hub.serving.app import create_app
from hub.serving.opendata import exports
from hub.settings import Settings

YEAR = 2025


async def graphql_pages(client: httpx.AsyncClient) -> int:
    view = exports.VIEWS["sub-kegiatan"]
    rows, after = 0, None
    while True:
        variables = {"filter": {"fiscalYear": YEAR}, "first": exports.PAGE, "after": after}
        body = (await client.post("/graphql", json={"query": view.document,
                                                    "variables": variables})).json()  # fmt: skip
        page = body["data"]["subActivities"]
        rows += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


async def download(client: httpx.AsyncClient, path: str) -> int:
    size = 0
    async with client.stream("GET", path) as response:
        assert response.status_code == 200, response.status_code
        async for chunk in response.aiter_raw():
            size += len(chunk)
    return size


async def timed(work: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def run(url: str, rounds: int) -> None:
    app = create_app(url, Settings(database_url=url, dev_anonymous_role="province"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=600
        ) as client,  # fmt: skip
    ):
        await graphql_pages(client)  # warm: plans, caches
        base, rows = await timed(lambda: graphql_pages(client), rounds)
        xlsx, xlsx_bytes = await timed(
            lambda: download(client, f"/export/sub-kegiatan.xlsx?fiscalYear={YEAR}"), rounds
        )
        csv, csv_bytes = await timed(
            lambda: download(client, f"/export/sub-kegiatan.csv?fiscalYear={YEAR}"), rounds
        )
        ocds, ocds_bytes = await timed(
            lambda: download(client, f"/ocds/53/{YEAR}/releases.json"), rounds
        )
        scrape, _ = await timed(lambda: download(client, "/metrics"), rounds)
    print(f"rows: {rows} sub kegiatan, median of {rounds} rounds")
    print(f"baseline  GraphQL pages only   {base:7.3f} s  {rows / base:9.0f} rows/s")
    print(f"xlsx      /export (streamed)   {xlsx:7.3f} s  {rows / xlsx:9.0f} rows/s  "
          f"ratio {xlsx / base:5.2f}  {xlsx_bytes / 1e6:.1f} MB")  # fmt: skip
    print(f"csv       /export (streamed)   {csv:7.3f} s  {rows / csv:9.0f} rows/s  "
          f"ratio {csv / base:5.2f}  {csv_bytes / 1e6:.1f} MB")  # fmt: skip
    print(f"ocds      releases of 53       {ocds:7.3f} s  {ocds_bytes / 1e6:.1f} MB")
    print(f"metrics   one scrape           {scrape * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sub-activities", type=int, default=3500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store = Store.open()
    try:
        migrate.upgrade(store.url, "head")
        asyncio.run(seed(store.dsn, args.sub_activities, 1))
        print(f"store: {store.where}")
        asyncio.run(run(store.url, args.rounds))
    finally:
        store.close()


if __name__ == "__main__":
    main()
