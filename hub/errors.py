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
