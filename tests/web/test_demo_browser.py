"""The demo in a real browser: a person logs in as ``you``, says ready, the simulator rings their phone, they
answer — the pop with the ticket number appears — and hang up. And a team lead's live KPI page counts the call.
Debian's headless Chromium, driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.web.demo_world import NORD, demo_fixture, ring_the_person  # noqa: F401 - the fixture
from uhd_telephony.app.demo import Demo
from uhd_telephony.app.demo.data import DEMO_PASSWORD

pytestmark = needs_chromium


@pytest.fixture
def demo_db_url(db_url: str) -> str:
    """The demo of this test on SQLite, then on PostgreSQL."""
    return db_url


async def logged_in(browser: Browser, base: str, username: str, page_path: str) -> Page:
    # the page's CSP forbids eval, which Playwright's wait_for_function needs; the headers are tested elsewhere
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{base}{page_path}")
    await page.wait_for_url(re.compile(r".*/login(\?.*)?$"))
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(re.compile(f".*{re.escape(page_path)}$"))
    return page


async def test_a_person_answers_a_call_in_the_browser(demo: Demo, tmp_path: Path) -> None:
    assert demo.sim is not None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await logged_in(browser, demo.base_url, "you", "/console")
            await page.wait_for_function("document.getElementById('connection').textContent === 'verbunden'")
            await page.wait_for_selector("#phone-controls", state="visible")
            assert "Pausiert" in (await page.text_content("#phone-state") or "")
            await page.click("#phone-ready")
            await page.wait_for_function("document.getElementById('phone-state').textContent.startsWith('Bereit')")

            caller, placed = ring_the_person(demo)
            await demo.sim.advance(1)  # the AGI lookup, the queue: the person's phone rings
            await page.wait_for_selector("#phone-answer", state="visible", timeout=10_000)
            assert caller.name in (await page.text_content("#phone-state") or "")
            assert await page.is_hidden("#pop-body")  # ringing is no answer: no ticket yet
            await page.click("#phone-answer")
            await page.wait_for_function(
                "/^UHD-\\d{4}-\\d{6}$/.test(document.getElementById('ticket-number').textContent)", timeout=20_000
            )
            assert await page.text_content("#caller-name") == caller.name  # the directory knows the caller
            number = await page.text_content("#ticket-number")
            await page.wait_for_function("document.getElementById('phone-state').textContent.startsWith('Im Gespräch')")
            await page.screenshot(path=str(tmp_path / "demo-phone.png"), full_page=True)
            await page.click("#phone-hangup")
            await page.wait_for_function(
                "document.getElementById('call-state').textContent.startsWith('Gespräch beendet')", timeout=15_000
            )
            await page.wait_for_function("document.getElementById('phone-state').textContent.startsWith('Bereit')")
            assert await page.text_content("#ticket-number") == number  # the pop stays to classify the ticket

            lead = await logged_in(browser, demo.base_url, "lead", "/kpis")
            card = f'section.kpi-card[data-tenant="{NORD}"]'
            await lead.wait_for_function(
                f"document.querySelector('{card} [data-kpi=\"answered\"]')?.textContent === '1'", timeout=15_000
            )
            assert await lead.text_content(f'{card} [data-kpi="tickets_created"]') == "1"
            assert "Demo" in (await lead.text_content("#demo-banner") or "")
            await lead.screenshot(path=str(tmp_path / "kpis.png"), full_page=True)
        finally:
            await browser.close()
    assert placed.tenant == NORD
