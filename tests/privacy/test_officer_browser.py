"""The data-protection officer's page in a real browser (Debian's Chromium via Playwright): the officer logs in and
lands on it, reads in words and German time that an agent read a requester's details, finds the person, downloads
their data (Art. 15) and erases it after the confirmation (Art. 17). SQLite."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from tests.works_council.conftest import audit_count, make_account
from uhd_telephony.app.web import init_app

pytestmark = needs_chromium


async def _agent_reads_a_ticket(base: str) -> dict[str, Any]:
    """Anna takes a call from Eva Roth and opens the ticket: an audited read of the requester's details."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        answer = await session.post(f"{base}/api/login", json={"username": "anna", "password": PASSWORD})
        csrf = {"X-CSRF-Token": (await answer.json())["account"]["csrf_token"]}
        body = {"channel": "phone", "subject": "Drucker", "requester": {"name": "Eva Roth", "number": "0231 5550123"}}
        made = await session.post(f"{base}/api/tenants/{TENANT_A}/tickets", headers=csrf, json=body)
        assert made.status == 201, await made.text()
        ticket = dict((await made.json())["ticket"])
        read = await session.get(f"{base}/api/tenants/{TENANT_A}/tickets/{ticket['id']}")
        assert read.status == 200
    return ticket


async def test_the_officer_sees_an_agents_read_and_downloads_an_export(
    sqlite_url: str, aiohttp_server: Any, tmp_path: Path
) -> None:
    await seed(sqlite_url)
    await make_account(sqlite_url, "dora", "dpo", [TENANT_A])
    server = await aiohttp_server(init_app(web_settings(sqlite_url)))
    base = str(server.make_url("")).rstrip("/")
    ticket = await _agent_reads_a_ticket(base)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(accept_downloads=True)
            page = await context.new_page()
            await page.goto(f"{base}/login")
            await page.fill("#username", "dora")
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url(f"{base}/privacy")  # the officer's start page

            row = page.locator("#log-rows tr").filter(has_text="Anna Becker")
            await row.first.wait_for()
            shown = await row.first.inner_text()
            assert "Anruferdaten von Tickets gelesen" in shown
            assert f"Ticket {ticket['number']} (Eva Roth)" in shown
            assert re.search(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", shown), shown  # German date, Berlin time
            assert "requester_read" not in shown and "ticket:" not in shown and not re.search(r"\d{2}Z\b", shown)
            assert await page.locator(".staff-link:visible").count() == 0  # a DPO has no other page

            await page.fill("#person-q", "Eva Roth")
            await page.click("#person-form button[type=submit]")
            person = page.locator("#person-rows tr").filter(has_text="Eva Roth")
            await person.wait_for()
            assert "0231 5550123" in await person.inner_text()
            async with page.expect_download() as waiting:
                await person.locator(".p-export").click()
            download = await waiting.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert download.suggested_filename.startswith(f"Auskunft-{TENANT_A}-")
            data = json.loads(saved.read_text())
            assert [t["number"] for t in data["places"]["tickets"]] == [ticket["number"]]
            assert data["places"]["tickets"][0]["requester_name"] == "Eva Roth"
            await page.locator("#person-state").filter(has_text="heruntergeladen").wait_for()
            assert await audit_count(sqlite_url, "person_exported") == 1

            # the erasure: a dry run's counts, nothing before the box is ticked, then for good
            await person.locator(".p-erase").click()
            dialog = page.locator("#erase-dialog")
            await dialog.wait_for()
            assert "Tickets: 1" in await page.locator("#erase-counts").inner_text()
            assert await page.locator("#erase-confirm").is_disabled()
            assert await audit_count(sqlite_url, "person_erased") == 0
            await page.check("#erase-confirm-box")
            await page.click("#erase-confirm")
            await page.locator("#person-state").filter(has_text="gelöscht").wait_for()
            assert await audit_count(sqlite_url, "person_erased") == 1
            erased = page.locator("#log-rows tr").filter(has_text="Daten einer Person gelöscht")
            await erased.first.wait_for()
            assert "Eva Roth" not in await page.locator("#log-rows").inner_text()  # the ticket now names nobody

            # English, the second language: the same page for an account that reads English
            me = await (await page.request.get(f"{base}/api/me")).json()
            headers = {"X-CSRF-Token": me["account"]["csrf_token"]}
            changed = await page.request.put(f"{base}/api/me/locale", data={"locale": "en"}, headers=headers)
            assert changed.ok
            await page.reload()
            await page.locator("#log-rows tr").filter(has_text="A person's data erased (Art. 17 GDPR)").first.wait_for()
            assert await page.locator("#log-heading").inner_text() == "Reads of personal data"
            english = await page.locator("#log-rows").inner_text()
            assert "Requester details of tickets read" in english and f"ticket {ticket['number']}" in english
            assert "Anruferdaten" not in english and "Art. 17 DSGVO" not in english
        finally:
            await browser.close()
