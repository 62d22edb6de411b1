"""SQLAlchemy model of the callback list: one row per abandoned call of a known caller."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, validates

from uhd_telephony.ami.events import caller_id
from uhd_telephony.store.models import Base, IdType
from uhd_telephony.tenant import TENANT_LENGTH


class Status(StrEnum):
    """Where an entry is in its life: open → dialing → done, or open → cleared."""

    OPEN = "open"  # waiting for an agent
    DIALING = "dialing"  # claimed by one agent, whose Originate is under way: nobody else may dial it
    DONE = "done"  # called back
    CLEARED = "cleared"  # no longer needed (the caller called again, an agent cleared it, it expired)


class ClearReason(StrEnum):
    """Why an entry left the list."""

    CALLED_BACK = "called_back"
    CALLER_CALLED_AGAIN = "caller_called_again"
    MANUAL = "manual"
    EXPIRED = "expired"


class Callback(Base):
    """One abandoned (or overflowed with a callback request) call to return; ``call_id`` makes it idempotent."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    call_id: Mapped[str] = mapped_column(String, unique=True)
    linkedid: Mapped[str] = mapped_column(String)
    caller_number: Mapped[str] = mapped_column(String(64))
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    # the directory user (UHD_USER_ID of the AGI lookup); no foreign key: directory rows may be re-imported
    user_id: Mapped[int | None] = mapped_column(IdType)
    queue: Mapped[str] = mapped_column(String)
    abandoned_at: Mapped[datetime]
    wait_s: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(16), default=Status.OPEN.value)
    cleared_reason: Mapped[str | None] = mapped_column(String(32))
    # the agent who dialled or cleared it; an account that is deleted leaves the history without a name
    claimed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # when the caller's leg of a callback answered (UserEvent UhdCallback from the dialplan's Dial U() gosub,
    # uhd_telephony/reachback): proof the caller was reached; an entry closed by hand as "called back" has none
    reached_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        # the tenant's list (open entries, oldest first) and "same caller again" read by tenant and status
        Index("ix_callbacks_tenant_status_abandoned_at", "tenant", "status", "abandoned_at"),
    )

    @validates("caller_name", "caller_number")
    def _caller_id(self, key: str, value: str | None) -> str:
        # the AMI events are cleaned already; a record from elsewhere (a replay, the queue_log backfill, a row
        # restored from before) must not store a NUL (PostgreSQL refuses the row), a line break (the Originate's
        # CallerID header would break) or Asterisk's "<unknown>" as a caller's name or number
        return caller_id(value or "")
