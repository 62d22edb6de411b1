"""API tokens for machines (partner firms, service accounts): ``Authorization: Bearer uhd_<id>_<secret>``.

The token is ``uhd_`` + its row id + ``_`` + 32 random bytes (url-safe base64, 43 characters). It is shown once,
when it is made; the table keeps only the sha256 of the whole string. A request's token is looked up by the id
it names and compared with ``hmac.compare_digest``: no scan, no timing hint about how much of it matched.
Every request reads the row, so a revocation (or a deactivated account) takes effect with the next request.
A token acts as its account, narrowed to its scopes and to its tenants (within the account's).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from uhd_telephony.accounts.models import Account, Role
from uhd_telephony.accounts.service import AccountView
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import Label, Labels, Msg, Quoted
from uhd_telephony.security.models import ApiToken
from uhd_telephony.store.db import Database
from uhd_telephony.web.permissions import PARTNER_SCOPES, SCOPES

log = logging.getLogger(__name__)

PREFIX = "uhd_"
SECRET_BYTES = 32
TOKEN_RE = re.compile(r"uhd_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})")
# last_used_at is written at most this often per token: a busy partner must not mean one UPDATE per request
TOUCH_EVERY = timedelta(seconds=60)
MAX_DAYS = 3650
_DUMMY_HASH = hashlib.sha256(b"not a token").hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token without its secret."""

    id: int
    account_id: int
    name: str
    scopes: tuple[str, ...]
    tenants: tuple[str, ...]
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "tenants": list(self.tenants),
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "last_used_at": _iso(self.last_used_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
        }

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls(
            id=row.id,
            account_id=row.account_id,
            name=row.name,
            scopes=tuple(sorted(row.scopes or ())),
            tenants=tuple(sorted(row.tenants or ())),
            created_at=row.created_at,
            created_by=row.created_by,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``secret`` is the whole bearer string, shown this once."""

    view: TokenView
    secret: str


@dataclass(frozen=True, slots=True)
class TokenUse:
    """A valid token and its account: who a bearer request is."""

    token: TokenView
    account: AccountView

    @property
    def tenants(self) -> frozenset[str]:
        """The tenants the request may act for: the token's, within the account's."""
        mine = frozenset(self.account.tenants)
        return mine & frozenset(self.token.tenants) if self.token.tenants else mine


def _allowed_scopes(role: str) -> frozenset[str]:
    """The scopes a token of an account with ``role`` may have."""
    return PARTNER_SCOPES if role == Role.PARTNER else SCOPES


def check_scopes(scopes: Iterable[str], role: str) -> list[str]:
    clean = sorted({str(s).strip() for s in scopes})
    if not clean:
        raise InvalidInput(Msg("a token needs at least one scope"), {"field": "scopes", "known": sorted(SCOPES)})
    allowed = _allowed_scopes(role)
    for scope in clean:
        if scope not in allowed:
            not_allowed = Msg(
                "scope %(scope)s is not one a %(role)s token can have: %(allowed)s",
                scope=Quoted(scope, 40),
                role=Label("role", role),
                allowed=Labels("scope", sorted(allowed)),
            )
            raise InvalidInput(not_allowed, {"field": "scopes"})
    return clean


class TokenService:
    """The ``api_tokens`` table."""

    def __init__(self, db: Database, clock: Any = None) -> None:
        self.db = db
        self._now = clock or (lambda: datetime.now(UTC))

    async def create(
        self,
        account_id: int,
        *,
        name: str,
        scopes: Iterable[str],
        tenants: Iterable[str] = (),
        expires_in_days: int | None = None,
        created_by: str | None = None,
    ) -> IssuedToken:
        """A new token for a partner or service account; admins get none (their power stays behind a login)."""
        label = name.strip() if isinstance(name, str) else ""
        if not label or len(label) > 100:
            raise InvalidInput(Msg("a token's name is 1-100 characters"), {"field": "name"})
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
            raise InvalidInput(Msg("expires_in_days is 1-%(max)s", max=MAX_DAYS), {"field": "expires_in_days"})
        async with self.db.sessionmaker() as session:
            account = await session.get(Account, account_id)
            if account is None:
                raise NotFound(Msg("no account %(id)s", id=account_id), {"account_id": account_id})
            if account.role == Role.ADMIN:
                no_admin = Msg("admin accounts get no API tokens: make a service account")
                raise Conflict(no_admin, {"field": "account_id"})
            if not account.active:
                raise Conflict(Msg("account %(id)s is deactivated", id=account_id), {"account_id": account_id})
            clean_scopes = check_scopes(scopes, account.role)
            mine = {t.tenant for t in account.tenants}
            wanted = sorted({t.strip() for t in tenants})
            outside = [t for t in wanted if t not in mine]
            if outside:
                raise InvalidInput(
                    Msg("a token's tenants must be tenants of its account"),
                    {"field": "tenants", "not_of_account": outside},
                )
            now = self._now()
            row = ApiToken(
                account_id=account_id,
                name=label,
                token_hash=_DUMMY_HASH,  # replaced below, once the id the token names is known
                scopes=clean_scopes,
                tenants=wanted,
                created_at=now,
                created_by=created_by,
                expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
            )
            session.add(row)
            await session.flush()
            secret = f"{PREFIX}{row.id}_{secrets.token_urlsafe(SECRET_BYTES)}"
            row.token_hash = token_hash(secret)
            await session.commit()
            view = TokenView.of(row)
        log.info("API token %d (%s) made for account %d, scopes %s", view.id, label, account_id, ",".join(view.scopes))
        return IssuedToken(view, secret)

    async def list_for(self, account_id: int) -> list[TokenView]:
        async with self.db.sessionmaker() as session:
            stmt = select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id)
            rows = await session.scalars(stmt)
            return [TokenView.of(r) for r in rows]

    async def get(self, token_id: int) -> TokenView:
        async with self.db.sessionmaker() as session:
            row = await session.get(ApiToken, token_id)
            if row is None:
                raise NotFound(Msg("no token %(id)s", id=token_id), {"token_id": token_id})
            return TokenView.of(row)

    async def revoke(self, token_id: int) -> tuple[TokenView, bool]:
        """Revoke the token (at once: the next request with it is refused); (token, whether it was live)."""
        async with self.db.sessionmaker() as session:
            row = await session.get(ApiToken, token_id)
            if row is None:
                raise NotFound(Msg("no token %(id)s", id=token_id), {"token_id": token_id})
            live = row.revoked_at is None
            if live:
                row.revoked_at = self._now()
                await session.commit()
            view = TokenView.of(row)
        if live:
            log.info("API token %d revoked", token_id)
        return view, live

    async def authenticate(self, presented: str) -> TokenUse | None:
        """The token and its account when ``presented`` is a live token of an active account; None otherwise."""
        match = TOKEN_RE.fullmatch(presented)
        if match is None:
            return None
        token_id = int(match.group(1))
        async with self.db.sessionmaker() as session:
            row = await session.get(ApiToken, token_id)
            stored = row.token_hash if row is not None else _DUMMY_HASH
            if not hmac.compare_digest(token_hash(presented), stored) or row is None:
                return None
            now = self._now()
            view = TokenView.of(row)
            if not view.usable(now):
                return None
            account = await session.get(Account, row.account_id)
            if account is None or not account.active or account.role == Role.ADMIN:
                return None
            if not set(view.scopes) <= _allowed_scopes(account.role):
                # never more than the account's current role may have (a role change also revokes its tokens)
                return None
            if view.last_used_at is None or now - view.last_used_at >= TOUCH_EVERY:
                await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
                await session.commit()
            return TokenUse(view, AccountView.of(account))
