"""Issue 18 (major incidents) end to end in a real browser — Debian's headless Chromium with the pages' strict CSP,
the server with its workers, the AMI simulator playing the calls and the announcement:

- a lead declares an incident on /incidents; a call comes in, hears the announcement, pops on Anna's console with
  the incident's banner, and she links its ticket with one click; another caller presses the key; the lead resolves
  the incident on its page after a confirmation that says how many are told; the linked ticket is resolved with
  the public text, its caller's mail is in the outbox, the subscriber without mail on the callback list; the NIS2
  times are on the page, the export downloads; the ticket page names the incident; another tenant's agent gets 404;
- tickets of one category pile up: Anna's console offers to declare one, and the offer opens the declare dialog
  filled in, which links them;
- an account that speaks English gets the pages in English.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Route, async_playwright
from sqlalchemy import select

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, seed, web_settings
from uhd_telephony.app.server import Server
from uhd_telephony.callbacks.models import Callback
from uhd_telephony.incidents.pileup import Threshold, threshold_of
from uhd_telephony.outbox.models import outbox
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.simulator.incidents import IncidentDesk
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.view import categories
from uhd_telephony.web import keys

pytestmark = needs_chromium

HOTLINE = "+49231990001"  # the simulator's first hotline: tenant A
MESSAGE = "Das KIS ist gestört. Wir arbeiten mit Hochdruck daran, bitte haben Sie etwas Geduld."
RESOLUTION = "Der KIS-Server wurde neu gestartet, alles läuft wieder."
TITLE = "Network down in house <b>B</b>"
# what no page may show: UTC instants, the tenants' (not in a mail address) and categories' codes
RAW = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}(:\d{2})?(\.\d+)?Z\b"  # ISO instants
    r"|(?<![@\w.])klinikum-(nord|sued)\b(?!\.)|\bkis\b"  # the tenants' codes (not a mail's domain), a category's
)
callbacks = table_of(Callback)
HOLD_S = 1.0  # how late ``Browsing.open(hold=…)`` lets a page's reads come back


@asynccontextmanager
async def running(url: str, tmp_path: Path, **extra: Any) -> AsyncIterator[tuple[Server, AmiSimulator]]:
    """The seeded world served with every worker, Asterisk played by the simulator (time moves on ``advance``)."""
    await seed(url)
    async with Database(url) as db:  # the tenants by their names: no page shows a tenant's code
        for tenant, name in ((TENANT_A, "Klinikum Nord"), (TENANT_B, "Klinikum Süd")):
            await TenantService(db).add(tenant, name=name)
    config = default_config(2, max_wait_s=120)
    config.hotlines[0].tenant = TENANT_A  # its lookup sets UHD_TENANT, its callers hear the tenant's incidents
    async with AmiSimulator(config, speed=0) as sim:
        settings = web_settings(
            url, ami_port=sim.port, http_port=0, tenant_numbers={HOTLINE: TENANT_A},
            incident_sounds_dir=str(tmp_path / "sounds"), **extra,
        )  # fmt: skip
        server = Server(settings)
        await server.start()
        try:
            yield server, sim
        finally:
            await server.close()


class Browsing:
    """One Chromium; pages logged in as someone, each watched for script errors and CSP refusals."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.browser, self.base = browser, base
        self.problems: list[str] = []

    async def open(self, username: str, path: str, locale: str = "de-DE", hold: str | None = None) -> Page:
        """``hold``: a URL pattern whose GETs come back ``HOLD_S`` late (a slow server, every time)."""
        context = await self.browser.new_context(
            viewport={"width": 1280, "height": 900}, locale=locale, timezone_id="America/New_York"
        )
        if hold is not None:

            async def late(route: Route) -> None:
                if route.request.method == "GET":
                    await asyncio.sleep(HOLD_S)
                await route.continue_()

            await context.route(hold, late)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"{username}: {error}"))
        page.on("console", lambda m: self.problems.append(f"{username}: {m.text}") if m.type == "error" else None)
        await page.goto(f"{self.base}{path}")
        await page.wait_for_url(re.compile(r".*/login\?next="))
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        await page.wait_for_url(re.compile(f".*{re.escape(path)}$"))
        return page


@asynccontextmanager
async def chromium(server: Server) -> AsyncIterator[Browsing]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            browsing = Browsing(browser, f"http://127.0.0.1:{server.port}")
            yield browsing
            assert not browsing.problems, browsing.problems
        finally:
            await browser.close()


async def _offered(scanner: Any) -> bool:
    return bool(scanner.offered)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def shows_no_codes(page: Page) -> str:
    body = await page.inner_text("body")
    assert not RAW.search(body), RAW.search(body)
    return body


async def lead_account(server: Server) -> None:
    """Maria, a lead (manager) of tenant A."""
    assert server.app is not None
    accounts = server.app[keys.ACCOUNTS]
    await accounts.create("maria", PASSWORD, display_name="Maria Leitung", role="manager", tenants=[TENANT_A])


async def rows(server: Server, stmt: Any) -> list[dict[str, Any]]:
    assert server.app is not None
    async with server.app[keys.DB].engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def declare(page: Page, title: str, category: str, message: str) -> int:
    """Fill in and send the declare dialog (open already); the incident's id from the page it leads to."""
    await page.fill("#declare-title", title)
    await page.select_option("#declare-category", category)
    await page.fill("#declare-message", message)
    await page.click("#declare-submit")
    await page.wait_for_url(re.compile(r".*/incidents/[^/]+/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


async def test_a_major_incident_from_the_declaration_to_every_caller_told(db_url: str, tmp_path: Path) -> None:
    async with running(db_url, tmp_path) as (server, sim):
        assert server.app is not None
        app = server.app
        await lead_account(server)
        desk = IncidentDesk(sim.pbx, app[keys.DB], interval_s=0.2)  # what the AGI scripts do for a real Asterisk
        await desk.start()
        try:
            async with chromium(server) as browsing:
                # the lead declares it
                lead = await browsing.open("maria", "/incidents")
                await lead.wait_for_selector("#open-none:has-text('Keine offene Großstörung')")
                await lead.click("#declare-open")
                await lead.wait_for_selector("#declare-dialog[open]")
                await lead.fill("#declare-message", MESSAGE)
                assert await lead.text_content("#declare-message-count") == f"{len(MESSAGE)} von 1.000 Zeichen"
                incident_id = await declare(lead, "KIS ausgefallen", "kis", MESSAGE)
                await lead.wait_for_selector("#d-title:has-text('KIS ausgefallen')")
                times = await lead.inner_text("#d-times")
                assert "Nutzer informiert\nnoch nicht" in times and "Behoben\nnoch offen" in times, times
                assert "von Maria Leitung" in times
                assert "· noch 24 Std." in await lead.inner_text("#d-deadlines")
                assert "KIS (Krankenhausinformationssystem)" in await shows_no_codes(lead)

                # a caller hears the announcement, waits, and pops on Anna's console; another presses the key
                anna = await browsing.open("anna", "/console")
                await anna.wait_for_selector("#connection.online")
                await until(lambda: _known(sim), "the simulated PBX knows the incident")
                sim.pause_member("PJSIP/102", reason="Pause")  # Anna's phone rings
                sim.place_call("0231 98 60 572", "MUELLER J", dialled=HOTLINE, talk_s=600)
                sim.place_call("0231 5550123", "", dialled=HOTLINE, at_announcement="subscribe", listen_s=3)
                await sim.advance(10)
                await sim.advance(10)  # the announcement, no key, the queue; her phone rings, she answers
                block = "#incident-banner .incident"
                await anna.wait_for_selector(f"{block}:has-text('Großstörung: KIS ausgefallen')", timeout=15_000)
                banner = await anna.inner_text("#incident-banner")
                assert f"Anrufer hören: „{MESSAGE}“" in banner and "seit " in banner and "(vor " in banner, banner
                number = (await anna.text_content("#ticket-number")) or ""
                assert re.fullmatch(r"UHD-\d{4}-\d{6}", number), number
                await anna.click(f"{block} button:has-text('Gehört zur Großstörung')")
                await anna.wait_for_selector(f"{block}.linked:has-text('Ticket {number} ist verknüpft')")
                assert await anna.text_content(f"{block} button") == "Zuordnung zur Großstörung aufheben"
                await anna.click(f"{block} button")  # taken back, and linked again
                await anna.wait_for_selector(f"{block}:not(.linked):has-text('Zuordnung zur Großstörung aufgehoben')")
                await anna.click(f"{block} button:has-text('Gehört zur Großstörung')")
                await anna.wait_for_selector(f"{block}.linked")
                await shows_no_codes(anna)
                await anna.screenshot(path=str(tmp_path / "console-banner.png"), full_page=True)
                await until(lambda: _settled(desk), "the announcement and the subscription are written")

                # the lead sees the ticket, the subscriber and when the users were first told; resolves it
                await lead.reload()
                await lead.wait_for_selector(f"#d-tickets a:has-text('{number}')")
                assert await lead.text_content("#d-subscriber-count") == "1"
                assert "Nutzer informiert\nnoch nicht" not in await lead.inner_text("#d-times")
                await lead.fill("#resolution", RESOLUTION)
                await lead.click("#resolve-open")
                await lead.wait_for_selector("#resolve-dialog[open]")
                await lead.screenshot(path=str(tmp_path / "resolve-dialog.png"))
                told = await lead.text_content("#resolve-told")
                assert told is not None and told.startswith("2 Anrufer werden benachrichtigt"), told
                assert "1 verknüpftes Ticket" in (await lead.text_content("#resolve-tickets") or "")
                await lead.click("#resolve-confirm")
                await lead.wait_for_selector("#d-state:has-text('Behoben: 2 Anrufer benachrichtigt.')")
                await lead.wait_for_selector("#d-status:has-text('Behoben')")
                assert RESOLUTION in await lead.inner_text("#d-resolution")
                times = await lead.inner_text("#d-times")
                assert "Behoben\nnoch offen" not in times and "Dauer (bekannt bis behoben)" in times, times
                assert "per Mail · " in await lead.inner_text("#d-tickets")
                assert "benachrichtigt: Rückruf · " in await lead.inner_text("#d-subscribers")
                await shows_no_codes(lead)
                await lead.screenshot(path=str(tmp_path / "incident.png"), full_page=True)

                # the linked ticket's page names the incident and leads to it
                ticket = await app[keys.TICKETS].by_number(TENANT_A, number)
                await lead.goto(f"{browsing.base}/tickets/{TENANT_A}/{ticket.id}")
                line = "#d-incident:has-text('Teil der Großstörung KIS ausgefallen (Behoben)')"
                await lead.wait_for_selector(line)
                await lead.click("#d-incident a")
                await lead.wait_for_url(f"{browsing.base}/incidents/{TENANT_A}/{incident_id}")

                # the NIS2 export of this month downloads as CSV, in German words and times
                await lead.goto(f"{browsing.base}/incidents")
                await lead.wait_for_selector("#resolved-rows a:has-text('KIS ausgefallen')")
                async with lead.expect_download() as download:
                    await lead.click("#export-link")
                saved = Path(await (await download.value).path())
                csv = await asyncio.to_thread(saved.read_text, encoding="utf-8-sig")
                assert "KIS ausgefallen" in csv and re.search(r"\d{2}\.\d{2}\.\d{4}", csv) and "Z," not in csv, csv

                # another tenant's agent: no such page, no such data
                carl = await browsing.open("carl", "/incidents")
                await carl.wait_for_selector("#open-none:has-text('Keine offene Großstörung')")
                assert "KIS ausgefallen" not in await carl.inner_text("body")
                foreign = await carl.goto(f"{browsing.base}/incidents/{TENANT_A}/{incident_id}")
                assert foreign is not None and foreign.status == 404
                api = await carl.context.request.get(f"{browsing.base}/api/tenants/{TENANT_A}/incidents/{incident_id}")
                assert api.status == 404
                browsing.problems[:] = [p for p in browsing.problems if "404" not in p]  # the refused page's own
        finally:
            await desk.close()

        # what the cascade did: the ticket resolved with the public text, its caller mailed, the other called back
        assert (await app[keys.TICKETS].get(TENANT_A, ticket.id)).status == "resolved"
        comments = await rows(server, select(history.c.note).where(
            history.c.ticket_id == ticket.id, history.c.action == "comment", history.c.field == "public"))  # fmt: skip
        assert [c["note"] for c in comments] == [RESOLUTION]
        mails = await rows(server, select(outbox).where(outbox.c.dedupe_key.like(f"incident:{incident_id}:%")))
        assert [m["target"] for m in mails] == ["juergen.mueller@klinikum-nord.example"]
        assert RESOLUTION in mails[0]["body"]["text"]
        entries = await rows(server, select(callbacks).where(callbacks.c.tenant == TENANT_A))
        assert [(e["caller_number"], e["status"]) for e in entries] == [("+492315550123", "open")]


async def _known(sim: AmiSimulator) -> bool:
    return TENANT_A in sim.pbx.incidents


async def _settled(desk: IncidentDesk) -> bool:
    return desk.pending == 0 and desk.subscribed == 1


async def test_a_pile_up_is_offered_on_the_console_and_declared_with_its_tickets(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pileup.db'}"
    async with running(url, tmp_path, incident_scan_s=0.3) as (server, _sim):
        assert server.app is not None
        app = server.app
        await lead_account(server)
        async with chromium(server) as browsing:
            # the lead lowers the threshold: 2 tickets of one category within 15 minutes. The fields take input
            # once they show the stored threshold: typed into them before it came back, a value was overwritten
            # by it and the default saved instead (the pile-up never offered; the slower the server, the likelier)
            lead = await browsing.open("maria", "/incidents", hold="**/incidents/settings")
            assert await lead.is_disabled("#pileup-count") and await lead.is_disabled("#settings-save")
            await lead.wait_for_selector("#pileup-count:enabled")
            assert (await lead.input_value("#pileup-count"), await lead.input_value("#pileup-minutes")) == ("5", "15")
            await lead.fill("#pileup-count", "2")
            await lead.fill("#pileup-minutes", "15")
            await lead.click("#settings-save")
            await lead.wait_for_selector("#settings-state:has-text('Gespeichert')")
            async with app[keys.DB].engine.connect() as conn:
                assert await threshold_of(conn, TENANT_A) == Threshold(2, 15, default=False)
            assert await lead.input_value("#pileup-count") == "2"
            anna = await browsing.open("anna", "/console")
            await anna.wait_for_selector("#connection.online")
            assert await anna.is_hidden("#incident-notices")

            found = await rows(server, select(categories.c.id).where(
                categories.c.tenant == TENANT_A, categories.c.path == "kis/orbis"))  # fmt: skip
            made = []
            for n in (1, 2):
                made.append(await app[keys.TICKETS].create(
                    TENANT_A, channel="phone", subject=f"ORBIS hängt ({n})", requester=Requester(name=f"Station {n}"),
                    actor="api:test", category_id=found[0]["id"], impact=3, urgency=3,
                ))  # fmt: skip
            orbis = "KIS (Krankenhausinformationssystem) › ORBIS"
            notice = f".incident-notice:has-text('Auffällig viele Tickets zu {orbis}: 2 in ')"
            scanner = server.part("incidents")
            await until(lambda: _offered(scanner), "the scanner offered the pile-up", timeout_s=15)
            await anna.wait_for_selector(notice, timeout=15_000)
            assert "Großstörung ausrufen?" in await anna.inner_text("#incident-notices")
            await anna.screenshot(path=str(tmp_path / "console-notice.png"))
            await shows_no_codes(anna)
            # the lead's page offers it too
            await lead.reload()
            await lead.wait_for_selector("#suggestions li:has-text('2 in ')")

            # the offer opens the declare dialog in a new tab with the category and both tickets
            async with anna.context.expect_page() as opened:
                await anna.click(f"{notice} a:has-text('Großstörung ausrufen')")
            dialog = await opened.value
            await dialog.wait_for_selector("#declare-dialog[open]")
            assert await anna.is_hidden(".incident-notice")  # taken: gone from the console
            assert await dialog.input_value("#declare-category") == "kis/orbis"
            assert await dialog.input_value("#declare-title") == "Störung: KIS (Krankenhausinformationssystem) › ORBIS"
            await dialog.screenshot(path=str(tmp_path / "declare-dialog.png"))
            assert await dialog.text_content("#declare-tickets") == "2 Tickets der Häufung werden gleich mit verknüpft."
            await dialog.fill("#declare-message", "ORBIS ist gestört.")
            await dialog.click("#declare-submit")
            await dialog.wait_for_url(re.compile(r".*/incidents/[^/]+/\d+$"))
            for ticket in made:
                await dialog.wait_for_selector(f"#d-tickets a:has-text('{ticket.number}')")
            await shows_no_codes(dialog)
            await lead.reload()
            await lead.wait_for_selector("#open-rows a:has-text('Störung: KIS')")
            await lead.screenshot(path=str(tmp_path / "incidents.png"), full_page=True)
            assert await lead.is_hidden("#suggestions-card")  # covered now


async def test_an_english_account_gets_the_pages_in_english(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'english.db'}"
    async with running(url, tmp_path) as (server, _sim):
        assert server.app is not None
        await server.app[keys.ACCOUNTS].create(
            "mary", PASSWORD, display_name="Mary Lead", role="manager", tenants=[TENANT_A, TENANT_B], locale="en"
        )
        async with chromium(server) as browsing:
            page = await browsing.open("mary", "/incidents", locale="de-DE")  # the account's language wins
            await page.wait_for_selector("#open-none:has-text('No open major incident.')")
            assert await page.is_visible("#tenant-label")  # two tenants: a choice, by name
            assert await page.is_hidden("#settings-readonly")
            await page.click("#declare-open")
            await page.fill("#declare-message", "The network of house B is down.")
            assert await page.text_content("#declare-message-count") == "31 of 1,000 characters"
            await page.fill("#declare-known-day", "31.02.2026")
            await page.fill("#declare-known-time", "09:15")
            await page.fill("#declare-title", TITLE)
            await page.click("#declare-submit")
            await page.wait_for_selector("#declare-error:has-text('Not a date: 31.02.2026 (DD.MM.YYYY)')")
            await page.fill("#declare-known-day", "15.07.2026")  # summer time in Berlin, the browser in New York
            incident_id = await declare(page, TITLE, "", "The network of house B is down.")
            await page.wait_for_selector("#d-status:has-text('Open')")
            assert await page.text_content("#d-title") == TITLE  # text, never markup
            assert await page.locator("#d-title b").count() == 0
            body = await shows_no_codes(page)
            await page.screenshot(path=str(tmp_path / "incident-en.png"), full_page=True)
            for words in ("NIS2 times", "Became known\n15 Jul 2026, 09:15", "Users informed\nnot yet", "no category"):
                assert words in body, words
            assert "Reporting deadlines" in body and "· overdue by " in body and "Großstörung" not in body
            assert await page.locator("#d-deadlines dd.overdue").count() == 3
            view = await server.app[keys.INCIDENTS].get(TENANT_A, incident_id)
            assert view.known_at == datetime(2026, 7, 15, 7, 15, tzinfo=UTC)
            await page.click("#resolve-open")  # no text: the form asks for it first
            assert await page.is_hidden("#resolve-dialog")
            await page.fill("#resolution", "Switch replaced.")
            await page.click("#resolve-open")
            await page.wait_for_selector("#resolve-told:has-text('Nobody will be told')")
            await page.click("#resolve-cancel")
            assert await page.is_hidden("#resolve-dialog")
