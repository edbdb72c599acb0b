"""uvicorn as the hub runs it: its WebSocket protocol with several frames per write, its
HTTP protocol with a deadline for a request's headers, and the limits that only the server
can enforce (the size of a WebSocket message before it is inflated and buffered).

Several frames per write: a burst of changes gives a subscriber many `next` messages at
once. ASGI sends one frame per `websocket.send`, and uvicorn writes each to the socket: one
system call per frame, which was 40% of the hub's CPU time with 3,000 subscribers
(bench/subscriptions.py). LiveProtocol announces the `rantai.websocket.send_many` extension
in the scope and accepts `{"type": "rantai.websocket.send_many", "texts": [...]}`, framing
them all into one write. hub/serving/ws.py uses it when the server offers it and sends
frame by frame otherwise, so any ASGI server still works.

Headers in time: uvicorn waits for a request's headers as long as the client cares to send
them, so 200 connections that each trickle a byte now and then held the server's sockets
for minutes ("slowloris"). HeaderDeadline closes a connection whose request headers are not
complete `header_timeout_seconds` after its first byte (or after it opened).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from hub.serving.ws import SEND_MANY
from hub.settings import Settings
from hub.telemetry.logs import logging_config

log = logging.getLogger("rantai.server")


class LiveProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[SEND_MANY] = {}

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_MANY:
            await super().send(message)
            return
        writable = getattr(self, "writable", None)
        if writable is not None:  # the client reads slowly: wait, as uvicorn's send does
            await writable.wait()
        if (
            self.disconnected
            or self.close_sent
            or self.initial_response is not None
            or not self.handshake_complete
        ):
            raise ClientDisconnected()
        try:
            for text in message["texts"]:
                self.conn.send_text(text.encode())
            self.transport.write(b"".join(self.conn.data_to_send()))
        except InvalidState:
            raise ClientDisconnected() from None


class HeaderDeadline(HttpToolsProtocol):
    header_timeout = 10.0

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start()

    def on_headers_complete(self) -> None:
        self._stop()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _start(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._late)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.warning("closed a connection from %s: no request headers in time", client)
            self.transport.close()


def http_protocol(settings: Settings) -> type[HeaderDeadline]:
    return type(
        "HubHttpProtocol", (HeaderDeadline,), {"header_timeout": settings.header_timeout_seconds}
    )


def config(app: Any, settings: Settings, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration `rantai serve`, the demo, the tests and the benches use."""
    log_config = logging_config(settings.log_format)
    if log_config is not None:
        options.setdefault("log_config", log_config)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http_protocol(settings),
        ws=LiveProtocol,
        # Checked again by the hub, message by message; here before inflating and buffering.
        ws_max_size=settings.max_body_bytes,
        **options,
    )
