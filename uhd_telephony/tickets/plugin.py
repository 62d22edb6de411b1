"""Tickets as the process runs them: their tables, the ticket API and pages, the category API, the caller's
status page, the ticket service, the 10-minute rule, and the support groups' webhook secrets for the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.tickets import api, category_api, status_page
from uhd_telephony.tickets.groups import webhook_secret
from uhd_telephony.tickets.routing import FirstLevelScanner
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.web import keys

# the outbox signs a work order's webhook with the support group's secret (outbox.service.first_secret)
WEBHOOK_SECRETS = webhook_secret


def routes(app: web.Application) -> None:
    status_page.add_routes(app)  # the caller's status page: public, the token is the key
    api.add_routes(app)
    category_api.add_routes(app)  # the category tree edited through the API (operator admins)


async def services(app: web.Application) -> AsyncIterator[None]:
    app[keys.TICKETS] = TicketService(app[keys.DB], first_level_limit_s=app[keys.SETTINGS].first_level_limit_s)
    yield


def workers(rt: Runtime) -> list[Running]:
    rule = FirstLevelScanner(rt.db, interval_s=rt.settings.first_level_scan_s)
    rt.provide("first_level", rule)
    return [Running(rule, "first_level_rule")]


CAPABILITY = Capability(
    name="tickets", models="uhd_telephony.tickets.models", routes=routes, services=services, workers=workers
)
