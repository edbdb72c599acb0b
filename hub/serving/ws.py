"""GraphQL over WebSocket, the graphql-transport-ws protocol (the `graphql-ws` client's).

Why the hub speaks it itself rather than through Strawberry's handler: a subscription there
executes its selection once per event *per subscriber*. Here each event is rendered once per
distinct (document, variables the selection uses, viewer scope) and the same JSON goes to
every socket of that group; only the frame's `id` differs. The `filter`/`after` arguments of
the root field pick which events a subscriber gets, not what an event looks like, so
subscribers that differ only in them share one rendering. A rendering gets its own context
(fresh loaders): loaders live per event, never per connection.

Protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
Close codes: 4400 invalid message, 4401 subscribe before acknowledgement, 4403 a credential
in `connection_init` that is not valid, 4406 subprotocol not acceptable, 4408 no
`connection_init` in time, 4409 duplicate operation id, 4429 a second `connection_init`.
The viewer comes from `connection_init`'s `Authorization` (or the upgrade request's header).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

import orjson
import strawberry
from graphql import (
    ExecutionResult,
    GraphQLError,
    Node,
    OperationType,
    get_operation_ast,
    located_error,
)
from graphql.execution import Executor, create_source_event_stream, execute_subscription_event
from starlette.types import Receive, Scope, Send
from strawberry.types import ExecutionResult as StrawberryResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from hub.auth import ANONYMOUS, AuthError, Viewer
from hub.errors import ErrorCode, StoreUnavailableError, error_entry
from hub.serving.documents import Prepared, check_variables, run
from hub.serving.http import format_result
from resolvers.context import Context

log = logging.getLogger("rantai.ws")

PROTOCOL = "graphql-transport-ws"
# An ASGI extension (hub/wsproto.py): several text frames in one socket write.
SEND_MANY = "rantai.websocket.send_many"
QUERY_ONLY = frozenset({StrawberryOperationType.QUERY})


class CloseCode:
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    INIT_TIMEOUT = 4408
    SUBSCRIBER_EXISTS = 4409
    TOO_MANY_INIT = 4429
    TRY_AGAIN_LATER = 1013


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _formatted_errors(errors: list[GraphQLError], executed: bool) -> list[Any]:
    body, _ = format_result(StrawberryResult(data=None, errors=errors))
    if executed:  # resolver errors without a code of their own are the hub's fault
        for formatted, error in zip(body["errors"], errors, strict=True):
            if not (error.extensions or {}).get("code") and formatted["extensions"]["code"] in (
                "GRAPHQL_VALIDATION_FAILED",
                "BAD_USER_INPUT",
            ):
                formatted["extensions"]["code"] = "INTERNAL_SERVER_ERROR"
    return list(body["errors"])


class Rendering:
    """Renders events for one group of subscribers, once per event for the whole process."""

    def __init__(
        self,
        endpoint: LiveEndpoint,
        prepared: Prepared,
        operation_name: str | None,
        variables: dict[str, Any],
        viewer: Viewer,
    ) -> None:
        self.endpoint = endpoint
        self.document = prepared.document
        self.operation_name = operation_name
        self.variables = variables
        self.viewer = viewer
        names = prepared.render_variables.get(operation_name)
        if names is None and len(prepared.render_variables) == 1:
            names = next(iter(prepared.render_variables.values()))
        relevant = {k: v for k, v in variables.items() if k in (names or ())}
        self.key = (
            "render",
            id(prepared),
            operation_name,
            orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS),
            viewer.scope.cache_key,
        )

    def render(self, root: Any) -> asyncio.Future[str]:
        """The `payload` JSON of the `next` message for this event, rendered once for every
        subscriber of this group (memoised on the event)."""
        event = getattr(root, "event", None)
        if event is None:  # a root without an outbox event: rendered for this one only
            self.endpoint.renders += 1
            return asyncio.ensure_future(self._execute(root))
        memo: dict[Any, Any] = event.memo
        task: asyncio.Future[str] | None = memo.get(self.key)
        if task is None:
            task = memo[self.key] = asyncio.ensure_future(self._execute(root))
            self.endpoint.renders += 1
        return task

    async def _execute(self, root: Any) -> str:
        try:
            return await self._execute_unsafe(root)
        except Exception:
            log.exception("rendering a change event failed")
            error = error_entry(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error")
            return orjson.dumps({"errors": [error]}).decode()

    async def _execute_unsafe(self, root: Any) -> str:
        state = self.endpoint.state
        context = Context.create(state.engine, state.settings, viewer=self.viewer)
        built = Executor.build(
            self.endpoint.schema._schema,
            self.document,  # type: ignore[arg-type]
            context_value=context,
            raw_variable_values=self.variables,
            operation_name=self.operation_name,
        )
        if isinstance(built, list):
            result = ExecutionResult(None, built)
        else:
            outcome = execute_subscription_event(built.build_per_event_executor(root))
            result = await outcome if asyncio.iscoroutine(outcome) else outcome  # type: ignore[assignment]
        if result.errors:
            self.endpoint.schema.process_errors(list(result.errors))
        body, _ = format_result(StrawberryResult(data=result.data, errors=result.errors))
        return orjson.dumps(body).decode()


OUTGOING_LIMIT = 1000  # frames waiting for one socket before its subscriptions wait too


class Connection:
    def __init__(self, endpoint: LiveEndpoint, scope: Scope, receive: Receive, send: Send) -> None:
        self.endpoint = endpoint
        self.receive = receive
        self._send = send
        self.send_many = SEND_MANY in (scope.get("extensions") or {})
        self.init_received = False
        self.acknowledged = False
        self.viewer: Viewer = ANONYMOUS  # from connection_init's payload (or the upgrade)
        self.headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
        }
        self.client = (scope.get("client") or ("?", 0))[0]
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.closed = False
        # Frames are queued and written by one flush per loop turn: the frames a burst
        # gives this socket (all its subscriptions) leave in one write.
        self._outgoing: list[str | tuple[str, asyncio.Future[str]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._room = asyncio.Event()
        self._refusals: set[asyncio.Task[None]] = set()

    async def send(self, text: str) -> None:
        await self._push(text)

    async def send_rendered(self, prefix: str, payload: asyncio.Future[str]) -> None:
        """A `next` frame whose payload may still be rendering; frames keep their order."""
        await self._push((prefix, payload))

    async def _push(self, item: str | tuple[str, asyncio.Future[str]]) -> None:
        if self.closed:
            return
        self._outgoing.append(item)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())
        while len(self._outgoing) >= OUTGOING_LIMIT and not self.closed:
            self._room.clear()  # a slow reader: its subscriptions wait (and the feed
            await self._room.wait()  # lets them catch up from the outbox later)

    async def _flush(self) -> None:
        """Write what is ready, in order, as few writes as possible."""
        try:
            while self._outgoing and not self.closed:
                head = self._outgoing[0]
                if isinstance(head, tuple) and not head[1].done():
                    await asyncio.wait([head[1]])  # never cancels the shared rendering
                texts = []
                for item in self._outgoing:
                    if isinstance(item, str):
                        texts.append(item)
                    elif item[1].done():
                        texts.append(item[0] + item[1].result() + "}")
                    else:
                        break
                del self._outgoing[: len(texts)]
                self._room.set()
                if self.send_many:
                    await self._send({"type": SEND_MANY, "texts": texts})
                else:
                    for text in texts:
                        await self._send({"type": "websocket.send", "text": text})
        except Exception:  # the client went away mid-write
            self.closed = True
            self._outgoing.clear()
        finally:
            self._flushing = None
            self._room.set()

    async def close(self, code: int, reason: str) -> None:
        if not self.closed:
            flushing = self._flushing
            if flushing is not None:  # what was sent before the violation goes first
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(flushing), 5)
            self.closed = True
            self._room.set()
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def run(self) -> None:
        try:
            await self._serve()
        except ProtocolViolation as violation:
            await self.close(violation.code, violation.reason)
        finally:
            for task in list(self.operations.values()):
                task.cancel()
            if self.operations:
                await asyncio.gather(*self.operations.values(), return_exceptions=True)
            self.closed = True
            self._room.set()
            if self._flushing is not None:
                self._flushing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._flushing

    async def _serve(self) -> None:
        try:
            async with asyncio.timeout(self.endpoint.init_timeout):
                while not self.init_received:
                    if not await self._next():
                        return
        except TimeoutError:
            raise ProtocolViolation(
                CloseCode.INIT_TIMEOUT, "Connection initialisation timeout"
            ) from None
        while await self._next():
            pass

    async def _next(self) -> bool:
        """Handle one incoming message; False once the client has gone."""
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            self._room.set()
            return False
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProtocolViolation(CloseCode.BAD_REQUEST, "Invalid message received") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ProtocolViolation(CloseCode.BAD_REQUEST, "Invalid message received")
        await self._handle(data)
        return True

    async def _handle(self, data: dict[str, Any]) -> None:
        kind = data["type"]
        if kind == "connection_init":
            if self.init_received:
                raise ProtocolViolation(CloseCode.TOO_MANY_INIT, "Too many initialisation requests")
            payload = data.get("payload")
            if payload is not None and not isinstance(payload, dict):
                raise ProtocolViolation(
                    CloseCode.BAD_REQUEST, "connection_init payload must be an object"
                )
            self.init_received = True
            credential = _credential(payload or {}) or self.headers.get("authorization")
            try:
                self.viewer = await self.endpoint.state.gate.viewer(credential)
            except AuthError as exc:
                raise ProtocolViolation(CloseCode.FORBIDDEN, f"Forbidden: {exc}"[:120]) from None
            except StoreUnavailableError:
                # The key cannot be looked up while the store is down: "try again later"
                # (RFC 6455), which clients retry, instead of a socket dropped unclosed.
                raise ProtocolViolation(
                    CloseCode.TRY_AGAIN_LATER, "Try again later: the hub's database is down"
                ) from None
            self.acknowledged = True
            await self.send('{"type":"connection_ack"}')
        elif kind == "ping":
            await self.send('{"type":"pong"}')
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self._subscribe(data)
        elif kind == "complete":
            op_id = data.get("id")
            if not isinstance(op_id, str):
                raise ProtocolViolation(CloseCode.BAD_REQUEST, "complete needs an `id`")
            task = self.operations.pop(op_id, None)
            if task is not None:
                task.cancel()
        else:
            raise ProtocolViolation(CloseCode.BAD_REQUEST, f"Unknown message type {kind!r}")

    def _subscribe(self, data: dict[str, Any]) -> None:
        if not self.acknowledged:
            raise ProtocolViolation(CloseCode.UNAUTHORIZED, "Unauthorized")
        op_id = data.get("id")
        payload = data.get("payload")
        if not isinstance(op_id, str) or not op_id or not isinstance(payload, dict):
            raise ProtocolViolation(
                CloseCode.BAD_REQUEST, "subscribe needs an `id` and a `payload` object"
            )
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if (
            not isinstance(query, str)
            or not (variables is None or isinstance(variables, dict))
            or not (operation_name is None or isinstance(operation_name, str))
        ):
            raise ProtocolViolation(
                CloseCode.BAD_REQUEST,
                "subscribe payload needs `query` (string), optional `variables` (object) "
                "and `operationName` (string)",
            )
        if op_id in self.operations:
            raise ProtocolViolation(
                CloseCode.SUBSCRIBER_EXISTS, f"Subscriber for {op_id} already exists"
            )
        settings = self.endpoint.state.settings
        refusal = None
        if len(self.operations) >= settings.ws_max_subscriptions:
            refusal = (
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"At most {settings.ws_max_subscriptions} operations at once on one connection.",
            )
        else:
            gate = self.endpoint.state.gate
            caller = self.viewer.actor if self.viewer.authenticated else f"ip:{self.client}"
            wait = gate.retry_after(caller)
            if wait is not None:
                refusal = (ErrorCode.RATE_LIMITED, f"Too many requests; try again in {wait:.0f} s.")
        if refusal is not None:
            task = asyncio.create_task(
                self._error(orjson.dumps(op_id).decode(), [error_entry(*refusal)])
            )
            self._refusals.add(task)
            task.add_done_callback(self._refusals.discard)
            return
        self.operations[op_id] = asyncio.create_task(
            self._operation(op_id, query, variables or {}, operation_name),
            name=f"rantai-ws-operation-{op_id}",
        )

    async def _operation(
        self, op_id: str, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> None:
        id_json = orjson.dumps(op_id).decode()
        try:
            settings = self.endpoint.state.settings
            prepared = self.endpoint.state.documents.get(
                query,
                introspection=not (settings.production and not self.viewer.authenticated),
                suggestions=not settings.production,
            )
            if prepared.document is None:
                await self._error(id_json, _formatted_errors(prepared.errors, executed=False))
                return
            too_costly = check_variables(variables) or self.endpoint.state.documents.check_cost(
                prepared, operation_name, variables
            )
            if too_costly is not None:
                await self._error(id_json, _formatted_errors([too_costly], executed=False))
                return
            operation = get_operation_ast(prepared.document, operation_name)
            if operation is None:
                message = (
                    f"Unknown operation named '{operation_name}'."
                    if operation_name
                    else "Send one operation, or name the one to run in `operationName`."
                )
                await self._error(id_json, [error_entry("BAD_REQUEST", message)])
                return
            if operation.operation is OperationType.SUBSCRIPTION:
                await self._stream(id_json, prepared, variables, operation_name)
            else:
                await self._single(id_json, prepared, variables, operation_name)
        except asyncio.CancelledError:
            raise
        except StoreUnavailableError as exc:  # the audit log of an authenticated subscribe
            await self._error(id_json, [error_entry(ErrorCode.STORE_UNAVAILABLE, str(exc))])
        except Exception:
            log.exception("subscription %s failed", op_id)
            await self._error(
                id_json, [error_entry(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error")]
            )
        finally:
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]

    async def _error(self, id_json: str, errors: list[Any]) -> None:
        await self.send(
            f'{{"id":{id_json},"type":"error","payload":{orjson.dumps(errors).decode()}}}'
        )

    async def _single(
        self,
        id_json: str,
        prepared: Prepared,
        variables: dict[str, Any],
        operation_name: str | None,
    ) -> None:
        """A query over the socket: one `next`, then `complete` (mutations do not exist)."""
        state = self.endpoint.state
        settings = state.settings
        assert prepared.document is not None
        result = await run(
            self.endpoint.schema,
            prepared.document,
            Context.create(state.engine, settings, viewer=self.viewer),
            variables,
            operation_name,
            time_limit=settings.execution_timeout_seconds,
            hide_suggestions=settings.production,
        )
        body, _ = format_result(result, mask=settings.production)
        await self.send(f'{{"id":{id_json},"type":"next","payload":{orjson.dumps(body).decode()}}}')
        await self.send(f'{{"id":{id_json},"type":"complete"}}')

    async def _stream(
        self,
        id_json: str,
        prepared: Prepared,
        variables: dict[str, Any],
        operation_name: str | None,
    ) -> None:
        state = self.endpoint.state
        context = Context.create(state.engine, state.settings, feed=state.feed, viewer=self.viewer)
        await state.gate.audit(
            self.viewer, "subscribe", {"operation": operation_name, "variables": variables}
        )
        built = Executor.build(
            self.endpoint.schema._schema,
            prepared.document,  # type: ignore[arg-type]
            context_value=context,
            raw_variable_values=variables,
            operation_name=operation_name,
        )
        if isinstance(built, list):  # variables that do not fit their types
            await self._error(id_json, _formatted_errors(built, executed=False))
            return
        source = create_source_event_stream(built)
        if asyncio.iscoroutine(source):
            source = await source
        if isinstance(source, ExecutionResult):
            await self._error(id_json, _formatted_errors(list(source.errors or ()), True))
            return
        rendering = Rendering(self.endpoint, prepared, operation_name, variables, self.viewer)
        stream: AsyncIterable[Any] = source  # type: ignore[assignment]
        prefix = f'{{"id":{id_json},"type":"next","payload":'
        events = _events(stream, built.operation)
        try:
            async with contextlib.aclosing(events):
                async for root in events:
                    await self.send_rendered(prefix, rendering.render(root))
        except _StreamError as failure:
            await self._error(id_json, _formatted_errors([failure.error], executed=True))
            return
        await self.send(f'{{"id":{id_json},"type":"complete"}}')


def _credential(payload: dict[str, Any]) -> str | None:
    """`Authorization: Bearer …` as graphql-ws clients send it in connection_init."""
    for key in ("Authorization", "authorization"):
        value = payload.get(key)
        if isinstance(value, str):
            return value
    headers = payload.get("headers")
    if isinstance(headers, dict):
        return _credential(headers)
    token = payload.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


class _StreamError(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


async def _events(stream: AsyncIterable[Any], operation: Node) -> AsyncGenerator[Any, None]:
    """The source stream, its errors (a bad or expired cursor…) turned into GraphQL errors."""
    iterator = aiter(stream)
    try:
        while True:
            try:
                root = await anext(iterator)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise _StreamError(located_error(exc, [operation])) from exc
            yield root
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


class LiveEndpoint:
    """The ASGI endpoint for WebSocket connections on /graphql."""

    def __init__(self, schema: strawberry.Schema, *, init_timeout: float = 10.0) -> None:
        self.schema = schema
        self.init_timeout = init_timeout
        self.state: Any = None
        self.renders = 0  # event renderings so far (bench and tests read it)
        self.connections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        self.state = scope["app"].state
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        offered = scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            await send({"type": "websocket.accept"})
            await send(
                {
                    "type": "websocket.close",
                    "code": CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE,
                    "reason": "Subprotocol not acceptable",
                }
            )
            return
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        self.connections += 1
        try:
            await Connection(self, scope, receive, send).run()
        finally:
            self.connections -= 1
