"""GraphQL results as clients get them, whatever the transport: every error with a stable
`extensions.code`, unexpected ones masked in production."""

from __future__ import annotations

import logging
import re
from typing import Any

import strawberry
from graphql import ExecutionResult, GraphQLError, GraphQLSyntaxError

from hub.errors import STORE_UNREACHABLE, ErrorCode, error_entry, store_unreachable
from schema import client_error

log = logging.getLogger("rantai.request")


def log_errors(
    schema: strawberry.Schema, errors: list[GraphQLError], operation: str | None
) -> None:
    """What the log says of a result's errors: one line per error the client caused (its
    code, the operation, the path), never a traceback; the hub's own failures with theirs
    (the schema's `process_errors`)."""
    for error in errors:
        if client_error(error):
            code = (error.extensions or {}).get("code") or _code(error, bool(error.path))
            path = ".".join(str(p) for p in error.path) if error.path else "-"
            log.info("client error %s in %s at %s: %s", code, operation or "-", path, error.message)
    schema.process_errors(errors)


def store_unavailable(error: GraphQLError) -> bool:
    """The hub's own database could not be reached (as opposed to a bug)."""
    original = error.original_error
    return original is not None and store_unreachable(original)


_BAD_ARGUMENT = re.compile(r"Argument '[_A-Za-z][_0-9A-Za-z]*' has invalid value")


def _code(error: GraphQLError, executed: bool) -> ErrorCode:
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if not executed:
        if error.message.startswith("Variable '$"):
            return ErrorCode.BAD_USER_INPUT
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    raised = error.original_error
    if (raised is None or isinstance(raised, GraphQLError)) and _BAD_ARGUMENT.match(error.message):
        # graphql-core's own coercion while executing: `@skip(if: $v)` with $v sent as
        # null, an argument's variable that does not fit. The client's input, not a fault.
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.INTERNAL_SERVER_ERROR


def formatted_errors(
    errors: list[GraphQLError], *, executed: bool, mask: bool
) -> list[dict[str, Any]]:
    """`errors` as sent. Without a code of their own, errors before execution are parse,
    validation or input errors, and errors during it are the hub's (INTERNAL_SERVER_ERROR,
    whose message `mask` replaces: in production the details are only in the log)."""
    out: list[dict[str, Any]] = []
    for error in errors:
        formatted: dict[str, Any] = dict(error.formatted)
        extensions = dict(formatted.get("extensions") or {})
        if "code" not in extensions and store_unavailable(error):
            formatted["message"] = STORE_UNREACHABLE
            extensions["code"] = ErrorCode.STORE_UNAVAILABLE
        extensions.setdefault("code", _code(error, executed))
        if mask and extensions["code"] == ErrorCode.INTERNAL_SERVER_ERROR:
            formatted["message"] = "Internal server error."
        formatted["extensions"] = extensions
        out.append(formatted)
    return out


def format_result(
    result: ExecutionResult, *, mask: bool = False, executed: bool | None = None
) -> tuple[dict[str, Any], bool]:
    """The response body, and whether execution started (`data` present).

    Execution started if there is data, or if an error carries a field path (a non-null
    root field that failed nulls `data` itself); parse and validation errors have neither.
    """
    if executed is None:
        executed = result.data is not None or any(e.path for e in result.errors or ())
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = formatted_errors(list(result.errors), executed=executed, mask=mask)
    if executed:
        body["data"] = result.data
    return body, executed


def error_body(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"errors": [error_entry(code, message)]}
