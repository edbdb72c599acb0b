"""GraphQL over HTTP (the GraphQL-over-HTTP spec): GET and POST, JSON in, and either
`application/json` or `application/graphql-response+json` out, with the spec's status codes.

This module only reads and frames: the request path (`hub/serving/request.py`) does the
rest. A browser asking for the endpoint gets GraphiQL, served from the hub's static files.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hub.auth import AuthError
from hub.auth.guard import AuthThrottled, Gatekeeper
from hub.errors import ErrorCode
from hub.serving.graphiql import graphiql_page
from hub.serving.request import Answer, Api, GraphQLRequest, Transport, told
from hub.serving.responses import error_body
from hub.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither."""
    if not accept:
        return JSON
    accepted = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in accepted:
        return GRAPHQL_RESPONSE
    if JSON in accepted or "application/*" in accepted or "*/*" in accepted:
        return JSON
    return None


def wants_graphiql(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept and "query" not in request.query_params


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


async def read_params(request: Request, settings: Settings) -> Any:
    """The parameter object(s) of the request, or the refusal of a malformed one."""
    max_bytes = settings.max_body_bytes
    if request.method == "GET":
        if len(request.url.query) > max_bytes:
            return Answer.refused(
                ErrorCode.BAD_REQUEST, f"The query string is longer than {max_bytes} bytes.", 414
            )
        params: dict[str, Any] = dict(request.query_params)
        for key in ("variables", "extensions"):
            if params.get(key):
                try:
                    params[key] = orjson.loads(params[key])
                except orjson.JSONDecodeError:
                    return Answer.refused(ErrorCode.BAD_REQUEST, f"`{key}` is not valid JSON.", 400)
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        return Answer.refused(
            ErrorCode.BAD_REQUEST, "POST a JSON body with Content-Type: application/json.", 415
        )
    too_large = Answer.refused(
        ErrorCode.BODY_TOO_LARGE, f"The request body is larger than {max_bytes} bytes.", 413
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        return too_large
    raw = bytearray()
    try:
        # A client that sends its body slowly holds a connection and its buffer.
        async with asyncio.timeout(settings.body_timeout_seconds):
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > max_bytes:
                    return too_large
    except TimeoutError:
        return Answer.refused(
            ErrorCode.BAD_REQUEST,
            f"The request body did not arrive within {settings.body_timeout_seconds:g} s.",
            408,
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Answer.refused(ErrorCode.BAD_REQUEST, "The request body is not valid JSON.", 400)
    if isinstance(body, list):
        if settings.max_batch <= 1:
            return Answer.refused(
                ErrorCode.BAD_REQUEST,
                "Batched requests are not supported; send one operation.",
                400,
            )
        if not body or len(body) > settings.max_batch:
            return Answer.refused(
                ErrorCode.BAD_REQUEST, f"Send 1 to {settings.max_batch} operations in a batch.", 400
            )
        if not all(isinstance(item, dict) for item in body):
            return Answer.refused(
                ErrorCode.BAD_REQUEST, "Every operation of a batch must be a JSON object.", 400
            )
        return body
    if not isinstance(body, dict):
        return Answer.refused(ErrorCode.BAD_REQUEST, "The request body must be a JSON object.", 400)
    return body


def json_response(
    body: Any, status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


def status_of(answer: Answer, media_type: str) -> int:
    """GraphQL-over-HTTP: with application/json every GraphQL answer is 200; with
    application/graphql-response+json one that did not execute is 400."""
    if answer.status is not None:
        return answer.status
    return 200 if answer.executed or media_type == JSON else 400


async def graphql_endpoint(request: Request) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    gate: Gatekeeper = state.gate
    api: Api = state.api
    if request.method not in ("GET", "POST"):
        answer = Answer.refused(ErrorCode.BAD_REQUEST, "Use GET or POST.", 405, Allow="GET, POST")
        return json_response(answer.body, 405, JSON, answer.headers)
    media_type = negotiate(request.headers.get("accept"))
    client = client_address(request)
    try:
        viewer = await gate.authenticate(request.headers.get("authorization"), client)
    except AuthThrottled as exc:
        seconds = str(max(1, round(exc.retry_after)))
        body = error_body(ErrorCode.RATE_LIMITED, str(exc))
        return json_response(body, 429, media_type or JSON, {"Retry-After": seconds})
    except AuthError as exc:
        return json_response(
            error_body(ErrorCode.UNAUTHENTICATED, str(exc)), 401, media_type or JSON,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )  # fmt: skip
    if wants_graphiql(request):
        if settings.production and not viewer.authenticated:
            return HTMLResponse("GraphiQL is off in production.", status_code=404)
        return graphiql_page(state)
    if media_type is None:
        answer = told(
            Answer.refused(ErrorCode.BAD_REQUEST, f"Accept {GRAPHQL_RESPONSE} or {JSON}.", 406),
            viewer,
        )
        return json_response(answer.body, 406, JSON)
    params = await read_params(request, settings)
    if isinstance(params, Answer):
        told(params, viewer)
        return json_response(params.body, status_of(params, media_type), media_type, params.headers)

    async def one(item: dict[str, Any]) -> Answer:
        parsed = GraphQLRequest.from_params(
            item, Transport.HTTP, http_method=request.method, client=client
        )
        if isinstance(parsed, Answer):
            return told(parsed, viewer)
        return await api.handle(parsed, viewer)

    if isinstance(params, dict):
        answer = await one(params)
        return json_response(answer.body, status_of(answer, media_type), media_type, answer.headers)
    # A batch (RANTAI_MAX_BATCH > 1): each operation counts against the rate, runs alone,
    # and has its own body in the answer's list.
    answers = [await one(item) for item in params]
    return json_response([a.body for a in answers], 200, media_type)
