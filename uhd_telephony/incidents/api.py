"""The major incidents' API (``/api/tenants/{tenant}/incidents…``).

Who: agents, managers (the helpdesk's leads and the customer's IT management) and admins read, declare, edit, link,
unlink and resolve a tenant's incidents; the pile-up threshold is set by its managers and admins. Partners and
API tokens never see incidents (403); another tenant's incident or ticket does not exist (404, the same as one
that does not exist). Bodies and answers are the models of ``incidents.schemas``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from uhd_telephony.audit import reads
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.incidents import export, pileup
from uhd_telephony.incidents.schemas import (
    DeclareBody,
    EditBody,
    ExportQuery,
    ExportResponse,
    IncidentDetailResponse,
    IncidentListResponse,
    IncidentResponse,
    LinkResponse,
    ListQuery,
    OneExportQuery,
    ResolveBody,
    ResolveResponse,
    SettingsBody,
    SettingsResponse,
    SuggestionsResponse,
)
from uhd_telephony.incidents.service import UNSET, IncidentService
from uhd_telephony.incidents.view import IncidentView
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require_in_tenant
from uhd_telephony.web.inputs import period, read_json
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented, single_query

ROLES = ("agent", "manager", "admin")  # read, declare, edit, link, resolve
SETTINGS_ROLES = ("manager", "admin")  # the pile-up threshold: the tenant's leads
MAX_EXPORT_PERIOD = timedelta(days=400)
TAG = "incidents"
M = TypeVar("M", bound=BaseModel)


def _service(request: web.Request) -> IncidentService:
    return request.app[keys.INCIDENTS]


def _id(request: web.Request, name: str = "incident_id") -> int:
    return int(request.match_info[name])  # the route pattern admits digits only


async def _body(request: web.Request, model: type[M]) -> M:
    return model.model_validate(await read_json(request))


def _one(view: IncidentView, status: int = 200, **more: Any) -> web.Response:
    return web.json_response({"incident": view.to_dict(), **more}, status=status)


@documented("The tenant's major incidents, newest first", query=ListQuery, response=IncidentListResponse, tag=TAG)
async def list_incidents(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *ROLES)
    query = single_query(request, ListQuery)
    status = None if query.status == "all" else query.status
    views, total = await _service(request).listing(tenant, status=status, limit=query.limit, offset=query.offset)
    return web.json_response(
        {"incidents": [v.to_dict() for v in views], "total": total, "limit": query.limit, "offset": query.offset}
    )


@documented(
    "Declare a major incident (a parent ticket is created unless one is named; tickets of a suggestion linked)",
    body=DeclareBody,
    response=IncidentResponse,
    status=201,
    errors=(409,),
    tag=TAG,
)
async def declare(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ROLES)
    body = await _body(request, DeclareBody)
    view = await _service(request).declare(
        tenant, title=body.title, caller_message=body.caller_message, actor=who.actor, actor_name=who.display_name,
        category=body.category, known_at=body.known_at, parent_ticket_id=body.parent_ticket_id,
        ticket_ids=body.ticket_ids,
    )  # fmt: skip
    return _one(view, 201)


@documented("One major incident with its linked tickets and subscribers", response=IncidentDetailResponse, tag=TAG)
async def get_incident(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ROLES)
    view, linked, subscribed = await _service(request).details(tenant, _id(request))
    # the linked tickets' requesters and the subscribers' numbers and names: one audited read (audit.reads)
    shown = reads.subjects((("ticket", t["id"]) for t in linked), (("subscription", s["id"]) for s in subscribed))
    await reads.record_read(
        request.app[keys.AUDIT], AuditAction.INCIDENT_READ, actor=who.username, tenant=tenant, subjects=shown,
        ip=client_ip(request), target=f"incident:{view.id}",
    )  # fmt: skip
    return web.json_response({"incident": view.to_dict(), "tickets": linked, "subscribers": subscribed})


@documented(
    "Edit a major incident: title, callers' message (spoken anew), category, when it became known, when the users "
    "were informed",
    body=EditBody,
    response=IncidentResponse,
    tag=TAG,
)
async def edit(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ROLES)
    body = await _body(request, EditBody)
    view = await _service(request).edit(
        tenant, _id(request), actor=who.actor, title=body.title, caller_message=body.caller_message,
        category=body.category if "category" in body.model_fields_set else UNSET, known_at=body.known_at,
        communicated_at=body.communicated_at,
    )  # fmt: skip
    return _one(view)


@documented(
    "Link a ticket of the tenant to the open incident (idempotent); its caller is told when it is resolved",
    response=LinkResponse,
    errors=(409,),
    tag=TAG,
)
async def link(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ROLES)
    view, linked = await _service(request).link(tenant, _id(request), _id(request, "ticket_id"), actor=who.actor)
    return _one(view, linked=linked)


@documented("Take a ticket off the open incident", response=IncidentResponse, errors=(409,), tag=TAG)
async def unlink(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ROLES)
    view = await _service(request).unlink(tenant, _id(request), _id(request, "ticket_id"), actor=who.actor)
    return _one(view)


@documented(
    "Resolve the incident: its parent and every linked ticket resolved with the public text, every caller and "
    "subscriber told (mail, else the callback list); idempotent",
    body=ResolveBody,
    response=ResolveResponse,
    tag=TAG,
)
async def resolve(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ROLES)
    body = await _body(request, ResolveBody)
    view, told = await _service(request).resolve(tenant, _id(request), resolution=body.resolution, actor=who.actor)
    return _one(view, told=told)


def _export(request: web.Request, views: list[IncidentView], fmt: str, name: str, body: Any) -> web.Response:
    """The export as JSON, or as a CSV attachment in the reader's language (``export.to_csv``: through ``csv_safe``)."""
    if fmt == "json":
        return web.json_response(body)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", f"{name}.csv")
    return web.Response(
        text=export.to_csv(views, request_locale(request)),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@documented(
    "NIS2 export of the incidents going on in a period: CSV (the reader's language, German times) or JSON",
    query=ExportQuery,
    response=ExportResponse,
    media=("text/csv",),
    tag=TAG,
    description="from/to: ISO days in Europe/Berlin (to included) or instants (to excluded). Each incident with "
    "when it became known, was declared, communicated and resolved, and its deadlines: early warning 24 h after "
    "known, incident notification 72 h, final report one month after the notification.",
)
async def export_period(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *ROLES)
    query = single_query(request, ExportQuery)
    start, end = period(query.from_, query.to, MAX_EXPORT_PERIOD)
    views = await _service(request).in_period(tenant, start, end)
    body = export.to_json(views, tenant=tenant, start=start, end=end)
    name = f"incidents-{tenant}-{start.date().isoformat()}-{end.date().isoformat()}"
    return _export(request, views, query.format, name, body)


@documented(
    "NIS2 export of one incident: CSV or JSON",
    query=OneExportQuery,
    response=ExportResponse,
    media=("text/csv",),
    tag=TAG,
)
async def export_one(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *ROLES)
    query = single_query(request, OneExportQuery)
    view = await _service(request).get(tenant, _id(request))
    body = export.to_json([view], tenant=tenant, start=None, end=None)
    return _export(request, [view], query.format, f"incident-{tenant}-{view.id}", body)


@documented(
    "Pile-ups of tickets of one category that no open incident covers: offered to declare one",
    response=SuggestionsResponse,
    tag=TAG,
)
async def suggestions(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *ROLES)
    service = _service(request)
    async with service.db.engine.connect() as conn:
        threshold, found = await pileup.suggestions(conn, tenant, service.now())
    return web.json_response({"suggestions": [s.to_dict() for s in found], "threshold": threshold.to_dict()})


@documented("The tenant's pile-up threshold", response=SettingsResponse, tag=TAG)
async def get_settings(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *ROLES)
    async with _service(request).db.engine.connect() as conn:
        threshold = await pileup.threshold_of(conn, tenant)
    return web.json_response({"settings": threshold.to_dict()})


@documented(
    "Set the tenant's pile-up threshold (its managers and admins)",
    body=SettingsBody,
    response=SettingsResponse,
    tag=TAG,
)
async def put_settings(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *SETTINGS_ROLES)
    body = await _body(request, SettingsBody)
    service = _service(request)
    threshold = await pileup.set_threshold(
        service.db, tenant, count=body.pileup_count, minutes=body.pileup_minutes, account=who.account_id,
        at=service.now(),
    )  # fmt: skip
    return web.json_response({"settings": threshold.to_dict()})


def add_routes(app: web.Application) -> None:
    base = "/api/tenants/{tenant}/incidents"
    one = base + "/{incident_id:\\d{1,18}}"
    app.router.add_get(base, list_incidents)
    app.router.add_post(base, declare)
    app.router.add_get(base + "/export", export_period)
    app.router.add_get(base + "/suggestions", suggestions)
    app.router.add_get(base + "/settings", get_settings)
    app.router.add_put(base + "/settings", put_settings)
    app.router.add_get(one, get_incident)
    app.router.add_patch(one, edit)
    app.router.add_get(one + "/export", export_one)
    app.router.add_post(one + "/resolve", resolve)
    app.router.add_post(one + "/tickets/{ticket_id:\\d{1,18}}", link)
    app.router.add_delete(one + "/tickets/{ticket_id:\\d{1,18}}", unlink)
