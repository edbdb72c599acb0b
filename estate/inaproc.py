"""A stand-in for the national procurement API (LKPP's INAPROC API gateway, v1): one
Pemda's RUP packages and tenders with their participants, in v1's shape and field names.

`GET /api/v1/rup/paket-penyedia` and `GET /api/v1/tender/pengumuman`, filtered by
`kode_klpd` and `tahun` (and `updated_since`, an ISO timestamp), paged by cursor
(`limit` ≤ 1000; the answer's `meta.cursor` and `meta.has_more`), answer
`{"data": [...], "meta": {...}}`. Every request needs the API key in `X-API-Key` or the
`api_key` parameter (401 otherwise). Beyond `rate` requests per second it answers 429
with `Retry-After`.

`Faults` makes it misbehave for fault tests and demos: a storm of 429s, a page that hangs,
a 500 on the n-th page request, cursors that expire (every cursor issued before
`expire_cursors()` answers 410).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_LIMIT = 1000


@dataclass
class Faults:
    """What the stand-in does wrong, set by a test or the demo while it runs."""

    storm: int = 0  # the next `storm` requests answer 429
    storm_retry_after: str | None = "0"  # their Retry-After (None: no header)
    hang_seconds: float = 0.0  # the next page request sleeps this long before answering
    fail_page: int | None = None  # the page request of this number (1-based) answers 500
    fail_times: int = 1  # … this many times
    page_requests: int = 0  # page requests answered so far (a test reads it)
    generation: int = 0  # cursors of an older generation have expired
    stuck: bool = False  # every page says there is more, after the same cursor (a broken API)

    def expire_cursors(self) -> None:
        self.generation += 1


@dataclass
class InaprocData:
    """One Pemda's records as the national API serves them (lists of v1 JSON objects,
    each with `updated_at`; a test changes them in place). `LegacyProcurement`
    (estate/national_api.py) serves them from a legacy SiRUP/SPSE database instead."""

    kode_klpd: str
    tahun: int
    rup: list[dict[str, Any]] = field(default_factory=list)
    tenders: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def accepts(self, kode_klpd: str | None, tahun: str | None) -> bool:
        return kode_klpd == self.kode_klpd and tahun == str(self.tahun)

    async def records(self, kind: str, tahun: int) -> list[dict[str, Any]]:
        """The records of `kind` ("rup" or "tender"), copied."""
        with self.lock:
            return [dict(r) for r in (self.rup if kind == "rup" else self.tenders)]

    async def page(
        self, kind: str, tahun: int, since: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return select_page(await self.records(kind, tahun), kind, since, offset, limit)


def page_key(record: dict[str, Any], kind: str) -> tuple[str, str]:
    """The order pages follow: `updated_at` (absent first), then the record's code, both
    compared as text."""
    return (record["updated_at"] or "", str(record["kd_rup" if kind == "rup" else "kd_tender"]))


def select_page(
    records: list[dict[str, Any]], kind: str, since: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of `records` changed after `since` (an ISO timestamp compared as text), in
    `page_key` order, and how many there are in all."""
    chosen = [r for r in records if since is None or (r["updated_at"] or "") > since]
    chosen.sort(key=lambda r: page_key(r, kind))
    return chosen[offset : offset + limit], len(chosen)


class Records(Protocol):
    def accepts(self, kode_klpd: str | None, tahun: str | None) -> bool: ...

    async def page(
        self, kind: str, tahun: int, since: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of `select_page`: only what changed after `since`, in `page_key`
        order, from `offset`; and how many changed after `since` in all."""
        ...


class _Bucket:
    """`rate` requests per second, in bursts of up to `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _cursor(generation: int, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{generation}:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str, generation: int) -> int | None:
    """The offset a cursor stands for; None if it expired or is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        made, offset = (int(part) for part in text.split(":"))
    except ValueError:
        return None
    return offset if made == generation and offset >= 0 else None


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message}, status, headers=headers)


def inaproc_app(
    data: Records, *, api_key: str, rate: float = 20.0, faults: Faults | None = None
) -> Starlette:
    """The stand-in as an ASGI app; `app.state.faults` is its `Faults`."""
    faults = faults or Faults()
    bucket = _Bucket(rate)

    async def page(request: Request, kind: str) -> JSONResponse:
        given = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if given != api_key:
            return _error(401, "API key tidak valid atau tidak ada")
        if faults.storm > 0:
            faults.storm -= 1
            headers = (
                {}
                if faults.storm_retry_after is None
                else {"Retry-After": faults.storm_retry_after}
            )
            return _error(429, "Terlalu banyak permintaan", **headers)
        if not bucket.take():
            return _error(429, "Terlalu banyak permintaan", **{"Retry-After": "1"})
        params = request.query_params
        if not data.accepts(params.get("kode_klpd"), params.get("tahun")):
            return JSONResponse({"success": True, "data": [], "meta": {"has_more": False}})
        try:
            limit = int(params.get("limit", "100"))
        except ValueError:
            return _error(400, "limit harus bilangan")
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, f"limit harus 1–{MAX_LIMIT}")
        offset = 0
        if params.get("cursor"):
            found = _offset(params["cursor"], faults.generation)
            if found is None:
                return _error(410, "cursor kedaluwarsa, mulai lagi dari awal")
            offset = found
        faults.page_requests += 1
        if faults.fail_page == faults.page_requests and faults.fail_times > 0:
            faults.fail_times -= 1
            faults.fail_page += 1
            return _error(500, "Internal Server Error")
        if faults.hang_seconds:
            hang, faults.hang_seconds = faults.hang_seconds, 0.0
            await asyncio.sleep(hang)
        since = params.get("updated_since")
        rows, total = await data.page(kind, int(params["tahun"]), since, offset, limit)
        more = offset + limit < total
        meta: dict[str, Any] = {"limit": limit, "total": total, "has_more": more}
        meta["cursor"] = _cursor(faults.generation, offset + limit) if more else None
        if faults.stuck:
            meta.update(has_more=True, cursor=_cursor(faults.generation, offset))
        return JSONResponse({"success": True, "data": rows, "meta": meta})

    async def rup(request: Request) -> JSONResponse:
        return await page(request, "rup")

    async def tenders(request: Request) -> JSONResponse:
        return await page(request, "tender")

    async def set_faults(request: Request) -> JSONResponse:
        """Make it misbehave from outside (a demo): {"storm": 20, "hang_seconds": 30,
        "fail_page": 2, "expire_cursors": true}, with the API key."""
        if request.headers.get("x-api-key") != api_key:
            return _error(401, "API key tidak valid atau tidak ada")
        try:
            asked = await request.json()
            if asked.get("expire_cursors"):
                faults.expire_cursors()
            faults.storm = int(asked.get("storm", faults.storm))
            faults.hang_seconds = float(asked.get("hang_seconds", faults.hang_seconds))
            if "fail_page" in asked:
                faults.fail_page = faults.page_requests + int(asked["fail_page"])
                faults.fail_times = int(asked.get("fail_times", 1))
        except (ValueError, TypeError, AttributeError) as exc:
            return _error(400, f"permintaan tidak dikenali: {exc}")
        return JSONResponse({"success": True, "faults": faults.__dict__})

    app = Starlette(
        routes=[
            Route("/api/v1/rup/paket-penyedia", rup),
            Route("/api/v1/tender/pengumuman", tenders),
            Route("/_faults", set_faults, methods=["POST"]),
        ]
    )
    app.state.faults = faults
    app.state.data = data
    return app


@asynccontextmanager
async def serving(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """`app` served by uvicorn in this event loop (port 0: a free one); yields the port."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="critical", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # it could not start (the port is taken): say why
            raise OSError(f"the national API stand-in could not listen on {host}:{port}")
        await asyncio.sleep(0.02)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        await task
