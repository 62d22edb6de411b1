"""The whole process: the server's own outbox worker mails the caller, its web app serves the linked status page,
and its health endpoint reports the outbox backlog."""

from __future__ import annotations

import aiohttp

from tests.outbox.sinks import SmtpSink, outbox_settings, status_link
from tests.support.helpers import eventually, free_port
from tests.tickets.routing.conftest import TENANT
from uhd_telephony.app.server import Server
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.web import keys


async def test_the_running_server_mails_the_caller_and_serves_the_status_page(sqlite_url: str, smtp: SmtpSink) -> None:
    # no PBX behind this port: tickets here come from the web, the server runs without Asterisk meanwhile
    settings = outbox_settings(sqlite_url, smtp, http_port=0, ami_port=free_port(), first_level_scan_s=0.05)
    server = Server(settings)
    await server.start()
    try:
        assert server.app is not None
        ticket = await server.app[keys.TICKETS].create(
            TENANT, channel="web", subject="WLAN auf Station 3B", actor="web",
            requester=Requester(name="Sabine Weiß", email="sabine.weiss@klinikum-nord.example"),
        )  # fmt: skip
        await eventually(lambda: len(smtp.mails()) == 1, 10)
        outbox = server.outbox
        assert outbox is not None
        # the mail is out before the row is marked sent and the backlog counted again (at the next poll)
        await eventually(lambda: outbox.health()["sent"] == 1 and outbox.health()["pending"] == 0, 10)
        link, token = status_link(smtp.mails()[0])
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as browser:
            page = await browser.get(f"/status/{token}")
            assert page.status == 200 and ticket.number in await page.text()
            health = await (await browser.get("/healthz")).json()
        assert health["outbox"]["pending"] == 0 and health["outbox"]["failed"] == 0
        assert health["outbox"]["sent"] == 1 and health["outbox"]["healthy"] is True
        assert health["first_level_rule"]["last_error"] is None
        assert link.startswith("https://helpdesk.example.org/status/")
    finally:
        await server.close()


async def test_the_running_server_picks_up_an_sla_calendar_imported_elsewhere(sqlite_url: str, smtp: SmtpSink) -> None:
    from tests.sla.conftest import sla_data
    from uhd_telephony.sla.policy import import_sla

    settings = outbox_settings(sqlite_url, smtp, http_port=0, ami_port=free_port(), directory_refresh_s=0.05)
    server = Server(settings)
    await server.start()
    try:
        metrics = server.metrics
        assert metrics is not None and metrics.calendars is not None and server.calls.db is not None
        assert TENANT not in metrics.counters.calendars  # no SLA yet: around the clock
        metrics.calendars.ttl_s = 0  # the refresh loop reads at once (the default TTL is a minute)
        # `uhd-telephony import-sla` in another process; nobody scrapes /metrics meanwhile
        await import_sla(server.calls.db, TENANT, sla_data(calendar={"hours": {"mon": ["06:30-17:00"]}}))
        await eventually(lambda: TENANT in metrics.counters.calendars, 10)
        assert not metrics.counters.calendars[TENANT].always
    finally:
        await server.close()
