"""A lean HTTP/1.1 client for latency measurements: keep-alive connections, a request
written in one call, the answer read by its Content-Length (or its chunks) with no header
objects, no decoding, no per-chunk Python work.

httpx parses in pure Python (h11) and joins a large answer from 64 KiB pieces: for the
deep chain's 430 KiB answer it added milliseconds on this machine's two cores to what
the server takes, and the figure to compare with an in-process floor is the server's.
Both servers of a comparison (the hub and PostGraphile) are asked through this client.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class WireError(RuntimeError):
    """A status other than 200, or an answer this client cannot read."""


class Wire:
    """POST to one server over at most `connections` keep-alive connections."""

    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.gate = asyncio.Semaphore(connections)
        self.opened: list[asyncio.StreamWriter] = []

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: {content_type}\r\naccept: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        async with self.gate:
            reused = not self.idle.empty()
            reader, writer = await self._connection()
            try:
                writer.write(head + body)
                status, answer, keep = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                if not reused:
                    raise
                # The server closed the idle connection (its keep-alive timeout): once more
                # on a new one, as any keep-alive client does.
                reader, writer = await self._connect()
                writer.write(head + body)
                status, answer, keep = await _read_response(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self.idle.put_nowait((reader, writer))
            else:
                writer.close()
        if status != 200:
            raise WireError(f"answered {status}: {answer[:500]!r}")
        return answer

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not self.idle.empty():
            return self.idle.get_nowait()
        return await self._connect()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self.opened.append(writer)
        return reader, writer

    async def close(self) -> None:
        for writer in self.opened:
            writer.close()
        self.opened.clear()

    async def __aenter__(self) -> Wire:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection stays open)."""
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise WireError(f"not an HTTP status line: {lines[0]!r}") from None
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    keep = fields.get("connection", "").lower() != "close"
    if "content-length" in fields:
        return status, await reader.readexactly(int(fields["content-length"])), keep
    if fields.get("transfer-encoding", "").lower() == "chunked":
        pieces = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                return status, b"".join(pieces), keep
            pieces.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return status, await reader.read(), False
