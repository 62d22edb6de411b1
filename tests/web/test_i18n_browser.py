"""Issue 16 in a real browser (Debian's headless Chromium, the strict CSP on): the pages speak German by default,
also in an English browser; an account that chose English gets English pages; the date fields take German dates
whatever the browser's language; the login page's error comes in the browser's language, German by default."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import async_playwright

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.support.webapp import PASSWORD, TENANT_A, Seeded, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.web import keys

pytestmark = needs_chromium


@pytest.mark.parametrize("browser_locale", ["de-DE", "en-US"])
async def test_pages_follow_the_account_not_the_browser(
    seeded: Seeded, aiohttp_server: Any, browser_locale: str
) -> None:
    app = init_app(web_settings(seeded.url))
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    await app[keys.TICKETS].create(
        TENANT_A, channel="phone", subject="Drucker 3B druckt nicht", requester=Requester(name="Jürgen Müller"),
        actor="api:t",
    )  # fmt: skip
    # an identified caller who hung up after 63 s, and one who withheld the number: the console's callback list
    for n, (number, name) in enumerate((("+492319860572", "Jürgen Müller"), ("anonymous", "Anonymous"))):
        entered = 1_796_000_000.0 + n
        await app[keys.CALLBACKS].on_call_ended(
            CallRecord(
                call_id=f"1796000000.{n}@hotline", linkedid=f"1796000000.{n}", uniqueid=f"1796000000.{n}",
                queue="hotline", tenant=TENANT_A, entered_at=entered, ended_at=entered + 63.0, wait_s=63.0,
                outcome=Outcome.ABANDONED, ended_by="caller", caller_number=number, caller_name=name,
                dialled="+49231990001",
            ),
            user_id=4711,
        )  # fmt: skip
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(locale=browser_locale, timezone_id="America/New_York")
            page = await context.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(f"{base}/login")
            # a wrong password: the error in the browser's language (German for German and unknown ones)
            await page.fill("#username", "anna")
            await page.fill("#password", "falsch-falsch")
            await page.click("#login-button")
            wrong = "wrong username or password" if browser_locale.startswith("en") else "Benutzername oder Passwort"
            await page.wait_for_selector(f"#login-error:has-text('{wrong}')")
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url(re.compile(r".*/console$"))
            # the account speaks German (its default), whatever the browser says
            await page.wait_for_selector("#logout:has-text('Abmelden')")
            assert await page.evaluate("document.documentElement.lang") == "de"
            await page.wait_for_selector("#callback-list li:has-text('wartete 1 Min. 3 Sek.')")
            callbacks = await page.text_content("#callback-list") or ""
            assert "Jürgen Müller · +492319860572 · wartete 1 Min. 3 Sek." in callbacks, callbacks
            assert "Anonymous" not in callbacks and "Zurückrufen" in callbacks, callbacks
            await page.goto(f"{base}/tickets")
            await page.wait_for_selector("#total:has-text('1 Ticket')")
            row = await page.text_content("#rows") or ""
            assert "Neu" in row and re.search(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", row), row  # Berlin, German
            assert await page.get_attribute("#created-from", "placeholder") == "TT.MM.JJJJ"
            # a German date, typed: the list asks the API for that day (not the browser's format)
            await page.fill("#created-from", "01.01.2020")
            await page.click("#filters button[type=submit]")
            await page.wait_for_selector("#total:has-text('1 Ticket')")
            await page.fill("#created-from", "31.12.2999")
            await page.click("#filters button[type=submit]")
            await page.wait_for_selector("#total:has-text('0 Tickets')")
            await page.fill("#created-from", "12/31/2026")
            await page.click("#filters button[type=submit]")
            await page.wait_for_selector("#list-error:has-text('Kein Datum')")

            # English, by the account's choice: every page, its labels and its times
            csrf = await page.evaluate("fetch('/api/me').then((r) => r.json()).then((b) => b.account.csrf_token)")
            status = await page.evaluate(
                """(csrf) => fetch('/api/me/locale', {method: 'PUT', headers: {'Content-Type': 'application/json',
                'X-CSRF-Token': csrf}, body: JSON.stringify({locale: 'en'})}).then((r) => r.status)""",
                csrf,
            )
            assert status == 200
            await page.goto(f"{base}/tickets")
            await page.wait_for_selector("#logout:has-text('Log out')")
            await page.wait_for_selector("#total:has-text('1 ticket')")
            assert await page.evaluate("document.documentElement.lang") == "en"
            row = await page.text_content("#rows") or ""
            assert "New" in row and re.search(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2}", row), row
            await page.click("#rows a")
            await page.wait_for_selector("#d-status:has-text('New')")
            history = await page.text_content("#history") or ""
            assert "Ticket" in history and "created (Phone)" in history and "api:t" not in history, history
            await page.goto(f"{base}/console")
            await page.wait_for_selector("#pop-idle:has-text('No call')")
        finally:
            await browser.close()
    assert problems == []
