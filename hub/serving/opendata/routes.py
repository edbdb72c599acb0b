"""HTTP routes of the open data: `GET /ocds/{regionCode}/{year}/releases.json` (and
`records.json`), and `GET /export/{view}.xlsx|.csv` (`exports`). The viewer is
authenticated at the edge as on /graphql; everything else goes through `Api.handle`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from hub.auth import AuthError, Viewer
from hub.auth.guard import AuthThrottled, Gatekeeper
from hub.errors import ErrorCode
from hub.reference.clock import PROVINCE_ZONE
from hub.serving.http import client_address
from hub.serving.opendata import exports, ocds
from hub.serving.opendata.pages import ExportFailed, NotVisible, pages
from hub.serving.responses import error_body
from hub.settings import Settings

YEAR = re.compile(r"[0-9]{4}")  # ASCII digits only: int() also takes "２０２５" and "+2025"
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
STATUS = {"RATE_LIMITED": 429, "STORE_UNAVAILABLE": 503, "TIMEOUT": 503}


async def viewer_of(request: Request) -> Viewer | Response:
    """The request's viewer, or the refusal of its credential (as /graphql refuses it)."""
    return await viewer_from(request, request.headers.get("authorization"))


async def viewer_from(
    request: Request, authorization: str | None, *, feed: bool = False
) -> Viewer | Response:
    """The viewer of `authorization` (`feed`: a feed token, or none), or its refusal."""
    gate: Gatekeeper = request.app.state.gate
    try:
        return await gate.authenticate(authorization, client_address(request), feed=feed)
    except AuthThrottled as exc:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return JSONResponse(
            error_body(ErrorCode.RATE_LIMITED, str(exc)), status_code=429, headers=headers
        )
    except AuthError as exc:
        return JSONResponse(
            error_body(ErrorCode.UNAUTHENTICATED, str(exc)),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def refused(failure: ExportFailed) -> Response:
    status = failure.status or STATUS.get(failure.code, 400)
    return JSONResponse({"errors": failure.errors}, status_code=status)


def bad_request(message: str, status: int = 400) -> Response:
    """400 BAD_USER_INPUT, or 404 NOT_FOUND: the status and the code say the same."""
    code = ErrorCode.NOT_FOUND if status == 404 else ErrorCode.BAD_USER_INPUT
    return JSONResponse(error_body(code, message), status_code=status)


async def ocds_endpoint(request: Request) -> Response:
    region_code = request.path_params["region"]
    kind = request.path_params["kind"]
    if kind not in ("releases", "records"):
        return bad_request("Ask for releases.json or records.json.", 404)
    text = request.path_params["year"]
    year = int(text) if YEAR.fullmatch(text) else 0
    if not 2000 <= year <= 2100:
        return bad_request("The year is a fiscal year, 2000–2100: /ocds/53/2025/releases.json.")
    viewer = await viewer_of(request)
    if isinstance(viewer, Response):
        return viewer
    try:
        body = await ocds_document(request.app.state, viewer, region_code, year, kind,
                                   str(request.url), client_address(request))  # fmt: skip
    except ExportFailed as failure:
        return refused(failure)
    if body is None:
        return bad_request(f"No Pemda {region_code!r} this viewer may see.", 404)
    return Response(orjson.dumps(body), media_type="application/json")


async def ocds_document(
    state: Any, viewer: Viewer, region_code: str, year: int, kind: str, uri: str, client: str
) -> dict[str, Any] | None:
    """The release or record package of a Pemda-year for `viewer`; None for a Pemda the
    viewer cannot see. The CLI (`rantai export ocds`) writes the same."""
    settings: Settings = state.settings
    region, items = await ocds.releases(
        state.api, viewer, settings.ocid_prefix, region_code, year, client=client
    )
    if region is None:
        return None
    empty = ocds.empty_date(year)
    if kind == "records":
        releases_uri = uri.rsplit("/", 1)[0] + "/releases.json"
        return ocds.record_package(uri, releases_uri, region, items, empty_date=empty)
    return ocds.release_package(uri, region, items, empty_date=empty)


CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


async def export_endpoint(request: Request) -> Response:
    """`GET /export/{view}.xlsx|.csv?<the GraphQL field's filters>`: streamed."""
    view = exports.VIEWS.get(request.path_params["view"])
    fmt = request.path_params["fmt"]
    if view is None or fmt not in CONTENT_TYPES:
        names = ", ".join(f"{v}.xlsx|.csv" for v in exports.VIEWS)
        return bad_request(f"Downloads are /export/{{{names}}}.", 404)
    try:
        values = exports.read_filter(view, dict(request.query_params))
    except exports.BadFilter as exc:
        return bad_request(str(exc))
    viewer = await viewer_of(request)
    if isinstance(viewer, Response):
        return viewer
    client = client_address(request)
    variables = {**view.variables(values), "first": exports.PAGE}
    read = pages(request.app.state.api, viewer, view.document, variables, view.root, client=client)
    try:  # the first page before the first byte: a refusal still gets its status
        first = await anext(read)
    except StopAsyncIteration:
        first = ([], 0)
    except NotVisible:
        return bad_request("Nothing this viewer may see is named by the filter.", 404)
    except ExportFailed as failure:
        return refused(failure)

    async def nodes() -> AsyncIterator[list[dict[str, Any]]]:
        yield first[0]
        async for page, _ in read:
            yield page

    now = datetime.now(PROVINCE_ZONE)
    who = "publik" if not viewer.authenticated else f"{viewer.role} ({viewer.actor.split(':')[0]})"
    body = (
        exports.xlsx_chunks(view, values, nodes(), now, who)
        if fmt == "xlsx"
        else exports.csv_chunks(view, nodes())
    )
    # The filter's values named in the file name, as an ASCII slug: a quote, a line break
    # or a non-ASCII letter in a value never reaches the header.
    suffix = UNSAFE.sub("_", "-".join(str(v) for v in values.values())).strip("_")[:80]
    name = f"rantai-{view.name}{'-' + suffix if suffix else ''}.{fmt}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Total-Count": str(first[1]),
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body, media_type=CONTENT_TYPES[fmt], headers=headers)
