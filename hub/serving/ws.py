"""GraphQL over WebSocket, the graphql-transport-ws protocol (the `graphql-ws` client's).

This module speaks the protocol and frames messages; every operation goes through the one
request path (`Api.handle`), exactly as an HTTP request does. The hub speaks the protocol
itself rather than through Strawberry's handler so that each event is rendered once per
group of subscribers (`hub/serving/live.py`) and a socket's frames leave in one write.

Protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
Close codes: 4400 invalid message, 4401 subscribe before acknowledgement, 4403 a credential
that is not valid (at `connection_init`, or later: revoked, expired), 4406 subprotocol not
acceptable, 4408 no `connection_init` in time, 4409 duplicate operation id, 4429 a second
`connection_init`; 1009 a message over the size limit; 1013 ("try again later") when the
store cannot check a credential or an address failed too many credentials.

The viewer comes from `connection_init`'s `Authorization` (or the upgrade request's header)
and is authenticated again on every operation and every `reauthenticate_seconds` while the
socket is open (at a token's expiry at the latest); a key revoked anywhere closes its
sockets at once (the broker's `keys` topic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from hub.auth import ANONYMOUS, AuthError, Viewer
from hub.auth.guard import AuthThrottled, Gatekeeper
from hub.errors import ErrorCode, StoreUnavailableError, error_entry
from hub.serving.live import StreamFailed
from hub.serving.request import Answer, Api, GraphQLRequest, Transport

log = logging.getLogger("rantai.ws")

PROTOCOL = "graphql-transport-ws"
# An ASGI extension (hub/serving/server.py): several text frames in one socket write, and
# with it `write_now`, a function that writes them at once, without a coroutine.
SEND_MANY = "rantai.websocket.send_many"
# Frames queued behind a rendering leave together when it is done; a frame already rendered
# waits at most this long for the renderings queued after it.
LATE_SECONDS = 0.05


class CloseCode:
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    INIT_TIMEOUT = 4408
    SUBSCRIBER_EXISTS = 4409
    TOO_MANY_INIT = 4429
    MESSAGE_TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


OUTGOING_LIMIT = 1000  # frames waiting for one socket before its subscriptions wait too
MAX_ID_LENGTH = 128  # of an operation id (graphql-ws clients send UUIDs or counters)


class Connection:
    def __init__(self, endpoint: LiveEndpoint, scope: Scope, receive: Receive, send: Send) -> None:
        self.endpoint = endpoint
        self.receive = receive
        self._send = send
        extension = (scope.get("extensions") or {}).get(SEND_MANY)
        self.send_many = extension is not None
        self._write_now: Callable[[list[str]], bool] | None = (
            extension.get("write_now") if isinstance(extension, dict) else None
        )
        self.init_received = False
        self.acknowledged = False
        self.viewer: Viewer = ANONYMOUS  # from connection_init's payload (or the upgrade)
        self.credential: str | None = None
        # The upgrade request's Authorization, the one header a socket keeps (it lives as
        # long as the socket: 10,000 of them held every header, ~1 KiB each).
        self.upgrade_credential = next(
            (
                v.decode("latin-1")
                for k, v in scope.get("headers", ())
                if k.lower() == b"authorization"
            ),
            None,
        )
        self.client = (scope.get("client") or ("?", 0))[0]
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.closed = False
        # Frames are queued and written together: the frames a burst gives this socket
        # (all its subscriptions) leave in one write once the renderings they wait for are
        # done (one of them is watched at a time), or LATE_SECONDS after the oldest is ready.
        self._outgoing: list[str | tuple[str, asyncio.Future[str]]] = []
        self._watching = False
        self._drain_soon: asyncio.Handle | None = None
        self._drain_late: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._room: asyncio.Event | None = None  # made when a slow reader must wait for it
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def api(self) -> Api:
        api: Api = self.endpoint.state.api
        return api

    async def send(self, text: str) -> None:
        if not self._queue(text):
            await self._wait_room()

    def _queue(self, item: str | tuple[str, asyncio.Future[str]]) -> bool:
        """Queue a frame (a `next` frame's payload may still be rendering; frames keep their
        order); False when the socket has no room for more until it drains."""
        if self.closed:
            return True
        self._outgoing.append(item)
        if isinstance(item, tuple) and not item[1].done():
            if not self._watching:
                self._watching = True
                item[1].add_done_callback(self._rendered)
        elif not self._watching:
            self._schedule()
        return len(self._outgoing) < OUTGOING_LIMIT

    async def _wait_room(self) -> None:
        while len(self._outgoing) >= OUTGOING_LIMIT and not self.closed:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()  # a slow reader: its subscriptions wait (and the feed
            await self._room.wait()  # lets them catch up from the outbox later)

    def _make_room(self) -> None:
        if self._room is not None:
            self._room.set()

    def _rendered(self, _: asyncio.Future[str]) -> None:
        """A watched rendering is done: watch the last one still rendering, if any (one
        callback per socket and burst, not one per frame), else drain."""
        self._watching = False
        if self.closed:
            return
        outgoing = self._outgoing
        for item in reversed(outgoing):
            if isinstance(item, tuple) and not item[1].done():
                self._watching = True
                item[1].add_done_callback(self._rendered)
                break
        else:
            self._schedule()
            return
        if self._drain_late is None and outgoing and self._ready(outgoing[0]):
            loop = asyncio.get_running_loop()
            self._drain_late = loop.call_later(LATE_SECONDS, self._drain)

    @staticmethod
    def _ready(item: str | tuple[str, asyncio.Future[str]]) -> bool:
        return isinstance(item, str) or item[1].done()

    def _schedule(self) -> None:
        """Drain once at the end of this loop turn: every frame queued in it, one write."""
        if self._drain_soon is None:
            self._drain_soon = asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        """Write the frames that are ready, in order, now: in one system call through the
        server's `write_now`, else (another ASGI server, a client reading slowly) by the
        `_flush` task through ASGI."""
        self._drain_soon = None
        if self._drain_late is not None:
            self._drain_late.cancel()
            self._drain_late = None
        if self.closed or self._flushing is not None or not self._outgoing:
            return
        write_now = self._write_now
        if write_now is not None:
            texts = self._take_ready(remove=False)
            try:
                written = write_now(texts)
            except Exception:  # the client went away mid-write
                self._gone()
                return
            if written:
                del self._outgoing[: len(texts)]
                self._make_room()
                return
        self._flushing = asyncio.get_running_loop().create_task(self._flush())

    def _take_ready(self, *, remove: bool) -> list[str]:
        texts = []
        for item in self._outgoing:
            if isinstance(item, str):
                texts.append(item)
            elif item[1].done():
                texts.append(item[0] + item[1].result() + "}")
            else:
                break
        if remove:
            del self._outgoing[: len(texts)]
        return texts

    def _gone(self) -> None:
        self.closed = True
        self._outgoing.clear()
        self._make_room()

    async def _flush(self) -> None:
        """Write everything queued through ASGI, in order, as few writes as possible."""
        try:
            while self._outgoing and not self.closed:
                pending = [
                    item[1]
                    for item in self._outgoing
                    if isinstance(item, tuple) and not item[1].done()
                ]
                if pending:  # never cancels a shared rendering
                    await asyncio.wait(pending)
                texts = self._take_ready(remove=True)
                self._make_room()
                if self.send_many:
                    await self._send({"type": SEND_MANY, "texts": texts})
                else:
                    for text in texts:
                        await self._send({"type": "websocket.send", "text": text})
        except Exception:  # the client went away mid-write
            self._gone()
        finally:
            self._flushing = None
            self._make_room()

    async def close(self, code: int, reason: str) -> None:
        if not self.closed:
            if self._outgoing and self._flushing is None:
                self._flushing = asyncio.get_running_loop().create_task(self._flush())
            flushing = self._flushing
            if flushing is not None:  # what was sent before the violation goes first
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(flushing), 5)
            self.closed = True
            self._make_room()
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def close_soon(self, code: int, reason: str) -> None:
        """Close from outside the connection's own task (a revocation, an expiry)."""
        self._spawn(self._close_and_stop(code, reason))

    async def _close_and_stop(self, code: int, reason: str) -> None:
        await self.close(code, reason)
        for task in list(self.operations.values()):
            task.cancel()

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        try:
            await self._serve()
        except ProtocolViolation as violation:
            await self.close(violation.code, violation.reason)
        finally:
            for task in [*self.operations.values(), *self._tasks]:
                task.cancel()
            pending = [*self.operations.values(), *self._tasks]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            self.closed = True
            self._make_room()
            for handle in (self._drain_soon, self._drain_late):
                if handle is not None:
                    handle.cancel()
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
            self._make_room()
            return False
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        limit = self.endpoint.state.settings.max_body_bytes
        if len(raw) > limit:  # characters of text are at least as many bytes
            raise ProtocolViolation(
                CloseCode.MESSAGE_TOO_BIG, f"Messages are at most {limit} bytes"
            )
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
            self.credential = _credential(payload or {}) or self.upgrade_credential
            self.viewer = await self._authenticate()
            self.endpoint.track(self)
            self._spawn(self._keep_checking())
            self.acknowledged = True
            await self.send('{"type":"connection_ack"}')
        elif kind == "ping":
            await self.send('{"type":"pong"}')
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(data)
        elif kind == "complete":
            op_id = data.get("id")
            if not isinstance(op_id, str):
                raise ProtocolViolation(CloseCode.BAD_REQUEST, "complete needs an `id`")
            task = self.operations.pop(op_id, None)
            if task is not None:
                task.cancel()
        else:
            raise ProtocolViolation(CloseCode.BAD_REQUEST, f"Unknown message type {kind!r}")

    async def _authenticate(self) -> Viewer:
        """The viewer of the connection's credential, now; closes the socket when it is no
        longer valid."""
        try:
            gate: Gatekeeper = self.endpoint.state.gate
            return await gate.authenticate(self.credential, self.client)
        except AuthThrottled:
            raise ProtocolViolation(
                CloseCode.TRY_AGAIN_LATER, "Too many failed credentials; try again later"
            ) from None
        except AuthError as exc:
            raise ProtocolViolation(CloseCode.FORBIDDEN, f"Forbidden: {exc}"[:120]) from None
        except StoreUnavailableError:
            # The key cannot be looked up while the store is down: "try again later"
            # (RFC 6455), which clients retry, instead of a socket dropped unclosed.
            raise ProtocolViolation(
                CloseCode.TRY_AGAIN_LATER, "Try again later: the hub's database is down"
            ) from None

    async def _keep_checking(self) -> None:
        """While the socket is open, its credential is checked again every interval (at a
        token's expiry at the latest): a key revoked or a token expired closes it."""
        if self.credential is None:
            return
        interval = self.endpoint.state.settings.reauthenticate_seconds
        while not self.closed:
            wait = interval
            if self.viewer.expires_at is not None:
                wait = max(0.0, min(wait, self.viewer.expires_at - time.time() + 0.05))
            await asyncio.sleep(wait)
            try:
                self.viewer = await self._authenticate()
            except ProtocolViolation as violation:
                if violation.code == CloseCode.TRY_AGAIN_LATER:
                    continue  # the store is down: the credential is checked again later
                await self._close_and_stop(violation.code, violation.reason)
                return

    async def _subscribe(self, data: dict[str, Any]) -> None:
        if not self.acknowledged:
            raise ProtocolViolation(CloseCode.UNAUTHORIZED, "Unauthorized")
        op_id = data.get("id")
        payload = data.get("payload")
        if (
            not isinstance(op_id, str)
            or not 0 < len(op_id) <= MAX_ID_LENGTH
            or not isinstance(payload, dict)
        ):
            raise ProtocolViolation(
                CloseCode.BAD_REQUEST,
                f"subscribe needs an `id` (1 to {MAX_ID_LENGTH} characters) and a `payload` object",
            )
        request = GraphQLRequest.from_params(payload, Transport.WEBSOCKET, client=self.client)
        if isinstance(request, Answer):
            problem = request.body["errors"][0]["message"]
            raise ProtocolViolation(CloseCode.BAD_REQUEST, f"subscribe payload: {problem}"[:120])
        if op_id in self.operations:
            raise ProtocolViolation(
                CloseCode.SUBSCRIBER_EXISTS, f"Subscriber for {op_id} already exists"
            )
        id_json = orjson.dumps(op_id).decode()
        # Every operation is the credential's again: a revoked key or an expired token
        # stops here, whatever it could do at connection_init.
        self.viewer = await self._authenticate()
        request = replace(request, open_operations=len(self.operations))
        if request.open_operations >= self.endpoint.state.settings.ws_max_subscriptions:
            # Refused by the request path (rate limited and audited like any other), and
            # answered before the next message is read: a client that floods refusals
            # and reads none waits on its own socket.
            answer = await self.api.handle(request, self.viewer)
            await self._error(id_json, answer.body.get("errors") or [])
            return
        self.operations[op_id] = asyncio.create_task(
            self._operation(op_id, id_json, request, self.viewer),
            name=f"rantai-ws-operation-{op_id}",
        )

    async def _operation(
        self, op_id: str, id_json: str, request: GraphQLRequest, viewer: Viewer
    ) -> None:
        try:
            answer = await self.api.handle(request, viewer)
            if answer.stream is not None:
                await self._stream(id_json, answer)
            elif answer.executed:
                body = orjson.dumps(answer.body).decode()
                await self.send(f'{{"id":{id_json},"type":"next","payload":{body}}}')
                await self.send(f'{{"id":{id_json},"type":"complete"}}')
            else:
                await self._error(id_json, answer.body.get("errors") or [])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("operation %s failed", op_id)
            await self._error(
                id_json, [error_entry(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error.")]
            )
        finally:
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]

    async def _stream(self, id_json: str, answer: Answer) -> None:
        stream = answer.stream
        if stream is None:
            return
        prefix = f'{{"id":{id_json},"type":"next","payload":'
        try:
            async for payload in stream:
                if not self._queue((prefix, payload)):
                    await self._wait_room()
        except StreamFailed as failure:
            await self._error(id_json, failure.errors)
            return
        finally:
            await stream.aclose()
        await self.send(f'{{"id":{id_json},"type":"complete"}}')

    async def _error(self, id_json: str, errors: list[Any]) -> None:
        await self.send(
            f'{{"id":{id_json},"type":"error","payload":{orjson.dumps(errors).decode()}}}'
        )


def _credential(payload: dict[str, Any], *, nested: bool = False) -> str | None:
    """`Authorization: Bearer …` as graphql-ws clients send it in connection_init: at the
    payload's top level, in its `headers` object, or as a `token`. A credential that is not
    text is refused (4400), never taken as no credential: its sender meant to be someone."""
    for key in ("Authorization", "authorization"):
        value = _text(payload, key)
        if value is not None:
            return value
    headers = payload.get("headers")
    if isinstance(headers, dict) and not nested:
        found = _credential(headers, nested=True)
        if found is not None:
            return found
    token = _text(payload, "token")
    return f"Bearer {token}" if token is not None else None


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise ProtocolViolation(CloseCode.BAD_REQUEST, f"connection_init `{key}` is not text")
    return value


class LiveEndpoint:
    """The ASGI endpoint for WebSocket connections on /graphql."""

    def __init__(
        self,
        *,
        init_timeout: float = 10.0,
        max_per_address: int = 100,
        max_connections: int = 20_000,
    ) -> None:
        self.init_timeout = init_timeout
        self.max_per_address = max_per_address
        self.max_connections = max_connections
        self.state: Any = None
        self.connections = 0
        self._by_address: Counter[str] = Counter()
        self._by_actor: dict[str, set[Connection]] = {}

    @property
    def renders(self) -> int:
        """Event renderings so far (bench and tests read it)."""
        return int(self.state.api.subscriptions.renders) if self.state is not None else 0

    def track(self, connection: Connection) -> None:
        """Remember an authenticated connection by its actor, for revocations."""
        if connection.viewer.authenticated:
            self._by_actor.setdefault(connection.viewer.actor, set()).add(connection)

    def revoked(self, prefix: str) -> None:
        """A key was revoked (in any process): close its sockets now."""
        for connection in list(self._by_actor.get(f"key:{prefix}", ())):
            connection.close_soon(CloseCode.FORBIDDEN, "Forbidden: this API key was revoked")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        self.state = scope["app"].state
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        address = (scope.get("client") or ("?", 0))[0]
        if (
            self.connections >= self.max_connections
            or self._by_address[address] >= self.max_per_address
        ):
            # Refused before the handshake completes (HTTP 403): an address cannot hold
            # more than its share of the process's sockets.
            log.warning("refused a WebSocket from %s: too many open connections", address)
            await send({"type": "websocket.close", "code": CloseCode.TRY_AGAIN_LATER})
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
        self._by_address[address] += 1
        connection = Connection(self, scope, receive, send)
        try:
            await connection.run()
        finally:
            self.connections -= 1
            self._by_address[address] -= 1
            if self._by_address[address] <= 0:
                del self._by_address[address]
            members = self._by_actor.get(connection.viewer.actor)
            if members is not None:
                members.discard(connection)
                if not members:
                    del self._by_actor[connection.viewer.actor]
