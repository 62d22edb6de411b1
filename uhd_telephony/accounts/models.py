"""SQLAlchemy models of accounts: ``accounts`` (one per person who logs in) and ``account_tenants``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from uhd_telephony.i18n import DEFAULT_LOCALE
from uhd_telephony.store.models import Base, IdType
from uhd_telephony.tenant import TENANT_LENGTH
from uhd_telephony.web.roles import Role

__all__ = ["Account", "Role"]

USERNAME_MAX = 64
# Asterisk interfaces such as "PJSIP/101" or "Local/101@agents/n" are short; 128 leaves room for odd ones
INTERFACE_MAX = 128
GROUP_MAX = 64  # support_groups.code
LOCALE_MAX = 8  # "de", "en"; room for a region ("de-AT") should one come


class Account(Base):
    """A person who logs in; agents also carry their identity in Asterisk's queues."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # stored lower-cased: the unique constraint is then case-insensitive on every database without a
    # functional index (which Alembic's autogenerate comparison cannot see on SQLite)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # validated against Role in the service, not by a CHECK: adding a role must not need a table rebuild on SQLite
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # the queue member interface (AgentConnect's Interface), e.g. PJSIP/101; NULLs do not collide in UNIQUE
    interface: Mapped[str | None] = mapped_column(String(INTERFACE_MAX), unique=True)
    # the queue MemberName (AgentConnect's MemberName), e.g. "Anna Becker": the fallback when interfaces differ
    member_name: Mapped[str | None] = mapped_column(String(200))
    # what an Originate rings for a callback from this agent's phone; NULL means "the interface"
    phone_channel: Mapped[str | None] = mapped_column(String(INTERFACE_MAX))
    # a partner's support group (``partner:<firm>``): the only tickets the account sees are those routed to it
    partner_group: Mapped[str | None] = mapped_column(String(GROUP_MAX))
    # the language of the account's pages and answers (uhd_telephony.i18n.LOCALES): German unless it chose English
    locale: Mapped[str] = mapped_column(String(LOCALE_MAX), default=DEFAULT_LOCALE, server_default=DEFAULT_LOCALE)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[datetime | None]
    # the version of the §203 StGB confidentiality text the account last acknowledged, and when
    # (accounts.confidentiality): NULL or an older version, and nothing but the acknowledgement works for it
    confidentiality_version: Mapped[int | None]
    confidentiality_at: Mapped[datetime | None]

    tenants: Mapped[list[AccountTenant]] = relationship(
        back_populates="account", cascade="all, delete-orphan", lazy="selectin", order_by="AccountTenant.tenant"
    )


class AccountTenant(Base):
    """One tenant an account works for; an agent may serve several hospitals."""

    __tablename__ = "account_tenants"

    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)

    account: Mapped[Account] = relationship(back_populates="tenants")

    __table_args__ = (
        # "the agents of tenant X" (screen-pop routing, the agent list of a tenant's admin page)
        Index("ix_account_tenants_tenant", "tenant"),
    )
