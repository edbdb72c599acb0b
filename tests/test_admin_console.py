"""/admin in headless Chromium against the real hub over the synced demo estate: each page of
the operators' console with an admin key (sources and "sync now", keys made and revoked,
the audit log and its verification, the compiled path's declines), and 403 with no data
for anyone else."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from hub.auth import keys
from hub.settings import DEV_SECRET_KEY
from tests.test_dashboard import Served, page, served
from tests.test_dashboard import pytestmark as pytestmark
from tests.test_discrepancies import estate as estate

__all__ = ["estate", "page", "served"]

try:
    from playwright.async_api import Page
except ImportError:  # pragma: no cover - the module is skipped without it
    Page = object  # type: ignore[misc,assignment]


@pytest.fixture(scope="module")
async def admin_key(served: Served) -> str:
    conn = await asyncpg.connect(served.estate.dsn)
    try:
        key, _ = await keys.create(conn, DEV_SECRET_KEY, "admin", label="operator")
    finally:
        await conn.close()
    return key


@pytest.fixture
async def console(served: Served, admin_key: str, page: Page) -> Page:
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{served.base}/admin")
    await page.fill("#key", admin_key)
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("body[data-ready='sumber']")
    return page


async def go(page: Page, name: str) -> None:
    await page.evaluate(f"location.hash = '#/{name}'")
    await page.wait_for_selector(f"body[data-ready='{name}']")


async def status(served: Served, key: str) -> int:
    async with httpx.AsyncClient(base_url=served.base) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ regions { code } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
    return response.status_code


@pytest.mark.parametrize("who", ["anonymous", "province"])
async def test_anyone_but_an_admin_gets_403_and_no_data(
    served: Served, page: Page, who: str
) -> None:
    await page.goto(f"{served.base}/admin")
    if who == "province":
        await page.fill("#key", served.key)
        await page.click("#login button[type=submit]")
    await page.wait_for_selector("body[data-denied='403']")
    assert "403" in await page.locator("#notice").inner_text()
    assert await page.locator("#page tr").count() == 0


async def test_sources_show_their_health_and_sync_now_is_recorded(
    served: Served, console: Page
) -> None:
    shown = await console.locator("tr[data-source]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-source'))"
    )
    stored = await served.estate.fetch("SELECT id, status, waiting FROM source ORDER BY id")
    assert sorted(shown) == [r["id"] for r in stored]
    for row in stored:
        cells = console.locator(f"tr[data-source='{row['id']}'] td")
        assert row["status"] in await cells.nth(1).inner_text()
        if row["waiting"]:
            assert "baris" in await cells.nth(4).inner_text()
    source = shown[0]
    await console.click(f"button[data-sync='{source}']")
    await console.wait_for_selector("tr[data-request] td[data-state='waiting']")
    [request] = await served.estate.fetch(
        "SELECT source_id, requested_by FROM sync_request ORDER BY id DESC LIMIT 1"
    )
    assert request["source_id"] == source
    assert request["requested_by"].startswith("key:")


async def test_a_key_is_made_shown_once_and_revoked(served: Served, console: Page) -> None:
    await go(console, "kunci")
    await console.select_option("#create select[name=role]", "regency")
    await console.fill("#create input[name=region]", "53.01")
    await console.fill("#create input[name=label]", "Aplikasi uji")
    await console.click("#create button[type=submit]")
    await console.wait_for_selector("#new-key")
    made = (await console.locator("#new-key").inner_text()).strip()
    assert await status(served, made) == 200
    prefix = "rk_" + keys.prefix_of(made)
    row = console.locator(f"tr[data-key='{prefix}']")
    assert "53.01" in await row.inner_text()
    await row.locator("button[data-revoke]").click()
    await console.wait_for_selector(f"tr[data-key='{prefix}'] td[data-state='revoked']")
    assert await console.locator("#new-key").count() == 0  # shown once, not again
    assert await status(served, made) == 401


async def test_the_audit_log_is_browsed_and_verified(served: Served, console: Page) -> None:
    await go(console, "audit")
    assert await console.locator("tr[data-record]").count() > 0
    await console.click("#verify")
    await console.wait_for_selector("#verified[data-intact='true']")
    assert "Utuh" in await console.locator("#verified").inner_text()


async def test_the_compiled_paths_declines_are_counted(served: Served, console: Page) -> None:
    # Arguments below the root (a summary) go to the resolvers: one decline, by reason.
    async with httpx.AsyncClient(base_url=served.base) as client:
        await client.post(
            "/graphql", json={"query": "{ regions { summary(fiscalYear: 2026) { paid } } }"}
        )
    await go(console, "kompilasi")
    assert await console.locator("tr[data-reason]").count() > 0
