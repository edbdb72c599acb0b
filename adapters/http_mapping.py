"""The mapping file's options of an http-json source and its entities (docs/mappings.md),
validated with their lines as the rest of a mapping is (`adapters/mapping.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adapters.http_json import PAGINGS, HttpOptions, HttpQuery, json_path

HTTP_SOURCE_KEYS = {
    "api_key",
    "api_key_header",
    "api_key_param",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "retry_budget",
    "max_backoff_seconds",
}
HTTP_ENTITY_KEYS = {
    "path",
    "params",
    "records",
    "each",
    "paging",
    "cursor_param",
    "cursor_path",
    "has_more_path",
    "page_param",
    "offset_param",
    "limit_param",
    "limit",
    "since_param",
}
_NAME = re.compile(r"^[A-Za-z0-9_.\[\]-]+$")
_PATH = re.compile(r"^\$?[A-Za-z0-9_.\[\]-]*$")

Report = Callable[[int | None, str], None]
Expand = Callable[[str, int | None], str]
Line = Callable[..., int | None]


def http_options(
    kind: str, source: dict[str, Any], problem: Report, line: Line, expand: Expand
) -> HttpOptions | None:
    """`[source]`'s http-json options; the key's `${VAR}` read from the environment.
    None for another kind (whose [source] must then have none of them)."""
    if kind != "http-json":
        for name in sorted(HTTP_SOURCE_KEYS & set(source)):
            problem(line("source", name), f"{name} applies to http-json sources")
        return None
    key: Any = source.get("api_key")
    header = source.get("api_key_header")
    param = source.get("api_key_param")
    if key is not None:
        if not isinstance(key, str):
            problem(line("source", "api_key"), "api_key must be text (give it as ${VAR})")
            key = None
        else:
            key = expand(key, line("source", "api_key"))
        if header is None and param is None:
            header = "X-API-Key"
    if header is not None and param is not None:
        problem(line("source", "api_key_param"), "give api_key_header or api_key_param, not both")
    for name, value in (("api_key_header", header), ("api_key_param", param)):
        if value is not None and (not isinstance(value, str) or not _NAME.match(value)):
            problem(line("source", name), f"{name} must be a header or parameter name")
    numbers: dict[str, float] = {}
    defaults = HttpOptions()
    for name, low in (
        ("connect_timeout_seconds", 0.1),
        ("read_timeout_seconds", 0.1),
        ("max_backoff_seconds", 0),
        ("retry_budget", 0),
    ):
        value = source.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            problem(line("source", name), f"{name} must be a number ≥ {low:g}")
            value = getattr(defaults, name)
        numbers[name] = value
    return HttpOptions(
        api_key=key,
        api_key_header=header if isinstance(header, str) else None,
        api_key_param=param if isinstance(param, str) else None,
        connect_timeout_seconds=float(numbers["connect_timeout_seconds"]),
        read_timeout_seconds=float(numbers["read_timeout_seconds"]),
        retry_budget=int(numbers["retry_budget"]),
        max_backoff_seconds=float(numbers["max_backoff_seconds"]),
    )


def http_query(
    kind: str,
    data: dict[str, Any],
    where: tuple[Any, ...],
    name: str,
    problem: Report,
    line: Line,
    expand: Expand,
) -> HttpQuery | None:
    """An http-json entity's request: path, parameters, records, paging, since. None for
    another kind (whose entity must then have none of these keys)."""
    if kind != "http-json":
        for key in sorted(HTTP_ENTITY_KEYS & set(data)):
            problem(line(*where, key), f"{key} applies to http-json entities")
        return None
    if any(k in data for k in ("table", "query", "sheet")):
        problem(line(*where), f"{name}: an http-json entity reads a path, not a table or sheet")
    path = data.get("path")
    if not isinstance(path, str) or not path.strip():
        problem(line(*where), f'{name}: an http-json entity needs path = "/…" (under the url)')
        path = None
    params: list[tuple[str, str]] = []
    raw = data.get("params", {})
    if not isinstance(raw, dict):
        problem(line(*where, "params"), f"{name}: params must be a table of name = value")
        raw = {}
    for key, value in raw.items():
        if isinstance(value, dict | list):
            problem(line(*where, "params"), f"{name}: parameter {key!r} must be a plain value")
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        params.append((str(key), expand(text, line(*where, "params"))))
    paging = data.get("paging", "none")
    if paging not in PAGINGS:
        problem(line(*where, "paging"), f"{name}: paging must be one of {', '.join(PAGINGS)}")
        paging = "none"
    texts: dict[str, str | None] = {}
    defaults = HttpQuery(path="/")
    for key in (
        "records",
        "each",
        "cursor_param",
        "cursor_path",
        "has_more_path",
        "page_param",
        "offset_param",
        "limit_param",
        "since_param",
    ):
        value = data.get(key, getattr(defaults, key))
        if value is not None and (
            not isinstance(value, str) or not value or not _PATH.match(value)
        ):
            problem(line(*where, key), f"{name}: {key} must be a name or a JSON path like a.b")
            value = getattr(defaults, key)
        texts[key] = value
    for key in ("records", "each", "cursor_path", "has_more_path"):
        value = texts[key]
        if value is not None and not json_path(value) and value not in ("$",):
            problem(line(*where, key), f"{name}: {key} {value!r} names no JSON path")
    if texts["each"] is not None and any(isinstance(p, int) for p in json_path(texts["each"])):
        problem(line(*where, "each"), f"{name}: each names an array of the record by its keys")
    limit = data.get("limit", defaults.limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        problem(line(*where, "limit"), f"{name}: limit must be a page size from 1 to 10000")
        limit = defaults.limit
    if data.get("watermark") and not texts["since_param"]:
        problem(
            line(*where, "watermark"),
            f"{name}: an http-json watermark needs since_param, the parameter that asks for "
            "rows changed after it (leave watermark out for a keyed diff)",
        )
    if texts["since_param"] and not data.get("watermark"):
        problem(line(*where, "since_param"), f"{name}: since_param needs a watermark field")
    if path is None:
        return None
    return HttpQuery(
        path=path.strip(),
        params=tuple(params),
        records=None if texts["records"] in (None, "$") else texts["records"],
        each=texts["each"],
        paging=str(paging),
        cursor_param=texts["cursor_param"] or defaults.cursor_param,
        cursor_path=texts["cursor_path"] or defaults.cursor_path,
        has_more_path=texts["has_more_path"],
        page_param=texts["page_param"] or defaults.page_param,
        offset_param=texts["offset_param"] or defaults.offset_param,
        limit_param=texts["limit_param"],
        limit=int(limit),
        since_param=texts["since_param"],
    )
