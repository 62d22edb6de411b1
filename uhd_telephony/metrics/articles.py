"""First-contact resolution per solution article (Sofort-Support) in a tenant's month: the monthly report's section.

The cohort is the report's: the tenant's tickets CREATED in the month, with what happened to them up to the report's
time. Per article:

- used: tickets of the cohort on which an agent recorded the article (solved with it or not);
- solved: of those, the tickets where the agent's last word on the article is "solved with this article";
- first contact: of those, the tickets resolved at first contact — resolved or closed now and never routed beyond
  1st level (``kpi.is_resolved_at_first_level``: the report's first-contact resolution) and never reopened;
- rate: first contact ÷ used (None without a use): how often trying the article ended the call solved.

The totals count each ticket once however many articles were used on it (used: any article; solved: any article
solved it; first contact: solved with an article and resolved at first contact as above).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from uhd_telephony.articles.importer import articles
from uhd_telephony.articles.service import uses
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.queries import _routed_beyond_first_level, history, tickets
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.history import Action
from uhd_telephony.tickets.models import TicketStatus

REOPENED = TicketStatus.REOPENED.value


@dataclass(frozen=True, slots=True)
class UseFact:
    """One article used on one ticket of the cohort, with what became of the ticket."""

    article_id: int
    ticket_id: int
    solved: bool
    status: str
    routed: bool  # routed beyond 1st level at some time (kpi.is_routed_beyond_first_level)
    reopened: bool  # reopened at some time

    @property
    def first_contact(self) -> bool:
        """Solved with the article and resolved at first contact (module docstring)."""
        return self.solved and kpi.is_resolved_at_first_level(self.status, self.routed) and not self.reopened


@dataclass(frozen=True, slots=True)
class ArticleRow:
    """The figures of one article (or of all: ``article_id`` None)."""

    article_id: int | None
    title: str
    shared: bool
    used: int
    solved: int
    first_contact: int

    @property
    def rate(self) -> float | None:
        return kpi.ratio(self.first_contact, self.used)

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "shared": self.shared,
            "used": self.used,
            "solved": self.solved,
            "first_contact": self.first_contact,
            "rate": self.rate,
        }


@dataclass(frozen=True, slots=True)
class ArticleFigures:
    """The month's figures: per article (most used first) and over every ticket (``total``)."""

    rows: tuple[ArticleRow, ...] = ()
    total: ArticleRow = ArticleRow(None, "", False, 0, 0, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"tickets": self.total.to_dict(), "by_article": [row.to_dict() for row in self.rows]}


def figures(facts: Iterable[UseFact], titles: dict[int, tuple[str, bool]]) -> ArticleFigures:
    """The figures of the cohort's uses; ``titles``: article id -> (title, shared)."""
    per: dict[int, list[UseFact]] = {}
    per_ticket: dict[int, list[UseFact]] = {}
    for fact in facts:
        per.setdefault(fact.article_id, []).append(fact)
        per_ticket.setdefault(fact.ticket_id, []).append(fact)

    def row(article_id: int | None, title: str, shared: bool, groups: Iterable[list[UseFact]]) -> ArticleRow:
        groups = list(groups)
        return ArticleRow(
            article_id, title, shared, len(groups), sum(any(f.solved for f in g) for g in groups),
            sum(any(f.first_contact for f in g) for g in groups),
        )  # fmt: skip

    rows = [
        row(article_id, *titles.get(article_id, (str(article_id), False)), ([f] for f in found))
        for article_id, found in per.items()
    ]
    rows.sort(key=lambda r: (-r.used, -r.first_contact, r.title))
    return ArticleFigures(tuple(rows), row(None, "", False, per_ticket.values()))


async def article_figures(db: Database, tenant: str, start: datetime, end: datetime) -> ArticleFigures:
    """``figures`` of the tenant's tickets created in ``[start, end)``, read in one query (and the titles)."""
    t, h, u = tickets.c, history.c, uses.c
    routed = select(h.id).where(h.ticket_id == t.id, _routed_beyond_first_level()).exists()
    reopened = (
        select(h.id)
        .where(h.ticket_id == t.id, h.action == Action.STATUS.value, h.field == "status", h.new_value == REOPENED)
        .exists()
    )
    stmt = (
        select(u.article_id, u.ticket_id, u.solved, t.status, routed.label("routed"), reopened.label("reopened"))
        .join(tickets, and_(t.id == u.ticket_id, t.tenant == u.tenant))
        .where(u.tenant == tenant, t.created_at >= start, t.created_at < end)
    )
    async with db.engine.connect() as conn:
        facts = [UseFact(*row) for row in (await conn.execute(stmt)).all()]
        ids = sorted({f.article_id for f in facts})
        found = await conn.execute(
            select(articles.c.id, articles.c.title, articles.c.tenant).where(articles.c.id.in_(ids))
        )
        titles = {row.id: (row.title, row.tenant is None) for row in found}
    return figures(facts, titles)
