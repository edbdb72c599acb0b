"""GraphiQL in headless Chromium, as a new user meets it: a fresh browser opens /graphql and
runs every example tab as it is, on its first click; a key set in the "Kunci API" field
then shows what the public viewer does not see. The Explorer plugin is there."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.serving.examples import default_tabs
from tests.test_dashboard import CHROMIUM, FLAGS, YEAR, Served, async_playwright, served
from tests.test_dashboard import pytestmark as pytestmark
from tests.test_discrepancies import estate as estate

__all__ = ["estate", "served"]

try:
    from playwright.async_api import Page
except ImportError:  # pragma: no cover - the module is skipped without it
    Page = Any  # type: ignore[misc,assignment]


@pytest.fixture
async def fresh(served: Served) -> AsyncIterator[Page]:
    """A page in a browser with nothing stored: GraphiQL's first visit."""
    assert async_playwright is not None
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{served.base}/graphql", wait_until="networkidle")
            await page.wait_for_selector(".graphiql-execute-button")
            yield page
            assert errors == [], errors
        finally:
            await browser.close()


RESPONSE = """() => { const cm = document.querySelector('.result-window .CodeMirror');
  return cm ? cm.CodeMirror.getValue() : ''; }"""


async def run_tab(page: Page, index: int) -> dict[str, Any]:
    """Switch to tab `index` (the first is open already: clicking it would refill its
    editors and hide a first tab opened without its variables), run it as it is, and
    return the response GraphiQL shows."""
    if index > 0:
        await page.locator(".graphiql-tab").nth(index).click()
    before = await page.evaluate(RESPONSE)
    await page.click(".graphiql-execute-button")
    for _ in range(300):
        shown = await page.evaluate(RESPONSE)
        if shown and shown != before and ('"data"' in shown or '"errors"' in shown):
            break
        await asyncio.sleep(0.05)
    answer: dict[str, Any] = json.loads(shown)
    return answer


async def test_every_example_tab_runs_on_its_first_click(fresh: Page) -> None:
    tabs = json.loads(default_tabs(YEAR))
    assert await fresh.locator(".graphiql-tab").count() == len(tabs)
    answers = []
    for index, tab in enumerate(tabs):
        answer = await run_tab(fresh, index)
        answers.append(answer)
        assert answer.get("data"), (index, answer)
        first_field = next(iter(answer["data"].values()))
        assert first_field, (index, answer)  # data came back, not an empty answer
        codes = {e["extensions"]["code"] for e in answer.get("errors", [])}
        assert codes <= {"FORBIDDEN"}, (index, answer)  # masked fields only, as the public
        assert answer["extensions"]["viewer"]["role"] == "public"
        if '"fiscalYear"' in tab.get("variables", ""):
            assert "$fiscalYear" in tab["query"]
    chain = answers[0]
    assert "subActivities.edges.node.budget.lines" in chain["extensions"]["hidden"]


async def test_a_key_in_the_field_shows_what_the_public_does_not_see(
    served: Served, fresh: Page
) -> None:
    await fresh.fill("#rantai-key-input", served.key)
    await fresh.click("#rantai-key button[type=submit]")
    assert "dengan kunci" in await fresh.locator("#rantai-key-who").inner_text()
    assert served.key not in fresh.url  # kept in the browser's storage, never in the URL
    chain = await run_tab(fresh, 0)
    assert "extensions" not in chain
    nodes = [e["node"] for e in chain["data"]["subActivities"]["edges"]]
    assert any(n["budget"]["lines"] for n in nodes)  # DPA lines, hidden from the public
    sources = await run_tab(fresh, 3)
    assert "errors" not in sources
    stored = await fresh.evaluate("window.localStorage.getItem('rantai-key')")
    assert stored == served.key


async def test_the_explorer_plugin_is_built_in(fresh: Page) -> None:
    await fresh.click("button[aria-label='Show GraphiQL Explorer']")
    await fresh.wait_for_selector(".graphiql-explorer-root")
    assert "subActivities" in await fresh.locator(".graphiql-explorer-root").inner_text()


SET_QUERY = """(text) => document.querySelector('.graphiql-query-editor .CodeMirror')
  .CodeMirror.setValue(text)"""


async def test_a_subscription_runs_over_the_websocket_with_the_key(
    served: Served, fresh: Page
) -> None:
    """A subscription typed into GraphiQL streams its events into the result pane, sent
    over the page's own WebSocket with the key of the "Kunci API" field."""
    await fresh.fill("#rantai-key-input", served.key)
    await fresh.click("#rantai-key button[type=submit]")
    await fresh.evaluate(
        SET_QUERY,
        'subscription { changes(filter: {entities: ["SubActivity"]}) { entity op changedFields } }',
    )
    await asyncio.sleep(1.0)  # GraphiQL parses what was typed (debounced) before it runs
    await fresh.click(".graphiql-execute-button")
    await asyncio.sleep(1.0)  # subscribed before the change
    await served.estate.legacy(
        "bappeda-53",
        """UPDATE data_sub_keg SET pagu_indikatif = pagu_indikatif + 1000,
           updated_at = (SELECT max(updated_at) FROM data_sub_keg) + interval '1 second'
           WHERE tahun = $1 AND kode_sub_giat = (SELECT min(kode_sub_giat) FROM data_sub_keg
           WHERE tahun = $1)""",
        YEAR,
    )
    await served.estate.engine.sync()
    shown = ""
    for _ in range(300):
        shown = await fresh.evaluate(RESPONSE)
        if '"SubActivity"' in shown:
            break
        await asyncio.sleep(0.05)
    answer = json.loads(shown)
    assert "data" in answer, answer
    assert answer["data"]["changes"] == {
        "entity": "SubActivity", "op": "UPDATED", "changedFields": ["plannedAmount"]
    }  # fmt: skip
