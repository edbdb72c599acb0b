"""Where the hub's time goes on the deep chain, beside bench/chain.py's HTTP figures.

- The compiled floor: the statement the hub's compiled path runs for the document, run by
  asyncpg in this process with its JSON text returned and wrapped as `{"data": …}`: no
  HTTP, no GraphQL. Nothing built this way can answer faster; it is the physical limit of
  the approach.
- The request path in process: `Api.handle` (rate limit, cached parse and validation,
  cost, the compiled statement, audit) and the encoding of its answer, without HTTP.

The hub over HTTP minus the request path is uvicorn, HTTP and the client; the request path
minus the statement is the hub's own work per request.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import get_operation_ast

from hub.auth import Viewer
from hub.serving.app import create_app
from hub.serving.compiled.plans import Plan
from hub.serving.examples import DEEP_CHAIN
from hub.serving.request import Api, GraphQLRequest
from hub.settings import Settings


@dataclass
class Split:
    """Seconds spent per part, summed over the calls measured."""

    handle: list[float] = field(default_factory=list)
    encode: list[float] = field(default_factory=list)

    def median(self, part: str) -> float:
        values = sorted(getattr(self, part))
        return values[len(values) // 2] if values else 0.0


class Breakdown:
    def __init__(self, stack: AsyncExitStack, api: Api, viewer: Viewer) -> None:
        self._stack = stack
        self.api = api
        self.viewer = viewer
        self.split: dict[int, Split] = {}
        self._plans: dict[int, tuple[Plan, list[Any]]] = {}

    @classmethod
    async def open(cls, url: str, max_page_size: int) -> Breakdown:
        settings = Settings(
            database_url=url,
            max_page_size=max_page_size,
            dev_anonymous_role="province",
            rate_limit_per_minute=1_000_000_000,  # the bench is one caller
            execution_timeout_seconds=300,
        )
        app = create_app(url, settings)
        stack = AsyncExitStack()
        await stack.enter_async_context(app.router.lifespan_context(app))
        viewer = await app.state.gate.authenticate(None, "bench")
        return cls(stack, app.state.api, viewer)

    async def close(self) -> None:
        await self._stack.aclose()

    def plan(self, variables: dict[str, Any]) -> tuple[Plan, list[Any]]:
        """The compiled statement of the deep chain for these variables, as the hub runs it."""
        first = int(variables["first"])
        if first not in self._plans:
            document = self.api.documents.get(DEEP_CHAIN).document
            compiled = self.api.compiled
            if document is None or compiled is None:
                raise RuntimeError("the deep chain does not prepare, or compiling is off")
            operation = get_operation_ast(document)
            if operation is None:
                raise RuntimeError("the deep chain has no operation")
            statement = compiled.statement(document, operation, variables, self.viewer.scope)
            if statement is None:
                raise RuntimeError(
                    f"the hub declines to compile the deep chain: {compiled.declined}"
                )
            self._plans[first] = statement
        return self._plans[first]

    async def compiled_floor(self, conn: Any, variables: dict[str, Any]) -> bytes:
        plan, args = self.plan(variables)
        row = await conn.fetchrow(plan.sql, *args)
        if row is None:
            raise RuntimeError("the compiled statement returned no row")
        members = [
            orjson.dumps(key) + b":" + (b'"Query"' if column is None else row[column].encode())
            for key, column in plan.roots
        ]
        return b'{"data":{' + b",".join(members) + b"}}"

    async def request_path(self, variables: dict[str, Any]) -> bytes:
        first = int(variables["first"])
        split = self.split.setdefault(first, Split())
        request = GraphQLRequest(DEEP_CHAIN, variables, client="bench")
        started = time.perf_counter()
        answer = await self.api.handle(request, self.viewer)
        handled = time.perf_counter()
        body = orjson.dumps(answer.body)
        split.handle.append(handled - started)
        split.encode.append(time.perf_counter() - handled)
        return body
