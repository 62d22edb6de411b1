"""The SLA API: a tenant's escalations for its managers, acknowledging and taking them back, a ticket's SLA state;
for admins, the test of a tenant's escalation paths (``sla.drill``).

Acknowledge and de-escalate are for managers and admins of the tenant; another tenant's ticket or escalation is
404 exactly like a missing one. Bodies and answers are the models of ``sla.schemas``, documented by
``web.openapi``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from uhd_telephony.sla.drill import EscalationDrill
from uhd_telephony.sla.schemas import (
    AcknowledgeBody,
    DeEscalateBody,
    EscalationListQuery,
    EscalationPageResponse,
    EscalationResponse,
    SlaTestBody,
    SlaTestResponse,
    TicketSlaResponse,
)
from uhd_telephony.sla.service import EscalationFilter, SlaService
from uhd_telephony.tickets.history import agent_actor
from uhd_telephony.web import keys
from uhd_telephony.web.auth import require, require_in_tenant, require_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented, single_query

MANAGERS = ("manager", "admin")
READERS = ("agent", "admin", "manager")


def _service(request: web.Request) -> SlaService:
    return SlaService(request.app[keys.DB])


def _ids(request: web.Request) -> tuple[int, int]:
    # the route patterns admit 1..18 digits only
    return int(request.match_info["ticket_id"]), int(request.match_info["escalation_id"])


async def _manage(request: web.Request, model: type[BaseModel], act: Callable[..., Awaitable[Any]]) -> web.Response:
    """A manager's write on one escalation: ``act(service, tenant, ticket_id, escalation_id, actor=…, **body)``
    (the body's fields are the service method's keyword arguments)."""
    who, tenant = await require_in_tenant(request, *MANAGERS)
    body = model.model_validate(await read_json(request))
    ticket_id, escalation_id = _ids(request)
    row = await act(
        _service(request), tenant, ticket_id, escalation_id, actor=agent_actor(who.account_id), **body.model_dump()
    )
    return web.json_response({"escalation": row})


@documented(
    "The tenant's escalations (SLA warnings and breaches), newest first",
    query=EscalationListQuery,
    response=EscalationPageResponse,
    tag="escalations",
    description="For the tenant's managers (and admins): open=true lists what is not taken back yet.",
)
async def list_escalations(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *MANAGERS)
    query = single_query(request, EscalationListQuery)
    rows, total = await _service(request).list(
        tenant,
        EscalationFilter(
            open=query.open,
            ticket_id=query.ticket_id,
            kind=query.kind,
            target=query.target,
            limit=query.limit,
            offset=query.offset,
        ),
    )
    return web.json_response({"escalations": rows, "total": total, "limit": query.limit, "offset": query.offset})


@documented(
    "Acknowledge an escalation (who and when, once)",
    body=AcknowledgeBody,
    response=EscalationResponse,
    errors=(409,),
    tag="escalations",
    description="Managers and admins; 409 when it was acknowledged or taken back already.",
)
async def acknowledge(request: web.Request) -> web.Response:
    return await _manage(request, AcknowledgeBody, SlaService.acknowledge)


@documented(
    "Take an escalation back with a reason (documented de-escalation)",
    body=DeEscalateBody,
    response=EscalationResponse,
    errors=(409,),
    tag="escalations",
    description="Managers and admins; who, when and why go into the ticket history. 409 when taken back already.",
)
async def de_escalate(request: web.Request) -> web.Response:
    return await _manage(request, DeEscalateBody, SlaService.de_escalate)


@documented(
    "A ticket's SLA: targets, business time used, warning and breach instants, escalations",
    response=TicketSlaResponse,
    tag="escalations",
)
async def ticket_sla(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *READERS)
    ticket_id = int(request.match_info["ticket_id"])
    return web.json_response({"sla": await _service(request).ticket_sla(tenant, ticket_id)})


@documented(
    "Test the tenant's escalation paths: a marked test warning and breach to every contact",
    body=SlaTestBody,
    response=SlaTestResponse,
    errors=(409,),
    tag="escalations",
    description=(
        "Admins. Every SLA contact and every support group with an OLA (with category: those its tickets reach) "
        'gets a test warning and breach on each channel — mail subject "[TEST] …" in its language, webhook JSON '
        'with "test": true — delivered by the outbox\'s sender for exactly these messages; the answer, after at '
        "most timeout_s, has one line per contact and channel. Nothing goes into tickets, their history, the "
        "escalations or any figure. 409: the tenant has no escalation path; 400: unknown category."
    ),
)
async def sla_test(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    tenant = require_tenant(who, request.match_info["tenant"])
    body = SlaTestBody.model_validate(await read_json(request))
    await request.app[keys.TENANTS].get(tenant)  # a tenant that does not exist: 404
    drill = EscalationDrill(request.app[keys.DB], request.app[keys.SETTINGS])
    result = await drill.run(tenant, body.category, actor=who.actor, timeout_s=body.timeout_s)
    return web.json_response(result.to_dict(request_locale(request)))


def add_routes(app: web.Application) -> None:
    """The SLA routes under ``/api/tenants/{tenant}``, and the escalation test under ``/api/admin``."""
    base = "/api/tenants/{tenant}"
    one = base + "/tickets/{ticket_id:\\d{1,18}}"
    escalation = one + "/escalations/{escalation_id:\\d{1,18}}"
    app.router.add_get(base + "/escalations", list_escalations)
    app.router.add_get(one + "/sla", ticket_sla)
    app.router.add_post(escalation + "/acknowledge", acknowledge)
    app.router.add_post(escalation + "/de-escalate", de_escalate)
    app.router.add_post("/api/admin/tenants/{tenant}/sla-test", sla_test)
