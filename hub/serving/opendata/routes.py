"""HTTP routes of the open data: `GET /ocds/{regionCode}/{year}/releases.json` (and
`records.json`), and `GET /export/{view}.xlsx|.csv` (`exports`). The viewer is
authenticated at the edge as on /graphql; everything else goes through `Api.handle`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.auth import AuthError, Viewer
from hub.auth.guard import AuthThrottled, Gatekeeper
from hub.errors import ErrorCode
from hub.serving.http import client_address
from hub.serving.opendata import ocds
from hub.serving.opendata.pages import ExportFailed
from hub.serving.responses import error_body
from hub.settings import Settings

STATUS = {"RATE_LIMITED": 429, "STORE_UNAVAILABLE": 503, "TIMEOUT": 503}


async def viewer_of(request: Request) -> Viewer | Response:
    """The request's viewer, or the refusal of its credential (as /graphql refuses it)."""
    gate: Gatekeeper = request.app.state.gate
    try:
        return await gate.authenticate(
            request.headers.get("authorization"), client_address(request)
        )
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
    return JSONResponse(error_body(ErrorCode.BAD_USER_INPUT, message), status_code=status)


async def ocds_endpoint(request: Request) -> Response:
    region_code = request.path_params["region"]
    kind = request.path_params["kind"]
    if kind not in ("releases", "records"):
        return bad_request("Ask for releases.json or records.json.", 404)
    try:
        year = int(request.path_params["year"])
    except ValueError:
        return bad_request("The year is a number, e.g. /ocds/53/2025/releases.json.")
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
