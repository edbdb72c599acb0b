"""Errors a client can act on, each with a stable `extensions.code`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from graphql import GraphQLError


class ErrorCode(StrEnum):
    BAD_CURSOR = "BAD_CURSOR"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    PAGE_TOO_LARGE = "PAGE_TOO_LARGE"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    BAD_ID = "BAD_ID"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
    SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    TIMEOUT = "TIMEOUT"
    DEPTH_LIMIT_EXCEEDED = "DEPTH_LIMIT_EXCEEDED"
    ALIAS_LIMIT_EXCEEDED = "ALIAS_LIMIT_EXCEEDED"
    TOKEN_LIMIT_EXCEEDED = "TOKEN_LIMIT_EXCEEDED"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    TRUSTED_DOCUMENT_REQUIRED = "TRUSTED_DOCUMENT_REQUIRED"


def error_entry(code: str, message: str) -> dict[str, Any]:
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
