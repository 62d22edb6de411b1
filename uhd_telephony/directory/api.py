"""The admin API of a tenant's LDAP sync: its source's state and last sync, and a sync on demand.

``GET /api/tenants/{tenant}/directory/ldap-sync`` says whether the tenant has a source in ``UHD_LDAP_CONFIG``, how
often the service syncs it and how the last sync went; ``POST`` runs one now (``dry_run``: count, write nothing;
``force``: past the size guard) and answers what it did. Admins only, like the rest of the configuration.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.audit.log import AuditAction
from uhd_telephony.directory.ldap_config import LdapSource, load_sources
from uhd_telephony.directory.ldap_sync import SyncRequest, last_sync, sync_ldap
from uhd_telephony.errors import ConfigError, Conflict
from uhd_telephony.i18n import Msg
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require_in_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented
from uhd_telephony.web.roles import Role

ADMIN = (Role.ADMIN.value,)
PATH = "/api/tenants/{tenant}/directory/ldap-sync"


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(default=False, description="search and count, write nothing (not even the last sync)")
    force: bool = Field(default=False, description="sync even when the search finds fewer users than the size guard")


class CountsOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    deactivated: int = Field(description="gone from LDAP, disabled there, or no longer usable (no number)")


class IssueOut(BaseModel):
    dn: str
    reason: str = Field(description="skipped: no_key, invalid_key, duplicate_key, no_name, no_number, bad_number, "
                        "invalid; dropped: number, email, department, location")  # fmt: skip
    detail: str


class SyncOut(BaseModel):
    tenant: str
    entries: int = Field(description="entries the search found")
    users: CountsOut
    disabled: int = Field(description="disabled accounts (not users of the directory)")
    skipped: dict[str, int] = Field(description="entries left out, by reason")
    dropped: dict[str, int] = Field(description="values left out of users kept, by field")
    issues: list[IssueOut] = Field(description="the first 50 entries skipped or values dropped")
    started_at: str
    finished_at: str
    dry_run: bool
    forced: bool


class SyncResponse(BaseModel):
    sync: SyncOut


class LastSyncOut(BaseModel):
    trigger: str = Field(description="schedule, command or api")
    actor: str | None
    started_at: str
    finished_at: str
    ok: bool
    error: str | None
    result: SyncOut | None
    last_ok_at: str | None


class StatusResponse(BaseModel):
    tenant: str
    configured: bool = Field(description="UHD_LDAP_CONFIG has a source for this tenant")
    problem: str | None = Field(description="why the configuration cannot be read")
    interval_s: float | None = Field(description="seconds between the service's syncs; 0: only on demand")
    last: LastSyncOut | None


def _sources(request: web.Request) -> dict[str, LdapSource]:
    path = request.app[keys.SETTINGS].ldap_config
    return {} if path is None else load_sources(path)


@documented("The tenant's LDAP source and its last sync (admin)", response=StatusResponse, tag="admin")
async def ldap_status(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *ADMIN)
    settings = request.app[keys.SETTINGS]
    body: dict[str, Any] = {"tenant": tenant, "configured": False, "problem": None, "interval_s": None}
    try:
        source = _sources(request).get(tenant)
    except ConfigError as exc:
        source, body["problem"] = None, exc.message
    if source is not None:
        body.update(configured=True, interval_s=source.interval(settings.ldap_sync_interval_s))
    body["last"] = await last_sync(request.app[keys.DB], tenant)
    return web.json_response(body)


@documented("Sync the tenant's users from its LDAP source now (admin)", body=SyncBody, response=SyncResponse,
            errors=(409, 502), tag="admin",
            description="409: no source for the tenant, or the size guard stopped it (details.found, details.active);"
                        " 502: the server unreachable, the bind refused, no such base DN, a broken filter."
                        " Nothing of the directory is written then.")  # fmt: skip
async def ldap_sync(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ADMIN)
    body = SyncBody.model_validate(await read_json(request))
    source = _sources(request).get(tenant)
    if source is None:
        raise Conflict(Msg("no LDAP source is configured for this tenant"), {"tenant": tenant})
    db = request.app[keys.DB]
    sync = SyncRequest(trigger="api", actor=who.username, dry_run=body.dry_run, force=body.force)
    result = await sync_ldap(db, tenant, source, sync)
    if not body.dry_run:
        await request.app[keys.DIRECTORY].reload_tenant(db, tenant)
        await request.app[keys.AUDIT].write(
            AuditAction.DIRECTORY_SYNCED,
            actor=who.username,
            target=f"tenant:{tenant}",
            ip=client_ip(request),
            details={"users": result.users.to_dict(), "forced": body.force},
        )
    return web.json_response({"sync": result.to_dict()})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, ldap_status)
    app.router.add_post(PATH, ldap_sync)
