"""The ticket pages in a real browser (Debian's headless Chromium via Playwright), with the strict CSP on:
Anna finds a ticket by searching, opens it, comments, resolves it; a manager sees it without the actions."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser import CHROMIUM, FLAGS
from tests.support.webapp import PASSWORD, TENANT_A, Seeded, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.web import keys

pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists(CHROMIUM), reason="no chromium"),
]


def _unexpected(msg: Any) -> bool:
    return bool(msg.type == "error" and not msg.text.startswith("Failed to load resource"))


async def _logged_in(browser: Browser, base: str, username: str, problems: list[str], failed: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(f"{username}: {error}"))
    # the browser's own "failed to load resource" lines are the expected 4xx answers: those are checked below
    page.on("console", lambda msg: problems.append(f"{username}: {msg.text}") if _unexpected(msg) else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(re.compile(r".*/console$"))
    return page


async def test_agent_works_a_ticket_and_a_manager_only_reads_it(seeded: Seeded, aiohttp_server: Any) -> None:
    app = init_app(web_settings(seeded.url))
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    for subject, name in (("Drucker 3B druckt nicht", "Jürgen Müller"), ("PACS langsam", "Petra Hoffmann")):
        await app[keys.TICKETS].create(
            TENANT_A, channel="web", subject=subject, requester=Requester(name=name), actor="api:t"
        )
    await app[keys.ACCOUNTS].create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
    problems: list[str] = []  # script errors, CSP violations
    failed: list[str] = []  # answers >= 400
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            anna = await _logged_in(browser, base, "anna", problems, failed)
            await anna.click("text=Tickets")  # the console's top bar links the ticket list
            await anna.wait_for_url(re.compile(r".*/tickets$"))
            await anna.wait_for_selector("#total:has-text('2 Tickets')")
            await anna.fill("#q", "mueller")
            await anna.click("#filters button[type=submit]")
            await anna.wait_for_selector("#total:has-text('1 Ticket')")
            assert "Drucker 3B" in (await anna.text_content("#rows") or "")
            await anna.click("#rows a")
            await anna.wait_for_url(re.compile(rf".*/tickets/{TENANT_A}/\d+$"))
            await anna.wait_for_selector("#d-subject:has-text('Drucker 3B druckt nicht')")
            await anna.fill("#comment-text", "Ein Techniker kommt um 14 Uhr.")
            await anna.check("#comment-public")
            await anna.click("#comment-form button")
            await anna.wait_for_selector("#history li.public:has-text('Techniker kommt')")
            await anna.click("#status-buttons button:has-text('In Bearbeitung')")
            await anna.wait_for_selector("#d-status:has-text('in Bearbeitung')")
            await anna.click("#status-buttons button:has-text('Lösen')")  # without a resolution text
            await anna.wait_for_selector("#d-error:has-text('Lösung fehlt')")  # the server's text, in German
            await anna.fill("#status-note", "Toner getauscht")
            await anna.click("#status-buttons button:has-text('Lösen')")
            await anna.wait_for_selector("#d-status:has-text('gelöst')")
            history = await anna.text_content("#history") or ""
            assert "Toner getauscht" in history and "Status: In Bearbeitung → Gelöst" in history
            # in words: a name for the agent, Berlin time in German format, no codes
            assert "agent:" not in history and "in_progress" not in history and not re.search(r"\dZ\b", history)
            assert re.search(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", history)
            detail = anna.url

            maria = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await maria.new_page()
            page.on("pageerror", lambda error: problems.append(f"maria: {error}"))
            await page.goto(f"{base}/login")
            await page.fill("#username", "maria")
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url(re.compile(r".*/kpis$"))  # a manager's start page: the live KPIs
            await page.goto(detail)
            await page.wait_for_selector("#d-status:has-text('gelöst')")
            assert await page.is_hidden("#comment-form") and await page.is_hidden("#status-buttons")
        finally:
            await browser.close()
    assert problems == []
    assert failed == [f"400 {base}/api/tenants/{TENANT_A}/tickets/{detail.rsplit('/', 1)[1]}/status"], failed
