"""SQLAlchemy models of requests by mail: the tenants' helpdesk addresses, each mail taken in, its attachments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, table_of
from uhd_telephony.tenant import TENANT_LENGTH

ADDRESS_LENGTH = 254  # RFC 5321's longest path
MESSAGE_ID_LENGTH = 255
FILENAME_LENGTH = 200
CONTENT_TYPE_LENGTH = 100


class MailKind(StrEnum):
    """What a mail became: a new ticket, a public comment (its requester or a directory user of the tenant wrote),
    an internal note (someone else replied to the ticket's number)."""

    TICKET = "ticket"
    COMMENT = "comment"
    NOTE = "note"


class MailAddress(Base):
    """A helpdesk address (``helpdesk@klinikum-nord.example``, lower case) and the tenant its mail is for."""

    __tablename__ = "mail_in_addresses"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), unique=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), ForeignKey("tenants.tenant", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_mail_in_addresses_tenant", "tenant"),)


class MailMessage(Base):
    """One mail taken in for one tenant: its Message-ID (a redelivery finds it and makes nothing new), the ticket it
    went to and how. Written in the transaction that writes the ticket, comment and attachments."""

    __tablename__ = "mail_in_messages"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    # the mail's own <Message-ID>, or "sha256:<hex>" of its bytes when it has none (or one too long)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LENGTH))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    size: Mapped[int] = mapped_column(Integer)  # the mail's bytes as delivered
    received_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("tenant", "message_id"),
        CheckConstraint(f"kind IN ({', '.join(repr(str(k)) for k in MailKind)})", name="kind"),
        Index("ix_mail_in_messages_ticket_id", "ticket_id"),
    )


class MailAttachment(Base):
    """An attachment of a mail, stored with it (bytes in the database: one transaction with its ticket, the same
    store for every process); its name made safe, its content type as the mail declared it."""

    __tablename__ = "mail_in_attachments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id", ondelete="CASCADE"))
    mail_id: Mapped[int] = mapped_column(IdType, ForeignKey("mail_in_messages.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(FILENAME_LENGTH))
    content_type: Mapped[str] = mapped_column(String(CONTENT_TYPE_LENGTH))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_mail_in_attachments_tenant_ticket_id", "tenant", "ticket_id"),
        Index("ix_mail_in_attachments_mail_id", "mail_id"),
    )


addresses = table_of(MailAddress)
messages = table_of(MailMessage)
attachments = table_of(MailAttachment)
