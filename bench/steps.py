"""Each step of the compiled path, measured in one process on one store.

    .venv/bin/python -m bench.steps [--sub-activities 3500] [--requests 9]

For the deep chain document at `first: 100` and `first: 1000` it times, in the same run:

- **floor**: hand-written asyncpg, one statement per level, orjson out (bench.chain's);
- **ordinary**: graphql-core + Strawberry resolvers + DataLoaders, then orjson;
- **compiled, re-read**: the compiled statement, its JSON parsed and serialised again
  (what splicing saves);
- **compiled**: the compiled statement, its JSON spliced with `orjson.Fragment`.

No HTTP: this isolates execution. `bench.chain` measures the whole hub over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from graphql import get_operation_ast, parse

from bench.chain import FISCAL_YEAR, Store, floor_chain, seed
from hub import migrate
from hub.serving.app import create_app
from hub.serving.examples import DEEP_CHAIN
from hub.serving.request import run
from hub.settings import Settings
from hub.store.scope import EVERYTHING
from resolvers.context import Context
from schema import schema


async def measure(store: Store, sub_activities: int, requests: int) -> list[tuple[str, int, float]]:
    await seed(store.dsn, sub_activities, 1)
    conn = await asyncpg.connect(store.dsn)
    await conn.execute("ANALYZE")
    settings = Settings(database_url=None, max_page_size=1000)
    app = create_app(store.url, settings)
    results: list[tuple[str, int, float]] = []
    document = parse(DEEP_CHAIN)
    operation = get_operation_ast(document, None)
    assert operation is not None
    async with app.router.lifespan_context(app):
        compiled = app.state.api.compiled
        engine = app.state.engine

        for first in (100, 1000):
            variables = {"fiscalYear": FISCAL_YEAR, "first": first}

            async def floor(first: int = first) -> bytes:
                return await floor_chain(conn, first, settings.source_freshness_seconds)

            async def ordinary(variables: dict[str, Any] = variables) -> bytes:
                context = Context.create(engine, settings, scope=EVERYTHING)
                result = await run(
                    schema, document, context, variables, None,
                    time_limit=300, hide_suggestions=False,
                )  # fmt: skip
                assert result.errors is None, result.errors
                return orjson.dumps({"data": result.data})

            async def fast(variables: dict[str, Any] = variables, reread: bool = False) -> bytes:
                result = await compiled.answer(
                    document, operation, variables, EVERYTHING, time_limit=300
                )
                assert result is not None
                data = result.data
                if reread:
                    data = {k: orjson.loads(bytes(orjson.dumps(v))) for k, v in data.items()}
                return orjson.dumps({"data": data})

            async def reread(variables: dict[str, Any] = variables) -> bytes:
                return await fast(variables, reread=True)

            steps: list[tuple[str, Callable[[], Awaitable[bytes]]]] = [
                ("floor", floor),
                ("ordinary", ordinary),
                ("compiled, re-read", reread),
                ("compiled", fast),
            ]
            same = None
            for label, step in steps:
                n = requests if first == 100 else max(3, requests // 3)
                await step()  # warm-up (plans, caches)
                times = []
                for _ in range(n):
                    started = time.perf_counter()
                    body = await step()
                    times.append(time.perf_counter() - started)
                if label != "floor":
                    data = orjson.loads(body)["data"]
                    same = data if same is None else same
                    assert data == same, f"{label} answered differently"
                results.append((label, first, statistics.median(times)))
    await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sub-activities", type=int, default=3500)
    parser.add_argument("--requests", type=int, default=9)
    args = parser.parse_args()
    store = Store.open()
    try:
        migrate.upgrade(store.url)
        results = asyncio.run(measure(store, args.sub_activities, args.requests))
    finally:
        store.close()
    print(f"deep chain steps, {args.sub_activities} sub kegiatan, {store.where}; p50 in ms")
    floors = {first: t for label, first, t in results if label == "floor"}
    for label, first, t in results:
        print(
            f"steps first={first:<5} {label:<18} {t * 1000:8.1f} ms"
            f"   {t / floors[first]:5.2f}x floor"
        )


if __name__ == "__main__":
    main()
