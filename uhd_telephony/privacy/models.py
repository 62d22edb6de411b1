"""The data-protection tables: each tenant's retention periods where they differ from the defaults, and the
per-tenant key its pseudonyms are made with.

``retention_periods``: one row per (tenant, data class) an admin set, with who set it and when; a class without a
row keeps its default (``privacy.classes``). The audit log has no tenant: its row has the tenant ``""`` (the
installation). ``privacy_keys``: a random key per tenant, made on first use; a pseudonym is an HMAC of the
person's identity under it, so the same person gets the same pseudonym in every table and every run (the monthly
report's "callers with repeated tickets" groups stay the same groups), and nobody without the key can work a
pseudonym back to a phone number by trying them all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, table_of
from uhd_telephony.tenant import TENANT_LENGTH

INSTALLATION = ""  # the tenant column of an installation-wide class's row (the audit log)
CLASS_LENGTH = 32


class RetentionPeriod(Base):
    """A tenant's own period for one data class, in whole days (0: at the next scan)."""

    __tablename__ = "retention_periods"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    data_class: Mapped[str] = mapped_column(String(CLASS_LENGTH), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(100))  # the admin's username, or "cli"
    set_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("days >= 0", name="days"),)


class PrivacyKey(Base):
    """The key a tenant's pseudonyms are made with (64 hex characters, never shown)."""

    __tablename__ = "privacy_keys"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


periods = table_of(RetentionPeriod)
keys = table_of(PrivacyKey)
