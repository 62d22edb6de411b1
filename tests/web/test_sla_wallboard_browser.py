"""Issue #16 in a real browser (Debian's headless Chromium via Playwright, the strict CSP on): a team lead
acknowledges and takes back an SLA escalation on the ticket page (the API with the session's CSRF token: the
history and the all-clear mail carry the reason); the wallboard renders a day's figures and its chart with a
read-only token from the address's fragment, which no request ever carries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import select, update

from tests.support.browser import CHROMIUM, FLAGS, needs_chromium
from tests.support.sla_data import sla_data
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.metrics import kpi
from uhd_telephony.outbox.models import outbox
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.models import escalations
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.sla.timers import schedule
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.view import tickets
from uhd_telephony.web import keys

pytestmark = needs_chromium


def _watch(page: Page, who: str, problems: list[str], failed: list[str], urls: list[str] | None = None) -> None:
    page.on("pageerror", lambda error: problems.append(f"{who}: {error}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"{who}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    if urls is not None:
        page.on("request", lambda r: urls.append(r.url + " " + str(r.headers.get("referer", ""))))


async def _login(browser: Browser, base: str, username: str, problems: list[str], failed: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    _watch(page, username, problems, failed)
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(re.compile(r".*/(kpis|console)$"))
    return page


async def test_a_team_lead_acknowledges_and_takes_back_on_the_ticket_page(sqlite_url: str, aiohttp_server: Any) -> None:
    await seed(sqlite_url)
    app = init_app(web_settings(sqlite_url))
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    db = app[keys.DB]
    await import_sla(db, TENANT_A, sla_data(unclassified_priority=1))  # response 15 min, 24/7
    await app[keys.ACCOUNTS].create("maria", PASSWORD, display_name="Maria Leitung", role="manager", tenants=[TENANT_A])
    ticket = await app[keys.TICKETS].create(
        TENANT_A, channel="web", subject="KIS-Arbeitsplatz Station 4", requester=Requester(name="Petra Hoffmann"),
        actor="api:test",
    )  # fmt: skip
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:  # opened 20 minutes ago, nobody answered: the response is breached
        opened = now - timedelta(minutes=20)
        await conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(created_at=opened))
        await schedule(conn, ticket.id, now)
    assert await SlaScanner(db, clock=lambda: datetime.now(UTC)).scan_once() == 1
    problems: list[str] = []
    failed: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            maria = await _login(browser, base, "maria", problems, failed)
            await maria.goto(f"{base}/tickets/{TENANT_A}/{ticket.id}")
            await maria.wait_for_selector("#sla-card:not([hidden]) #sla-state .sla-breached")
            assert "überfällig" in (await maria.text_content("#sla-response") or "")
            assert "fällig" in (await maria.text_content("#sla-resolution") or "")
            item = "#escalations li"
            await maria.click(f"{item} button[data-action=acknowledge]")
            await maria.wait_for_selector(f"{item}:has-text('quittiert')")
            assert await maria.locator(f"{item} button[data-action=acknowledge]").count() == 0
            await maria.click(f"{item} button[data-action=de-escalate]")  # without a reason: not sent
            await maria.wait_for_selector("#d-error:has-text('Grund')")
            await maria.fill(f"{item} input", "Station arbeitet am Ersatz-PC, kein Notfall")
            await maria.click(f"{item} button[data-action=de-escalate]")
            await maria.wait_for_selector(f"{item}.closed:has-text('Ersatz-PC')")
            assert await maria.locator(f"{item} button").count() == 0

            agent = await _login(browser, base, "anna", problems, failed)  # an agent sees the SLA, not the buttons
            await agent.goto(f"{base}/tickets/{TENANT_A}/{ticket.id}")
            await agent.wait_for_selector("#escalations li.closed")
            assert await agent.locator("#escalations button").count() == 0
            await agent.goto(f"{base}/tickets")
            await agent.select_option("#sort", "sla")
            await agent.click("#filters button[type=submit]")
            await agent.wait_for_selector("#rows tr .sla-breached")
        finally:
            await browser.close()
    async with db.engine.connect() as conn:
        (row,) = (await conn.execute(select(escalations))).mappings().all()
        stmt = select(history.c.action, history.c.note).where(history.c.ticket_id == ticket.id)
        rows = (await conn.execute(stmt)).all()
        told = (await conn.execute(select(outbox.c.body).where(outbox.c.dedupe_key.like("de-escalation:%")))).all()
    assert row["acknowledged_by"] == row["de_escalated_by"] and row["acknowledged_by"].startswith("agent:")
    assert row["acknowledged_at"] < row["de_escalated_at"]
    assert row["reason"] == "Station arbeitet am Ersatz-PC, kein Notfall"
    assert [a for a, _ in rows if a in ("acknowledged", "de-escalated")] == ["acknowledged", "de-escalated"]
    assert any("Ersatz-PC" in (note or "") for a, note in rows if a == "de-escalated")
    assert told and all("Ersatz-PC" in str(body) for (body,) in told)  # the all-clear to whom the breach went
    assert problems == [], problems
    assert failed == [], failed  # a de-escalation without a reason is not even sent


def _stay(n: int, at: datetime, outcome: Outcome, wait_s: float, talk_s: float | None, agent: str | None) -> CallRecord:
    entered = at.timestamp()
    record = CallRecord(
        call_id=f"wb{n}@nord-hotline", linkedid=f"wb{n}", uniqueid=f"wb{n}", queue="nord-hotline", tenant=TENANT_A,
        entered_at=entered, caller_number="+492319860572", outcome=outcome, wait_s=wait_s, talk_s=talk_s,
        ended_at=entered + wait_s + (talk_s or 0), answered_at=entered + wait_s if talk_s is not None else None,
        agent=agent, agent_interface="PJSIP/101" if agent else None,
    )  # fmt: skip
    record.ring_attempts = [RingAttempt("PJSIP/102", "Ben Schäfer", entered, entered + 15, "noanswer")]
    return record


async def test_the_wallboard_renders_the_day_with_a_token_in_the_fragment(sqlite_url: str, aiohttp_server: Any) -> None:
    await seed(sqlite_url)
    app = init_app(web_settings(sqlite_url))
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    db = app[keys.DB]
    morning = datetime.combine(datetime.now(kpi.TIMEZONE).date(), datetime.min.time(), kpi.TIMEZONE)
    # in the day's first hour: whatever the time the test runs, the hour has begun (the line reaches up to now)
    stays = [
        _stay(1, morning + timedelta(minutes=5), Outcome.ANSWERED, 12, 240, "Anna Becker"),
        _stay(2, morning + timedelta(minutes=20), Outcome.ANSWERED, 45, 300, "Anna Becker"),
        _stay(3, morning + timedelta(minutes=31), Outcome.ABANDONED, 60, None, None),
        _stay(4, morning + timedelta(minutes=50), Outcome.ANSWERED, 8, 120, "Anna Becker"),
    ]
    await CallRepository(db).upsert_many(stays)
    screen = await app[keys.ACCOUNTS].create("leitstand", PASSWORD, role="manager", tenants=[TENANT_A])
    token = (await TokenService(db).create(screen.id, name="Wand", scopes=["wallboard:read"])).secret
    problems: list[str] = []
    failed: list[str] = []
    urls: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1920, "height": 1080}, locale="de-DE")
            page = await context.new_page()
            _watch(page, "wallboard", problems, failed, urls)
            await page.goto(f"{base}/wallboard#token={token}&tenant={TENANT_A}")
            await page.wait_for_selector("#wb-offered:has-text('4')")
            assert (await page.text_content("#wb-answered") or "").strip() == "3"
            assert (await page.text_content("#wb-abandoned") or "").strip() == "1"
            level = (await page.text_content("#wb-service-level") or "").replace("\u00a0", " ")
            assert level == "50,0 %"  # 2 of 4 answered within 20 s
            assert await page.locator("#wb-chart svg rect.chart-answered").count() == 19  # 00:00 .. 18:00
            assert await page.locator("#wb-chart svg polyline.chart-line").count() == 1
            offered = page.locator("[data-hour='0'] rect.chart-offered")
            assert float(await offered.get_attribute("height") or 0) > 0
            assert await page.is_hidden("#wb-agents-box")  # the tenant allows no per-agent figures
            assert "Anna Becker" not in (await page.content())
            clock = await page.text_content("#wb-clock") or ""
            assert re.fullmatch(r"\d{2}:\d{2}", clock.strip()), clock
        finally:
            await browser.close()
    assert problems == [], problems
    assert failed == [], failed
    assert not [u for u in urls if token in u]  # the fragment never leaves the browser


async def test_the_wallboard_without_a_token_asks_for_a_login(sqlite_url: str, aiohttp_server: Any) -> None:
    await seed(sqlite_url)
    server = await aiohttp_server(init_app(web_settings(sqlite_url)))
    base = str(server.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{base}/wallboard")
            await page.wait_for_url(re.compile(r".*/login\?next=%2Fwallboard$"))
        finally:
            await browser.close()
