"""OpenTelemetry traces: a span for each request, its SQL statements, each sync batch and
each event rendering.

`setup` installs the SDK's tracer provider with the OTLP/HTTP exporter only when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter reads the endpoint, headers and the
rest of the standard `OTEL_*` variables itself); unset, the API's no-op tracer stays and a
span costs next to nothing. A test may install its own provider (an in-memory exporter)
before the hub runs: `setup` then leaves it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import trace

from hub.telemetry.metrics import SYNC_BATCHES

_installed = False


def tracer() -> trace.Tracer:
    return trace.get_tracer("rantai")


def setup(service: str = "rantai") -> bool:
    """Install the OTLP exporter when the environment asks for one; True if installed."""
    global _installed
    if _installed or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _installed = True
    return True


def trace_statements(sync_engine: Any) -> None:
    """A span for every SQL statement of an SQLAlchemy engine, child of the request's."""
    from sqlalchemy import event

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        span = tracer().start_span(
            "sql", attributes={"db.system": "postgresql", "db.statement": statement[:2000]}
        )
        conn.info.setdefault("rantai_spans", []).append(span)

    def after(conn: Any, *args: Any) -> None:
        spans = conn.info.get("rantai_spans")
        if spans:
            spans.pop().end()

    def failed(context: Any) -> None:
        spans = context.connection.info.get("rantai_spans") if context.connection else None
        if spans:
            span = spans.pop()
            span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)


@asynccontextmanager
async def sync_batch(source: str, entity: str, rows: int) -> AsyncIterator[None]:
    """The span of one sync batch (its rows, history and outbox, in one transaction)."""
    with tracer().start_as_current_span(
        "sync.batch",
        attributes={"rantai.source": source, "rantai.entity": entity, "rantai.rows": rows},
    ):
        yield
    SYNC_BATCHES.labels(source).inc()
