"""The § 203 StGB acknowledgement in a real browser (Debian's Chromium via Playwright): an account that has not
acknowledged the text logs in, lands on it (German first, English second), cannot skip it, acknowledges, and goes
on to the page it came for; the next login goes straight there. SQLite."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import async_playwright

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from tests.works_council.conftest import audit_count, unacknowledge
from uhd_telephony.app.web import init_app

pytestmark = needs_chromium
BASE = re.compile(r"^http://127\.0\.0\.1:\d+")


async def test_first_login_acknowledges_then_goes_where_it_was_going(sqlite_url: str, aiohttp_server: Any) -> None:
    await seed(sqlite_url)
    await unacknowledge(sqlite_url, "anna")
    server = await aiohttp_server(init_app(web_settings(sqlite_url)))
    base = str(server.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{base}/tickets")
            await page.fill("#username", "anna")
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url(re.compile(r".*/confidentiality\?next=%2Ftickets$"))
            german = page.locator("#confidentiality-de h2")
            await german.wait_for()
            assert await german.inner_text() == "Verpflichtung zur Verschwiegenheit nach § 203 StGB"
            assert "Obligation of confidentiality" in await page.locator("#confidentiality-en").inner_text()
            # the tickets page itself sends it back here until it is acknowledged
            await page.goto(f"{base}/tickets/{TENANT_A}/1")
            await page.wait_for_url(re.compile(r".*/confidentiality\?next="))
            await page.locator("#confidentiality-de h2").wait_for()
            await page.click("#confidentiality-button")  # the box is not ticked: the form does not go
            assert await audit_count(sqlite_url, "confidentiality_ack") == 0
            await page.check("#confidentiality-read")
            await page.click("#confidentiality-button")
            await page.wait_for_url(re.compile(rf"^{re.escape(base)}/tickets/{TENANT_A}/1$"))
            assert await audit_count(sqlite_url, "confidentiality_ack") == 1

            again = await (await browser.new_context()).new_page()
            await again.goto(f"{base}/console")
            await again.fill("#username", "anna")
            await again.fill("#password", PASSWORD)
            await again.click("#login-button")
            await again.wait_for_url(f"{base}/console")
        finally:
            await browser.close()
