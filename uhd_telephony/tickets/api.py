"""The tickets REST API (``/api/tenants/{tenant}/tickets…``) and the ticket pages.

Agents and admins of a tenant read and work its tickets; its managers only read; another tenant's tickets do not
exist (404). A partner (by API token) sees only the tickets routed to its group (``partner:<firm>``): it reads
them, comments and sets in_progress, waiting or resolved; every other ticket does not exist for it (404).
Every write is one transaction with its history rows (``tickets.workflow``); a rejected request writes nothing.
Bodies and answers are the models of ``tickets.schemas``, which ``web.openapi`` documents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel

from uhd_telephony.audit import reads
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.errors import NotFound, TicketError
from uhd_telephony.i18n import Labels, Msg, Quoted
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.extras import extra_fields
from uhd_telephony.tickets.history import for_partner
from uhd_telephony.tickets.ids import normalise_number
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.schemas import (
    AgentsResponse,
    AssignBody,
    CloseBody,
    CommentBody,
    CommentResponse,
    CreateTicketBody,
    ReopenBody,
    RequesterIn,
    ResolveBody,
    RouteBody,
    RouteResponse,
    StatusBody,
    TicketHistoryResponse,
    TicketListQuery,
    TicketPageResponse,
    TicketResponse,
    UpdateTicketBody,
)
from uhd_telephony.tickets.search import TicketFilter, search
from uhd_telephony.tickets.service import NUMBER_TZ
from uhd_telephony.tickets.view import TicketView
from uhd_telephony.tickets.workflow import TicketWorkflow, next_statuses, not_an_agent
from uhd_telephony.web import keys
from uhd_telephony.web.auth import Forbidden, Principal, client_ip, require_in_tenant, require_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented
from uhd_telephony.web.pages import STATIC, page_principal
from uhd_telephony.web.permissions import PARTNER_STATUSES

READ_ROLES = ("agent", "admin", "manager")
WRITE_ROLES = ("agent", "admin")
PAGE_ROLES = READ_ROLES
PARTNER = "partner"
# a partner reads and works the tickets routed to its group (security.permissions)
TICKET_READ_ROLES = (*READ_ROLES, PARTNER)
TICKET_WORK_ROLES = (*WRITE_ROLES, PARTNER)
NO_GROUP = "(no group)"  # not a group code (tickets.groups.GROUP_RE): a filter that matches no ticket
LOCAL_TZ: ZoneInfo = NUMBER_TZ  # a date or time without an offset is the helpdesk's local time
M = TypeVar("M", bound=BaseModel)


# -- helpers ------------------------------------------------------------------------------------------------


def ticket_json(view: TicketView, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON of a ticket in this API's answers: the view plus the statuses it may move to, and on reads what
    the capabilities above add (``tickets.extras``: the SLA state)."""
    return {**view.to_dict(), "next_statuses": next_statuses(view.status), **(extra or {})}


async def _extras(request: web.Request, tenant: str, views: list[TicketView]) -> dict[int, dict[str, Any]]:
    return await extra_fields(request.app[keys.DB], tenant, views)


async def audit_requester_read(request: web.Request, who: Principal, tenant: str, views: list[TicketView]) -> None:
    """One audit entry for an answer that shows these tickets' requester details (``audit.reads``): the tickets
    and their requesters' directory ids, never a name or number."""
    shown = reads.subjects((("ticket", v.id) for v in views), (("person", v.requester_user_id) for v in views))
    one = f"ticket:{views[0].id}" if len(views) == 1 else None
    await reads.record_read(
        request.app[keys.AUDIT], AuditAction.REQUESTER_READ, actor=who.username, tenant=tenant, subjects=shown,
        ip=client_ip(request), target=one,
    )  # fmt: skip


def _ticket_id(request: web.Request) -> int:
    return int(request.match_info["ticket_id"])  # the route pattern admits 1..18 digits only


async def _visible(request: web.Request, who: Principal, tenant: str) -> int:
    """The ticket id of the path; for a partner, a ticket routed elsewhere is as missing as one that is not."""
    ticket_id = _ticket_id(request)
    if who.role == PARTNER:
        view = await request.app[keys.TICKETS].get(tenant, ticket_id)
        if not who.sees_group(view.support_group):
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
    return ticket_id


async def _body(request: web.Request, model: type[M]) -> M:
    return model.model_validate(await read_json(request))


def _workflow(request: web.Request) -> TicketWorkflow:
    return TicketWorkflow(request.app[keys.TICKETS])


def _local(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=LOCAL_TZ) if moment.tzinfo is None else moment


def _query(request: web.Request) -> TicketListQuery:
    raw: dict[str, Any] = {}
    for name in request.query:
        if name in raw:
            continue
        values = request.query.getall(name)
        field = TicketListQuery.model_fields.get(name)
        if field is not None and getattr(field.annotation, "__origin__", None) is list:
            raw[name] = [part.strip() for value in values for part in value.split(",") if part.strip()]
        elif len(values) > 1:
            twice = Msg("query parameter %(name)s given more than once", name=Quoted(name))
            raise TicketError(twice, {"field": name})
        else:
            raw[name] = values[0]
    return TicketListQuery.model_validate(raw)


# -- handlers -----------------------------------------------------------------------------------------------


@documented(
    "Create a ticket",
    body=CreateTicketBody,
    response=TicketResponse,
    status=201,
    description="Channel phone, web or mail; the requester by directory user id or free name/number/mail.",
)
async def create_ticket(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = await _body(request, CreateTicketBody)
    requester = await _requester(request, tenant, body.requester)
    view = await request.app[keys.TICKETS].create(
        tenant,
        channel=body.channel,
        subject=body.subject,
        description=body.description,
        requester=requester,
        actor=who.actor,
        category_id=body.category_id,
        impact=body.impact,
        urgency=body.urgency,
    )
    location = f"/api/tenants/{tenant}/tickets/{view.id}"
    return web.json_response({"ticket": ticket_json(view)}, status=201, headers={"Location": location})


async def _requester(request: web.Request, tenant: str, given: RequesterIn) -> Requester:
    if given.user_id is None:
        return Requester(name=given.name.strip(), number=given.number.strip(), email=given.email)
    user = await request.app[keys.DIRECTORY_REPO].get_user(tenant, given.user_id)
    if user is None:
        # another tenant's user is as unknown as a missing one
        unknown = Msg("unknown requester user_id %(id)s", id=given.user_id)
        raise TicketError(unknown, {"field": "requester.user_id"})
    number = given.number.strip() or (user.phones[0].number if user.phones else "")
    return Requester(user_id=user.id, name=user.name, number=number, vip=user.vip, email=given.email)


@documented("List and search tickets", query=TicketListQuery, response=TicketPageResponse)
async def list_tickets(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_READ_ROLES)
    query = _query(request)
    group = query.group
    if who.role == PARTNER:
        # its own group's tickets, whatever group it asks for: another group's list is empty
        mine = who.partner_group
        group = mine if mine is not None and query.group in (None, mine) else NO_GROUP
    agent_id = None
    if query.agent == "me":
        agent_id = who.account_id
    elif query.agent not in (None, "none"):
        agent_id = int(query.agent)
    page = await search(
        request.app[keys.DB],
        tenant,
        TicketFilter(
            status=[s.value for s in query.status],
            priority=query.priority,
            channel=[c.value for c in query.channel],
            category_id=query.category,
            group=group,
            agent_id=agent_id,
            unassigned=query.agent == "none",
            requester_user_id=query.requester_user_id,
            requester_number=query.requester_number,
            created_from=_local(query.created_from),
            created_to=_local(query.created_to),
            text=query.q,
            sort=query.sort,
            limit=query.limit,
            offset=query.offset,
            cursor=query.cursor,
        ),
    )
    extras = await _extras(request, tenant, page.tickets)
    await audit_requester_read(request, who, tenant, page.tickets)
    return web.json_response(
        {
            "tickets": [ticket_json(t, extras.get(t.id)) for t in page.tickets],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
            "next_cursor": page.next_cursor,
        }
    )


@documented("Read a ticket by its number", response=TicketResponse, errors=(400,))
async def ticket_by_number(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_READ_ROLES)
    given = request.match_info["number"]
    number = normalise_number(given)
    if number is None:
        not_a_number = Msg(
            "%(given)s is not a ticket number: expected UHD-<year>-<6 digits>, e.g. UHD-2026-000123",
            given=Quoted(given, 40),
        )
        raise TicketError(not_a_number, {"field": "number"})
    view = await request.app[keys.TICKETS].by_number(tenant, number)
    if not who.sees_group(view.support_group):
        raise NotFound(Msg("no ticket %(number)s", number=Quoted(number)), {"number": number})
    extras = await _extras(request, tenant, [view])
    await audit_requester_read(request, who, tenant, [view])
    return web.json_response({"ticket": ticket_json(view, extras.get(view.id))})


@documented("A ticket with its history, oldest entry first", response=TicketHistoryResponse)
async def ticket_history(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_READ_ROLES)
    service = request.app[keys.TICKETS]
    view = await service.get(tenant, await _visible(request, who, tenant))
    entries = await service.history(tenant, view.id)
    if who.role == PARTNER:
        # internal notes never leave the helpdesk: a partner reads the public comments and its own
        entries = for_partner(entries, own={who.actor})
    extras = await _extras(request, tenant, [view])
    await audit_requester_read(request, who, tenant, [view])
    ticket = ticket_json(view, extras.get(view.id))
    async with request.app[keys.DB].engine.connect() as conn:
        # in words, in the reader's language: names for agent:7, categories and groups by their titles
        words = await history_text.context(conn, tenant, request_locale(request), entries)
    if ticket.get("category") is not None:
        ticket["category"]["title_path"] = words.names.category(view.category_path)
    return web.json_response({"ticket": ticket, "history": history_text.with_text(entries, words)})


@documented("Change subject, description, impact, urgency or category", body=UpdateTicketBody, response=TicketResponse,
            errors=(409,))  # fmt: skip
async def update_ticket(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = await _body(request, UpdateTicketBody)
    view = await _workflow(request).update(
        tenant,
        _ticket_id(request),
        actor=who.actor,
        **{name: getattr(body, name) for name in body.model_fields_set},
    )
    return web.json_response({"ticket": ticket_json(view)})


@documented("Comment on a ticket (internal, or public for the caller)", body=CommentBody, response=CommentResponse,
            status=201, errors=(409,))  # fmt: skip
async def comment(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_WORK_ROLES)
    ticket_id = await _visible(request, who, tenant)
    body = await _body(request, CommentBody)
    done = await _workflow(request).comment(tenant, ticket_id, text=body.text, public=body.public, actor=who.actor)
    return web.json_response({"ticket": ticket_json(done.ticket), "entry": done.entry}, status=201)


@documented("Assign the ticket to an agent of the tenant, or unassign it", body=AssignBody, response=TicketResponse,
            errors=(409,))  # fmt: skip
async def assign(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = await _body(request, AssignBody)
    agent = None
    if body.agent_id is not None:
        try:
            agent = await request.app[keys.ACCOUNTS].get(body.agent_id)
        except NotFound:
            raise not_an_agent(tenant, body.agent_id) from None  # as for another tenant's account
    view = await _workflow(request).assign(tenant, _ticket_id(request), agent=agent, actor=who.actor)
    return web.json_response({"ticket": ticket_json(view)})


@documented("Route the ticket to a support group (work order by mail/webhook)", body=RouteBody,
            response=RouteResponse, errors=(409,))  # fmt: skip
async def route(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = await _body(request, RouteBody)
    view, result = await _workflow(request).route(
        tenant, _ticket_id(request), group=body.group, reason=body.reason, actor=who.actor
    )
    return web.json_response({"ticket": ticket_json(view), "route": result.to_dict()})


async def _move(request: web.Request, who: Principal, tenant: str, status: str, note: str | None) -> web.Response:
    ticket_id = await _visible(request, who, tenant)
    if who.role == PARTNER and status not in PARTNER_STATUSES:
        partners = Msg(
            "a partner sets %(statuses)s; closing and reopening stay with the helpdesk",
            statuses=Labels("status", sorted(PARTNER_STATUSES)),
        )
        raise Forbidden(partners, {"status": status})
    view = await _workflow(request).transition(tenant, ticket_id, status, note=note, actor=who.actor)
    return web.json_response({"ticket": ticket_json(view)})


@documented("Change the status (state machine; 409 names an illegal from/to)", body=StatusBody,
            response=TicketResponse, errors=(409,))  # fmt: skip
async def set_status(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_WORK_ROLES)
    body = await _body(request, StatusBody)
    return await _move(request, who, tenant, body.status.value, body.note)


@documented("Resolve the ticket with a resolution text", body=ResolveBody, response=TicketResponse, errors=(409,))
async def resolve(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_WORK_ROLES)
    body = await _body(request, ResolveBody)
    return await _move(request, who, tenant, TicketStatus.RESOLVED.value, body.resolution)


@documented("Close a resolved ticket (the caller gets the closure mail)", body=CloseBody, response=TicketResponse,
            errors=(409,))  # fmt: skip
async def close(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = await _body(request, CloseBody)
    return await _move(request, who, tenant, TicketStatus.CLOSED.value, body.note)


@documented("Reopen a resolved or closed ticket with a reason", body=ReopenBody, response=TicketResponse,
            errors=(409,))  # fmt: skip
async def reopen(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = await _body(request, ReopenBody)
    return await _move(request, who, tenant, TicketStatus.REOPENED.value, body.reason)


@documented("The agents a ticket of the tenant can be assigned to", response=AgentsResponse)
async def agents(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *READ_ROLES)
    found = await request.app[keys.ACCOUNTS].list_agents(tenant)
    return web.json_response(
        {"agents": [{"id": a.id, "username": a.username, "display_name": a.display_name} for a in found]}
    )


async def tickets_page(request: web.Request) -> web.StreamResponse:
    """The ticket list and detail pages (one HTML, the script picks the view by its path)."""
    who = await page_principal(request)  # to the login, and back to this very page (a ticket's too) after
    if who.role not in PAGE_ROLES:
        raise Forbidden(Msg("the ticket pages are for agents and managers"))
    if "tenant" in request.match_info:
        # another tenant's pages do not exist either (the ticket itself comes through the API)
        require_tenant(who, request.match_info["tenant"])
    return web.FileResponse(STATIC / "tickets.html")


def add_routes(app: web.Application) -> None:
    """The ticket API and pages; GET of one ticket and classify are the console's (``screenpop.console``)."""
    t = "/api/tenants/{tenant}/tickets"
    one = t + "/{ticket_id:\\d{1,18}}"
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get("/tickets/{tenant}/{ticket_id:\\d{1,18}}", tickets_page)
    app.router.add_post(t, create_ticket)
    app.router.add_get(t, list_tickets)
    app.router.add_get(t + "/by-number/{number}", ticket_by_number)
    app.router.add_patch(one, update_ticket)
    app.router.add_get(one + "/history", ticket_history)
    app.router.add_post(one + "/comments", comment)
    app.router.add_post(one + "/assign", assign)
    app.router.add_post(one + "/route", route)
    app.router.add_post(one + "/status", set_status)
    app.router.add_post(one + "/resolve", resolve)
    app.router.add_post(one + "/close", close)
    app.router.add_post(one + "/reopen", reopen)
    app.router.add_get("/api/tenants/{tenant}/agents", agents)
