"""The SLA API: a tenant's escalations for its managers, acknowledging and taking them back, a ticket's SLA state.

Acknowledge and de-escalate are for managers and admins of the tenant; another tenant's ticket or escalation is
404 exactly like a missing one. Bodies and answers are the models of ``sla.schemas``, documented by
``web.openapi``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from uhd_telephony.errors import InvalidInput
from uhd_telephony.sla.schemas import (
    AcknowledgeBody,
    DeEscalateBody,
    EscalationListQuery,
    EscalationPageResponse,
    EscalationResponse,
    TicketSlaResponse,
)
from uhd_telephony.sla.service import EscalationFilter, SlaService
from uhd_telephony.tickets.history import agent_actor
from uhd_telephony.web import keys
from uhd_telephony.web.auth import Principal, require, require_tenant
from uhd_telephony.web.openapi import documented

MANAGERS = ("manager", "admin")
READERS = ("agent", "admin", "manager")


async def _who(request: web.Request, *roles: str) -> tuple[Principal, str]:
    who = await require(request, *roles)
    return who, require_tenant(who, request.match_info["tenant"])


def _service(request: web.Request) -> SlaService:
    return SlaService(request.app[keys.DB])


def _ids(request: web.Request) -> tuple[int, int]:
    # the route patterns admit 1..18 digits only
    return int(request.match_info["ticket_id"]), int(request.match_info["escalation_id"])


def _query(request: web.Request) -> EscalationListQuery:
    raw: dict[str, Any] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidInput(f"query parameter {name!r} given more than once", {"field": name})
        raw[name] = values[0]
    return EscalationListQuery.model_validate(raw)


@documented(
    "The tenant's escalations (SLA warnings and breaches), newest first",
    query=EscalationListQuery,
    response=EscalationPageResponse,
    tag="escalations",
    description="For the tenant's managers (and admins): open=true lists what is not taken back yet.",
)
async def list_escalations(request: web.Request) -> web.Response:
    _, tenant = await _who(request, *MANAGERS)
    query = _query(request)
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
    who, tenant = await _who(request, *MANAGERS)
    body = AcknowledgeBody.model_validate(await request.json())
    ticket_id, escalation_id = _ids(request)
    row = await _service(request).acknowledge(
        tenant, ticket_id, escalation_id, actor=agent_actor(who.account_id), note=body.note
    )
    return web.json_response({"escalation": row})


@documented(
    "Take an escalation back with a reason (documented de-escalation)",
    body=DeEscalateBody,
    response=EscalationResponse,
    errors=(409,),
    tag="escalations",
    description="Managers and admins; who, when and why go into the ticket history. 409 when taken back already.",
)
async def de_escalate(request: web.Request) -> web.Response:
    who, tenant = await _who(request, *MANAGERS)
    body = DeEscalateBody.model_validate(await request.json())
    ticket_id, escalation_id = _ids(request)
    row = await _service(request).de_escalate(
        tenant, ticket_id, escalation_id, actor=agent_actor(who.account_id), reason=body.reason
    )
    return web.json_response({"escalation": row})


@documented(
    "A ticket's SLA: targets, business time used, warning and breach instants, escalations",
    response=TicketSlaResponse,
    tag="escalations",
)
async def ticket_sla(request: web.Request) -> web.Response:
    _, tenant = await _who(request, *READERS)
    ticket_id = int(request.match_info["ticket_id"])
    return web.json_response({"sla": await _service(request).ticket_sla(tenant, ticket_id)})


def add_routes(app: web.Application) -> None:
    """The SLA routes under ``/api/tenants/{tenant}``."""
    base = "/api/tenants/{tenant}"
    one = base + "/tickets/{ticket_id:\\d{1,18}}"
    escalation = one + "/escalations/{escalation_id:\\d{1,18}}"
    app.router.add_get(base + "/escalations", list_escalations)
    app.router.add_get(one + "/sla", ticket_sla)
    app.router.add_post(escalation + "/acknowledge", acknowledge)
    app.router.add_post(escalation + "/de-escalate", de_escalate)
