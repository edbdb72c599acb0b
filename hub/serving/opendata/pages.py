"""A connection of the GraphQL API read page by page through `Api.handle`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from hub.auth import Viewer
from hub.serving.request import Api, GraphQLRequest, Transport

# Masked fields answer null with FORBIDDEN: the document keeps the null, as GraphQL does.
TOLERATED = {"FORBIDDEN"}


class ExportFailed(Exception):
    """The API refused a page: its first error, with its code and HTTP status."""

    def __init__(self, errors: list[dict[str, Any]], status: int | None) -> None:
        first: dict[str, Any] = errors[0] if errors else {"message": "no answer"}
        super().__init__(str(first.get("message", "")))
        self.errors = errors
        extensions = first.get("extensions") or {}
        self.code = str(extensions.get("code", "INTERNAL_SERVER_ERROR"))
        self.status = status


async def query(
    api: Api, viewer: Viewer, document: str, variables: dict[str, Any], *, client: str
) -> dict[str, Any]:
    """The data of one operation; ExportFailed unless every error is a masked field's."""
    request = GraphQLRequest(document, variables, transport=Transport.EXPORT, client=client)
    answer = await api.handle(request, viewer)
    errors = answer.body.get("errors") or []
    fatal = [e for e in errors if (e.get("extensions") or {}).get("code") not in TOLERATED]
    data = answer.body.get("data")
    if fatal or not isinstance(data, dict):
        raise ExportFailed(fatal or errors, answer.status)
    # The compiled path splices PostgreSQL's JSON text into the answer (orjson.Fragment):
    # read back as values.
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(data))
    return parsed


class NotVisible(Exception):
    """The object a connection hangs from is null: absent, or not visible to the viewer."""


async def pages(
    api: Api,
    viewer: Viewer,
    document: str,
    variables: dict[str, Any],
    root: str,
    *,
    client: str,
) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    """Each page of the connection at `root` (a dotted path: "region.opds") as (nodes,
    totalCount), following `after`; a plain list is one page. A connection's document takes
    `$after: String` and selects `totalCount`, `pageInfo { hasNextPage endCursor }` and
    `edges { node { … } }`. NotVisible when an object on the path is null."""
    after: str | None = None
    while True:
        data = await query(api, viewer, document, {**variables, "after": after}, client=client)
        found: Any = data
        for step in root.split("."):
            found = found.get(step) if isinstance(found, dict) else None
            if found is None:
                raise NotVisible(root)
        if isinstance(found, list):
            yield found, len(found)
            return
        yield [edge["node"] for edge in found["edges"]], int(found["totalCount"])
        info = found["pageInfo"]
        if not info["hasNextPage"]:
            return
        after = info["endCursor"]
