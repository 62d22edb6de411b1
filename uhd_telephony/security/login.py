"""Logging in and out: the session a login starts (a new id and CSRF token; its server-side record in
``security.sessions``, revoked by the logout), the lockout after failed logins
(``security.ratelimit``), and every login, refusal and logout in the audit log. ``GET /api/me`` says who is in."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from typing import Any, Literal

from aiohttp import web
from aiohttp_session import get_session, new_session
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from uhd_telephony.accounts.service import AccountView
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.errors import Forbidden, NotAuthenticated, TooManyAttempts
from uhd_telephony.i18n import Msg
from uhd_telephony.web import keys
from uhd_telephony.web.auth import (
    PRINCIPAL,
    SESSION_ID,
    LoginBody,
    Principal,
    client_ip,
    require,
    session_principal,
)
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.middleware import same_origin
from uhd_telephony.web.openapi import AccountResponse, OkResponse, documented
from uhd_telephony.web.roles import Role

log = logging.getLogger(__name__)


@documented(
    "Log in; answers the account with its CSRF token",
    body=LoginBody,
    response=AccountResponse,
    public=True,
    errors=(401, 403, 429),
    tag="session",
)
async def login(request: web.Request) -> web.Response:
    if not same_origin(request):
        raise Forbidden(Msg("cross-origin login refused"))
    body = LoginBody.model_validate(await read_json(request))
    ip = client_ip(request)
    guard = request.app[keys.LOGIN_GUARD]
    audit = request.app[keys.AUDIT]
    name = body.username.strip().lower()[:64]
    locked = await guard.locked(body.username, ip)
    if locked is not None:
        log.info("login for %r from %s refused: %s locked out", name, ip, locked.kind)
        raise TooManyAttempts(
            Msg("too many failed logins: try again in %(seconds)s s", seconds=locked.retry_after),
            locked.retry_after,
            {"locked": locked.kind},
        )
    sessions = request.app[keys.SESSIONS]
    session_ids: list[str] = []

    async def record(conn: AsyncSession, account: AccountView) -> None:
        # the login's session and audit entry in the transaction that stamps the account's last login: one write
        if account.role != Role.PARTNER:
            session_ids.append(sessions.add(conn, account.id))
            target = f"account:{account.id}"
            audit.add(conn, AuditAction.LOGIN_OK, actor=account.username, target=target, ip=ip)

    account = await request.app[keys.ACCOUNTS].authenticate(body.username, body.password, then=record)
    if account is None:
        log.info("login failed for %r from %s", name, ip)
        await audit.write(AuditAction.LOGIN_FAILED, actor=name, ip=ip)
        started = await guard.failed(body.username, ip)
        if started is not None:
            lock = {"locked": started.kind, "for_s": started.retry_after}
            await audit.write(AuditAction.LOGIN_LOCKED, actor=name, ip=ip, details=lock)
            log.warning("login locked out (%s) for %r from %s for %d s", started.kind, name, ip, started.retry_after)
            raise TooManyAttempts(
                Msg(
                    "wrong username or password; too many failed logins: try again in %(seconds)s s",
                    seconds=started.retry_after,
                ),
                started.retry_after,
                {"locked": started.kind},
            )
        raise NotAuthenticated(Msg("wrong username or password"))
    if account.role == Role.PARTNER:
        refused = {"reason": "partner accounts use API tokens"}
        await audit.write(AuditAction.LOGIN_FAILED, actor=name, ip=ip, details=refused)
        raise Forbidden(Msg("partner accounts use API tokens, not a login"))
    await guard.succeeded(body.username)
    session = await new_session(request)  # a fresh session id: no fixation
    session["account_id"] = account.id
    # the server-side record (security.sessions): a logout or an account change ends it, whoever kept the cookie
    session[SESSION_ID] = session_ids[0]
    session["csrf"] = secrets.token_urlsafe(32)
    log.info("login of %s (%s) from %s", account.username, account.role, ip)
    who = session_principal(account, session["csrf"])
    request[PRINCIPAL] = who
    return web.json_response({"account": who.to_dict()})


@documented("Log out", response=OkResponse, tag="session")
async def logout(request: web.Request) -> web.Response:
    who = await require(request)
    session = await get_session(request)
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        await request.app[keys.SESSIONS].revoke(session_id)  # a copy of the cookie is worth nothing after this
    session.invalidate()
    await request.app[keys.AUDIT].write(
        AuditAction.LOGOUT, actor=who.username, target=f"account:{who.account_id}", ip=client_ip(request)
    )
    return web.json_response({"ok": True})


@documented("The logged-in account with its CSRF token", response=AccountResponse, tag="session")
async def me(request: web.Request) -> web.Response:
    who = await require(request)
    # what the pages may use beyond the routes every server has (the demo's softphone), so none probes for it
    features: frozenset[str] = request.app.get(keys.FEATURES, frozenset())
    return web.json_response({"account": await account_json(request, who), "features": sorted(features)})


async def account_json(request: web.Request, who: Principal) -> dict[str, Any]:
    """The account as /api/me shows it: with its tenants' display names (pages name a tenant, never its slug)."""
    out = who.to_dict()
    tenants = request.app.get(keys.TENANTS)
    known = await tenants.list_all() if tenants is not None else []
    out["tenant_names"] = {t.tenant: t.name for t in known if who.serves(t.tenant)}
    return out


class LocaleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locale: Literal["de", "en"] = Field(description="de: German (the default), en: English")


@documented("Choose the language of your pages, mails to you and answers", body=LocaleBody,
            response=AccountResponse, tag="session")  # fmt: skip
async def set_locale(request: web.Request) -> web.Response:
    who = await require(request)  # a session: API tokens are refused (not in web.permissions.TOKEN_ROUTES)
    body = LocaleBody.model_validate(await read_json(request))
    await request.app[keys.ACCOUNTS].set_locale(who.account_id, body.locale)
    changed = replace(who, locale=body.locale)
    request[PRINCIPAL] = changed  # this answer (and its error texts) in the new language already
    features: frozenset[str] = request.app.get(keys.FEATURES, frozenset())
    return web.json_response({"account": await account_json(request, changed), "features": sorted(features)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_put("/api/me/locale", set_locale)
