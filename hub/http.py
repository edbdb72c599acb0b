"""GraphQL over HTTP (the GraphQL-over-HTTP spec): GET and POST, JSON in, and either
`application/json` or `application/graphql-response+json` out, with the spec's status codes.

A browser asking for the endpoint gets GraphiQL, served from the hub's own static files.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from hub.context import Context
from hub.errors import ErrorCode
from hub.examples import default_tabs

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql" / "index.html"
QUERY_ONLY = frozenset({OperationType.QUERY})


class RequestError(Exception):
    """The HTTP request itself is malformed; no GraphQL was executed."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


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


async def read_params(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
        for key in ("variables", "extensions"):
            if params.get(key):
                try:
                    params[key] = orjson.loads(params[key])
                except orjson.JSONDecodeError:
                    raise RequestError(400, f"`{key}` is not valid JSON.") from None
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise RequestError(415, "POST a JSON body with Content-Type: application/json.")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise RequestError(400, "The request body is not valid JSON.") from None
    if isinstance(body, list):
        raise RequestError(400, "Batched requests are not supported; send one operation.")
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    return body


def validate_params(params: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "Send the GraphQL document as a non-empty string in `query`.")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "`variables` must be a JSON object.")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "`operationName` must be a string.")
    return query, variables, operation_name


def store_unavailable(error: GraphQLError) -> bool:
    """The hub's own database could not be reached (as opposed to a bug)."""
    original = error.original_error
    if isinstance(original, DBAPIError):
        if original.connection_invalidated:
            return True
        original = original.orig
    return isinstance(original, OSError)  # ConnectionRefusedError, socket timeouts…


def error_code(error: GraphQLError, executed: bool) -> str:
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if not executed:
        if error.message.startswith("Variable '$"):
            return ErrorCode.BAD_USER_INPUT
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    return ErrorCode.INTERNAL_SERVER_ERROR


def format_result(result: ExecutionResult) -> tuple[dict[str, Any], bool]:
    """The response body, and whether execution started (`data` present)."""
    # Execution started if there is data, or if an error carries a field path (a non-null
    # root field that failed nulls `data` itself). Parse and validation errors have neither.
    executed = result.data is not None or any(e.path for e in result.errors or ())
    body: dict[str, Any] = {}
    if result.errors:
        errors = []
        for error in result.errors:
            formatted = error.formatted
            extensions = dict(formatted.get("extensions") or {})
            if "code" not in extensions and store_unavailable(error):
                formatted["message"] = "The hub's database is unreachable; try again shortly."
                extensions["code"] = ErrorCode.STORE_UNAVAILABLE
            extensions.setdefault("code", error_code(error, executed))
            formatted["extensions"] = extensions
            errors.append(formatted)
        body["errors"] = errors
    if executed:
        body["data"] = result.data
    return body, executed


def json_response(
    body: Any, status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


def request_error_response(error: RequestError, media_type: str) -> Response:
    body = {"errors": [{"message": error.message, "extensions": {"code": "BAD_REQUEST"}}]}
    return json_response(body, error.status, media_type, error.headers)


async def graphql_endpoint(request: Request) -> Response:
    state = request.app.state
    if request.method not in ("GET", "POST"):
        return request_error_response(
            RequestError(405, "Use GET or POST.", {"Allow": "GET, POST"}), JSON
        )
    if wants_graphiql(request):
        return graphiql_page(state)
    media_type = negotiate(request.headers.get("accept"))
    if media_type is None:
        return request_error_response(
            RequestError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}."), JSON
        )
    try:
        query, variables, operation_name = validate_params(await read_params(request))
    except RequestError as error:
        return request_error_response(error, media_type)

    schema: strawberry.Schema = state.schema
    context = Context.create(state.engine, state.settings)
    try:
        result = await schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=QUERY_ONLY,
        )
    except InvalidOperationTypeError:
        # Mutations do not exist and subscriptions travel over WebSocket only.
        status = 405 if request.method == "GET" else 400
        headers = {"Allow": "POST"} if request.method == "GET" else None
        return request_error_response(
            RequestError(status, "Only queries run over HTTP; subscribe over WebSocket.", headers),
            media_type,
        )
    except MissingQueryError:
        return request_error_response(RequestError(400, "No GraphQL document sent."), media_type)

    body, executed = format_result(result)
    status = 200 if executed or media_type == JSON else 400
    return json_response(body, status, media_type)


def graphiql_page(state: Any) -> HTMLResponse:
    page = getattr(state, "graphiql_page", None)
    if page is None:
        template = GRAPHIQL_PAGE.read_text(encoding="utf-8")
        tabs = default_tabs(date.today().year).decode()
        page = state.graphiql_page = template.replace("__RANTAI_TABS__", tabs)
    return HTMLResponse(page)
