"""Subscriptions: the source stream of one subscriber, and one rendering per event for all
subscribers that asked the same thing.

A rendering executes the selection for an event; it is shared by every subscriber with the
same (document, operation, variables the selection uses, viewer scope): the root field's
`filter` and `after` only choose which events a subscriber gets, not what an event looks
like, so they are left out of the key, and 5,000 regency apps with one document share one
rendering per event. Each rendering gets its own context (loaders per event, never per
connection) and is memoised on the event. Errors are formatted as every other answer is:
with codes, masked in production, no field suggestions.

Renderings share the store with every other request, so a stream has at most
STREAM_AHEAD renderings it started itself running at once: a replay of 100,000 events does
not start 100,000 renderings that would hold every pooled connection, and a rendering
another subscriber started costs it nothing to wait for. (A process-wide bound as well was
measured and left out: renderings finishing a few at a time woke every socket's writer once
per event instead of once per burst, 2.5 times the CPU per frame for 1,000 subscribers to
every change.) A rendering that found the store
unable to serve (its pool exhausted, a restart) is tried again before it is sent: the
event keeps its place and its cursor, and the client gets it whole, not an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from graphql import ExecutionResult, GraphQLError, Node, located_error
from graphql.execution import Executor, create_source_event_stream, execute_subscription_event
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth import Viewer
from hub.errors import ErrorCode, error_entry, store_unreachable
from hub.events.feed import ChangeFeed
from hub.serving.documents import Prepared
from hub.serving.responses import format_result, formatted_errors, log_errors
from hub.serving.visibility import viewer_extension
from hub.settings import Settings
from hub.store.replicas import ReadReplicas
from hub.telemetry import tracing
from resolvers.context import Context

log = logging.getLogger("rantai.live")

STREAM_AHEAD = 4  # events of one stream rendering at once
RENDER_ATTEMPTS = 4  # a rendering the store could not serve, tried again after 0.2, 0.4, 0.8 s


class StreamFailed(Exception):
    """A subscription's source ended with an error (a bad or expired cursor, a store that
    went away): the errors as sent to the client."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "failed")
        self.errors = errors


@dataclass
class Operation:
    """What a subscription runs: a prepared document, its operation and variables."""

    prepared: Prepared
    operation_name: str | None
    variables: dict[str, Any]
    viewer: Viewer
    client: str = "?"  # the subscriber's address


class Subscriptions:
    """Opens subscriptions on the process's change feed and renders their events."""

    def __init__(
        self,
        schema: strawberry.Schema,
        engine: AsyncEngine,
        settings: Settings,
        feed: ChangeFeed | None,
        replicas: ReadReplicas | None = None,
    ) -> None:
        self.schema = schema
        self.engine = engine
        self.replicas = replicas
        self.settings = settings
        self.feed = feed
        self.renders = 0  # event renderings so far (bench and tests read it)
        self.rendering = 0  # renderings executing now, and the most at once (tests read it)
        self.rendering_peak = 0
        # Per address, its subscriptions by rendering group: each distinct group costs a
        # rendering of every event, so an address holds a bounded number of them.
        self._groups: dict[str, Counter[tuple[Any, ...]]] = {}

    async def open(self, op: Operation) -> Stream:
        """The subscriber's stream; StreamFailed when it cannot start (variables that do
        not fit, a cursor the API refuses, too many distinct subscriptions from its
        address)."""
        rendering = Rendering(self, op)
        self._hold(op.client, rendering.key)
        try:
            return await self._open(op, rendering)
        except BaseException:
            self.release(op.client, rendering.key)
            raise

    def _hold(self, client: str, key: tuple[Any, ...]) -> None:
        groups = self._groups.setdefault(client, Counter())
        limit = self.settings.max_distinct_subscriptions_per_address
        if key not in groups and len(groups) >= limit:
            message = (
                f"At most {limit} distinct subscriptions from one address; identical "
                "documents with the same variables share one and count once."
            )
            raise StreamFailed([error_entry(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message)])
        groups[key] += 1

    def release(self, client: str, key: tuple[Any, ...]) -> None:
        groups = self._groups.get(client)
        if groups is None:
            return
        groups[key] -= 1
        if groups[key] <= 0:
            del groups[key]
        if not groups:
            del self._groups[client]

    async def _open(self, op: Operation, rendering: Rendering) -> Stream:
        production = self.settings.production
        context = Context.create(self.engine, self.settings, feed=self.feed, viewer=op.viewer)
        built = Executor.build(
            self.schema._schema,
            op.prepared.document,  # type: ignore[arg-type]
            context_value=context,
            raw_variable_values=op.variables,
            operation_name=op.operation_name,
            hide_suggestions=production,
        )
        if isinstance(built, list):  # variables that do not fit their types
            raise StreamFailed(formatted_errors(built, executed=False, mask=production))
        source = create_source_event_stream(built)
        if asyncio.iscoroutine(source):
            source = await source
        if isinstance(source, ExecutionResult):
            errors = list(source.errors or ())
            log_errors(self.schema, errors, op.operation_name)
            raise StreamFailed(formatted_errors(errors, executed=True, mask=production))
        return Stream(source, built.operation, rendering, production)  # type: ignore[arg-type]


class Stream:
    """A subscriber's events, each as the future JSON text of its `payload`."""

    def __init__(
        self, source: AsyncIterator[Any], operation: Node, rendering: Rendering, mask: bool
    ) -> None:
        self._source = source
        self._operation = operation
        self._rendering = rendering
        self._mask = mask
        self._held = True  # its place among its address's subscriptions, until closed
        self._ahead: list[asyncio.Future[str]] = []  # renderings it started, not done (≤ 4)

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> asyncio.Future[str]:
        ahead = self._ahead
        while ahead and ahead[0].done():
            ahead.pop(0)
        if len(ahead) >= STREAM_AHEAD:  # its oldest first: never cancels a shared rendering
            await asyncio.wait([ahead.pop(0)])
        try:
            root = await anext(self._source)
        except (StopAsyncIteration, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = located_error(exc, [self._operation])
            log_errors(self._rendering.owner.schema, [error], self._rendering.op.operation_name)
            raise StreamFailed(formatted_errors([error], executed=True, mask=self._mask)) from exc
        rendered, started = self._rendering.render(root)
        if started:
            ahead.append(rendered)
        return rendered

    async def aclose(self) -> None:
        rendering = self._rendering
        if self._held:
            self._held = False
            rendering.owner.release(rendering.op.client, rendering.key)
        close = getattr(self._source, "aclose", None)
        if close is not None:
            await close()


class Rendering:
    """Renders events for one group of subscribers, once per event for the whole process."""

    def __init__(self, owner: Subscriptions, op: Operation) -> None:
        self.owner = owner
        self.op = op
        names = op.prepared.render_variables.get(op.operation_name)
        if names is None and len(op.prepared.render_variables) == 1:
            names = next(iter(op.prepared.render_variables.values()))
        relevant = {k: v for k, v in op.variables.items() if k in (names or ())}
        self.key = (
            "render",
            id(op.prepared),
            op.operation_name,
            # text, not orjson's bytes: those keep a 4 KiB buffer, for every subscription
            orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS).decode(),
            op.viewer.scope.cache_key,
        )

    def render(self, root: Any) -> tuple[asyncio.Future[str], bool]:
        """The `payload` JSON of the `next` message for this event, rendered once for every
        subscriber of this group (memoised on the event), and whether this call started
        the rendering."""
        event = getattr(root, "event", None)
        if event is None:  # a root without an outbox event: rendered for this one only
            self.owner.renders += 1
            return asyncio.ensure_future(self._execute(root)), True
        memo: dict[Any, Any] = event.memo
        task: asyncio.Future[str] | None = memo.get(self.key)
        if task is not None:
            return task, False
        task = memo[self.key] = asyncio.ensure_future(self._execute(root))
        self.owner.renders += 1
        return task, True

    async def _execute(self, root: Any) -> str:
        event = getattr(root, "event", None)
        attributes = {"rantai.event.id": int(getattr(event, "id", 0) or 0)}
        try:
            with tracing.tracer().start_as_current_span("render.event", attributes=attributes):
                for attempt in range(RENDER_ATTEMPTS):
                    result = await self._counted(root)
                    if attempt + 1 == RENDER_ATTEMPTS or not _store_could_not_serve(result):
                        break
                    await asyncio.sleep(0.2 * 2**attempt)
                return self._text(result)
        except Exception:
            log.exception("rendering a change event failed")
            error = error_entry(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error.")
            return orjson.dumps({"errors": [error]}).decode()

    async def _counted(self, root: Any) -> ExecutionResult:
        owner = self.owner
        owner.rendering += 1
        owner.rendering_peak = max(owner.rendering_peak, owner.rendering)
        try:
            return await self._result(root)
        finally:
            owner.rendering -= 1

    async def _result(self, root: Any) -> ExecutionResult:
        owner = self.owner
        production = owner.settings.production
        engine = owner.engine
        if owner.replicas is not None:  # a replica that has replayed this event's commit
            event = getattr(root, "event", None)
            engine = owner.replicas.engine(at=event.memo.get("lsn", 0) if event else 0)
        context = Context.create(engine, owner.settings, viewer=self.op.viewer)
        built = Executor.build(
            owner.schema._schema,
            self.op.prepared.document,  # type: ignore[arg-type]
            context_value=context,
            raw_variable_values=self.op.variables,
            operation_name=self.op.operation_name,
            hide_suggestions=production,
        )
        if isinstance(built, list):
            result = ExecutionResult(None, built)
        else:
            outcome = execute_subscription_event(built.build_per_event_executor(root))
            result = await outcome if asyncio.iscoroutine(outcome) else outcome  # type: ignore[assignment]
        return result

    def _text(self, result: ExecutionResult) -> str:
        owner = self.owner
        production = owner.settings.production
        errors: list[GraphQLError] = list(result.errors or ())
        if errors:
            log_errors(owner.schema, errors, self.op.operation_name)
        body, _ = format_result(result, mask=production, executed=result.data is not None)
        public = viewer_extension(self.op.viewer)
        if public is not None:
            body["extensions"] = {"viewer": public}
        return orjson.dumps(body).decode()


def _store_could_not_serve(result: ExecutionResult) -> bool:
    """True when a rendering failed only because the store could not serve it now: no
    connection free in time (SQLAlchemy's pool timeout), or a store going away."""
    causes = [error.original_error for error in result.errors or ()]
    return bool(causes) and all(
        cause is not None and (isinstance(cause, SQLAlchemyTimeout) or store_unreachable(cause))
        for cause in causes
    )
