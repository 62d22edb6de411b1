"""The satisfaction ratings: one row per rated ticket, nothing about the rater beyond the ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, table_of
from uhd_telephony.tenant import TENANT_LENGTH

SCORES = (1, 2, 3, 4, 5)  # 1: not at all satisfied ... 5: very satisfied
COMMENT_LENGTH = 1000
CATEGORY_LENGTH = 512  # a category path, as tickets' categories.path


class Rating(Base):
    """A caller's rating of a resolved ticket through its status link: a score, maybe one comment.

    ``ticket_id`` is unique: once per ticket. ``category`` is the ticket's category path when it was rated (the
    report counts by it even after a later reclassification). No address, name, IP or browser is kept: the ticket
    is the only link to the person, and goes where the ticket goes.
    """

    __tablename__ = "ticket_ratings"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"), unique=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(String(COMMENT_LENGTH))
    category: Mapped[str | None] = mapped_column(String(CATEGORY_LENGTH))
    created_at: Mapped[datetime]
    commented_at: Mapped[datetime | None]  # the comment came later (the page's second form), once

    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        CheckConstraint("comment IS NULL OR commented_at IS NOT NULL", name="commented"),
        # the report and the KPI API: one tenant's ratings of a period
        Index("ix_ticket_ratings_tenant_created_at", "tenant", "created_at"),
    )


ratings = table_of(Rating)
