"""The dashboard's Form A upload form in Chromium: an OPD operator signs in with the OPD's
key, sends a workbook with unreadable cells and sees every problem listed, then sends a
good one and sees it accepted (a real hub over uvicorn, a real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.test_dashboard import CHROMIUM, FLAGS, async_playwright
from tests.test_uploads import XLSX, Hub, form_a, good_rows, hub, xlsx

__all__ = ["hub"]  # the fixture, shared with test_uploads

pytestmark = pytest.mark.skipif(
    async_playwright is None or not Path(CHROMIUM).exists(),
    reason=f"browser tests need Chromium at {CHROMIUM} and the playwright package",
)


@pytest.fixture
async def page(hub: Hub) -> AsyncIterator[object]:
    assert async_playwright is not None
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
            assert errors == [], errors
        finally:
            await browser.close()


async def test_the_upload_form_lists_every_problem_then_accepts(hub: Hub, page: object) -> None:
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.goto(f"{hub.base}/dashboard")
    await page.fill("#key", hub.keys["dinkes"])
    await page.click("#login button")
    rows = good_rows()
    rows += [[good_rows()[0][0], "2025-07", 50, "35,5", "-"] for _ in range(8)]
    rows[9][2] = "dua belas"  # row 14, column D
    bad = xlsx(form_a(rows))
    await page.set_input_files(
        "#upload-file", files=[{"name": "Form A Juli.xlsx", "mimeType": XLSX, "buffer": bad}]
    )
    await page.click("#upload button")
    await page.wait_for_selector(".upload-problems li")
    listed = await page.locator(".upload-problems li").all_inner_texts()
    assert "Lembar 'Form A', baris 14, kolom D: 'dua belas' bukan persentase yang dikenali" in (
        listed
    )
    assert "tidak ada yang disimpan" in await page.locator("#upload-result p").inner_text()
    assert await hub.value("SELECT count(*) FROM upload") == 0

    good = xlsx(form_a(good_rows()))
    await page.set_input_files(
        "#upload-file", files=[{"name": "Form A Juni.xlsx", "mimeType": XLSX, "buffer": good}]
    )
    await page.click("#upload button")
    await page.wait_for_selector(".upload-ok")
    text = await page.locator("#upload-result p").inner_text()
    assert text.startswith("Diterima: 3 baris dari Form A Juni.xlsx")
    assert await page.locator(".upload-problems li").count() == 0
    assert await hub.value("SELECT count(*) FROM upload") == 1
