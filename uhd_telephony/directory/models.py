"""SQLAlchemy models of the caller directory: users, places, their phones, each tenant's numbering plan and the
state of its LDAP sync."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, table_of
from uhd_telephony.tenant import TENANT_LENGTH


class NumberingPlanRow(Base):
    """How a tenant's numbers are read (``numbers.NumberingPlan``); a tenant without a row uses the defaults."""

    __tablename__ = "directory_numbering"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    region: Mapped[str] = mapped_column(String(2))
    extension_prefix: Mapped[str | None] = mapped_column(String(32))
    max_extension_length: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DirectoryUser(Base):
    """A member of a tenant's staff, keyed for imports by ``external_id`` (HR or AD id) within the tenant."""

    __tablename__ = "directory_users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), default="other")
    location: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    vip: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # name and department folded (lower case, umlauts spelt out) in Python, so "mueller" finds "Müller" the
    # same way on SQLite (whose lower() is ASCII-only) and PostgreSQL
    search_text: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (UniqueConstraint("tenant", "external_id"),)


class DirectoryPlace(Base):
    """A place whose phone is shared (a ward, a DECT pool): a call from it names the place, not a person."""

    __tablename__ = "directory_places"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    search_text: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (UniqueConstraint("tenant", "external_id"),)


class DirectoryPhone(Base):
    """One number of exactly one user or one place; ``number`` is the normalised key, ``raw`` as imported."""

    __tablename__ = "directory_phones"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # repeated from the owner so the (tenant, number) index answers a lookup without a join
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("directory_users.id", ondelete="CASCADE"))
    place_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("directory_places.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(32))
    raw: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (place_id IS NULL)", name="owner"),
        Index("ix_directory_phones_tenant_number", "tenant", "number"),
        # PostgreSQL does not index foreign keys: replacing a user's phones deletes by owner
        Index("ix_directory_phones_user_id", "user_id"),
        Index("ix_directory_phones_place_id", "place_id"),
    )


class LdapSyncState(Base):
    """The last sync of a tenant's directory from its LDAP source: when, by whom, what it did or why it failed.

    One row per tenant, replaced by every sync that was not a dry run: the admin API shows it, the service's
    schedule reads when the next one is due from it (so a restart does not sync again at once)."""

    __tablename__ = "directory_ldap_syncs"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, command, api
    actor: Mapped[str | None] = mapped_column(String(150))  # the admin who asked (api)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool]
    error: Mapped[str | None] = mapped_column(String(1000))
    # the counts (LdapSyncResult.to_dict) of a sync that ran
    result: Mapped[dict[str, Any] | None]
    last_ok_at: Mapped[datetime | None]


USERS = table_of(DirectoryUser)
PLACES = table_of(DirectoryPlace)
PHONES = table_of(DirectoryPhone)
NUMBERING = table_of(NumberingPlanRow)
LDAP_SYNCS = table_of(LdapSyncState)

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def fold(text: str) -> str:
    """Text as search compares it: case-folded, umlauts spelt out (ü → ue, ß → ss), other accents dropped."""
    text = unicodedata.normalize("NFC", text).casefold().translate(_UMLAUTS)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.split())


def search_text_of(name: str, department: str | None) -> str:
    """The ``search_text`` column of an entry."""
    # name first: "starts with" on this column is "name starts with", which search ranks first
    return fold(name) + "\n" + fold(department or "")
