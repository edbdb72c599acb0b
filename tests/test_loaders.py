"""DataLoaders: one `= ANY($1)` statement per batch, results in key order, and a deep
query whose statement count depends on its depth, not on how many rows it returns."""

from __future__ import annotations

import asyncpg

from hub.serving.examples import DEEP_CHAIN
from hub.settings import Settings
from hub.store import relations as rel
from resolvers.context import Context
from tests.conftest import Api


async def test_deep_chain_statement_count_does_not_grow_with_rows(ordinary_api: Api) -> None:
    api = ordinary_api
    api.counter.reset()
    small = await api.data(DEEP_CHAIN, {"fiscalYear": 2025, "first": 10})
    small_statements = len(api.counter.statements)
    api.counter.reset()
    large = await api.data(DEEP_CHAIN, {"fiscalYear": 2025, "first": 500})
    large_statements = len(api.counter.statements)
    assert len(small["subActivities"]["edges"]) == 10
    assert len(large["subActivities"]["edges"]) == 500
    tenders = sum(
        len(p["tenders"])
        for e in large["subActivities"]["edges"]
        for p in e["node"]["procurementPackages"]
    )
    assert tenders > 0  # the deep levels really were loaded
    assert small_statements == large_statements
    # One statement per relation level, plus the page and its count: bounded by the depth.
    assert large_statements <= 25, api.counter.statements


async def test_each_batch_is_one_any_statement(ordinary_api: Api) -> None:
    api = ordinary_api
    api.counter.reset()
    await api.data(DEEP_CHAIN, {"fiscalYear": 2025, "first": 50})
    batches = [s for s in api.counter.statements if "= ANY" in s]
    assert batches
    assert all("IN (" not in s and s.count("= ANY") == 1 for s in batches)


async def test_relation_loader_returns_key_order_and_misses(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    ids = [r["id"] for r in await db.fetch("SELECT id FROM opd ORDER BY id DESC LIMIT 3")]
    context = Context.create(api.engine, settings)
    keys = [ids[1], 10**12, ids[0], ids[2]]
    api.counter.reset()
    rows = await context.loaders[rel.OPD_BY_ID].load_many(keys)
    assert [r.id if r else None for r in rows] == [ids[1], None, ids[0], ids[2]]
    assert len(api.counter.statements) == 1
    grouped = await context.loaders[rel.BUDGET_LINES_BY_SUB_ACTIVITY].load_many([10**12, 1])
    assert grouped[0] == []
    assert all(line.sub_activity_id == 1 for line in grouped[1])
    assert [line.account_code for line in grouped[1]] == sorted(
        line.account_code for line in grouped[1]
    )


async def test_loaders_are_per_request(api: Api, settings: Settings) -> None:
    first = Context.create(api.engine, settings)
    second = Context.create(api.engine, settings)
    assert first.loaders[rel.OPD_BY_ID] is first.loaders[rel.OPD_BY_ID]
    assert first.loaders[rel.OPD_BY_ID] is not second.loaders[rel.OPD_BY_ID]
