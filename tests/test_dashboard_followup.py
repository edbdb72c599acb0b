"""Tindak lanjut on /dashboard in headless Chromium against the real hub over the synced
demo estate: the province assigns a ketimpangan ("Tugaskan"), the OPD answers it in a second
browser, the province accepts it, and both pages follow every step live without a reload;
OPD are ranked by overdue follow-ups and by response time; the OPD's page shows the next 30
days of its agenda; nobody is offered what their key may not do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from hub.auth import keys
from hub.reference.clock import province_today
from hub.serving.app import create_app
from hub.settings import Settings
from hub.store.codec import global_id, parse_global_id
from tests.conftest import running
from tests.test_dashboard import ARTIFACTS, CAMEL, CHROMIUM, FLAGS, YEAR, pytestmark  # noqa: F401
from tests.test_discrepancies import Estate
from tests.test_discrepancies import estate as estate

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright
except ImportError:  # pragma: no cover - a dev install has it
    async_playwright = None  # type: ignore[assignment]

REGENCY = "53.01"
ASSIGN = """mutation ($input: AssignDiscrepancyInput!) { assignDiscrepancy(input: $input) {
  followUp { state version } } }"""


@dataclass
class Hub:
    estate: Estate
    base: str
    secret_key: str
    province: str  # the governor's key

    async def key(self, role: str, region: str | None = None, opd: str | None = None) -> str:
        conn = await asyncpg.connect(self.estate.dsn)
        try:
            return (await keys.create(conn, self.secret_key, role, region, opd))[0]
        finally:
            await conn.close()

    async def data(self, query: str, variables: dict[str, Any], key: str) -> Any:
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {key}"},
            )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
async def hub(estate: Estate) -> AsyncIterator[Hub]:
    settings = Settings(database_url=estate.store, dev_anonymous_role="public")
    conn = await asyncpg.connect(estate.dsn)
    try:
        province, _ = await keys.create(conn, settings.secret_key, "province", label="gubernur")
    finally:
        await conn.close()
    app = create_app(estate.store, settings)
    async with running(app) as port:
        yield Hub(estate, f"http://127.0.0.1:{port}", settings.secret_key, province)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert async_playwright is not None
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def signed_in(browser: Browser, hub: Hub, key: str | None, view: str) -> Page:
    """A page of its own browser context (its own storage), signed in with `key`."""
    context: BrowserContext = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{hub.base}/dashboard?tahun={YEAR}")
    if key:
        await page.evaluate(f"window.localStorage.setItem('rantai-key', {key!r})")
    await page.goto(f"{hub.base}/dashboard?tahun={YEAR}#/{view}")
    await page.reload()
    await page.wait_for_selector("body[data-ready]")
    await page.wait_for_selector("body[data-live='on']")
    return page


async def eventually(page: Page, selector: str, attribute: str, expected: str) -> None:
    """Wait until `selector`'s `attribute` is `expected` (live updates come when they come)."""
    locator = page.locator(selector)
    for _ in range(300):
        if await locator.count() and await locator.first.get_attribute(attribute) == expected:
            return
        await asyncio.sleep(0.05)
    shown = await locator.first.get_attribute(attribute) if await locator.count() else None
    assert shown == expected, (selector, attribute, shown)


def rank_cell(opd: str, column: str, table: str = "overdue") -> str:
    return f"table[data-rank='{table}'] tr[data-fu-opd='{opd}'] td[data-col='{column}']"


async def test_assign_answer_accept_across_two_browsers_live(hub: Hub, browser: Browser) -> None:
    governor = await signed_in(browser, hub, hub.province, f"r/{REGENCY}")
    await governor.evaluate("window.__notReloaded = true")
    assert "provinsi" in await governor.locator("#who").inner_text()
    # The first open finding that names its OPD, with "Tugaskan".
    card = governor.locator(
        "#discrepancies .discrepancy[data-id]:has(.fu-slot:not([data-opd='']))"
        ":has(button[data-fu='assign'])"
    ).first
    finding = await card.get_attribute("data-id")
    assert finding
    opd = await card.locator(".fu-slot").get_attribute("data-opd")
    assert opd
    card = governor.locator(f"#discrepancies .discrepancy[data-id='{finding}']")
    assert await governor.locator(f"tr[data-fu-opd='{opd}']").count() == 0  # nothing assigned yet

    await card.locator("button[data-fu='assign']").click()
    form = card.locator("form.fu-form[data-kind='assign']")
    await form.locator(f"select[name='opd'] option[value='{opd}']").wait_for(state="attached")
    assert await form.locator("select[name='opd']").input_value() == opd  # the finding's own OPD
    due = (province_today() + timedelta(days=10)).isoformat()
    await form.locator("input[name='due']").fill(due)
    await form.locator("textarea[name='note']").fill("Mohon jelaskan selisih ini.")
    await form.locator("button[type='submit']").click()
    await eventually(
        governor,
        f"#discrepancies .discrepancy[data-id='{finding}'] .fu",
        "data-fu-state",
        "ASSIGNED",
    )
    await eventually(governor, rank_cell(opd, "awaiting"), "data-value", "1")
    assert await governor.locator(rank_cell(opd, "answered")).get_attribute("data-value") == "0"
    assert await card.locator("button[data-fu]").count() == 0  # nothing to do until it is answered

    # The OPD, in a second browser context: what it must answer, with the answer form, and
    # the due date on its agenda of the next 30 days.
    operator = await signed_in(
        browser, hub, await hub.key("opd", REGENCY, opd), f"r/{REGENCY}/o/{opd}"
    )
    owed = operator.locator(f"[data-fu-inbox] .discrepancy[data-id='{finding}']")
    await owed.wait_for()
    assert await owed.locator(".fu-slot").get_attribute("data-slot") == f"owed:{finding}"
    assert await operator.locator("button[data-fu='assign']").count() == 0  # an OPD assigns nothing
    agenda = operator.locator(f"#agenda li[data-kind='FOLLOW_UP_DUE'][data-date='{due}']")
    assert await agenda.count() >= 1
    today = province_today()
    for shown in await operator.locator("#agenda li").evaluate_all(
        "items => items.map(i => i.dataset.date)"
    ):
        assert today <= date.fromisoformat(shown) <= today + timedelta(days=30)

    await owed.locator("button[data-fu='answer']").click()
    answer = owed.locator("form.fu-form[data-kind='answer']")
    await answer.locator("textarea[name='explanation']").fill("Addendum kontrak sudah diproses.")
    await answer.locator("input[name='links']").fill("https://eoffice.example/surat/1")
    await answer.locator("button[type='submit']").click()
    await eventually(
        operator, f"[data-fu-inbox] .discrepancy[data-id='{finding}'] .fu-slot", "data-slot",
        f"answered:{finding}",
    )  # fmt: skip

    # The governor's page follows, live: the answer, the counts, and Terima / Kembalikan.
    await eventually(
        governor,
        f"#discrepancies .discrepancy[data-id='{finding}'] .fu",
        "data-fu-state",
        "ANSWERED",
    )
    await eventually(governor, rank_cell(opd, "answered"), "data-value", "1")
    assert await governor.locator(rank_cell(opd, "awaiting")).get_attribute("data-value") == "0"
    assert await governor.locator(rank_cell(opd, "median")).get_attribute("data-value") != ""
    assert "Addendum kontrak sudah diproses." in await card.locator(".fu-answer").inner_text()
    await card.locator("button[data-fu='accept']").click()
    await eventually(
        governor,
        f"#discrepancies .discrepancy[data-id='{finding}'] .fu",
        "data-fu-state",
        "ACCEPTED",
    )
    await eventually(governor, rank_cell(opd, "accepted"), "data-value", "1")
    assert await governor.evaluate("window.__notReloaded === true")
    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    await governor.screenshot(path=str(ARTIFACTS / "dashboard-tindak-lanjut.png"), full_page=True)
    await operator.screenshot(path=str(ARTIFACTS / "dashboard-opd.png"), full_page=True)
    assert "Tindak lanjut" in await governor.locator("#feed").inner_text()

    # …and so does the OPD's: nothing left to answer or to review, one accepted.
    for _ in range(300):
        if (
            await operator.locator(f"[data-fu-inbox] .discrepancy[data-id='{finding}']").count()
            == 0
        ):
            break
        await asyncio.sleep(0.05)
    assert await operator.locator(f"[data-fu-inbox] .discrepancy[data-id='{finding}']").count() == 0
    assert "1 diterima" in await operator.locator("[data-fu-inbox] [data-fu-total]").inner_text()

    [row] = await hub.estate.fetch(
        """SELECT f.state, array_agg(a.kind ORDER BY a.at) AS kinds FROM follow_up f
           JOIN follow_up_action a ON a.follow_up_id = f.id WHERE f.discrepancy_id = $1
           GROUP BY f.state""",
        parse_global_id(finding)[1],
    )
    assert (row["state"], row["kinds"]) == ("ACCEPTED", ["ASSIGNED", "ANSWERED", "ACCEPTED"])
    assert governor.errors == []  # type: ignore[attr-defined]
    assert operator.errors == []  # type: ignore[attr-defined]


async def test_a_returned_answer_goes_back_to_the_opd_with_the_note(
    hub: Hub, browser: Browser
) -> None:
    inspector = await hub.key("inspector", REGENCY)
    page = await signed_in(browser, hub, inspector, f"r/{REGENCY}")
    card = page.locator("#discrepancies .discrepancy:has(button[data-fu='assign'])").first
    finding = await card.get_attribute("data-id")
    card = page.locator(f"#discrepancies .discrepancy[data-id='{finding}']")
    await card.locator("button[data-fu='assign']").click()
    form = card.locator("form.fu-form")
    await form.locator("select[name='opd'] option[value]:not([value=''])").first.wait_for(
        state="attached"
    )
    opd = await form.locator("select[name='opd'] option:not([value=''])").first.get_attribute(
        "value"
    )
    await form.locator("select[name='opd']").select_option(opd)
    # An empty note is refused by the API, and the form says so.
    await form.locator("textarea[name='note']").evaluate("t => t.removeAttribute('required')")
    await form.locator("button[type='submit']").click()
    await form.locator(".fu-result.error").wait_for()
    assert "BAD_USER_INPUT" in await form.locator(".fu-result").inner_text()
    await form.locator("textarea[name='note']").fill("Jelaskan.")
    await form.locator("button[type='submit']").click()
    await eventually(
        page, f"#discrepancies .discrepancy[data-id='{finding}'] .fu", "data-fu-state", "ASSIGNED"
    )

    operator = await signed_in(
        browser, hub, await hub.key("opd", REGENCY, opd), f"r/{REGENCY}/o/{opd}"
    )
    owed = operator.locator(f"[data-fu-inbox] .discrepancy[data-id='{finding}']")
    await owed.locator("button[data-fu='answer']").click()
    await owed.locator("textarea[name='explanation']").fill("Sudah selesai.")
    await owed.locator("button[type='submit']").click()

    await eventually(
        page, f"#discrepancies .discrepancy[data-id='{finding}'] .fu", "data-fu-state", "ANSWERED"
    )
    await card.locator("button[data-fu='return']").click()
    await card.locator("textarea[name='note']").fill("Lampirkan BAST.")
    await card.locator("form.fu-form button[type='submit']").click()
    await eventually(
        page, f"#discrepancies .discrepancy[data-id='{finding}'] .fu", "data-fu-state", "RETURNED"
    )
    # The OPD sees it back, live, with the note and the answer form again.
    await eventually(
        operator,
        f"[data-fu-inbox] .discrepancy[data-id='{finding}'] .fu",
        "data-fu-state",
        "RETURNED",
    )
    assert "Lampirkan BAST." in await owed.inner_text()
    assert await owed.locator("button[data-fu='answer']").count() == 1


async def test_opd_ranked_by_overdue_and_by_response_time(hub: Hub, browser: Browser) -> None:
    rows = await hub.estate.fetch(
        """SELECT d.id, o.code AS opd FROM discrepancy d JOIN region r ON r.id = d.region_id
           JOIN opd o ON o.id = d.opd_id
           WHERE r.code = $1 AND d.fiscal_year = $2 AND d.resolved_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM follow_up f WHERE f.opd_id = o.id)
           ORDER BY d.id""",
        REGENCY,
        YEAR,
    )
    by_opd: dict[str, int] = {}
    for row in rows:
        by_opd.setdefault(row["opd"], row["id"])
    assert len(by_opd) >= 2  # OPD asked for nothing before
    late_opd, slow_opd = sorted(by_opd)[:2]
    week = (province_today() + timedelta(days=7)).isoformat()
    for opd in (late_opd, slow_opd):
        values = {"discrepancyId": global_id("Discrepancy", by_opd[opd]), "opdCode": opd,
                  "dueOn": week, "note": "Mohon dijelaskan.", "version": 0}  # fmt: skip
        await hub.data(ASSIGN, {"input": values}, hub.province)
    # A week passes for one of them: its due date is behind it.
    yesterday = province_today() - timedelta(days=1)
    conn = await asyncpg.connect(hub.estate.dsn)
    try:
        await conn.execute(
            "UPDATE follow_up SET due_on = $1 WHERE discrepancy_id = $2",
            yesterday,
            by_opd[late_opd],
        )
    finally:
        await conn.close()

    page = await signed_in(browser, hub, hub.province, f"r/{REGENCY}")
    first = page.locator("table[data-rank='overdue'] tbody tr").first
    assert await first.get_attribute("data-fu-opd") == late_opd
    assert await first.locator("td[data-col='overdue']").get_attribute("data-value") == "1"
    # By response time: who owes an answer and never gave one comes before who answered.
    order = await page.locator("table[data-rank='response'] tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.fuOpd,"
        " r.querySelector('[data-col=median]').dataset.value])"
    )
    never = [o for o, median in order if median == ""]
    answered = [o for o, median in order if median != ""]
    assert {late_opd, slow_opd} <= set(never)
    assert [o for o, _ in order] == never + answered
    # The province's page ranks the OPD of every Pemda.
    await page.goto(f"{hub.base}/dashboard?tahun={YEAR}#/")
    await page.wait_for_selector(
        f"table[data-rank='overdue'] tr[data-fu-opd='{REGENCY}/{late_opd}']"
    )
    text = await page.locator("#followups").inner_text()
    assert "terlambat" in text
    assert CAMEL.findall(text) == []
    assert page.errors == []  # type: ignore[attr-defined]


async def test_nobody_is_offered_what_their_key_may_not_do(hub: Hub, browser: Browser) -> None:
    public = await signed_in(browser, hub, None, f"r/{REGENCY}")
    assert await public.locator("button[data-fu]").count() == 0
    assert await public.locator("#followups").inner_text() == ""
    [opd] = await hub.estate.fetch(
        "SELECT o.code FROM opd o JOIN region r ON r.id = o.region_id WHERE r.code = $1 "
        "ORDER BY o.code LIMIT 1",
        REGENCY,
    )
    await public.goto(f"{hub.base}/dashboard?tahun={YEAR}#/r/{REGENCY}/o/{opd['code']}")
    await public.wait_for_selector("tr[data-sub]")
    await public.wait_for_selector("#agenda h2")  # the agenda is public, follow-ups are not
    assert await public.locator("[data-fu-inbox], .error").count() == 0
    assert public.errors == []  # type: ignore[attr-defined]
    own = await signed_in(browser, hub, await hub.key("regency", REGENCY), f"r/{REGENCY}")
    assert await own.locator("button[data-fu='assign']").count() > 0


async def test_a_form_survives_a_live_refresh_and_a_stale_one_is_refused(
    hub: Hub, browser: Browser
) -> None:
    first = await signed_in(browser, hub, hub.province, f"r/{REGENCY}")
    second = await signed_in(browser, hub, hub.province, f"r/{REGENCY}")
    finding = await (
        first.locator("#discrepancies .discrepancy:has(button[data-fu='assign'])").first
    ).get_attribute("data-id")
    cards = [
        p.locator(f"#discrepancies .discrepancy[data-id='{finding}']") for p in (first, second)
    ]
    for card in cards:
        await card.locator("button[data-fu='assign']").click()
        await card.locator("select[name='opd'] option:not([value=''])").first.wait_for(
            state="attached"
        )
        opd = await card.locator("select[name='opd'] option:not([value=''])").first.get_attribute(
            "value"
        )
        await card.locator("select[name='opd']").select_option(opd)
    await cards[1].locator("textarea[name='note']").fill("Catatan yang sedang ditulis")
    await second.evaluate("window.__notReloaded = true")

    await cards[0].locator("textarea[name='note']").fill("Mohon dijelaskan.")
    await cards[0].locator("form.fu-form button[type='submit']").click()
    await eventually(
        first, f"#discrepancies .discrepancy[data-id='{finding}'] .fu", "data-fu-state", "ASSIGNED"
    )
    # The second page follows live; what is being typed there is kept.
    await eventually(
        second, f"#discrepancies .discrepancy[data-id='{finding}'] .fu", "data-fu-state", "ASSIGNED"
    )
    assert await second.evaluate("window.__notReloaded === true")
    note = cards[1].locator("textarea[name='note']")
    assert await note.input_value() == "Catatan yang sedang ditulis"
    # It was opened on what is no longer so: the API refuses it, and the form says why.
    await cards[1].locator("form.fu-form button[type='submit']").click()
    await cards[1].locator(".fu-result.error").wait_for()
    assert "(CONFLICT)" in await cards[1].locator(".fu-result").inner_text()
    [row] = await hub.estate.fetch(
        "SELECT note, version FROM follow_up WHERE discrepancy_id = $1",
        parse_global_id(finding)[1],
    )
    assert (row["note"], row["version"]) == ("Mohon dijelaskan.", 1)
