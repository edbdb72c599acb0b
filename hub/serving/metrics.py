"""/metrics in Prometheus' text format, for a key of role `metrics` or from the configured
address ranges (`RANTAI_METRICS_ADDRESSES`) only.

What code records as it runs lives in `hub/telemetry/metrics.py` (requests, rule run
times, sync batches and run times of the syncs this process runs). What is read at scrape
time is gathered here: the compiled path's answers and declines by reason, open
WebSockets, Server-Sent Event streams and subscriptions, the outbox lag of this process's
change feed and of the ketimpangan rules, and per source its status, rows of its last run
by outcome, rows held and the age of its last success (from the store, so a sync run by
another process shows too).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.auth import AuthError, Role
from hub.auth.guard import AuthThrottled, Gatekeeper
from hub.errors import ErrorCode
from hub.serving.http import client_address
from hub.serving.responses import error_body
from hub.settings import Settings
from hub.telemetry.metrics import REGISTRY

log = logging.getLogger("rantai.metrics")

STATUSES = ("NEVER_SYNCED", "OK", "DEGRADED", "DOWN")
SOURCES = """SELECT id, status, rows, waiting, last_run,
                    extract(epoch FROM now() - last_success_at) AS since_success
             FROM source ORDER BY id"""
LAG = """SELECT (SELECT coalesce(max(id), 0) FROM outbox) AS head,
                (SELECT position FROM discrepancy_state WHERE id = 1) AS rules"""


def allowed_networks(
    setting: str,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    parts = [part.strip() for part in setting.split(",")]
    return [ipaddress.ip_network(part, strict=False) for part in parts if part]


def from_allowed_address(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@dataclass
class Snapshot:
    """The values read at one scrape."""

    answered: int = 0
    declined: dict[str, int] = field(default_factory=dict)
    websockets: int = 0
    streams: int = 0
    subscriptions: int = 0
    feed_position: int = 0
    outbox_head: int = 0
    rules_position: int | None = None
    sources: list[Any] = field(default_factory=list)


class _ScrapeCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        compiled = CounterMetricFamily(
            "rantai_compiled_answers", "Queries the compiled path answered.", labels=[]
        )
        compiled.add_metric([], snap.answered)
        yield compiled
        declined = CounterMetricFamily(
            "rantai_compiled_declines",
            "Queries the compiled path left to the resolvers, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(snap.declined.items()):
            declined.add_metric([reason], count)
        yield declined
        for name, doc, value in (
            ("rantai_websockets_open", "Open WebSocket connections.", snap.websockets),
            ("rantai_sse_streams_open", "Open Server-Sent Event streams.", snap.streams),
            ("rantai_subscriptions_open", "Subscribers of the change feed.", snap.subscriptions),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge
        lag = GaugeMetricFamily(
            "rantai_outbox_lag_events",
            "Outbox events not yet read by a consumer: this process's change feed, the rules.",
            labels=["consumer"],
        )
        lag.add_metric(["feed"], max(0, snap.outbox_head - snap.feed_position))
        if snap.rules_position is not None:
            lag.add_metric(["discrepancies"], max(0, snap.outbox_head - snap.rules_position))
        yield lag
        yield from self._sources()

    def _sources(self) -> Iterator[Metric]:
        status = GaugeMetricFamily(
            "rantai_source_status", "1 for a source's current status.", labels=["source", "status"]
        )
        age = GaugeMetricFamily(
            "rantai_source_last_success_age_seconds",
            "Seconds since a source's last successful sync.",
            labels=["source"],
        )
        rows = GaugeMetricFamily(
            "rantai_source_last_run_rows",
            "Rows of a source's last sync by outcome (read, created, updated, deleted, …).",
            labels=["source", "outcome"],
        )
        held = GaugeMetricFamily(
            "rantai_source_rows", "Rows a source holds in the store.", labels=["source"]
        )
        waiting = GaugeMetricFamily(
            "rantai_source_waiting_rows",
            "Rows of a source waiting for a parent.",
            labels=["source"],
        )
        for row in self.snap.sources:
            for name in STATUSES:
                status.add_metric([row["id"], name], 1 if row["status"] == name else 0)
            if row["since_success"] is not None:
                age.add_metric([row["id"]], float(row["since_success"]))
            totals: dict[str, int] = {}
            for counts in (row["last_run"] or {}).values():
                if isinstance(counts, dict):
                    for outcome, n in counts.items():
                        if isinstance(n, int) and not isinstance(n, bool):
                            totals[outcome] = totals.get(outcome, 0) + n
            for outcome, n in sorted(totals.items()):
                rows.add_metric([row["id"], outcome], n)
            held.add_metric([row["id"]], row["rows"])
            waiting.add_metric([row["id"]], row["waiting"])
        yield from (status, age, rows, held, waiting)


async def snapshot(state: Any) -> Snapshot:
    api = state.api
    snap = Snapshot()
    compiled = api.compiled
    if compiled is not None:
        snap.answered = compiled.answered
        snap.declined = dict(compiled.declined)
    snap.websockets = state.live.connections
    snap.streams = state.streams.connections
    feed = state.feed
    snap.subscriptions = feed.subscribers
    snap.feed_position = feed.position
    engine: AsyncEngine = state.engine
    async with engine.connect() as conn:
        lag = (await conn.execute(text(LAG))).mappings().one()
        snap.outbox_head, snap.rules_position = int(lag["head"]), lag["rules"]
        snap.sources = list((await conn.execute(text(SOURCES))).mappings())
    return snap


async def metrics_endpoint(request: Request) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    address = client_address(request)
    credential = request.headers.get("authorization")
    if credential is not None or not from_allowed_address(address, state.metrics_networks):
        gate: Gatekeeper = state.gate
        try:
            viewer = await gate.authenticate(credential, address)
        except AuthThrottled as exc:
            return JSONResponse(error_body(ErrorCode.RATE_LIMITED, str(exc)), status_code=429)
        except AuthError as exc:
            return JSONResponse(error_body(ErrorCode.UNAUTHENTICATED, str(exc)), status_code=401)
        if viewer.role is not Role.METRICS:
            message = (
                "Metrics need a key of role metrics, or an address in RANTAI_METRICS_ADDRESSES."
            )
            return JSONResponse(error_body(ErrorCode.FORBIDDEN, message), status_code=403)
    started = time.perf_counter()
    snap = await snapshot(state)
    scrape = CollectorRegistry()
    scrape.register(_ScrapeCollector(snap))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    log.debug("scrape in %.1f ms (%s)", (time.perf_counter() - started) * 1000, settings.env)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
