"""The dashboard's province page in headless Chromium: how long its API calls take.

Debian's Chromium (`apt-get install chromium`, or RANTAI_CHROMIUM) driven by Playwright, as
tests/test_dashboard.py drives it (with this module's `CHROMIUM` and `FLAGS`). The page is
loaded with a key in its local storage (the dashboard reads `rantai-key` from there), once
cold and then `LOADS` times; each time the page's own Performance API gives every `/graphql`
call's start and end, read once the network is idle.
"""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("RANTAI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# For a machine without a network beyond loopback, running as root.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOADS = 5
CALLS = """() => performance.getEntriesByType("resource")
  .filter(e => new URL(e.name).pathname === "/graphql")
  .map(e => [e.startTime, e.responseEnd])"""


async def province_page(base: str, key: str) -> str:
    """One line: the province page's API calls, from the first one's start to the last one's
    end (median of LOADS warm loads, and the cold one)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return "ntt dashboard province page: not measured (no playwright package)"
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - once, before the browser
        return f"ntt dashboard province page: not measured (no Chromium at {CHROMIUM})"
    windows: list[float] = []
    counts: list[int] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.add_init_script(f"window.localStorage.setItem('rantai-key', {key!r});")
            for _ in range(LOADS + 1):
                await page.goto(f"{base}/dashboard", wait_until="networkidle")
                calls: list[Any] = await page.evaluate(CALLS)
                if not calls:
                    return "ntt dashboard province page: no /graphql call seen"
                windows.append(
                    (max(end for _, end in calls) - min(start for start, _ in calls)) / 1000
                )
                counts.append(len(calls))
        finally:
            await browser.close()
    warm = windows[1:]
    return (
        f"ntt dashboard province page: API calls {statistics.median(warm) * 1000:.0f} ms "
        f"(median of {len(warm)} loads, max {max(warm) * 1000:.0f} ms; cold "
        f"{windows[0] * 1000:.0f} ms), {counts[-1]} /graphql calls, from the first call's start "
        "to the last one's end (Chromium's Performance API, province key)"
    )
