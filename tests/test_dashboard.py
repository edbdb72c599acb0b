"""/dashboard in headless Chromium against the real hub over the synced demo estate: the page
loads with API data, drills down province → Pemda → OPD, shows ketimpangan with evidence,
and updates live when the legacy estate changes. A screenshot is kept as a test artifact
(test-artifacts/, or RANTAI_TEST_ARTIFACTS)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openpyxl
import pytest

from bench.browser import CHROMIUM, FLAGS
from hub.auth import keys
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import running
from tests.test_discrepancies import Estate
from tests.test_discrepancies import estate as estate

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("RANTAI_TEST_ARTIFACTS", ROOT / "test-artifacts"))
YEAR = 2025

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - a dev install has it
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    async_playwright is None or not Path(CHROMIUM).exists(),
    reason=f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium; "
    "or set RANTAI_CHROMIUM) and the playwright package (pip install -e '.[dev]')",
)


@dataclass
class Served:
    estate: Estate
    base: str
    key: str  # a province key: the governor's

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {self.key}"},
            )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
async def served(estate: Estate) -> AsyncIterator[Served]:
    # Without credentials the page is the public viewer's (the default, as in production).
    settings = Settings(database_url=estate.store, dev_anonymous_role="public")
    conn = await asyncpg.connect(estate.dsn)
    try:
        key, _ = await keys.create(conn, settings.secret_key, "province", label="governor")
    finally:
        await conn.close()
    app = create_app(estate.store, settings)
    async with running(app) as port:
        yield Served(estate, f"http://127.0.0.1:{port}", key)


@pytest.fixture
async def page(served: Served) -> AsyncIterator[Page]:
    assert async_playwright is not None
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
            assert errors == [], errors  # no script error on the way
        finally:
            await browser.close()


def rupiah_short(value: str) -> str:
    """The page's compact Rupiah ("Rp 46,7 M") for an API Decimal string."""
    n = Decimal(value)
    for size, unit in ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "M"), (Decimal(10) ** 6, "jt")):
        if abs(n) >= size:
            return f"Rp {n / size:.1f} {unit}".replace(".", ",")
    return f"Rp {n:,.0f}".replace(",", ".")


SUMMARY = "subActivities plannedAmount allocated openDiscrepancies"


async def test_drill_down_with_api_data_and_a_live_update(served: Served, page: Page) -> None:
    regions = (
        await served.data(
            f"query ($fy: Int!) {{ regions {{ code name level summary(fiscalYear: $fy) "
            f"{{ {SUMMARY} }} }} }}",
            {"fy": YEAR},
        )
    )["regions"]
    with_data = {r["code"]: r for r in regions if r["summary"]["subActivities"]}
    assert set(with_data) == {"53", "53.01", "53.71", "53.18"}

    # Anonymous, the page shows the public view: aggregates, but no ketimpangan rows.
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}")
    await page.wait_for_selector("tr[data-region='53.01']")
    assert await page.locator(".discrepancy").count() == 0
    assert "publik" in await page.locator("#who").inner_text()
    # The governor signs in with a key; it is kept for the next visit.
    await page.fill("#key", served.key)
    await page.click("#login button")
    await page.wait_for_selector(".discrepancy")
    assert "dengan kunci" in await page.locator("#who").inner_text()
    await page.reload()
    await page.wait_for_selector(".discrepancy")
    await page.wait_for_selector("body[data-live='on']")

    # Province: one row per Pemda with data; figures as the API gives them.
    await page.wait_for_selector("body[data-live='on']")
    rows = await page.locator("tr[data-region]:not([data-region='tanpa-opd'])").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-region'))"
    )
    assert sorted(rows) == ["53", "53.01", "53.18", "53.71"]
    kupang = with_data["53.01"]["summary"]
    row = page.locator("tr[data-region='53.01']")
    assert await row.locator("td[data-col='planned']").inner_text() == rupiah_short(
        kupang["plannedAmount"]
    )
    assert await row.locator("[data-open]").get_attribute("data-open") == str(
        kupang["openDiscrepancies"]
    )
    assert "Kabupaten Timor Tengah Selatan" in await page.locator("[data-silent]").inner_text()

    # Pemda → its OPD.
    await row.locator("a").click()
    await page.wait_for_selector("tr[data-opd]")
    opds = (
        await served.data(
            f"""query ($fy: Int!) {{ region(code: "53") {{ opds(first: 500) {{ edges {{ node {{
            code name summary(fiscalYear: $fy) {{ {SUMMARY} }} }} }} }} }} }}""",
            {"fy": YEAR},
        )
    )["region"]["opds"]["edges"]
    assert opds  # the province has OPD
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/r/53")
    await page.wait_for_selector("h1:has-text('Pemerintah Provinsi')")
    shown = await page.locator("tr[data-opd]:not([data-opd='tanpa-opd'])").count()
    assert shown == len(opds)

    # OPD: its chain, sub kegiatan and ketimpangan with evidence.
    opd = max(opds, key=lambda e: e["node"]["summary"]["openDiscrepancies"])["node"]
    await page.locator(f"tr[data-opd='{opd['code']}'] a").click()
    await page.wait_for_selector("tr[data-sub]")
    assert opd["name"] in await page.locator("h1").inner_text()
    listed = await page.locator(".discrepancy").count()
    assert listed == opd["summary"]["openDiscrepancies"] > 0
    assert await page.locator(".discrepancy li").count() >= listed  # evidence shown
    assert await page.locator("svg.chain rect").count() == 6

    # Live: a pagu changes in the legacy e-planning; the page shows it without reloading.
    await page.evaluate("window.__notReloaded = true")
    [target] = await served.estate.fetch(
        """SELECT s.code, s.source_key, s.planned_amount FROM sub_activity s
           JOIN opd o ON o.id = s.opd_id JOIN region r ON r.id = s.region_id
           WHERE r.code = '53' AND o.code = $1 AND s.fiscal_year = $2 ORDER BY s.code LIMIT 1""",
        opd["code"],
        YEAR,
    )
    new_amount = target["planned_amount"] + 777_000_000
    await served.estate.legacy(
        "bappeda-53",
        """UPDATE data_sub_keg SET pagu_indikatif = $1,
           updated_at = (SELECT max(updated_at) FROM data_sub_keg) + interval '1 second'
           WHERE tahun = $2 AND kode_sub_giat = $3""",
        new_amount,
        YEAR,
        target["code"],
    )
    cell = page.locator(f"tr[data-sub='{target['code']}'] td[data-col='planned']")
    before = await cell.inner_text()
    await served.estate.engine.sync()
    expected = rupiah_short(str(new_amount))
    assert expected != before
    for _ in range(200):
        if await cell.inner_text() == expected:
            break
        await asyncio.sleep(0.05)
    assert await cell.inner_text() == expected
    assert await page.evaluate("window.__notReloaded === true")
    assert "Sub kegiatan berubah" in await page.locator("#feed").inner_text()

    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/r/53.01")
    await page.wait_for_selector("tr[data-opd]")
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    size = await asyncio.to_thread(os.path.getsize, ARTIFACTS / "dashboard.png")
    assert size > 10_000


async def test_an_unknown_pemda_says_so(served: Served, page: Page) -> None:
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/r/99.99")
    await page.wait_for_selector(".error")
    assert "tidak dikenal" in await page.locator(".error").inner_text()


async def test_every_list_offers_excel_and_csv_downloads_of_what_it_shows(
    served: Served, page: Page, tmp_path: Path
) -> None:
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}")
    await page.fill("#key", served.key)
    await page.click("#login button")
    await page.wait_for_selector(".discrepancy")
    # Province: the Pemda rows and the critical ketimpangan.
    assert await page.locator("#table button[data-export^='pemda.xlsx']").count() == 1
    assert await page.locator("#discrepancies button[data-export^='ketimpangan.csv']").count() == 1
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/r/53.01")
    await page.wait_for_selector("tr[data-opd]")
    assert await page.locator("#table button[data-export^='opd.xlsx']").count() == 1
    opd = await page.locator("tr[data-opd]").first.get_attribute("data-opd")
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/r/53.01/o/{opd}")
    await page.wait_for_selector("tr[data-sub]")
    shown = await page.locator("tr[data-sub]").count()
    async with page.expect_download() as info:
        await page.click("#table button:has-text('Unduh Excel')")
    download = await info.value
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    assert download.suggested_filename == f"rantai-sub-kegiatan-{YEAR}-53.01-{opd}.xlsx"
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert len(rows) - 7 == shown  # the header block, then one row per sub kegiatan shown
    async with page.expect_download() as info:
        await page.click("#discrepancies button:has-text('Unduh CSV')")
    csv_download = await info.value
    assert csv_download.suggested_filename.endswith(".csv")


TOTALS = """() => {
  const total = {};
  document.querySelectorAll('#total [data-figure]').forEach(f => {
    if (f.dataset.value !== undefined) total[f.dataset.figure] = f.dataset.value;
  });
  const rows = [...document.querySelectorAll('#table tbody tr')].map(tr => {
    const row = {key: tr.dataset.region || tr.dataset.opd};
    tr.querySelectorAll('[data-col][data-value]')
      .forEach(td => row[td.dataset.col] = td.dataset.value);
    row.open = tr.querySelector('[data-open]').dataset.open;
    return row;
  });
  return {total, rows};
}"""
COLUMNS = ("subActivities", "planned", "allocated", "ceiling", "contracted", "paid", "open")


@pytest.mark.parametrize("with_key", [False, True], ids=["public", "key"])
async def test_every_total_is_the_sum_of_its_rows(
    served: Served, page: Page, with_key: bool
) -> None:
    if with_key:
        await page.goto(f"{served.base}/dashboard?tahun={YEAR}")
        await page.evaluate(f"window.localStorage.setItem('rantai-key', {served.key!r})")
        await page.reload()
    [no_opd] = await served.estate.fetch(
        """SELECT count(*) AS n FROM discrepancy d JOIN region r ON r.id = d.region_id
           WHERE d.opd_id IS NULL AND d.resolved_at IS NULL AND d.fiscal_year = $1
           AND r.code = '53'""",
        YEAR,
    )
    for view in ("", "r/53", "r/53.01", "r/53.71"):
        await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/{view}")
        await page.wait_for_selector("#table tbody tr")
        await page.wait_for_selector("body[data-ready]")
        shown = await page.evaluate(TOTALS)
        for column in COLUMNS:
            rows = sum(Decimal(row[column]) for row in shown["rows"])
            assert rows == Decimal(shown["total"][column]), (view, column, shown)
        if view in ("", "r/53") and no_opd["n"]:
            [row] = [r for r in shown["rows"] if r["key"] == "tanpa-opd"]
            assert Decimal(row["open"]) >= no_opd["n"]  # the province's, and its regencies'
        await page.evaluate("document.body.removeAttribute('data-ready')")


CAMEL = re.compile(r"\b[a-z]+[A-Z][A-Za-z]*\b")


async def test_the_public_view_says_what_a_key_would_show(served: Served, page: Page) -> None:
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/r/53.01")
    await page.wait_for_selector("[data-hidden='discrepancies']")
    notice = await page.locator("[data-hidden='discrepancies']").inner_text()
    assert "kunci API" in notice
    assert "Tidak ada ketimpangan terbuka" not in await page.locator("main").inner_text()


async def test_no_api_names_in_the_indonesian_text(served: Served, page: Page) -> None:
    await page.goto(f"{served.base}/dashboard?tahun={YEAR}")
    await page.evaluate(f"window.localStorage.setItem('rantai-key', {served.key!r})")
    await page.reload()
    for view in ("", "r/53.71"):
        await page.goto(f"{served.base}/dashboard?tahun={YEAR}#/{view}")
        await page.wait_for_selector(".discrepancy")
        text = await page.locator("body").inner_text()
        assert CAMEL.findall(text) == [], view
        for message in await page.locator(".discrepancy header b").all_inner_texts():
            assert not re.search(r"\d\. [a-z]", message), message  # no stray full stop


async def test_the_favicon_is_served(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base) as client:
        response = await client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
