"""The API of requests by mail: a ticket's attachments (list, download) and the tenants' helpdesk addresses (admin).

Attachments are read like their ticket (``TICKET_READ_ROLES``; a partner only those of tickets routed to its group;
another tenant's are 404, as missing ones); a download is always ``application/octet-stream`` with
``Content-Disposition: attachment`` and ``nosniff``: the browser saves it and never renders what a mail brought.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from uhd_telephony.accounts.models import Role
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.errors import NotFound
from uhd_telephony.i18n import Msg
from uhd_telephony.mailin.addresses import MailAddresses
from uhd_telephony.mailin.models import ADDRESS_LENGTH, attachments
from uhd_telephony.tenant import TenantName
from uhd_telephony.tickets.api import TICKET_READ_ROLES
from uhd_telephony.tickets.history import iso
from uhd_telephony.web import keys
from uhd_telephony.web.auth import Principal, client_ip, require, require_in_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented

ADMIN = (Role.ADMIN.value,)
MAIL_ADDRESSES: web.AppKey[MailAddresses] = web.AppKey("mail_addresses", MailAddresses)
DOWNLOAD = "application/octet-stream"


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str = Field(description="as the mail declared it (the download itself is always octet-stream)")
    size: int
    created_at: str
    url: str = Field(description="where to download it")


class AttachmentsResponse(BaseModel):
    attachments: list[AttachmentOut]


class AddressBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Annotated[str, Field(min_length=3, max_length=ADDRESS_LENGTH, description="e.g. helpdesk@klinikum.de")]
    tenant: TenantName


class AddressOut(BaseModel):
    id: int
    address: str
    tenant: str
    created_at: str | None


class AddressResponse(BaseModel):
    address: AddressOut


class AddressesResponse(BaseModel):
    addresses: list[AddressOut]


class RemovedResponse(BaseModel):
    ok: bool
    address: AddressOut


async def _ticket(request: web.Request, who: Principal, tenant: str) -> int:
    """The path's ticket id, when the principal may read that ticket (a partner: routed to its group)."""
    ticket_id = int(request.match_info["ticket_id"])
    view = await request.app[keys.TICKETS].get(tenant, ticket_id)  # another tenant's: NotFound
    if not who.sees_group(view.support_group):
        raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
    return ticket_id


def _disposition(filename: str) -> str:
    """``attachment`` with the name twice: ASCII for old clients, RFC 5987 UTF-8 for the rest."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(filename, safe='')}"


@documented("The attachments of a ticket's mails", response=AttachmentsResponse)
async def list_attachments(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *TICKET_READ_ROLES)
    ticket_id = await _ticket(request, who, tenant)
    stmt = (
        select(
            attachments.c.id,
            attachments.c.filename,
            attachments.c.content_type,
            attachments.c.size,
            attachments.c.created_at,
        )
        .where(attachments.c.tenant == tenant, attachments.c.ticket_id == ticket_id)
        .order_by(attachments.c.id)
    )
    async with request.app[keys.DB].engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    base = f"/api/tenants/{tenant}/tickets/{ticket_id}/attachments"
    found: list[dict[str, Any]] = [
        {
            "id": r.id,
            "filename": r.filename,
            "content_type": r.content_type,
            "size": r.size,
            "created_at": iso(r.created_at),
            "url": f"{base}/{r.id}",
        }
        for r in rows
    ]
    return web.json_response({"attachments": found})


@documented(
    "Download an attachment of a ticket's mail",
    response={"type": "string", "format": "binary"},
    media=(DOWNLOAD,),
    description="The bytes as the mail brought them, always application/octet-stream with Content-Disposition: "
    "attachment and X-Content-Type-Options: nosniff (the declared type is in the list).",
)
async def download_attachment(request: web.Request) -> web.StreamResponse:
    who, tenant = await require_in_tenant(request, *TICKET_READ_ROLES)
    ticket_id = await _ticket(request, who, tenant)
    attachment_id = int(request.match_info["attachment_id"])
    stmt = select(attachments.c.filename, attachments.c.data).where(
        attachments.c.tenant == tenant, attachments.c.ticket_id == ticket_id, attachments.c.id == attachment_id
    )
    async with request.app[keys.DB].engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None:
        raise NotFound(Msg("no attachment %(id)s", id=attachment_id), {"attachment_id": attachment_id})
    headers = {"Content-Disposition": _disposition(row.filename), "X-Content-Type-Options": "nosniff"}
    return web.Response(body=bytes(row.data), content_type=DOWNLOAD, headers=headers)


@documented("The tenants' helpdesk addresses (admin)", response=AddressesResponse, tag="admin")
async def list_addresses(request: web.Request) -> web.Response:
    await require(request, *ADMIN)
    found = await request.app[MAIL_ADDRESSES].list()
    return web.json_response({"addresses": [a.to_dict() for a in found]})


@documented("Give a tenant a helpdesk address: mail to it becomes its tickets (admin)", body=AddressBody,
            response=AddressResponse, status=201, errors=(409,), tag="admin")  # fmt: skip
async def add_address(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    body = AddressBody.model_validate(await read_json(request))
    view = await request.app[MAIL_ADDRESSES].add(body.address, body.tenant)
    await request.app[keys.AUDIT].write(
        AuditAction.MAIL_ADDRESS_ADDED, actor=who.username, target=f"tenant:{view.tenant}", ip=client_ip(request),
        details={"address": view.address},
    )  # fmt: skip
    return web.json_response({"address": view.to_dict()}, status=201)


@documented("Remove a helpdesk address: mail to it is refused from now on (admin)", response=RemovedResponse,
            tag="admin")  # fmt: skip
async def remove_address(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    view = await request.app[MAIL_ADDRESSES].remove(int(request.match_info["address_id"]))
    await request.app[keys.AUDIT].write(
        AuditAction.MAIL_ADDRESS_REMOVED, actor=who.username, target=f"tenant:{view.tenant}", ip=client_ip(request),
        details={"address": view.address},
    )  # fmt: skip
    return web.json_response({"ok": True, "address": view.to_dict()})


def add_routes(app: web.Application) -> None:
    one = "/api/tenants/{tenant}/tickets/{ticket_id:\\d{1,18}}/attachments"
    app.router.add_get(one, list_attachments)
    app.router.add_get(one + "/{attachment_id:\\d{1,18}}", download_attachment)
    app.router.add_get("/api/admin/mail-addresses", list_addresses)
    app.router.add_post("/api/admin/mail-addresses", add_address)
    app.router.add_delete("/api/admin/mail-addresses/{address_id:\\d{1,18}}", remove_address)
