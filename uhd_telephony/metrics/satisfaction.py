"""Satisfaction (Kundenzufriedenheit) of one tenant's period: the callers' ratings (``feedback``), counted in SQL.

The one definition the monthly report and the KPI API share:

- a rating counts in the period it was GIVEN (its ``created_at``; the report: the Europe/Berlin month), so a
  month's figures are final when it ends, like every other figure of the report;
- ``responses``: ratings given; ``mean``: their mean score (1 not at all ... 5 very satisfied); ``distribution``:
  how many gave each score;
- ``resolved``: tickets resolved in the period (``resolved_at`` in it: resolved then and not reopened since), the
  base of ``response_rate`` = responses ÷ resolved. The closure mail asks, and a ticket may be rated up to
  ``feedback.service.RATING_WINDOW`` after it was closed: a rating can fall in the month after its ticket's;
- per top-level category: a rating by the ticket's category when it was rated (kept with the rating), the
  resolved tickets by their category now;
- ``comments``: the comments written in the period (newest first, at most ``MAX_COMMENTS`` of ``comments_total``),
  with the ticket's number, the score and the category: what a manager reads them by.

A few rows at most per tenant and month: a rating table grouped by category and score, and one indexed scan of
the period's resolved tickets.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from uhd_telephony.feedback.models import SCORES, ratings
from uhd_telephony.feedback.service import RATING_WINDOW
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.aggregates import run_all
from uhd_telephony.metrics.queries import _category, _top_levels, tickets
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.history import iso

MAX_COMMENTS = 100
# the definition's placeholders (metrics.report prints it with these)
PARAMS: Mapping[str, int] = {"rating_days": RATING_WINDOW.days}


@dataclass(frozen=True, slots=True)
class Scores:
    """The ratings of one group (all, or one category) and the resolved tickets they relate to."""

    distribution: Mapping[int, int]  # score -> ratings, every score 1..5 present
    resolved: int

    @property
    def responses(self) -> int:
        return sum(self.distribution.values())

    @property
    def mean(self) -> float | None:
        n = self.responses
        return math.fsum(score * count for score, count in self.distribution.items()) / n if n else None

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.resolved if self.resolved else None

    @classmethod
    def of(cls, counts: Mapping[int, int], resolved: int) -> Scores:
        return cls({score: int(counts.get(score, 0)) for score in SCORES}, resolved)

    def to_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "mean": self.mean,
            "distribution": {str(score): n for score, n in self.distribution.items()},
            "resolved": self.resolved,
            "response_rate": self.response_rate,
        }


@dataclass(frozen=True, slots=True)
class Comment:
    number: str
    score: int
    category: str  # top-level category code ("none": not classified)
    text: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"ticket": self.number, "score": self.score, "category": self.category, "comment": self.text,
                "at": iso(self.at)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Satisfaction:
    overall: Scores = field(default_factory=lambda: Scores.of({}, 0))
    # top-level code -> its scores: the categories with ratings or resolved tickets
    by_category: Mapping[str, Scores] = field(default_factory=dict)
    comments: tuple[Comment, ...] = ()
    comments_total: int = 0

    @property
    def responses(self) -> int:
        return self.overall.responses

    def figures(self) -> dict[str, Any]:
        """The figures, overall and per category: what the KPI API answers (no comments: free text of people)."""
        return {
            **self.overall.to_dict(),
            "by_category": {code: scores.to_dict() for code, scores in self.by_category.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON: the figures and the month's comments."""
        return {
            **self.figures(),
            "comments": [c.to_dict() for c in self.comments],
            "comments_total": self.comments_total,
        }


async def satisfaction_figures(db: Database, tenant: str, start: datetime, end: datetime) -> Satisfaction:
    """The tenant's satisfaction over ``[start, end)`` (module docstring)."""
    r, t = ratings.c, tickets.c
    given = (r.tenant == tenant, r.created_at >= start, r.created_at < end)
    written = (r.tenant == tenant, r.commented_at >= start, r.commented_at < end, r.comment.is_not(None))
    statements = [
        select(r.category, r.score, func.count()).where(*given).group_by(r.category, r.score),
        select(t.category_id, func.count())
        .where(t.tenant == tenant, t.resolved_at >= start, t.resolved_at < end)
        .group_by(t.category_id),
        select(t.number, r.score, r.category, r.comment, r.commented_at, func.count().over())
        .join(tickets, t.id == r.ticket_id)
        .where(*written)
        .order_by(r.commented_at.desc(), r.id.desc())
        .limit(MAX_COMMENTS),
    ]
    scored, resolved, commented = await run_all(db, statements)
    async with db.engine.connect() as conn:
        top = await _top_levels(conn, tenant)
    counts: dict[str, Counter[int]] = {}
    for path, score, n in scored:
        counts.setdefault(kpi.top_level(path), Counter())[int(score)] += int(n)
    bases: Counter[str] = Counter()
    for category_id, n in resolved:
        bases[_category(top, tenant, category_id)] += int(n)
    overall = Counter[int]()
    for per in counts.values():
        overall.update(per)
    codes = sorted(set(counts) | set(bases), key=lambda c: (c == kpi.UNCLASSIFIED, c))
    return Satisfaction(
        overall=Scores.of(overall, sum(bases.values())),
        by_category={code: Scores.of(counts.get(code, Counter()), bases[code]) for code in codes},
        comments=tuple(
            Comment(number, int(score), kpi.top_level(path), text, at) for number, score, path, text, at, _ in commented
        ),
        comments_total=int(commented[0][5]) if commented else 0,
    )
