"""GraphQL over HTTP (the GraphQL-over-HTTP spec): GET and POST, JSON in, and either
`application/json` or `application/graphql-response+json` out, with the spec's status codes.

A browser asking for the endpoint gets GraphiQL, served from the hub's own static files.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSyntaxError,
    OperationType,
    get_operation_ast,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hub.auth import AuthError, Viewer
from hub.auth.guard import Gatekeeper, document_hash
from hub.errors import STORE_UNREACHABLE, ErrorCode, error_entry, store_unreachable
from hub.serving.compiled import CompiledQueries
from hub.serving.documents import Documents, TimedOut, check_variables, run
from hub.serving.examples import default_tabs
from hub.settings import Settings
from resolvers.context import Context

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
GRAPHIQL_PAGE = Path(__file__).parent.parent / "static" / "graphiql" / "index.html"


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


async def read_params(
    request: Request, max_bytes: int, max_batch: int = 1
) -> dict[str, Any] | list[dict[str, Any]]:
    if request.method == "GET":
        if len(request.url.query) > max_bytes:
            raise RequestError(414, f"The query string is longer than {max_bytes} bytes.")
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
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(413, f"The request body is larger than {max_bytes} bytes.")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise RequestError(413, f"The request body is larger than {max_bytes} bytes.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, "The request body is not valid JSON.") from None
    if isinstance(body, list):
        if max_batch <= 1:
            raise RequestError(400, "Batched requests are not supported; send one operation.")
        if not body or len(body) > max_batch:
            raise RequestError(400, f"Send 1 to {max_batch} operations in a batch.")
        if not all(isinstance(item, dict) for item in body):
            raise RequestError(400, "Every operation of a batch must be a JSON object.")
        return body
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
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "`extensions` must be a JSON object.")
    return query, variables, operation_name


def store_unavailable(error: GraphQLError) -> bool:
    """The hub's own database could not be reached (as opposed to a bug)."""
    original = error.original_error
    return original is not None and store_unreachable(original)


def error_code(error: GraphQLError, executed: bool) -> str:
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if not executed:
        if error.message.startswith("Variable '$"):
            return ErrorCode.BAD_USER_INPUT
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    return ErrorCode.INTERNAL_SERVER_ERROR


def format_result(result: Any, *, mask: bool = False) -> tuple[dict[str, Any], bool]:
    """The response body, and whether execution started (`data` present). With `mask`
    (production), unexpected errors say only that something failed, not what."""
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
                formatted["message"] = STORE_UNREACHABLE
                extensions["code"] = ErrorCode.STORE_UNAVAILABLE
            extensions.setdefault("code", error_code(error, executed))
            original = error.original_error
            if (
                mask
                and original is not None
                and not isinstance(original, GraphQLError)
                and extensions["code"] == ErrorCode.INTERNAL_SERVER_ERROR
            ):
                formatted["message"] = "Internal server error."
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
    return json_response(
        _error_body("BAD_REQUEST", error.message), error.status, media_type, error.headers
    )


def error_response(
    status: int, code: str, message: str, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response(_error_body(code, message), status, media_type, headers)


async def graphql_endpoint(request: Request) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    gate: Gatekeeper = state.gate
    if request.method not in ("GET", "POST"):
        return request_error_response(
            RequestError(405, "Use GET or POST.", {"Allow": "GET, POST"}), JSON
        )
    media_type = negotiate(request.headers.get("accept"))
    try:
        viewer = await gate.viewer(request.headers.get("authorization"))
    except AuthError as exc:
        return error_response(
            401, ErrorCode.UNAUTHENTICATED, str(exc), media_type or JSON,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )  # fmt: skip
    if wants_graphiql(request):
        if settings.production and not viewer.authenticated:
            return HTMLResponse("GraphiQL is off in production.", status_code=404)
        return graphiql_page(state)
    if media_type is None:
        return request_error_response(
            RequestError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}."), JSON
        )
    client = request.client.host if request.client else "?"
    wait = gate.retry_after(viewer.actor if viewer.authenticated else f"ip:{client}")
    if wait is not None:
        return error_response(
            429, ErrorCode.RATE_LIMITED,
            f"Too many requests; try again in {math.ceil(wait)} s.", media_type,
            {"Retry-After": str(math.ceil(wait))},
        )  # fmt: skip
    try:
        batch = await read_params(request, settings.max_body_bytes, settings.max_batch)
    except RequestError as error:
        if error.status == 413:
            return error_response(413, ErrorCode.BODY_TOO_LARGE, error.message, media_type)
        return request_error_response(error, media_type)
    if isinstance(batch, dict):
        outcome, status, headers = await _one(request, viewer, media_type, batch)
        return json_response(outcome, status, media_type, headers)
    # A batch (RANTAI_MAX_BATCH > 1): each operation counts against the rate, runs alone,
    # and has its own body in the answer's list.
    answers = []
    for params in batch:
        if gate.retry_after(viewer.actor if viewer.authenticated else f"ip:{client}"):
            answers.append(_error_body(ErrorCode.RATE_LIMITED, "Too many requests."))
            continue
        outcome, _, _ = await _one(request, viewer, media_type, params)
        answers.append(outcome)
    return json_response(answers, 200, media_type)


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"errors": [error_entry(code, message)]}


Outcome = tuple[Any, int, dict[str, str] | None]


async def _one(
    request: Request, viewer: Viewer, media_type: str, params: dict[str, Any]
) -> Outcome:
    """One operation: its response body, status and headers."""
    state = request.app.state
    settings: Settings = state.settings
    gate: Gatekeeper = state.gate
    try:
        query = trusted_query(state, params)
        query, variables, operation_name = validate_params({**params, "query": query})
    except RequestError as error:
        return _error_body("BAD_REQUEST", error.message), error.status, error.headers
    except TrustedDocumentRequired as error:
        return _error_body(ErrorCode.TRUSTED_DOCUMENT_REQUIRED, str(error)), 400, None

    documents: Documents = state.documents
    prepared = documents.get(
        query,
        introspection=not (settings.production and not viewer.authenticated),
        suggestions=not settings.production,
    )
    kind = prepared.operation_type(operation_name)
    if kind is not None and kind is not OperationType.QUERY:
        # Mutations do not exist and subscriptions travel over WebSocket only.
        status = 405 if request.method == "GET" else 400
        headers = {"Allow": "POST"} if request.method == "GET" else None
        message = "Only queries run over HTTP; subscribe over WebSocket."
        return _error_body("BAD_REQUEST", message), status, headers
    if prepared.document is None:
        body, _ = format_result(ExecutionResult(None, prepared.errors))
        return body, 200 if media_type == JSON else 400, None
    operation = get_operation_ast(prepared.document, operation_name)
    if operation is None:
        message = (
            f"No operation named {operation_name!r} in the document."
            if operation_name
            else "The document has several operations: name one in `operationName`."
        )
        return _error_body("BAD_REQUEST", message), 400, None
    too_costly = check_variables(variables) or documents.check_cost(
        prepared, operation_name, variables or {}
    )
    if too_costly is not None:
        body, _ = format_result(ExecutionResult(None, [too_costly]))
        return body, 200 if media_type == JSON else 400, None

    result = None
    compiled: CompiledQueries | None = getattr(state, "compiled", None)
    if compiled is not None:
        result = await compiled.answer(
            prepared.document, operation, variables, viewer.scope,
            time_limit=settings.execution_timeout_seconds,
        )  # fmt: skip
    if result is None:
        context = Context.create(state.engine, settings, viewer=viewer)
        result = await run(
            state.schema, prepared.document, context, variables, operation_name,
            time_limit=settings.execution_timeout_seconds, hide_suggestions=settings.production,
        )  # fmt: skip
    body, executed = format_result(result, mask=settings.production)
    await gate.audit(
        viewer,
        "request",
        {
            "operation": operation_name or (operation.name.value if operation.name else None),
            "document": document_hash(query),
            "errors": len(result.errors or ()),
        },
    )
    if any(isinstance(e.original_error or e, TimedOut) for e in result.errors or ()):
        return body, 503, None
    return body, 200 if executed or media_type == JSON else 400, None


class TrustedDocumentRequired(Exception):
    pass


def trusted_query(state: Any, params: dict[str, Any]) -> Any:
    """The document to run. With trusted documents on, only a registered one, named by its
    sha256 (`extensions.persistedQuery.sha256Hash` or `documentId`, optionally "sha256:…")
    or sent as text whose hash is registered."""
    trusted: dict[str, str] | None = getattr(state, "trusted_documents", None)
    query = params.get("query")
    if trusted is None:
        return query
    extensions = params.get("extensions") or {}
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    wanted = params.get("documentId") or (
        persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    )
    if isinstance(wanted, str):
        document = trusted.get(wanted.removeprefix("sha256:"))
        if document is None:
            raise TrustedDocumentRequired(f"No trusted document with id {wanted!r}.")
        return document
    if isinstance(query, str) and document_hash(query) in trusted:
        return query
    raise TrustedDocumentRequired(
        "This hub runs only trusted documents: send `documentId` (their sha256) or a "
        "registered document."
    )


def graphiql_page(state: Any) -> HTMLResponse:
    page = getattr(state, "graphiql_page", None)
    if page is None:
        template = GRAPHIQL_PAGE.read_text(encoding="utf-8")
        tabs = default_tabs(date.today().year).decode()
        page = state.graphiql_page = template.replace("__RANTAI_TABS__", tabs)
    return HTMLResponse(page)
