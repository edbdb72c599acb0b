"""Logs as JSON lines (`RANTAI_LOG_FORMAT=json`): every record is one line with its time,
level, logger and message, plus the fields a record carries in `extra={"fields": {...}}`.
The request path logs one such line per operation (logger `rantai.requests`): operation,
transport, viewer role and actor kind (never the key), duration and outcome."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(log_format: str) -> dict[str, Any] | None:
    """uvicorn's `log_config` for the format: None keeps uvicorn's own (text)."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "hub.telemetry.logs.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            # One line per request comes from the request path, with what it knows.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
