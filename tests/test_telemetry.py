"""Metrics, traces and logs: /metrics after traffic (requests by operation, transport and
outcome; the compiled path; sockets and subscriptions; outbox lag; sources), who may read
it, OpenTelemetry spans for a request and its SQL, a sync batch and an event rendering
(the SDK's in-memory exporter), and one JSON log line per request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from hub.auth import keys
from hub.db import asyncpg_dsn
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.telemetry.logs import JsonFormatter
from tests.conftest import Server, running
from tests.test_subscriptions import change_plan, events, subscribe
from tests.test_sync import Estate, build_estate

SECRET = "test-secret-key-for-the-telemetry-suite-0123456789"
NAMED = "query Pemda { regions { code name } }"

EXPORTER = InMemorySpanExporter()


def _install_tracing() -> None:
    """The SDK with an in-memory exporter, once per process (OpenTelemetry allows one
    provider); the hub's tracer is the API's proxy, so it records into it."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))


_install_tracing()


@dataclass
class Hub:
    estate: Estate
    url: str  # SQLAlchemy URL of its store
    keys: dict[str, str]


@pytest.fixture(scope="module")
async def hub(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Hub:
    url = await server.create_database("rantai_telemetry")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path_factory.mktemp("estate"), url)
    await estate.sync()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        made = {
            role: (await keys.create(conn, SECRET, role))[0] for role in ("metrics", "province")
        }
    finally:
        await conn.close()
    return Hub(estate, url, made)


def settings(hub: Hub, **values: Any) -> Settings:
    return Settings(database_url=hub.url, secret_key=SECRET, **values)


async def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def feed_caught_up(app: Any) -> None:
    """The change feed has found the outbox's head (it starts in the background)."""
    for _ in range(600):
        if app.state.feed.position > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the change feed did not start")


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric, by their sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_metrics_count_requests_by_operation_transport_and_outcome(hub: Hub) -> None:
    app = create_app(hub.url, settings(hub))
    async with app.router.lifespan_context(app), await client_of(app) as client:
        await feed_caught_up(app)
        before = (await client.get("/metrics")).text
        for _ in range(3):
            assert (await client.post("/graphql", json={"query": NAMED})).status_code == 200
        bad = await client.post("/graphql", json={"query": "query Pemda { nope }"})
        assert bad.status_code == 200
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    after = scraped.text

    def delta(name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        return samples(after, name).get(key, 0) - samples(before, name).get(key, 0)

    ok = {"operation": "Pemda", "transport": "http", "outcome": "ok"}
    assert delta("rantai_requests_total", **ok) == 3
    refused = {**ok, "outcome": "GRAPHQL_VALIDATION_FAILED"}
    assert delta("rantai_requests_total", **refused) == 1
    timed = {"operation": "Pemda", "transport": "http"}
    assert delta("rantai_request_duration_seconds_count", **timed) == 4
    assert delta("rantai_compiled_answers_total") == 3  # `regions` is compiled
    assert samples(after, "rantai_websockets_open") == {(): 0}
    assert samples(after, "rantai_subscriptions_open") == {(): 0}
    lag = samples(after, "rantai_outbox_lag_events")
    assert lag[(("consumer", "feed"),)] == 0  # the feed has read the whole outbox
    status = samples(after, "rantai_source_status")
    assert status[(("source", "plan"), ("status", "OK"))] == 1
    assert status[(("source", "plan"), ("status", "DOWN"))] == 0
    assert (
        samples(after, "rantai_source_last_run_rows")[(("outcome", "read"), ("source", "plan"))] > 0
    )
    assert (("source", "plan"),) in samples(after, "rantai_source_last_success_age_seconds")
    # The syncs of this process (the estate's) and its rule runs are timed.
    assert samples(after, "rantai_source_last_run_duration_seconds")[(("source", "plan"),)] > 0
    assert samples(after, "rantai_sync_batches_total")[(("source", "plan"),)] > 0


async def test_compiled_declines_are_counted_by_reason(hub: Hub) -> None:
    app = create_app(hub.url, settings(hub))
    # A summary asked twice under one response key: the compiled path declines it.
    twice = "summary(fiscalYear: 2025) { paid }"
    query = f"{{ regions {{ code {twice} {twice} }} }}"
    async with app.router.lifespan_context(app), await client_of(app) as client:
        await client.post("/graphql", json={"query": query})
        after = (await client.get("/metrics")).text
    declines = samples(after, "rantai_compiled_declines_total")
    assert sum(declines.values()) == 1
    assert app.state.api.compiled.declined == {dict(k)["reason"]: v for k, v in declines.items()}


async def test_metrics_need_a_metrics_key_outside_the_configured_addresses(hub: Hub) -> None:
    app = create_app(hub.url, settings(hub, metrics_addresses="10.9.0.0/16"))
    async with app.router.lifespan_context(app), await client_of(app) as client:
        anonymous = await client.get("/metrics")
        province = await client.get(
            "/metrics", headers={"Authorization": f"Bearer {hub.keys['province']}"}
        )
        metrics = await client.get(
            "/metrics", headers={"Authorization": f"Bearer {hub.keys['metrics']}"}
        )
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer rk_no_no"})
    assert anonymous.status_code == province.status_code == 403
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert wrong.status_code == 401
    assert metrics.status_code == 200
    assert "rantai_requests_total" in metrics.text


def spans(name: str) -> list[ReadableSpan]:
    return [s for s in EXPORTER.get_finished_spans() if s.name == name]


async def test_a_request_is_traced_with_its_sql_statements(hub: Hub) -> None:
    app = create_app(hub.url, settings(hub, compiled_queries=False))
    EXPORTER.clear()
    async with app.router.lifespan_context(app), await client_of(app) as client:
        response = await client.post("/graphql", json={"query": NAMED})
    assert response.status_code == 200
    [request] = spans("graphql.request")
    assert request.attributes is not None
    assert request.attributes["graphql.operation.name"] == "Pemda"
    assert request.attributes["rantai.transport"] == "http"
    assert request.attributes["rantai.outcome"] == "ok"
    assert request.context is not None
    statements = [
        s
        for s in spans("sql")
        if s.parent is not None and s.parent.span_id == request.context.span_id
    ]
    assert statements, "the request's SQL statements are its children"
    assert all(s.context.trace_id == request.context.trace_id for s in statements)
    assert any("region" in str((s.attributes or {}).get("db.statement")) for s in statements)


async def test_a_sync_batch_and_an_event_rendering_are_traced(hub: Hub) -> None:
    app = create_app(hub.url, settings(hub))
    async with running(app) as port, subscribe(f"ws://127.0.0.1:{port}/graphql", {}) as ws:
        await asyncio.sleep(0.2)
        EXPORTER.clear()
        change_plan(hub.estate, 7_700_000, 90)
        await hub.estate.sync()
        [event] = await events(ws, 1)
    batches = spans("sync.batch")
    assert batches
    assert {(s.attributes or {}).get("rantai.source") for s in batches} >= {"plan"}
    renders = spans("render.event")
    assert len(renders) == 1
    assert event["entity"] == "SubActivity"


async def test_json_logs_have_one_line_per_request_without_the_key(hub: Hub) -> None:
    app = create_app(hub.url, settings(hub, log_format="json", dev_anonymous_role="public"))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("rantai.requests")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    key = hub.keys["province"]
    try:
        async with app.router.lifespan_context(app), await client_of(app) as client:
            await client.post(
                "/graphql", json={"query": NAMED}, headers={"Authorization": f"Bearer {key}"}
            )
            await client.post("/graphql", json={"query": "{ nope }"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(x["operation"], x["role"], x["actor"], x["outcome"]) for x in lines] == [
        ("Pemda", "province", "key", "ok"),
        (None, "public", "anonymous", "GRAPHQL_VALIDATION_FAILED"),
    ]
    assert all(x["message"] == "request" and x["duration_ms"] > 0 for x in lines)
    assert all(x["transport"] == "http" for x in lines)
    assert key not in buffer.getvalue()
    assert key.split("_")[1] not in buffer.getvalue()  # not even its prefix
