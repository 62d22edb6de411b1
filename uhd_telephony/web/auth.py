"""Log in and out; who is asking: the session cookie (encrypted), its CSRF token, role and tenant checks."""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_session import get_session, new_session
from cryptography.fernet import Fernet
from pydantic import BaseModel, Field

from uhd_telephony.errors import Forbidden, NotAuthenticated, NotFound
from uhd_telephony.settings import Settings
from uhd_telephony.web import keys
from uhd_telephony.web.middleware import csrf_ok, same_origin

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Principal:
    """The logged-in account as the web layer needs it."""

    account_id: int
    username: str
    display_name: str
    role: str
    tenants: frozenset[str]
    csrf: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "tenants": sorted(self.tenants),
            "csrf_token": self.csrf,
        }


class LoginBody(BaseModel):
    model_config = {"extra": "forbid"}
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


def session_key(settings: Settings) -> bytes:
    """The Fernet key of the session cookie: from settings, else a new one (everyone is logged out on restart)."""
    if settings.session_key is not None:
        raw = settings.session_key.get_secret_value().encode()
        Fernet(raw)  # fails early, with the setting's name, on a malformed key
        return base64.urlsafe_b64decode(raw)
    log.warning("UHD_SESSION_KEY is not set: sessions end when the service restarts")
    return base64.urlsafe_b64decode(Fernet.generate_key())


async def principal(request: web.Request) -> Principal | None:
    """The logged-in account, or None; checks the account is still active."""
    session = await get_session(request)
    account_id = session.get("account_id")
    if not isinstance(account_id, int):
        return None
    account = await request.app[keys.ACCOUNTS].get(account_id)
    if account is None or not account.active:
        session.invalidate()
        return None
    return Principal(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        tenants=frozenset(account.tenants),
        csrf=str(session.get("csrf", "")),
    )


async def require(request: web.Request, *roles: str) -> Principal:
    """The logged-in account with one of ``roles``; state-changing requests must carry the CSRF token."""
    who = await principal(request)
    if who is None:
        raise NotAuthenticated("log in first")
    if roles and who.role not in roles:
        raise Forbidden("not allowed for your role")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if not same_origin(request) or not csrf_ok(request, who.csrf):
            raise Forbidden("missing or wrong CSRF token")
    return who


def require_tenant(who: Principal, tenant: str) -> str:
    """A tenant the account works for; any other is reported as not found, never as forbidden."""
    if tenant not in who.tenants:
        raise NotFound("no such tenant")  # exactly what a tenant that does not exist looks like
    return tenant


async def login(request: web.Request) -> web.Response:
    if not same_origin(request):
        raise Forbidden("cross-origin login refused")
    body = LoginBody.model_validate(await request.json())
    account = await request.app[keys.ACCOUNTS].authenticate(body.username, body.password)
    if account is None:
        log.info("login failed for %r from %s", body.username[:64], request.remote)
        raise NotAuthenticated("wrong username or password")
    session = await new_session(request)  # a fresh session id: no fixation
    session["account_id"] = account.id
    session["csrf"] = secrets.token_urlsafe(32)
    log.info("login of %s (%s) from %s", account.username, account.role, request.remote)
    who = await principal(request)
    assert who is not None
    return web.json_response({"account": who.to_dict()})


async def logout(request: web.Request) -> web.Response:
    await require(request)
    session = await get_session(request)
    session.invalidate()
    return web.json_response({"ok": True})


async def me(request: web.Request) -> web.Response:
    who = await require(request)
    return web.json_response({"account": who.to_dict()})
