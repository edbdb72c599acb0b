"""GraphQL over Server-Sent Events, the graphql-sse protocol in its distinct connections
mode (the `graphql-sse` client's default), on /graphql/stream: for networks whose proxies
drop WebSockets.

One operation per request (POST with a JSON body, or GET with the query string), answered
with `text/event-stream`: a `next` event per result and a `complete` event at the end. A
refusal before execution (a malformed request, a document that does not validate, a limit,
the rate) is an HTTP error with a JSON body of errors, as the reference server does; a
subscription that cannot start or fails later (a bad or expired cursor, a store gone away)
sends its errors in a `next` event and completes.

This module only frames: the viewer comes from the `Authorization` header through
`Gatekeeper.authenticate`, and the operation goes through `Api.handle` like every other
(decision 26). As on the WebSocket, the credential is checked again every
`reauthenticate_seconds` and at a token's expiry, a revoked key ends its streams at once,
and streams count against the per-address and per-process connection limits.

Protocol: https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from hub.auth import AuthError, Viewer
from hub.auth.guard import AuthThrottled, Gatekeeper
from hub.errors import ErrorCode, StoreUnavailableError, error_entry
from hub.serving.http import client_address, read_params
from hub.serving.live import StreamFailed
from hub.serving.request import Answer, Api, GraphQLRequest, Transport
from hub.serving.responses import error_body
from hub.settings import Settings

log = logging.getLogger("rantai.sse")

EVENT_STREAM = "text/event-stream"
KEEPALIVE_SECONDS = 15.0  # a comment line, so that proxies do not time an idle stream out
COMPLETE = b"event: complete\ndata:\n\n"


def next_event(payload: str) -> bytes:
    return b"event: next\ndata: " + payload.encode() + b"\n\n"


class Ended(Exception):
    """The stream must end now: the client went away, or its credential stopped being
    valid (then `errors` says why)."""

    def __init__(self, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__("ended")
        self.errors = errors


class StreamEndpoint:
    """The ASGI endpoint of /graphql/stream."""

    def __init__(self, *, max_per_address: int = 100, max_connections: int = 20_000) -> None:
        self.max_per_address = max_per_address
        self.max_connections = max_connections
        self.connections = 0
        self._by_address: Counter[str] = Counter()
        self._by_actor: dict[str, set[asyncio.Event]] = {}

    def revoked(self, prefix: str) -> None:
        """A key was revoked (in any process): end its streams now."""
        for revoked in list(self._by_actor.get(f"key:{prefix}", ())):
            revoked.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state = request.app.state
        settings: Settings = state.settings
        if request.method not in ("GET", "POST"):
            await _json(send, 405, error_body(ErrorCode.BAD_REQUEST, "Use GET or POST."),
                        Allow="GET, POST")  # fmt: skip
            return
        if EVENT_STREAM not in request.headers.get("accept", ""):
            message = f"Accept {EVENT_STREAM}: this endpoint speaks graphql-sse."
            await _json(send, 406, error_body(ErrorCode.BAD_REQUEST, message))
            return
        client = client_address(request)
        gate: Gatekeeper = state.gate
        credential = request.headers.get("authorization")
        try:
            viewer = await gate.authenticate(credential, client)
        except AuthThrottled as exc:
            seconds = str(max(1, round(exc.retry_after)))
            await _json(send, 429, error_body(ErrorCode.RATE_LIMITED, str(exc)),
                        **{"Retry-After": seconds})  # fmt: skip
            return
        except AuthError as exc:
            await _json(send, 401, error_body(ErrorCode.UNAUTHENTICATED, str(exc)),
                        **{"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
            return
        params = await read_params(request, settings)
        if isinstance(params, Answer):
            await _json(send, params.status or 400, params.body, **(params.headers or {}))
            return
        if not isinstance(params, dict):
            refusal = error_body(ErrorCode.BAD_REQUEST, "Send one operation per stream.")
            await _json(send, 400, refusal)
            return
        parsed = GraphQLRequest.from_params(
            params, Transport.SSE, http_method=request.method, client=client
        )
        if isinstance(parsed, Answer):
            await _json(send, parsed.status or 400, parsed.body)
            return
        if (
            self.connections >= self.max_connections
            or self._by_address[client] >= self.max_per_address
        ):
            log.warning("refused a stream from %s: too many open connections", client)
            message = "Too many open streams from this address; try again later."
            await _json(send, 429, error_body(ErrorCode.RATE_LIMITED, message),
                        **{"Retry-After": "5"})  # fmt: skip
            return
        self.connections += 1
        self._by_address[client] += 1
        revoked = asyncio.Event()
        self._by_actor.setdefault(viewer.actor, set()).add(revoked)
        try:
            api: Api = state.api
            answer = await api.handle(parsed, viewer)
            if answer.stream is None and not answer.executed and not answer.stream_failed:
                await _json(send, answer.status or 400, answer.body, **(answer.headers or {}))
                return
            watch = _Watch(gate, credential, client, viewer, settings, revoked)
            await _Response(send, receive, watch).serve(answer)
        finally:
            self.connections -= 1
            self._by_address[client] -= 1
            if self._by_address[client] <= 0:
                del self._by_address[client]
            members = self._by_actor.get(viewer.actor)
            if members is not None:
                members.discard(revoked)
                if not members:
                    del self._by_actor[viewer.actor]


class _Watch:
    """The stream's credential, checked again while the stream is open."""

    def __init__(
        self,
        gate: Gatekeeper,
        credential: str | None,
        client: str,
        viewer: Viewer,
        settings: Settings,
        revoked: asyncio.Event,
    ) -> None:
        self.gate, self.credential, self.client = gate, credential, client
        self.viewer, self.settings, self.revoked = viewer, settings, revoked

    async def until_invalid(self) -> list[dict[str, Any]]:
        """Returns the errors to end the stream with once the credential is no longer
        valid (revoked anywhere, or expired); never returns for anonymous viewers."""
        if self.credential is None:
            await asyncio.Event().wait()
        while True:
            wait = self.settings.reauthenticate_seconds
            if self.viewer.expires_at is not None:
                wait = max(0.0, min(wait, self.viewer.expires_at - time.time() + 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.revoked.wait(), wait)
            try:
                self.viewer = await self.gate.authenticate(self.credential, self.client)
            except (AuthThrottled, StoreUnavailableError):
                continue  # cannot tell now: checked again later, as on the WebSocket
            except AuthError as exc:
                return [error_entry(ErrorCode.UNAUTHENTICATED, str(exc))]
            if self.revoked.is_set():  # revoked, yet the store still knew the key
                return [error_entry(ErrorCode.UNAUTHENTICATED, "This API key was revoked.")]


class _Response:
    """One event stream: its headers, its events, keep-alives, and its end."""

    def __init__(self, send: Send, receive: Receive, watch: _Watch) -> None:
        self.send = send
        self.receive = receive
        self.watch = watch

    async def serve(self, answer: Answer) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),  # nginx: pass events as they come
                ],
            }
        )
        try:
            await self._events(answer)
            await self._write(COMPLETE)
        except Ended as ended:
            if ended.errors is not None:
                with contextlib.suppress(Ended):
                    await self._write(next_event(orjson.dumps({"errors": ended.errors}).decode()))
                    await self._write(COMPLETE)
        finally:
            if answer.stream is not None:
                await answer.stream.aclose()
        with contextlib.suppress(Exception):
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _events(self, answer: Answer) -> None:
        if answer.stream is None:  # a query's result, or a subscription that did not start
            await self._write(next_event(orjson.dumps(answer.body).decode()))
            return
        stream = answer.stream
        gone = asyncio.ensure_future(self._disconnected())
        invalid = asyncio.ensure_future(self.watch.until_invalid())
        try:
            while True:
                item = asyncio.ensure_future(anext(stream))
                while True:
                    done, _ = await asyncio.wait(
                        {item, gone, invalid},
                        timeout=KEEPALIVE_SECONDS,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if gone in done or invalid in done:
                        item.cancel()
                        with contextlib.suppress(BaseException):
                            await item
                        raise Ended(None if gone in done else invalid.result())
                    if item in done:
                        break
                    await self._write(b":\n\n")
                try:
                    payload = await item.result()
                except StopAsyncIteration:
                    return
                except StreamFailed as failure:
                    raise Ended(failure.errors) from None
                await self._write(next_event(payload))
        except StreamFailed as failure:
            raise Ended(failure.errors) from None
        finally:
            for task in (gone, invalid):
                task.cancel()
            await asyncio.gather(gone, invalid, return_exceptions=True)

    async def _disconnected(self) -> None:
        while True:
            message: Message = await self.receive()
            if message["type"] == "http.disconnect":
                return

    async def _write(self, chunk: bytes) -> None:
        try:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as exc:  # the client went away mid-write
            raise Ended() from exc


async def _json(send: Send, status: int, body: dict[str, Any], **headers: str) -> None:
    raw = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
