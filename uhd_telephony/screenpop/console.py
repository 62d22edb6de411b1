"""The agent console: its page, its WebSocket for screen-pops, and the JSON it works with (ticket, classification,
categories, callbacks, directory search)."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web
from pydantic import BaseModel, Field

from uhd_telephony.audit import reads
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.errors import Forbidden, NotFound
from uhd_telephony.i18n import Msg
from uhd_telephony.screenpop.fanout import encode
from uhd_telephony.screenpop.hub import Console
from uhd_telephony.tickets.api import audit_requester_read
from uhd_telephony.tickets.categories import category_tree
from uhd_telephony.tickets.extras import extra_fields
from uhd_telephony.tickets.schemas import TicketResponse
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require, require_in_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.middleware import same_origin
from uhd_telephony.web.openapi import (
    CallbackResponse,
    CallbacksResponse,
    CategoriesResponse,
    DirectorySearchQuery,
    DirectoryUsersResponse,
    documented,
)
from uhd_telephony.web.pages import STATIC, page_principal

log = logging.getLogger(__name__)

CONSOLE_ROLES = ("agent", "admin")
WS_MAX_MESSAGE = 4096  # the console sends nothing but small control messages


async def console_page(request: web.Request) -> web.StreamResponse:
    who = await page_principal(request)
    if who.role not in CONSOLE_ROLES:
        raise Forbidden(Msg("the console is for agents"))
    return web.FileResponse(STATIC / "console.html")


async def console_socket(request: web.Request) -> web.StreamResponse:
    """The console's WebSocket: its agent's pops only, the current one first when a call is live."""
    who = await require(request, *CONSOLE_ROLES)
    if not same_origin(request):  # cross-site WebSocket hijacking: the cookie alone is not enough
        raise Forbidden(Msg("cross-origin WebSocket refused"))
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=WS_MAX_MESSAGE)
    await ws.prepare(request)
    hub = request.app[keys.HUB]
    console = Console(who.account_id, who.tenants, ws)
    hub.add(console)
    try:
        await ws.send_str(encode({"type": "hello", "account": who.to_dict()}))
        current = await request.app[keys.FANOUT].current(who.account_id)
        if current is not None and current.get("tenant") in who.tenants:
            await ws.send_str(encode({**current, "replayed": True}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == "ping":
                await ws.send_str(encode({"type": "pong"}))
    except ConnectionResetError as exc:  # aiohttp's ClientConnectionResetError too: the browser went away
        # a closed tab or a dropped network, often right after the handshake: the client's business, no error
        log.info("console of agent %s gone: %s", who.account_id, exc or type(exc).__name__)
    finally:
        hub.remove(console)
    return ws


def _id(request: web.Request, name: str) -> int:
    return int(request.match_info[name])  # the route pattern admits digits only


@documented("Read a ticket by id", response=TicketResponse, tag="tickets")
async def ticket(request: web.Request) -> web.Response:
    # a partner reads the tickets routed to its group; any other is as missing as one that is not
    who, tenant = await require_in_tenant(request, "agent", "admin", "manager", "partner")
    ticket_id = _id(request, "ticket_id")
    view = await request.app[keys.TICKETS].get(tenant, ticket_id)
    if not who.sees_group(view.support_group):
        raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
    extras = await extra_fields(request.app[keys.DB], tenant, [view])  # the SLA state (tickets.extras)
    await audit_requester_read(request, who, tenant, [view])
    return web.json_response({"ticket": {**view.to_dict(), **extras.get(view.id, {})}})


class ClassifyBody(BaseModel):
    model_config = {"extra": "forbid"}
    category_id: int = Field(ge=1)
    impact: int = Field(ge=1, le=5)
    urgency: int = Field(ge=1, le=5)
    subject: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=20_000)


@documented(
    "Classify a ticket: category, impact, urgency (priority follows), text",
    body=ClassifyBody,
    response=TicketResponse,
    errors=(409,),
    tag="tickets",
)
async def classify(request: web.Request) -> web.Response:
    """The console's form; classified as the API's PATCH with a category is: ``TicketService.classify``."""
    who, tenant = await require_in_tenant(request, *CONSOLE_ROLES)
    body = ClassifyBody.model_validate(await read_json(request))
    view = await request.app[keys.TICKETS].classify(
        tenant,
        _id(request, "ticket_id"),
        category_id=body.category_id,
        impact=body.impact,
        urgency=body.urgency,
        subject=body.subject or None,  # left empty in the form: the subject stays
        description=body.description,
        actor=who.actor,
    )
    return web.json_response({"ticket": view.to_dict()})


@documented("The tenant's category tree", response=CategoriesResponse)
async def categories(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, "agent", "admin", "manager")
    return web.json_response({"categories": await category_tree(request.app[keys.DB], tenant)})


@documented("Open callbacks of the tenant", response=CallbacksResponse)
async def callback_list(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *CONSOLE_ROLES)
    entries = await request.app[keys.CALLBACKS].list_open(tenant)
    # the callers' numbers of abandoned calls: a read of call records (audit.reads)
    shown = reads.subjects((("call", e.linkedid) for e in entries), (("person", e.user_id) for e in entries))
    await reads.record_read(
        request.app[keys.AUDIT], AuditAction.CALLS_READ, actor=who.username, tenant=tenant, subjects=shown,
        ip=client_ip(request),
    )  # fmt: skip
    return web.json_response({"callbacks": [e.to_dict() for e in entries]})


@documented(
    "Call back: claim the entry and ring the agent's phone (one Originate)",
    response=CallbackResponse,
    errors=(409, 502, 503),
)
async def callback_dial(request: web.Request) -> web.Response:
    """One click, one call: the entry is claimed atomically before the single Originate goes out."""
    who, tenant = await require_in_tenant(request, *CONSOLE_ROLES)
    ami = request.app[keys.AMI]()
    if ami is None:  # (the account itself: ``get`` raises NotFound, never answers None)
        raise Forbidden(Msg("calling back needs an agent phone and a connection to Asterisk"))
    account = await request.app[keys.ACCOUNTS].get(who.account_id)
    view = await request.app[keys.CALLBACKS].dial(tenant, _id(request, "callback_id"), account, ami)
    return web.json_response({"callback": view.to_dict()})


@documented("Search the tenant's caller directory", query=DirectorySearchQuery, response=DirectoryUsersResponse)
async def directory_search(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *CONSOLE_ROLES)
    text = request.query.get("q", "").strip()[:100]
    if len(text) < 2:
        return web.json_response({"users": []})
    users = await request.app[keys.DIRECTORY_REPO].search(tenant, text, limit=20)
    # the people shown (names, numbers, addresses): a read of personal data (audit.reads) — who was shown, never
    # the search text (a name itself)
    await reads.record_read(
        request.app[keys.AUDIT], AuditAction.DIRECTORY_READ, actor=who.username, tenant=tenant,
        subjects=reads.subjects(("person", u.id) for u in users), ip=client_ip(request),
    )  # fmt: skip
    return web.json_response({"users": [u.to_dict() for u in users]})


def add_routes(app: web.Application) -> None:
    t = "/api/tenants/{tenant}"
    app.router.add_get("/console", console_page)
    app.router.add_get("/ws/console", console_socket)
    app.router.add_get(t + "/tickets/{ticket_id:\\d{1,18}}", ticket)
    app.router.add_post(t + "/tickets/{ticket_id:\\d{1,18}}/classify", classify)
    app.router.add_get(t + "/categories", categories)
    app.router.add_get(t + "/callbacks", callback_list)
    app.router.add_post(t + "/callbacks/{callback_id:\\d{1,18}}/dial", callback_dial)
    app.router.add_get(t + "/directory/search", directory_search)
