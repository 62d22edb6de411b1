"""The live KPI page (``/kpis``): today's call and ticket KPIs per tenant, refreshed every few seconds.

A static page; its figures come from the JSON API the same session may read — ``GET /api/tenants/{tenant}/kpis``
(``metrics.api``: one definition with ``/metrics`` and the monthly report) and the waiting callers of
``/metrics``. Who may open it is who may read the KPI API with a session: agents, managers (the helpdesk lead,
the customer's IT management) and admins; a partner or an API token gets the login page, like every page.
"""

from __future__ import annotations

from aiohttp import web

from uhd_telephony.errors import Forbidden
from uhd_telephony.web.auth import principal
from uhd_telephony.web.pages import STATIC, to_login
from uhd_telephony.web.permissions import KPI_PAGE_ROLES


async def kpi_page(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    if who is None:
        raise to_login(request)
    if who.role not in KPI_PAGE_ROLES:
        raise Forbidden("the KPI page is for the helpdesk and its customers' management")
    return web.FileResponse(STATIC / "kpis.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/kpis", kpi_page)
