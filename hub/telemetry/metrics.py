"""The process's Prometheus metrics that code records as it runs (the values read from
the store or from live objects at scrape time are gathered by `hub/serving/metrics.py`).

Operation names are chosen by clients, so they are bounded as labels: at most
`MAX_OPERATIONS` distinct names per process are kept, longer than 64 characters cut, and
the rest counted as "other"; an anonymous operation is "(anonymous)".
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
MAX_OPERATIONS = 200

REQUESTS = Counter(
    "rantai_requests",
    "GraphQL operations by operation name, transport and outcome (ok or the error code).",
    ["operation", "transport", "outcome"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "rantai_request_duration_seconds",
    "Time from receiving an operation to its answer (a subscription: to its stream).",
    ["operation", "transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
    registry=REGISTRY,
)
RULE_SECONDS = Histogram(
    "rantai_rule_duration_seconds",
    "Time one ketimpangan rule took over the Pemda-years it evaluated (in this process).",
    ["rule"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SOURCE_RUN_SECONDS = Gauge(
    "rantai_source_last_run_duration_seconds",
    "How long the last sync of a source took (syncs run by this process).",
    ["source"],
    registry=REGISTRY,
)
SYNC_BATCHES = Counter(
    "rantai_sync_batches",
    "Sync batches written (by this process), per source.",
    ["source"],
    registry=REGISTRY,
)

_operations: set[str] = set()
_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """The label an operation name is counted under (bounded; see the module)."""
    if not name:
        return "(anonymous)"
    name = name[:64]
    if name in _operations:
        return name
    with _lock:
        if len(_operations) >= MAX_OPERATIONS:
            return "other"
        _operations.add(name)
    return name
