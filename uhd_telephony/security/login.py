"""Logging in and out: the session a login starts (a new id and CSRF token; its server-side record in
``security.sessions``, revoked by the logout), the lockout after failed logins
(``security.ratelimit``), and every login, refusal and logout in the audit log. ``GET /api/me`` says who is in."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp_session import get_session, new_session

from uhd_telephony.audit.log import AuditAction
from uhd_telephony.errors import Forbidden, NotAuthenticated, TooManyAttempts
from uhd_telephony.web import keys
from uhd_telephony.web.auth import PRINCIPAL, SESSION_ID, LoginBody, client_ip, principal, require
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
        raise Forbidden("cross-origin login refused")
    body = LoginBody.model_validate(await read_json(request))
    ip = client_ip(request)
    guard = request.app[keys.LOGIN_GUARD]
    audit = request.app[keys.AUDIT]
    name = body.username.strip().lower()[:64]
    locked = await guard.locked(body.username, ip)
    if locked is not None:
        log.info("login for %r from %s refused: %s locked out", name, ip, locked.kind)
        raise TooManyAttempts(
            f"too many failed logins: try again in {locked.retry_after} s", locked.retry_after, {"locked": locked.kind}
        )
    account = await request.app[keys.ACCOUNTS].authenticate(body.username, body.password)
    if account is None:
        log.info("login failed for %r from %s", name, ip)
        await audit.write(AuditAction.LOGIN_FAILED, actor=name, ip=ip)
        started = await guard.failed(body.username, ip)
        if started is not None:
            lock = {"locked": started.kind, "for_s": started.retry_after}
            await audit.write(AuditAction.LOGIN_LOCKED, actor=name, ip=ip, details=lock)
            log.warning("login locked out (%s) for %r from %s for %d s", started.kind, name, ip, started.retry_after)
            raise TooManyAttempts(
                f"wrong username or password; too many failed logins: try again in {started.retry_after} s",
                started.retry_after,
                {"locked": started.kind},
            )
        raise NotAuthenticated("wrong username or password")
    if account.role == Role.PARTNER:
        refused = {"reason": "partner accounts use API tokens"}
        await audit.write(AuditAction.LOGIN_FAILED, actor=name, ip=ip, details=refused)
        raise Forbidden("partner accounts use API tokens, not a login")
    await guard.succeeded(body.username)
    session = await new_session(request)  # a fresh session id: no fixation
    session["account_id"] = account.id
    # the server-side record (security.sessions): a logout or an account change ends it, whoever kept the cookie
    session[SESSION_ID] = await request.app[keys.SESSIONS].start(account.id)
    session["csrf"] = secrets.token_urlsafe(32)
    await audit.write(AuditAction.LOGIN_OK, actor=account.username, target=f"account:{account.id}", ip=ip)
    log.info("login of %s (%s) from %s", account.username, account.role, ip)
    who = await principal(request)
    assert who is not None
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
    return web.json_response({"account": who.to_dict(), "features": sorted(features)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
