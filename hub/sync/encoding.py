"""Source values as JSON that keeps their type: watermarks and waiting records are stored
this way (`hub.sync.state`) and read back as the values the source gave."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def encode_value(value: Any) -> dict[str, Any]:
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float | str) or value is None:
        return {"type": type(value).__name__, "value": value}
    return {"type": "str", "value": str(value)}


def decode_value(data: dict[str, Any] | None) -> Any:
    if data is None:
        return None
    kind, value = data.get("type"), data.get("value")
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    return value


def encode_record(record: dict[str, Any]) -> str:
    return json.dumps({k: encode_value(v) for k, v in record.items()})


def decode_record(text: str | dict[str, Any]) -> dict[str, Any]:
    data = json.loads(text) if isinstance(text, str) else text
    return {k: decode_value(v) for k, v in data.items()}
