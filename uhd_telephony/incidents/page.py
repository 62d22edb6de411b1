"""The major incidents' pages for the helpdesk's agents and leads: ``/incidents`` (a tenant's open and resolved
incidents, declaring one, the pile-ups offered, the NIS2 export, the pile-up threshold) and
``/incidents/{tenant}/{id}`` (one incident: its tickets, subscribers, NIS2 times and deadlines, editing, resolving).

One static shell (``static/incidents.html``); its script (``static/incidents-page.js``) picks the view by the path
and reads everything through the incidents' API, which checks the role and tenant of every request again.
"""

from __future__ import annotations

from aiohttp import web

from uhd_telephony.i18n import Msg
from uhd_telephony.incidents.api import ROLES
from uhd_telephony.web.pages import protected_page

incidents_page = protected_page("incidents.html", ROLES, Msg("the major incidents' pages are for agents and managers"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/incidents", incidents_page)
    app.router.add_get("/incidents/{tenant}/{incident_id:\\d{1,18}}", incidents_page)
