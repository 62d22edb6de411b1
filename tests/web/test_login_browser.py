"""The login page's ``next`` in a real browser (Debian's headless Chromium via Playwright): after the login it goes
back to the page that sent the visitor there, and never off the site (issue 15: ``/<TAB>/evil.example``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, Route, async_playwright

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.support.webapp import PASSWORD, TENANT_A, Seeded, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.web import keys

pytestmark = needs_chromium

HOSTILE_NEXT = [
    "%2F%09%2Fevil.example%2Fphish",  # the link: the URL parser drops the tab
    "%2F%0A%2Fevil.example%2Fphish",
    "%2F%5Cevil.example%2Fphish",  # a backslash is a slash to the parser
    "%2F.%2F%2Fevil.example%2Fphish",  # resolves to the path //evil.example/phish
    "%2F%2Fevil.example%2Fphish",
    "https%3A%2F%2Fevil.example%2Fphish",
    "javascript%3Aalert(1)",
]


async def _log_in(browser: Browser, url: str, left: list[str]) -> str:
    """Open ``url``, log in as Anna; the URL the browser lands on (every request off the site is recorded)."""
    context = await browser.new_context()

    async def off_site(route: Route) -> None:
        left.append(route.request.url)
        await route.abort()

    await context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/).*"), off_site)
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#username", "anna")
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/(console|tickets).*"))
    await page.wait_for_load_state()
    landed = page.url
    await context.close()
    return landed


async def test_login_goes_back_to_the_page_and_never_off_the_site(seeded: Seeded, aiohttp_server: Any) -> None:
    app = init_app(web_settings(seeded.url))
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    ticket = await app[keys.TICKETS].create(
        TENANT_A, channel="web", subject="Drucker 3B", requester=Requester(name="Jürgen Müller"), actor="api:t"
    )
    left: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            # a ticket's page sends the anonymous visitor to /login?next=<the page> and the login back there
            page = f"/tickets/{TENANT_A}/{ticket.id}?tab=history"
            landed = await _log_in(browser, base + page, left)
            assert landed == base + page
            for hostile in HOSTILE_NEXT:
                landed = await _log_in(browser, f"{base}/login?next={hostile}", left)
                assert urlsplit(landed).netloc == urlsplit(base).netloc, hostile
                assert landed == f"{base}/console", hostile  # the agent's start page instead
        finally:
            await browser.close()
    assert left == []
