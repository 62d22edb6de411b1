"""Logins the server can end: the encrypted session cookie carries a random session id, the ``sessions`` table
its sha256, the account, when it expires and whether it was revoked.

Every request with a cookie reads its row (nothing is cached), so a logout, a deactivation, a new password or a
new role (``accounts.service.on_access_revoked``, registered here) ends the login with the next request — a
copy of the cookie from before is worth nothing, and a reactivated account starts from a new login.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from uhd_telephony.accounts.service import REVOKE_ROLE, on_access_revoked
from uhd_telephony.security.models import AccountSession, ApiToken
from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

SESSION_ID_BYTES = 32
# last_seen_at is written at most this often per session: a busy console must not mean one UPDATE per request
TOUCH_EVERY = timedelta(seconds=60)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionService:
    """The ``sessions`` table: start a login, check it on each request, end it."""

    def __init__(self, db: Database, max_age_s: int, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.max_age = timedelta(seconds=max_age_s)
        self._now = clock or (lambda: datetime.now(UTC))

    async def start(self, account_id: int) -> str:
        """A new session of ``account_id``: the id for the cookie (only its sha256 is stored)."""
        async with self.db.sessionmaker() as session:
            session_id = self.add(session, account_id)
            await session.commit()
        return session_id

    def add(self, session: AsyncSession, account_id: int) -> str:
        """``start`` in the caller's transaction (the login's own: its account row, its audit entry)."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        now = self._now()
        session.add(
            AccountSession(
                id=session_hash(session_id),
                account_id=account_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.max_age,
            )
        )
        return session_id

    async def alive(self, session_id: str, account_id: int) -> bool:
        """Whether ``session_id`` is an unexpired, unrevoked session of ``account_id``."""
        if not session_id or len(session_id) > 100:
            return False
        async with self.db.sessionmaker() as session:
            row = await session.get(AccountSession, session_hash(session_id))
            now = self._now()
            if row is None or row.account_id != account_id or row.revoked_at is not None or row.expires_at <= now:
                return False
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
                await session.commit()
            return True

    async def revoke(self, session_id: str) -> bool:
        """End one session (a logout); whether it was live."""
        async with self.db.sessionmaker() as session:
            result = await session.execute(
                update(AccountSession)
                .where(AccountSession.id == session_hash(session_id), AccountSession.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
            await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


@on_access_revoked
async def revoke_account_access(session: AsyncSession, account_id: int, now: datetime, why: str) -> None:
    """Every session of the account revoked in the caller's transaction (deactivation, a new password, a new
    role); on a new role its API tokens too: a token made for the old role must not act with the new one's rights
    (a partner's token would otherwise read every ticket of the tenant once the account is an agent)."""
    ended = await session.execute(
        update(AccountSession)
        .where(AccountSession.account_id == account_id, AccountSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    tokens = 0
    if why == REVOKE_ROLE:
        result = await session.execute(
            update(ApiToken)
            .where(ApiToken.account_id == account_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        tokens = result.rowcount  # type: ignore[attr-defined]
    log.info(
        "account %d (%s): %d sessions and %d API tokens revoked",
        account_id,
        why,
        ended.rowcount,  # type: ignore[attr-defined]
        tokens,
    )
