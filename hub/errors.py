"""Errors a client can act on, each with a stable `extensions.code`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import asyncpg
from graphql import GraphQLError


class ErrorCode(StrEnum):
    """Every `extensions.code` the API can answer with, each with its meaning (docs/errors.md
    is printed from these)."""

    meaning: str

    def __new__(cls, value: str, meaning: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    # The request itself
    BAD_REQUEST = (
        "BAD_REQUEST",
        "The HTTP request or WebSocket message is malformed (no document, a body that is not "
        "JSON, a batch when batching is off, an operation that cannot run over this transport, "
        "several operations without `operationName`). Nothing was executed.",
    )
    BODY_TOO_LARGE = ("BODY_TOO_LARGE", "The request body or message is over the size limit.")
    UNAUTHENTICATED = (
        "UNAUTHENTICATED",
        "A credential was sent but is not valid (unknown, revoked, expired or malformed). It "
        "is never treated as anonymous.",
    )
    RATE_LIMITED = (
        "RATE_LIMITED",
        "Too many requests, or too many failed credentials, from this caller; retry after "
        "`Retry-After` seconds.",
    )
    TRUSTED_DOCUMENT_REQUIRED = (
        "TRUSTED_DOCUMENT_REQUIRED",
        "This hub runs only registered documents; send `documentId` or a registered text.",
    )
    # The document
    GRAPHQL_PARSE_FAILED = ("GRAPHQL_PARSE_FAILED", "The document is not valid GraphQL syntax.")
    GRAPHQL_VALIDATION_FAILED = (
        "GRAPHQL_VALIDATION_FAILED",
        "The document does not fit the schema (unknown field, wrong argument type, introspection "
        "by an anonymous viewer in production…).",
    )
    TOKEN_LIMIT_EXCEEDED = ("TOKEN_LIMIT_EXCEEDED", "The document has too many tokens.")
    DEPTH_LIMIT_EXCEEDED = ("DEPTH_LIMIT_EXCEEDED", "The selection is nested too deep.")
    ALIAS_LIMIT_EXCEEDED = ("ALIAS_LIMIT_EXCEEDED", "The document uses too many aliases.")
    COST_LIMIT_EXCEEDED = (
        "COST_LIMIT_EXCEEDED",
        "The document expands to too many fields, or could return too many values for its "
        "page sizes (fewer through the resolvers, when the compiled path does not answer it).",
    )
    # Arguments and variables
    BAD_USER_INPUT = (
        "BAD_USER_INPUT",
        "An argument or variable has a value the API refuses (wrong type, missing, unknown "
        "name in a closed vocabulary, nested too deep, NUL characters); the message names it.",
    )
    BAD_CURSOR = ("BAD_CURSOR", "An `after` cursor this API did not issue for this list.")
    BAD_ID = ("BAD_ID", "An id this API did not issue.")
    PAGE_TOO_LARGE = ("PAGE_TOO_LARGE", "`first` is above the largest page.")
    CURSOR_EXPIRED = (
        "CURSOR_EXPIRED",
        "A change cursor older than the hub keeps events: reload, then follow from now.",
    )
    # Access
    FORBIDDEN = (
        "FORBIDDEN",
        "The viewer's role may not see this field (it is null), may not follow these events, "
        "or may not run this operation (HTTP 403: the `admin` field and the operators' "
        "mutations need an `admin` key; a mutation names the roles it needs), or the "
        "viewer's remit does not reach what it names (a finding of another Pemda, a "
        "follow-up of another OPD); nothing was changed.",
    )
    UPLOAD_REFUSED = (
        "UPLOAD_REFUSED",
        "An uploaded workbook was not accepted (HTTP 415 for a file that is not a plain .xlsx, "
        "422 for rows its OPD's mapping cannot read, each listed in `extensions.problems` with "
        "sheet, row, column and reason); nothing of it was kept.",
    )
    NOT_FOUND = (
        "NOT_FOUND",
        "A mutation names something the hub does not have (an API key, a source, a "
        "ketimpangan, an OPD of the finding's Pemda); nothing was changed. `argument` names "
        "the input field.",
    )
    CONFLICT = (
        "CONFLICT",
        "A mutation asks for a change the current state refuses (a key already revoked, a "
        "sync already waiting, a resolved ketimpangan to assign, a follow-up in another "
        "state), or the `version` it sent is stale (`currentVersion` says the current one); "
        "nothing was changed.",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "IDEMPOTENCY_KEY_REUSED",
        "The mutation's `idempotencyKey` was used before (within a day) with another input; "
        "nothing was changed. A retry must send the same input, a new change a new key.",
    )
    TOO_MANY_SUBSCRIPTIONS = (
        "TOO_MANY_SUBSCRIPTIONS",
        "Too many operations at once on one WebSocket connection, or too many distinct "
        "subscriptions from one address (over WebSocket and Server-Sent Events together).",
    )
    # The hub
    TIMEOUT = ("TIMEOUT", "The request ran longer than the execution limit and was stopped.")
    STORE_UNAVAILABLE = (
        "STORE_UNAVAILABLE",
        "The hub's own database cannot be reached just now; retry shortly.",
    )
    INTERNAL_SERVER_ERROR = (
        "INTERNAL_SERVER_ERROR",
        "An unexpected failure; in production its details are only in the hub's log.",
    )


def reference() -> str:
    """docs/errors.md: every code and its meaning (a test keeps the file equal to this)."""
    lines = [
        "# Error codes",
        "",
        "Every error the API answers carries one of these codes in `extensions.code`",
        "(printed from `hub.errors.ErrorCode`; `tests/test_contract.py` keeps this file",
        "current).",
        "",
        "| code | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| `{code.value}` | {code.meaning} |" for code in ErrorCode]
    return "\n".join(lines) + "\n"


STORE_UNREACHABLE = "The hub's database is unreachable; try again shortly."

# SQLSTATEs of a server that cannot serve a session now: class 08 (connection exception:
# the session is gone or cannot be made) and 57P01-57P03 (a shutdown, a crash restart, a
# server still starting or recovering). asyncpg raises these as PostgresError, not OSError.
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


def store_unreachable(exc: BaseException) -> bool:
    """True when `exc` says the hub's database cannot be reached or cannot serve now
    (down, restarting, starting up), as opposed to a bug: an OSError (refused, socket gone,
    timed out), or a SQLSTATE above, raised by asyncpg or wrapped by SQLAlchemy (`.orig`)."""
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy saw a disconnect
        return True
    for error in (exc, getattr(exc, "orig", None)):
        if isinstance(error, OSError):
            return True
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNREACHABLE_STATES):
            return True
        # asyncpg on a pooled connection the server has since closed (a raw driver
        # connection, out of SQLAlchemy's reach); SQLAlchemy's dialect tests the same text.
        if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
            return True
    return False


class StoreUnavailableError(ConnectionError):
    """The store was needed outside GraphQL execution (an API key's lookup, the audit log,
    a subscription's replay) and cannot be reached: answered with STORE_UNAVAILABLE, never
    as an internal error. An OSError, so execution errors that carry it are classified
    like any other unreachable store."""

    def __init__(self, message: str = STORE_UNREACHABLE) -> None:
        super().__init__(message)


@contextmanager
def as_store_unavailable() -> Iterator[None]:
    """Around a use of the store outside GraphQL execution: an unreachable store becomes
    StoreUnavailableError (STORE_UNAVAILABLE to the client); other errors pass unchanged."""
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if store_unreachable(exc):
            raise StoreUnavailableError() from exc
        raise


def error_entry(code: ErrorCode, message: str) -> dict[str, Any]:
    """One GraphQL error as sent to clients: its message and stable code."""
    return {"message": message, "extensions": {"code": code}}


class ClientError(GraphQLError):
    """An expected error: shown to the client as is, with its code."""

    code: ErrorCode = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": str(self.code), **extensions})


class BadCursor(ClientError):
    code = ErrorCode.BAD_CURSOR


class CursorExpired(ClientError):
    code = ErrorCode.CURSOR_EXPIRED


class PageTooLarge(ClientError):
    code = ErrorCode.PAGE_TOO_LARGE


class BadUserInput(ClientError):
    code = ErrorCode.BAD_USER_INPUT


class BadId(ClientError):
    code = ErrorCode.BAD_ID


class Forbidden(ClientError):
    """A field the viewer's role may not see: null, with this error."""

    code = ErrorCode.FORBIDDEN


class NotFound(ClientError):
    code = ErrorCode.NOT_FOUND


class Conflict(ClientError):
    code = ErrorCode.CONFLICT


class IdempotencyKeyReused(ClientError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class BadRequest(ClientError):
    """The request itself is malformed; nothing was executed."""

    code = ErrorCode.BAD_REQUEST


class LimitExceeded(ClientError):
    """A document or request over one of the limits, with the limit's own code."""

    def __init__(self, code: ErrorCode, message: str, **extensions: Any) -> None:
        self.code = code
        super().__init__(message, **extensions)


class TimedOut(ClientError):
    code = ErrorCode.TIMEOUT
