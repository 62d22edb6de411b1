"""SQLAlchemy models of the calls capability: ``calls`` (one row per CallRecord) and the queue_log marks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType

# the reach-back matcher's work (uhd_telephony/reachback): unanswered stays not yet looked at, or not reached yet
REACH_TODO = "answered_at IS NULL AND outcome IS NOT NULL AND (reach IS NULL OR reach = 'open')"


class Call(Base):
    """One caller channel's stay in one queue (CallRecord); ``outcome IS NULL`` while it is in progress."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String, unique=True)
    linkedid: Mapped[str] = mapped_column(String)
    uniqueid: Mapped[str] = mapped_column(String)
    tenant: Mapped[str] = mapped_column(String)
    queue: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String, default="")
    caller_number: Mapped[str] = mapped_column(String, default="")
    caller_name: Mapped[str] = mapped_column(String, default="")
    dialled: Mapped[str] = mapped_column(String, default="")
    entered_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_s: Mapped[float | None]
    talk_s: Mapped[float | None]
    agent: Mapped[str | None] = mapped_column(String)
    agent_interface: Mapped[str | None] = mapped_column(String)
    outcome: Mapped[str | None] = mapped_column(String(32))
    ended_by: Mapped[str | None] = mapped_column(String)
    queue_status: Mapped[str | None] = mapped_column(String)
    callback_requested: Mapped[bool] = mapped_column(default=False)
    transferred_to: Mapped[str | None] = mapped_column(String)
    position: Mapped[int] = mapped_column(default=0)
    # RingAttempt fields with epoch-second floats: JSON keeps a float's shortest repr, so they come back exact
    ring_attempts: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resynced: Mapped[bool] = mapped_column(default=False)
    # recorded from Asterisk's queue_log after the fact (calls/backfill.py): an answered one's ticket is "opened
    # after the call"
    backfilled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # an unanswered stay reached back (issue 20 item 2, uhd_telephony/reachback sets these): ``reach`` is NULL until
    # the matcher looked at the stay, then ``excluded`` (no lost stay), ``anonymous`` (no number that identifies the
    # caller), ``open`` (not reached, yet), ``call_again`` or ``callback``; ``reached_at`` when and ``reach_s`` the
    # business seconds from the stay's end. Kept when retention reduces the caller's number: the figures stay exact.
    reach: Mapped[str | None] = mapped_column(String(16))
    reached_at: Mapped[datetime | None]
    reach_s: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        # the monthly report and the API read calls per tenant and period, optionally per queue
        Index("ix_calls_tenant_entered_at", "tenant", "entered_at"),
        Index("ix_calls_tenant_queue_entered_at", "tenant", "queue", "entered_at"),
        # admin views across tenants page by time
        Index("ix_calls_entered_at", "entered_at"),
        # a blind transfer makes a second call with the same linkedid: tickets look the conversation up by it
        Index("ix_calls_linkedid", "linkedid"),
        # open calls (restoring the tracker after a restart) are a handful among millions: a partial index.
        # "open" is outcome IS NULL, the same test as CallRecord.finished (ended_at is set with outcome).
        Index(
            "ix_calls_open",
            "tenant",
            "entered_at",
            sqlite_where=text("outcome IS NULL"),
            postgresql_where=text("outcome IS NULL"),
        ),
        # the reach-back matcher's work: unanswered stays not yet looked at or not yet reached (a fraction of the
        # calls, and only the recent ones are read)
        Index(
            "ix_calls_reach_todo",
            "entered_at",
            sqlite_where=text(REACH_TODO),
            postgresql_where=text(REACH_TODO),
        ),
    )


class QueueLogMark(Base):
    """How far the queue_log backfill (calls/backfill.py) has read a file: the high-water mark of one path.

    ``offset`` is the byte where the next read starts; ``inode`` and the first ``head_len`` bytes' ``head_sha256``
    tell whether it is still the same file (a rotated or truncated log is read again from byte 0).
    """

    __tablename__ = "queue_log_marks"

    path: Mapped[str] = mapped_column(String, primary_key=True)
    inode: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
    head_len: Mapped[int] = mapped_column(Integer)
    head_sha256: Mapped[str] = mapped_column(String(64))
    # the time of the last line read (the file's own clock), for the operator
    last_line_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
