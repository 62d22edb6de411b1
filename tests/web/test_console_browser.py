"""End to end in a real browser: the simulator places a call, Anna answers, the pop appears in Anna's console
with the right caller and ticket — and not in Ben's. Debian's headless Chromium, driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser import CHROMIUM, FLAGS
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from uhd_telephony.app.server import Server
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.web import keys

HOTLINE = "+49231990001"  # the simulator's first hotline number

pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists(CHROMIUM), reason="no chromium"),
]


async def console_of(browser: Browser, base: str, username: str) -> Page:
    # the page's CSP forbids eval, which Playwright's wait_for_function needs; the headers are tested elsewhere
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{base}/console")
    await page.wait_for_url(re.compile(r".*/login\?next=%2Fconsole$"))
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(re.compile(r".*/console$"))
    await page.wait_for_function("document.getElementById('connection').textContent === 'verbunden'")
    return page


async def test_pop_appears_in_the_answering_agents_browser_and_nowhere_else(db_url: str, tmp_path: Path) -> None:
    url = db_url  # SQLite, then PostgreSQL
    await seed(url)
    async with AmiSimulator(default_config(2, max_wait_s=60), speed=0) as sim:
        settings = web_settings(url, ami_port=sim.port, http_port=0, tenant_numbers={HOTLINE: TENANT_A})
        server = Server(settings)
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    anna = await console_of(browser, base, "anna")
                    ben = await console_of(browser, base, "ben")
                    sim.pause_member("PJSIP/102", reason="Pause")  # so Anna's phone is the one that rings
                    placed = sim.place_call("0231 98 60 572", "MUELLER J", dialled=HOTLINE, talk_s=300)
                    await sim.advance(4)  # her phone rings two seconds, she answers
                    await anna.wait_for_function(
                        "/^UHD-\\d{4}-\\d{6}$/.test(document.getElementById('ticket-number').textContent)",
                        timeout=10_000,
                    )
                    assert await anna.text_content("#caller-name") == "Dr. Jürgen Müller"
                    assert await anna.is_visible("#caller-vip")
                    assert "Kardiologie" in (await anna.text_content("#caller-details") or "")
                    number = await anna.text_content("#ticket-number")
                    assert await ben.is_hidden("#pop-body")  # same tenant, not his call
                    # Anna classifies the ticket in the browser
                    await anna.select_option("#category", index=1)
                    await anna.fill("#subject", "KIS-Anmeldung schlägt fehl")
                    await anna.click("#save")
                    await anna.wait_for_function(
                        "document.getElementById('save-state').textContent.startsWith('gespeichert')"
                    )
                    await anna.screenshot(path=str(tmp_path / "console.png"), full_page=True)
                    # a reload during the live call brings the pop back
                    await anna.reload()
                    await anna.wait_for_function(
                        f"document.getElementById('ticket-number').textContent === {number!r}", timeout=10_000
                    )
                    assert await ben.is_hidden("#pop-body")
                finally:
                    await browser.close()
            assert server.app is not None and number is not None
            ticket = await server.app[keys.TICKETS].by_number(TENANT_A, number)
            assert ticket.status == "in_progress" and ticket.subject == "KIS-Anmeldung schlägt fehl"
            assert ticket.requester_user_id is not None and ticket.call_linkedid == placed.linkedid
        finally:
            await server.close()
