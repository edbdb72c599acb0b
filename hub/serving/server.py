"""uvicorn as the hub runs it: its WebSocket protocol with several frames per write, its
HTTP protocol with a deadline for a request's headers, and the limits that only the server
can enforce (the size of a WebSocket message before it is inflated and buffered).

Several frames per write: a burst of changes gives a subscriber many `next` messages at
once. ASGI sends one frame per `websocket.send`, and uvicorn writes each to the socket: one
system call per frame, which was 40% of the hub's CPU time with 3,000 subscribers
(bench/subscriptions.py). LiveProtocol announces the `rantai.websocket.send_many` extension
in the scope and accepts `{"type": "rantai.websocket.send_many", "texts": [...]}`, framing
them all into one write; the extension's `write_now` does the same at once, without a
coroutine or an ASGI message, and says when it cannot (a client reading slowly). With
10,000 subscribers a burst is 10,000 socket writes, and the tasks and messages around each
cost more than the write. hub/serving/ws.py uses them when the server offers them and
sends frame by frame otherwise, so any ASGI server still works. Without a compression
extension a server's text frame is two to ten bytes of header and the text: framed here,
not by websockets' general framing, which cost 9% of a burst.

Headers in time: uvicorn waits for a request's headers as long as the client cares to send
them, so 200 connections that each trickle a byte now and then held the server's sockets
for minutes ("slowloris"). HeaderDeadline closes a connection whose request headers are not
complete `header_timeout_seconds` after its first byte (or after it opened).

Readers in time, and a bounded number of them: a client that stops reading a response
(its socket's window closed) pins the response in memory for as long as it keeps the
connection; one that is stalled longer than `send_timeout_seconds` is cut. One address
holds at most `http_max_connections_per_address` HTTP connections (WebSockets have their
own limit, hub/serving/ws.py); past it a new one gets 503 and is closed.

Light idle sockets: a subscriber's socket waits for hours, so what it holds is what 10,000
of them cost. uvicorn gives each an `asyncio.Queue` of received messages and an
`asyncio.Event` for "writable": four deques and an Event's deque, about 3 KiB of the 30 KiB
a subscribed socket may cost. LiveProtocol holds an `Inbox` and a `Gate` instead, the same
operations (`put_nowait`, `get`, `empty`; `set`, `clear`, `is_set`, `wait`) on a list and
one future, allocated only while something waits.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import Counter
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import OPEN

from hub.serving.ws import SEND_MANY
from hub.settings import Settings
from hub.telemetry.logs import logging_config

log = logging.getLogger("rantai.server")


class Inbox:
    """The received messages of one socket: what uvicorn's protocol asks of its queue."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class Gate:
    """An `asyncio.Event` (uvicorn's "writable") whose waiters, if any, are in a list."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if not self._open:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters = [*(self._waiters or ()), waiter]
            await waiter
        return True


class LiveProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Gate()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[SEND_MANY] = {"write_now": self.write_now}

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_MANY:
            await super().send(message)
            return
        writable = getattr(self, "writable", None)
        if writable is not None:  # the client reads slowly: wait, as uvicorn's send does
            await writable.wait()
        if not self._open():
            raise ClientDisconnected()
        self._write(message["texts"])

    def write_now(self, texts: list[str]) -> bool:
        """Frames `texts` and writes them in one system call, now: no coroutine, no ASGI
        message. False when it cannot now (the client reads slowly, or the socket is not
        open): the caller then sends through ASGI, which waits or raises."""
        writable = getattr(self, "writable", None)
        if (writable is not None and not writable.is_set()) or not self._open():
            return False
        self._write(texts)
        return True

    def _open(self) -> bool:
        return not (
            self.disconnected
            or self.close_sent
            or self.initial_response is not None
            or not self.handshake_complete
        )

    def _write(self, texts: list[str]) -> None:
        conn = self.conn
        try:
            if conn.extensions or conn.expect_continuation_frame or conn.state is not OPEN:
                for text in texts:  # compressed, or not plainly open: websockets frames it
                    conn.send_text(text.encode())
                self.transport.write(b"".join(conn.data_to_send()))
                return
        except InvalidState:
            raise ClientDisconnected() from None
        # A server's text frame, unmasked and whole (RFC 6455 5.2): 0x81 and the length.
        chunks = conn.data_to_send()
        for text in texts:
            data = text.encode()
            size = len(data)
            if size < 126:
                chunks.append(bytes((0x81, size)))
            elif size < 65536:
                chunks.append(_LENGTH_16.pack(0x81, 126, size))
            else:
                chunks.append(_LENGTH_64.pack(0x81, 127, size))
            chunks.append(data)
        self.transport.write(b"".join(chunks))


_LENGTH_16 = struct.Struct("!BBH")
_LENGTH_64 = struct.Struct("!BBQ")

_BUSY_TEXT = b"Too many connections from this address.\n"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"retry-after: 5\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT)
)


class HeaderDeadline(HttpToolsProtocol):
    header_timeout = 10.0
    send_timeout = 30.0
    max_per_address = 200
    open_by_address: ClassVar[Counter[str]]  # set per server by http_protocol()

    _deadline: asyncio.TimerHandle | None = None
    _stalled: asyncio.TimerHandle | None = None
    _address: str | None = None  # counted in open_by_address while set

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else "?"
        if self.open_by_address[address] >= self.max_per_address:
            log.warning("refused a connection from %s: too many open", address)
            transport.write(BUSY)
            transport.close()
            return
        self._address = address
        self.open_by_address[address] += 1
        self._start()

    def handle_websocket_upgrade(self) -> None:
        self._forget()  # a WebSocket now: counted by the WebSocket endpoint
        super().handle_websocket_upgrade()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.send_timeout, self._not_reading)

    def resume_writing(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        super().resume_writing()

    def _not_reading(self) -> None:
        self._stalled = None
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.warning("closed a connection from %s: it stopped reading its response", client)
        self.transport.abort()

    def _forget(self) -> None:
        if self._address is not None:
            self.open_by_address[self._address] -= 1
            if self.open_by_address[self._address] <= 0:
                del self.open_by_address[self._address]
            self._address = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start()

    def on_headers_complete(self) -> None:
        self._stop()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self._forget()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
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
        "HubHttpProtocol",
        (HeaderDeadline,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "send_timeout": settings.send_timeout_seconds,
            "max_per_address": settings.http_max_connections_per_address,
            "open_by_address": Counter(),
        },
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
