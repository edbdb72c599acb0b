"""GraphQL over WebSocket, the graphql-transport-ws protocol (the `graphql-ws` client's).

Why the hub speaks it itself rather than through Strawberry's handler: a subscription there
executes its selection once per event *per subscriber*. Here each event is rendered once per
distinct (document, variables the selection uses, viewer scope) and the same JSON goes to
every socket of that group; only the frame's `id` differs. The `filter`/`after` arguments of
the root field pick which events a subscriber gets, not what an event looks like, so
subscribers that differ only in them share one rendering. A rendering gets its own context
(fresh loaders): loaders live per event, never per connection.

Protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
Close codes: 4400 invalid message, 4401 subscribe before acknowledgement, 4406 subprotocol
not acceptable, 4408 no `connection_init` in time, 4409 duplicate operation id, 4429 a
second `connection_init`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    Node,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_operation_ast,
    located_error,
    parse,
    validate,
)
from graphql.execution import Executor, create_source_event_stream, execute_subscription_event
from graphql.language import Visitor, visit
from starlette.types import Receive, Scope, Send
from strawberry.types import ExecutionResult as StrawberryResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from hub.context import Context
from hub.http import format_result
from hub.store.scope import EVERYTHING
from hub.store.scope import Scope as ViewerScope

log = logging.getLogger("rantai.ws")

PROTOCOL = "graphql-transport-ws"
# An ASGI extension (hub/wsproto.py): several text frames in one socket write.
SEND_MANY = "rantai.websocket.send_many"
QUERY_ONLY = frozenset({StrawberryOperationType.QUERY})


class CloseCode:
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    INIT_TIMEOUT = 4408
    SUBSCRIBER_EXISTS = 4409
    TOO_MANY_INIT = 4429


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document and what its subscription renderings depend on."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    # Per operation name: the variables the selection below the root field uses.
    render_variables: dict[str | None, frozenset[str]]


class Documents:
    """Parse + validate once per distinct document text (LRU)."""

    def __init__(self, schema: strawberry.Schema, size: int = 256) -> None:
        self.schema = schema
        self.size = size
        self._cache: OrderedDict[str, Prepared] = OrderedDict()

    def get(self, query: str) -> Prepared:
        prepared = self._cache.get(query)
        if prepared is not None:
            self._cache.move_to_end(query)
            return prepared
        prepared = self._prepare(query)
        self._cache[query] = prepared
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query)
        except GraphQLSyntaxError as error:
            return Prepared(None, [error], {})
        errors = validate(self.schema._schema, document)
        if errors:
            return Prepared(None, list(errors), {})
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        render_variables = {
            (d.name.value if d.name else None): _render_variables(d, fragments)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        }
        return Prepared(document, [], render_variables)


def _render_variables(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> frozenset[str]:
    """Variables a rendering of one event can depend on: all those the operation uses except
    in the arguments of its root fields (those only choose the stream of events)."""
    used: set[str] = set()
    seen: set[str] = set()

    class Collect(Visitor):
        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            used.add(node.name.value)

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            name = node.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                visit(fragments[name], Collect())

    def walk_root(selections: Any) -> None:
        for selection in selections:
            if isinstance(selection, FieldNode):
                for directive in selection.directives or ():
                    visit(directive, Collect())
                if selection.selection_set is not None:
                    visit(selection.selection_set, Collect())
            elif isinstance(selection, FragmentSpreadNode):
                for directive in selection.directives or ():
                    visit(directive, Collect())
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    walk_root(fragment.selection_set.selections)
            else:  # inline fragment
                for directive in selection.directives or ():
                    visit(directive, Collect())
                walk_root(selection.selection_set.selections)

    walk_root(operation.selection_set.selections)
    return frozenset(used)


def _frame(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


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
        viewer: ViewerScope,
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
            viewer.cache_key,
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
            error = {
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
            return orjson.dumps({"errors": [error]}).decode()

    async def _execute_unsafe(self, root: Any) -> str:
        state = self.endpoint.state
        context = Context.create(state.engine, state.settings, self.viewer)
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
        self.viewer: ViewerScope = EVERYTHING  # [6/7]: from connection_init's payload
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.closed = False
        # Frames are queued and written by one flush per loop turn: the frames a burst
        # gives this socket (all its subscriptions) leave in one write.
        self._outgoing: list[str | tuple[str, asyncio.Future[str]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._room = asyncio.Event()

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
        self.operations[op_id] = asyncio.create_task(
            self._operation(op_id, query, variables or {}, operation_name),
            name=f"rantai-ws-operation-{op_id}",
        )

    async def _operation(
        self, op_id: str, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> None:
        id_json = orjson.dumps(op_id).decode()
        try:
            prepared = self.endpoint.documents.get(query)
            if prepared.document is None:
                await self._error(id_json, _formatted_errors(prepared.errors, executed=False))
                return
            operation = get_operation_ast(prepared.document, operation_name)
            if operation is None:
                message = (
                    f"Unknown operation named '{operation_name}'."
                    if operation_name
                    else "Send one operation, or name the one to run in `operationName`."
                )
                await self._error(
                    id_json, [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
                )
                return
            if operation.operation is OperationType.SUBSCRIPTION:
                await self._stream(id_json, prepared, variables, operation_name)
            else:
                await self._single(id_json, query, variables, operation_name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription %s failed", op_id)
            await self._error(
                id_json,
                [
                    {
                        "message": "Internal server error",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                    }
                ],
            )
        finally:
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]

    async def _error(self, id_json: str, errors: list[Any]) -> None:
        await self.send(
            f'{{"id":{id_json},"type":"error","payload":{orjson.dumps(errors).decode()}}}'
        )

    async def _single(
        self, id_json: str, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> None:
        """A query over the socket: one `next`, then `complete` (mutations do not exist)."""
        state = self.endpoint.state
        result = await self.endpoint.schema.execute(
            query,
            variable_values=variables,
            context_value=Context.create(state.engine, state.settings, self.viewer),
            operation_name=operation_name,
            allowed_operation_types=QUERY_ONLY,
        )
        body, _ = format_result(result)
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
        context = Context.create(state.engine, state.settings, self.viewer, feed=state.feed)
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
        self.documents = Documents(schema)
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
