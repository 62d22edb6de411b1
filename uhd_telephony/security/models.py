"""SQLAlchemy models of security: ``api_tokens`` (machine access), ``sessions`` (logins, revocable) and
``audit_log`` (who changed what)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, JsonType


class ApiToken(Base):
    """A bearer token of a partner or service account; only the sha256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole token string
    scopes: Mapped[list[str]] = mapped_column(JsonType)  # e.g. ["tickets:read", "tickets:write"]
    # the tenants the token may act for (within the account's); empty: all of the account's tenants
    tenants: Mapped[list[str]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_api_tokens_account_id", "account_id"),)


class AccountSession(Base):
    """A login: the session cookie carries the random id, the table its sha256 (revoked: logged out)."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's session id
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_sessions_account_id", "account_id"),)
