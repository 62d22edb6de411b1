"""The rating link of a real queued closure mail in a real browser (Debian's Chromium via Playwright, the strict
CSP on): one click rates, the comment follows; without scripts the page records nothing until its button."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright

from tests.feedback.conftest import close, queued_texts, rating_rows
from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.tickets.routing.conftest import World
from uhd_telephony.app.web import init_app
from uhd_telephony.feedback.page import CLOCK
from uhd_telephony.outbox.service import PUBLIC_URL

pytestmark = needs_chromium


async def _queued_rating_link(world: World, number: str, score: int) -> str:
    """Ticket ``number``'s closure mail's link for ``score`` as it waits in the outbox (``{public_url}`` not yet
    filled in: the server's own address here)."""
    texts = [t for t in await queued_texts(world) if "/rating?score=" in t and number in t]
    assert len(texts) == 1, texts
    found = re.search(rf"^{score} \([^)]*\): (\S+/rating\?score={score})\r?$", texts[0], re.M)
    assert found is not None and found.group(1).startswith(PUBLIC_URL), texts[0]
    return found.group(1)


def _watch(page: Page, problems: list[str]) -> None:
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)


async def test_one_click_in_the_mail_rates_and_a_comment_follows(world: World, aiohttp_server: Any) -> None:
    ticket = await world.phone_ticket(1)
    await close(world, ticket.id)
    app = init_app(world.settings)
    app[CLOCK] = world.clock
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    url = (await _queued_rating_link(world, ticket.number, 4)).replace(PUBLIC_URL, base)
    # a mail scanner fetches the link first: it runs no script, and nothing is recorded
    async with aiohttp.ClientSession() as scanner:
        async with scanner.get(url) as response:
            assert response.status == 200 and 'data-auto="1"' in await response.text()
    assert await rating_rows(world) == []

    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await (await browser.new_context()).new_page()
            _watch(page, problems)
            await page.goto(url)  # the person's one click
            await page.wait_for_selector("#given-score:has-text('4 – zufrieden / satisfied')")
            assert re.search(r"/status/[A-Za-z0-9_-]+/rating$", page.url)  # the thanks, by GET after the POST
            assert "Vielen Dank für Ihre Bewertung" in await page.text_content("h1") or ""
            (row,) = await rating_rows(world)
            assert (row["score"], row["comment"]) == (4, None)
            await page.fill("#comment", "Schnell geholfen – danke! <b>Top</b>")
            await page.click("#comment-form button")
            await page.wait_for_selector("#given-comment")
            assert await page.text_content("#given-comment") == "Schnell geholfen – danke! <b>Top</b>"
            assert await page.locator("#comment-form").count() == 0
            # another of the mail's links, later: the rating stands, said in words
            await page.goto(url.replace("score=4", "score=1"))
            await page.wait_for_selector("[role=alert]:has-text('Diese Anfrage wurde bereits bewertet.')")
            assert "4 – zufrieden" in (await page.text_content("#given-score") or "")

            # without scripts: the score is chosen, nothing is sent until the button
            other = await world.phone_ticket(2)
            await close(world, other.id)
            second = (await _queued_rating_link(world, other.number, 2)).replace(PUBLIC_URL, base)
            quiet = await (await browser.new_context(java_script_enabled=False)).new_page()
            await quiet.goto(second)
            assert await quiet.is_checked("input[name=score][value='2']")
            assert len(await rating_rows(world)) == 1
            await quiet.click("#rating button[type=submit]")
            await quiet.wait_for_selector("#given-score:has-text('2 – wenig zufrieden')")
        finally:
            await browser.close()
    assert [r["score"] for r in await rating_rows(world)] == [4, 2]
    assert (await rating_rows(world))[0]["comment"] == "Schnell geholfen – danke! <b>Top</b>"
    assert problems == []  # no script error, no CSP violation
