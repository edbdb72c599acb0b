"""What the request path's visibility checks cost a request (docs/architecture.md, decisions
30 and 31): the roles of the root fields and, for viewers who do not see everything, the
paths the schema hides, both worked out once per document and then read from it.

    .venv/bin/python -m bench.visibility [--calls 200000]

Measured in one process, in the same run, per request: the baseline is the cached lookup of
the parsed and validated document (`Documents.get`), which every request already pays; the
checks are printed as a ratio of it, for a province key (sees everything), a regency key
and the public viewer. No store and no HTTP: these are in-memory steps.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from graphql import get_operation_ast

from hub.auth import ANONYMOUS, Role, Viewer
from hub.serving.documents import Documents, Limits
from hub.serving.examples import DEEP_CHAIN
from hub.serving.visibility import forbidden_root, hidden_paths, viewer_extension
from schema import schema


def per_call(work: Callable[[], object], calls: int) -> float:
    """Seconds per call, the best of three runs of `calls` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            work()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    calls = parser.parse_args().calls
    documents = Documents(schema, Limits())
    prepared = documents.get(DEEP_CHAIN)
    assert prepared.document is not None
    operation = get_operation_ast(prepared.document, None)
    assert operation is not None
    graphql_schema = schema._schema
    baseline = per_call(lambda: documents.get(DEEP_CHAIN), calls)
    print(f"baseline: cached document lookup {baseline * 1e6:.2f} µs per request")
    viewers = {
        "province key": Viewer(Role.PROVINCE, "key:bench"),
        "regency key": Viewer(Role.REGENCY, "key:bench", "53.01"),
        "public": ANONYMOUS,
    }
    for name, viewer in viewers.items():

        def checks(viewer: Viewer = viewer) -> object:
            forbidden_root(graphql_schema, prepared, operation, viewer)
            viewer_extension(viewer)
            return hidden_paths(graphql_schema, prepared, operation, viewer.scope)

        cost = per_call(checks, calls)
        print(
            f"{name:<13} visibility checks {cost * 1e6:.2f} µs = "
            f"{cost / baseline:.2f}× the baseline"
        )


if __name__ == "__main__":
    main()
