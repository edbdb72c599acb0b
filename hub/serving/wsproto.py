"""uvicorn's WebSocket protocol with one addition: several text frames in one write.

A burst of changes gives a subscriber many `next` messages at once. ASGI sends one frame
per `websocket.send`, and uvicorn writes each to the socket: one system call per frame,
which was 40% of the hub's CPU time with 3,000 subscribers (bench/subscriptions.py). This
protocol announces the `rantai.websocket.send_many` extension in the scope and accepts
`{"type": "rantai.websocket.send_many", "texts": [...]}`, framing them all into one write.
hub/ws.py uses it when the server offers it and sends frame by frame otherwise, so any ASGI
server still works.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from hub.serving.ws import SEND_MANY


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
