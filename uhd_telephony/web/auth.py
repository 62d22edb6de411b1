"""Who is asking: the session cookie (encrypted) with its CSRF token, or a bearer API token; role and tenant checks.

``require(request, *roles)`` is the one gate every handler passes: it finds the principal (a bearer token wins over
the cookie; a bad token is 401 even beside a good cookie), refuses tokens on routes they are not for and tokens
without the route's scope (``web.permissions``), then the role, then — for a cookie — the CSRF token and
Origin of a state-changing request. ``require_tenant`` turns another tenant into 404
(``require_in_tenant``: both, for a route's ``{tenant}``). The login itself (rate limits, lockout, the audit log) is
the security capability's (``security.login``); this module only reads who a request is.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp_session import get_session
from cryptography.fernet import Fernet
from pydantic import BaseModel, Field

from uhd_telephony.errors import Forbidden, NotAuthenticated, NotFound
from uhd_telephony.i18n import DEFAULT_LOCALE, Label, Msg
from uhd_telephony.settings import Settings
from uhd_telephony.tenant import is_tenant
from uhd_telephony.web import keys
from uhd_telephony.web.locale import PRINCIPAL
from uhd_telephony.web.middleware import csrf_ok, same_origin
from uhd_telephony.web.permissions import before_acknowledgement, token_scope
from uhd_telephony.web.roles import Role

if TYPE_CHECKING:
    from uhd_telephony.accounts.service import AccountView

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAcknowledged(Forbidden):
    """A session of an account that has not acknowledged the current confidentiality text (§ 203 StGB): nothing
    but the acknowledgement itself, who am I, the language and the logout (``BEFORE_ACKNOWLEDGEMENT``)."""

    error_id = "confidentiality-not-acknowledged"


class InvalidToken(NotAuthenticated):
    """A bearer token that is malformed, unknown, revoked or expired, or whose account is deactivated."""

    error_id = "invalid-token"
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@dataclass(slots=True, frozen=True)
class Principal:
    """Who a request is: a logged-in account, or an account acting through one of its API tokens."""

    account_id: int
    username: str
    display_name: str
    role: str
    tenants: frozenset[str]
    csrf: str
    partner_group: str | None = None
    token_id: int | None = None  # set when the request came with a bearer token
    scopes: frozenset[str] = field(default_factory=frozenset)
    locale: str = DEFAULT_LOCALE  # the language of the account's pages and answers (uhd_telephony.i18n)
    # the § 203 StGB text acknowledged (accounts.confidentiality); a token's program is not asked (it cannot read:
    # the admin who made the token has acknowledged, and the gate holds every admin route until then)
    acknowledged: bool = True

    @property
    def via_token(self) -> bool:
        return self.token_id is not None

    def serves(self, tenant: str) -> bool:
        """Whether this principal may see ``tenant``: an admin every tenant, anyone else its own."""
        return self.role == Role.ADMIN or tenant in self.tenants

    def sees_group(self, support_group: str | None) -> bool:
        """Whether a ticket of ``support_group`` is visible as far as partners go: to anyone but a partner, to a
        partner its own group's."""
        return self.role != Role.PARTNER or (self.partner_group is not None and support_group == self.partner_group)

    @property
    def actor(self) -> str:
        """How ticket history names this principal: ``agent:<id>`` for staff, ``partner:<id>`` for a partner."""
        return f"partner:{self.account_id}" if self.role == Role.PARTNER else f"agent:{self.account_id}"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.account_id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "tenants": sorted(self.tenants),
            "csrf_token": self.csrf,
            "partner_group": self.partner_group,
            "locale": self.locale,
            "confidentiality_acknowledged": self.acknowledged,
        }
        if self.token_id is not None:
            out["token"] = {"id": self.token_id, "scopes": sorted(self.scopes)}
        return out


class LoginBody(BaseModel):
    model_config = {"extra": "forbid"}
    # no control characters: PostgreSQL refuses a NUL in text, and a username goes into a query and the audit log
    username: str = Field(min_length=1, max_length=150, pattern=r"^[^\x00-\x1f\x7f]*$")
    password: str = Field(min_length=1, max_length=1024)


def session_key(settings: Settings) -> bytes:
    """The Fernet key of the session cookie: from settings, else a new one (everyone is logged out on restart)."""
    if settings.session_key is not None:
        raw = settings.session_key.get_secret_value().encode()
        Fernet(raw)  # fails early, with the setting's name, on a malformed key
        return base64.urlsafe_b64decode(raw)
    log.warning("UHD_SESSION_KEY is not set: sessions end when the service restarts")
    return base64.urlsafe_b64decode(Fernet.generate_key())


def client_ip(request: web.Request) -> str | None:
    """Who is asking, for the login rate limits and the audit log: the peer address, or — when the peer is one of
    ``UHD_TRUSTED_PROXIES`` — the address the proxies wrote into ``X-Forwarded-For``, read from the right: the
    first one that is not itself a trusted proxy (what a client wrote there itself stays to the left of it)."""
    peer = request.remote
    trusted = request.app[keys.SETTINGS].trusted_proxies if keys.SETTINGS in request.app else ()
    if not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # not an address: a proxy of ours did not write this; trust nothing of it
        if not any(address in net for net in trusted):
            return str(address)
    return peer


def _address(text: str | None) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text or "")
    except ValueError:
        return None


def _trusted(text: str | None, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in net for net in trusted)


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; "" for another or a malformed Authorization header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


SESSION_ID = "sid"  # the cookie's key of the login's session id (security.sessions keeps its row)


async def principal(request: web.Request) -> Principal | None:
    """The account logged in by the session cookie, or None; checks on every request that the login was not
    revoked (logout, deactivation, a new password or role) and the account is still active (pages use this)."""
    session = await get_session(request)
    account_id = session.get("account_id")
    if not isinstance(account_id, int):
        return None
    session_id = session.get(SESSION_ID)
    if not isinstance(session_id, str) or not await request.app[keys.SESSIONS].alive(session_id, account_id):
        session.invalidate()
        return None
    try:
        account = await request.app[keys.ACCOUNTS].get(account_id)
    except NotFound:
        account = None
    if account is None or not account.active or account.role == Role.PARTNER:
        session.invalidate()
        return None
    return session_principal(account, str(session.get("csrf", "")))


def session_principal(account: AccountView, csrf: str) -> Principal:
    """Who a session of ``account`` (an active one, not a partner's) acts as."""
    return Principal(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        tenants=frozenset(account.tenants),
        csrf=csrf,
        partner_group=account.partner_group,
        locale=account.locale,
        acknowledged=account.acknowledged,
    )


async def _token_principal(request: web.Request, presented: str) -> Principal:
    use = await request.app[keys.TOKENS].authenticate(presented) if presented else None
    if use is None:
        # the same answer for every kind of bad token: which part was wrong is not the caller's business
        raise InvalidToken(Msg("invalid, expired or revoked API token"))
    account = use.account
    return Principal(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        tenants=use.tenants,
        csrf="",
        partner_group=account.partner_group,
        token_id=use.token.id,
        scopes=frozenset(use.token.scopes),
        locale=account.locale,
    )


async def authenticate(request: web.Request) -> Principal | None:
    """The principal of this request (bearer token, else session cookie), found once per request."""
    if PRINCIPAL in request:
        found: Principal | None = request[PRINCIPAL]
        return found
    presented = bearer(request)
    who = await (_token_principal(request, presented) if presented is not None else principal(request))
    request[PRINCIPAL] = who
    return who


def _route_path(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


async def require(request: web.Request, *roles: str) -> Principal:
    """The principal with one of ``roles``; a token needs the route's scope, a cookie the CSRF token on writes."""
    who = await authenticate(request)
    if who is None:
        raise NotAuthenticated(Msg("log in first"))
    if who.via_token:
        scope = token_scope(request.method, _route_path(request))
        if scope is None:
            raise Forbidden(Msg("API tokens are not accepted here"))
        if scope and scope not in who.scopes:
            lacks = Msg("the API token lacks the scope %(scope)s", scope=Label("scope", scope))
            raise Forbidden(lacks, {"scope": scope})
    if not who.acknowledged and not before_acknowledgement(request.method, _route_path(request)):
        raise NotAcknowledged(Msg("acknowledge your confidentiality obligation (§ 203 StGB) first"))
    if roles and who.role not in roles:
        raise Forbidden(Msg("not allowed for your role"))
    # a browser sends the cookie by itself, never an Authorization header: only cookie requests need CSRF proof
    if not who.via_token and request.method not in SAFE_METHODS:
        if not same_origin(request) or not csrf_ok(request, who.csrf):
            raise Forbidden(Msg("missing or wrong CSRF token"))
    return who


def require_tenant(who: Principal, tenant: str) -> str:
    """A tenant the principal works for; any other is reported as not found, never as forbidden.

    An admin serves every tenant, so its path's tenant reaches the queries: it must at least be one that can be
    stored (a NUL from a URL is an error in PostgreSQL, not an empty answer).
    """
    if not is_tenant(tenant) or not who.serves(tenant):
        raise NotFound(Msg("no such tenant"))  # exactly what a tenant that does not exist looks like
    return tenant


async def require_in_tenant(request: web.Request, *roles: str) -> tuple[Principal, str]:
    """``require`` then ``require_tenant`` of the route's ``{tenant}``: the principal and the tenant."""
    who = await require(request, *roles)
    return who, require_tenant(who, request.match_info["tenant"])
