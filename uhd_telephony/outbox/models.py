"""SQLAlchemy model of the outbox: one row per message to send (a mail or a signed webhook)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, JsonType, table_of
from uhd_telephony.tenant import TENANT_LENGTH


class OutboxChannel(StrEnum):
    """How a message leaves: SMTP, or an HTTP POST signed the Standard Webhooks way."""

    MAIL = "mail"
    WEBHOOK = "webhook"


class OutboxStatus(StrEnum):
    """``pending`` waits for ``next_attempt_at``; ``sending`` is claimed until ``claimed_until``."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class OutboxMessage(Base):
    """A message committed with the change it reports; ``dedupe_key`` makes enqueueing idempotent and is the
    receiver's dedupe id (the mail's Message-ID is derived from it, the webhook's ``webhook-id`` is it)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    channel: Mapped[str] = mapped_column(String(16))
    # mail: addresses, comma-separated; webhook: the URL (its signing secret is looked up at send time)
    target: Mapped[str] = mapped_column(String(2000))
    subject: Mapped[str | None] = mapped_column(String(300))
    # mail: {"text": ..., "html"?: ...} or plain text; webhook: any JSON value, sent as the request body
    body: Mapped[Any] = mapped_column(JsonType)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(IdType)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # due time of a pending row; for a claimed row the end of its claim (a crashed sender's row is due again)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_one_of("channel", OutboxChannel), name="channel"),
        CheckConstraint(_one_of("status", OutboxStatus), name="status"),
        # the worker's claim (status IN pending/sending AND next_attempt_at <= now) and the health counts
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # a ticket's notifications and work orders
        Index("ix_outbox_ticket_id", "ticket_id"),
    )


outbox = table_of(OutboxMessage)
