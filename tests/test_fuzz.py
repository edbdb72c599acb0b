"""Schemathesis generates documents from the hub's own schema (introspection) and sends them
to the real hub: whatever it sends, the hub answers without a server error: no 5xx and no
error without a code or with INTERNAL_SERVER_ERROR. It found one: a NUL character in a
string argument reached PostgreSQL (now BAD_USER_INPUT before execution)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings

from hub.auth import keys
from hub.db import asyncpg_dsn
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import running

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[dev]'")

EXAMPLES = 25  # per operation and viewer


@pytest.fixture
async def served(store_url: str) -> AsyncIterator[tuple[str, str]]:
    config_settings = Settings(
        database_url=store_url, dev_anonymous_role="public", rate_limit_per_minute=1_000_000
    )
    conn = await asyncpg.connect(asyncpg_dsn(store_url))
    try:
        key, _ = await keys.create(conn, config_settings.secret_key, "province", label="fuzz")
    finally:
        await conn.close()
    app = create_app(store_url, config_settings)
    async with running(app) as port:
        yield f"http://127.0.0.1:{port}/graphql", key


def fuzz(url: str, headers: dict[str, str]) -> tuple[int, list[Any]]:
    """Every query operation, EXAMPLES generated documents each; (cases sent, problems)."""
    schema = schemathesis.graphql.from_url(url, headers=headers)
    problems: list[Any] = []
    sent: list[str] = []
    for result in schema.get_all_operations():
        _checker(result.ok(), headers, problems, sent)()
    return len(sent), problems


def _checker(operation: Any, headers: dict[str, str], problems: list[Any], sent: list[str]) -> Any:
    label = operation.label

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        sent.append(label)
        response = case.call(headers=headers)
        if response.status_code >= 500:
            problems.append((label, response.status_code, response.text[:300]))
            return
        for error in response.json().get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            if code in (None, "INTERNAL_SERVER_ERROR"):
                problems.append((label, code, error.get("message", "")[:300]))

    return check


@pytest.mark.parametrize("viewer", ["public", "province"])
async def test_generated_documents_never_cause_a_server_error(
    served: tuple[str, str], viewer: str
) -> None:
    url, key = served
    headers = {"Authorization": f"Bearer {key}"} if viewer == "province" else {}
    sent, problems = await asyncio.to_thread(fuzz, url, headers)
    assert sent >= 5 * EXAMPLES  # the operations were exercised
    assert problems == []
