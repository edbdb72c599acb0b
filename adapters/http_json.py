"""HTTP JSON sources (`kind = "http-json"`): a national API read page by page with httpx.

An entity names a path under the source's base URL, its query parameters, where the
records are in each answer (`records`, a JSON path such as `data`) and how the pages follow
one another (`paging`: by cursor, by page number, by offset, or none). Each record becomes
one row whose columns are the record's JSON paths (`satker.kd_satker`, `lokasi.0.kab`); an
entity with `each` makes one row per element of an array in the record (a tender's
participants as bids), the element's paths under the array's name beside the record's.

Each page is one `Batch`, carrying `position`: what asks for the page after it (the next
cursor, page number or offset; None after the last). The sync commits it with the batch
so that a run that failed resumes after the last page it wrote (`stream(resume=…)`).

Resilience: 429, 502, 503 and 504 answers, connect errors and timeouts are retried,
waiting the server's `Retry-After` or an exponential backoff with full jitter (capped at
`max_backoff_seconds`), until the source's `retry_budget` of retries for the run is spent;
then, as for any other answer that is not 2xx, the page fails with the URL (the API key
replaced by `***`) and the status. A cursor the API no longer knows (4xx on the first page
of a resumed read) restarts the read from the first page (`Batch.restarted`).

The API key is sent as a header (`api_key_header`) or a query parameter (`api_key_param`)
and never appears in a message: every URL and text the adapter reports is redacted, and
httpx's own request log (which prints URLs) is kept at WARNING.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx

from adapters.base import Adapter, AdapterError, Batch, EntityQuery, Row, SourceConfig

log = logging.getLogger("rantai.adapters.http")
# httpx logs every request's URL at INFO; a key sent as a query parameter would be in it.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

PAGINGS = ("cursor", "page", "offset", "none")
RETRIED_STATUS = frozenset({429, 502, 503, 504})
# A saved cursor the API refuses with one of these is taken as expired.
EXPIRED_CURSOR_STATUS = frozenset({400, 404, 409, 410, 422})
REDACTED = "***"
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class HttpOptions:
    """The `[source]` options of an http-json source."""

    api_key: str | None = field(default=None, repr=False)
    api_key_header: str | None = None
    api_key_param: str | None = None
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    retry_budget: int = 8  # retries per run, across its pages
    max_backoff_seconds: float = 30.0
    backoff_seconds: float = 0.5  # the first backoff's upper bound


@dataclass(frozen=True)
class HttpQuery:
    """The http-json options of one `[[entity]]`."""

    path: str
    params: tuple[tuple[str, str], ...] = ()
    records: str | None = None  # JSON path of the records in an answer (None: the answer)
    each: str | None = None  # JSON path, in a record, of an array flattened into rows
    paging: str = "none"
    cursor_param: str = "cursor"
    cursor_path: str = "meta.cursor"
    has_more_path: str | None = "meta.has_more"
    page_param: str = "page"
    offset_param: str = "offset"
    limit_param: str | None = "limit"
    limit: int = 100
    since_param: str | None = None  # with a watermark: the parameter reading rows after it


def json_path(path: str) -> list[str | int]:
    """`meta.cursor`, `$.data`, `lokasi[0].kab` as keys and indexes."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(text):
        parts.append(int(index) if index else (int(name) if name.isdigit() else name))
    return parts


def resolve(document: Any, path: str | None) -> Any:
    """The value at a JSON path of `document` (None where it is not)."""
    if path is None:
        return document
    value = document
    for part in json_path(path):
        if isinstance(part, int) and isinstance(value, list) and -len(value) <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def flatten(value: Any, prefix: str = "", into: Row | None = None) -> Row:
    """A record as columns named by their JSON paths: nested objects as `a.b`, arrays of
    objects by index (`a.0.b`); an array of plain values stays one value."""
    row: Row = {} if into is None else into
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(inner, f"{prefix}.{key}" if prefix else str(key), row)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for index, inner in enumerate(value):
            flatten(inner, f"{prefix}.{index}" if prefix else str(index), row)
    elif prefix:
        row[prefix] = value
    return row


def record_rows(record: Any, each: str | None) -> list[Row]:
    """One row per record, or one per element of its `each` array (none when empty)."""
    if each is None:
        return [flatten(record)]
    children = resolve(record, each)
    if not isinstance(children, list):
        return []
    name = ".".join(str(p) for p in json_path(each))
    base = {k: v for k, v in flatten(record).items() if k != name and not k.startswith(f"{name}.")}
    return [flatten(child, name, dict(base)) for child in children]


class PageFailed(AdapterError):
    """A page that failed after its retries; `status` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class HttpJsonAdapter(Adapter):
    """A JSON API over HTTP, read-only (GET), one page per batch."""

    kinds = ("http-json",)

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.options = config.http or HttpOptions()
        self._client: httpx.AsyncClient | None = None
        self.retries_left = self.options.retry_budget
        self.requests = 0  # pages asked for, retries included
        # Answers by URL, when set: a draft (scaffold) reads one page several ways.
        self.memo: dict[str, Any] | None = None

    # -- connection ----------------------------------------------------------------------

    async def open(self) -> None:
        if not self.config.url:
            raise AdapterError(f"source {self.config.id}: an http-json source needs a url")
        options = self.options
        headers = {"Accept": "application/json"}
        if options.api_key is not None and options.api_key_header:
            headers[options.api_key_header] = options.api_key
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                options.read_timeout_seconds, connect=options.connect_timeout_seconds
            ),
            follow_redirects=False,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def redact(self, text: str) -> str:
        """`text` without the key, as sent or as a URL writes it (`a b/+` is `a+b%2F%2B` in a
        query string, `a%20b%2F%2B` in a path): an API may echo either back."""
        key = self.options.api_key
        if not key:
            return text
        for form in {key, quote_plus(key), quote(key, safe=""), quote(key)}:
            text = text.replace(form, REDACTED)
        return text

    def url(self, query: HttpQuery, params: Mapping[str, Any]) -> str:
        base = (self.config.url or "").rstrip("/")
        path = query.path if query.path.startswith("/") else f"/{query.path}"
        return f"{base}{path}" + (f"?{urlencode(params, safe='*')}" if params else "")

    def shown(self, query: HttpQuery, params: Mapping[str, Any]) -> str:
        """The URL as messages show it: the key parameter's value replaced."""
        visible = dict(params)
        if self.options.api_key_param and self.options.api_key is not None:
            visible[self.options.api_key_param] = REDACTED
        return self.redact(self.url(query, visible))

    # -- one page ------------------------------------------------------------------------

    async def fetch(self, query: HttpQuery, params: Mapping[str, Any]) -> Any:
        """One page's JSON, retried as the module says; PageFailed when it cannot be had."""
        if self._client is None:
            raise AdapterError(f"source {self.config.id}: the adapter is not open")
        sent = dict(params)
        if self.options.api_key is not None and self.options.api_key_param:
            sent[self.options.api_key_param] = self.options.api_key
        url = self.url(query, sent)
        if self.memo is not None and url in self.memo:
            return self.memo[url]
        attempt = 0
        while True:
            self.requests += 1
            status: int | None = None
            wait: float | None = None
            try:
                response = await self._client.get(url)
            except httpx.TimeoutException as exc:
                problem = f"no answer ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"cannot connect ({type(exc).__name__}: {self.redact(str(exc))})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        document = response.json()
                    except ValueError:
                        raise PageFailed(
                            f"source {self.config.id}: GET {self.shown(query, params)} "
                            f"answered {status} with no JSON",
                            status,
                        ) from None
                    if self.memo is not None:
                        self.memo[url] = document
                    return document
                problem = f"answered {status} {response.reason_phrase}".rstrip()
                detail = _detail(response)
                if detail:
                    problem += f": {self.redact(detail)}"
                if status not in RETRIED_STATUS:
                    raise PageFailed(
                        f"source {self.config.id}: GET {self.shown(query, params)} {problem}",
                        status,
                    )
                wait = _retry_after(response.headers.get("Retry-After"))
            if self.retries_left <= 0:
                raise PageFailed(
                    f"source {self.config.id}: GET {self.shown(query, params)} {problem} "
                    f"(retry budget of {self.options.retry_budget} spent)",
                    status,
                )
            self.retries_left -= 1
            if wait is None:
                ceiling = self.options.backoff_seconds * 2**attempt
                wait = random.uniform(0, min(ceiling, self.options.max_backoff_seconds))
            wait = min(wait, self.options.max_backoff_seconds)
            attempt += 1
            log.info(
                "source %s: GET %s %s; retrying in %.1f s",
                self.config.id,
                self.shown(query, params),
                problem,
                wait,
            )
            await asyncio.sleep(wait)

    # -- pages -----------------------------------------------------------------------------

    def _http(self, query: EntityQuery) -> HttpQuery:
        if query.http is None:
            raise AdapterError(f"source {self.config.id}: an http-json entity needs a path")
        return query.http

    def _params(self, http: HttpQuery, since: Any, position: Any) -> dict[str, Any]:
        params: dict[str, Any] = dict(http.params)
        if http.since_param and since is not None:
            params[http.since_param] = _text(since)
        if http.paging != "none" and http.limit_param:
            params[http.limit_param] = http.limit
        if position is not None:
            name = {"cursor": http.cursor_param, "page": http.page_param}.get(
                http.paging, http.offset_param
            )
            params[name] = position
        elif http.paging == "page":
            params[http.page_param] = 1
        elif http.paging == "offset":
            params[http.offset_param] = 0
        return params

    def _records(self, http: HttpQuery, params: Mapping[str, Any], document: Any) -> list[Any]:
        records = resolve(document, http.records)
        if records is None and isinstance(document, dict) and http.records:
            raise AdapterError(
                f"source {self.config.id}: GET {self.shown(http, params)}: the answer has "
                f"nothing at {http.records!r} (keys: {', '.join(sorted(document)) or 'none'})"
            )
        if not isinstance(records, list):
            raise AdapterError(
                f"source {self.config.id}: GET {self.shown(http, params)}: "
                f"{http.records or 'the answer'} is not a list of records"
            )
        return records

    def _next(self, http: HttpQuery, document: Any, records: list[Any], position: Any) -> Any:
        """What asks for the page after this one; None when this was the last."""
        if http.paging == "none" or not records:
            return None
        if http.paging == "cursor":
            cursor = resolve(document, http.cursor_path)
            more = resolve(document, http.has_more_path) if http.has_more_path else None
            if cursor in (None, "") or more is False:
                return None
            return cursor
        if http.has_more_path and resolve(document, http.has_more_path) is False:
            return None
        if http.limit_param and len(records) < http.limit:
            return None
        if http.paging == "page":
            return (position or 1) + 1
        return (position or 0) + len(records)

    async def pages(
        self, query: EntityQuery, since: Any = None, resume: Any = None
    ) -> AsyncIterator[Batch]:
        """Each page's rows, from the first page or from `resume` (a position given by an
        earlier page); a resumed read whose position the API refuses starts again."""
        http = self._http(query)
        position = resume
        restarted = False
        asked: set[str] = set()  # the positions asked for: an API that repeats one loops
        last_page: bytes | None = None
        while True:
            params = self._params(http, since, position)
            try:
                document = await self.fetch(http, params)
            except PageFailed as exc:
                if (
                    position is not None
                    and position == resume
                    and not restarted
                    and exc.status in EXPIRED_CURSOR_STATUS
                ):
                    log.warning(
                        "source %s: %s; reading %s again from its first page",
                        self.config.id,
                        exc,
                        http.path,
                    )
                    position, restarted = None, True
                    continue
                raise
            records = self._records(http, params, document)
            # An API that ignores its paging (the same page again) or hands back a cursor
            # it gave before would be read forever: the read stops with the source's error.
            page = hashlib.sha256(
                json.dumps(records, sort_keys=True, default=str).encode()
            ).digest()
            if records and page == last_page:
                raise AdapterError(
                    f"source {self.config.id}: GET {self.shown(http, params)}: the same page "
                    f"came twice (its {http.paging} paging is not followed); the read stops"
                )
            last_page = page
            asked.add(json.dumps(position, default=str))
            position = self._next(http, document, records, position)
            if position is not None and json.dumps(position, default=str) in asked:
                raise AdapterError(
                    f"source {self.config.id}: GET {self.shown(http, params)}: the API "
                    f"pointed back to a page already read ({http.paging} {position!r}); "
                    "the read stops"
                )
            rows = [row for record in records for row in record_rows(record, http.each)]
            yield Batch(rows=rows, origin=http.path, position=position, restarted=restarted)
            if position is None:
                return

    async def discover(self, endpoint: HttpQuery) -> tuple[HttpQuery, list[str]]:
        """One page of `endpoint`, read for a draft mapping: where its records are, how it
        pages, and the arrays of objects in a record (candidates for `each`)."""
        params = self._params(replace(endpoint, paging="none"), None, None)
        document = await self.fetch(endpoint, params)
        records = endpoint.records
        if records is None and isinstance(document, dict):
            lists = [k for k, v in document.items() if isinstance(v, list)]
            records = "data" if "data" in lists else (lists[0] if lists else None)
        found = resolve(document, records)
        first = found[0] if isinstance(found, list) and found else {}
        arrays = [
            k
            for k, v in (first.items() if isinstance(first, dict) else ())
            if isinstance(v, list) and any(isinstance(i, dict) for i in v)
        ]
        meta = (
            {k: v for k, v in document.items() if k != records}
            if isinstance(document, dict)
            else {}
        )
        cursor = _find(meta, ("cursor", "next_cursor", "nextCursor", "next"))
        more = _find(meta, ("has_more", "hasMore", "has_next"))
        paging, changes = "none", {}
        if cursor is not None:
            paging, changes = "cursor", {"cursor_path": cursor, "has_more_path": more}
        elif _find(meta, ("page", "current_page", "currentPage")) is not None:
            paging, changes = "page", {"has_more_path": more}
        elif _find(meta, ("offset",)) is not None:
            paging, changes = "offset", {"has_more_path": more}
        guessed = HttpQuery(
            path=endpoint.path,
            params=endpoint.params,
            records=records,
            paging=paging,
            limit=endpoint.limit,
            **changes,  # type: ignore[arg-type]
        )
        return guessed, arrays

    async def columns(self, query: EntityQuery) -> list[str]:
        """The columns of the first page's rows (the JSON paths of its records)."""
        batches = self.pages(query)
        try:
            batch = await anext(batches, None)
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
        names: dict[str, None] = {}
        for row in [] if batch is None else batch.rows:
            names.update(dict.fromkeys(row))
        return list(names)

    async def stream(
        self, query: EntityQuery, *, since: Any = None, resume: Any = None
    ) -> AsyncIterator[Batch]:
        """Pages as batches (the API's page size, `limit`, not `batch_size`)."""
        started = time.monotonic()
        async for batch in self.pages(query, since, resume):
            yield batch
        log.debug("source %s: read in %.1f s", self.config.id, time.monotonic() - started)


def _find(document: Any, names: tuple[str, ...], prefix: str = "") -> str | None:
    """The JSON path of the first key of `names` in nested objects (not in lists)."""
    if not isinstance(document, dict):
        return None
    for key in document:
        if key in names:
            return f"{prefix}{key}"
    for key, value in document.items():
        found = _find(value, names, f"{prefix}{key}.")
        if found is not None:
            return found
    return None


def _detail(response: httpx.Response) -> str:
    """A short reason from an error answer's body (its `message` or `error`), if any."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:120]
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str):
                return value[:200]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:200]
    return ""


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _text(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)
