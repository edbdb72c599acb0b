"""GraphiQL, served by the hub from its own static files (it works offline)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from starlette.responses import HTMLResponse

from hub.serving.examples import default_tabs
from hub.serving.headers import page_headers

GRAPHIQL_PAGE = Path(__file__).parent.parent / "static" / "graphiql" / "index.html"
# A Kunci API field lives on the page: the same protection as the dashboard's.
GRAPHIQL_HEADERS = page_headers(inline_styles=True)


def graphiql_page(state: Any) -> HTMLResponse:
    page = getattr(state, "graphiql_page", None)
    if page is None:
        template = GRAPHIQL_PAGE.read_text(encoding="utf-8")
        tabs = default_tabs(date.today().year).decode()
        page = state.graphiql_page = template.replace("__RANTAI_TABS__", tabs)
    return HTMLResponse(page, headers=GRAPHIQL_HEADERS)
