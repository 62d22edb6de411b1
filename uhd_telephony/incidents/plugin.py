"""Major incidents (Großstörungen): their tables, their API, the service, the resolve cascade (a hook of the ticket
history, registered by importing ``incidents.cascade``), what they add to tickets (``incidents.extras``) and the
scanner that completes notices and offers pile-ups to the consoles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from uhd_telephony.incidents import api, cascade, extras, page  # noqa: F401  (cascade, extras: hooks and ports of tickets)
from uhd_telephony.incidents.pileup import Suggestion
from uhd_telephony.incidents.service import IncidentService
from uhd_telephony.incidents.worker import IncidentScanner, IncidentSuggested
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.web import keys

# what the consoles get pushed when tickets pile up (beside "pop" and "call_ended"; one per agent)
SUGGESTION_MESSAGE = "incident_suggestion"


async def services(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.INCIDENTS] = IncidentService(app[keys.TICKETS], sounds_dir=Path(settings.incident_sounds_dir))
    yield


def routes(app: web.Application) -> None:
    """The API and the pages (``incidents.page``)."""
    api.add_routes(app)
    page.add_routes(app)


def workers(rt: Runtime) -> list[Running]:
    fanout = rt.web[keys.FANOUT]

    async def offer(tenant: str, suggestion: Suggestion, accounts: list[int]) -> None:
        """A pile-up: a bus event, and the offer on the consoles of the tenant's agents (the hub delivers a message
        to one account's consoles of that tenant only)."""
        rt.bus.publish(IncidentSuggested(tenant, suggestion))
        message = {"type": SUGGESTION_MESSAGE, "tenant": tenant, "suggestion": suggestion.to_dict()}
        for account in accounts:
            await fanout.publish({**message, "agent_id": account})

    scanner = IncidentScanner(rt.web[keys.INCIDENTS], interval_s=rt.settings.incident_scan_s, offer=offer)
    rt.provide("incidents", scanner)
    return [Running(scanner, "incident_scan")]


CAPABILITY = Capability(
    name="incidents", models="uhd_telephony.incidents.models", routes=routes, services=services, workers=workers
)
