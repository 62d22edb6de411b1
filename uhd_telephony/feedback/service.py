"""A caller's rating of a resolved ticket through its status link: a score once per ticket, a comment once after.

The status link's token is the only key, with the status page's rules (``tickets.status_page.ticket_of``): found
by its sha256, replaced by every later mail's link (an older link is dead), 256 random bits that no rate limit
needs to protect. On top of these, a rating is taken only

- while the ticket is resolved or closed (a reopened ticket is being worked on again), and
- until ``RATING_WINDOW`` after it was closed (resolved, while not yet closed): the rating link "expires".

Every miss — a malformed, unknown, replaced or never issued token, a ticket not (or no longer) resolved, the
window over — is the same ``Refused``: the page says one thing for all, so it tells a guesser nothing.

Mail link scanners fetch links with GET: nothing here runs on a GET. ``rate`` and ``add_comment`` are the POSTs.
Nothing about the rater is kept beyond the ticket (``feedback.models``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.feedback.models import COMMENT_LENGTH, SCORES, ratings
from uhd_telephony.i18n import N_, Msg
from uhd_telephony.store.db import Database, insert_or_nothing
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.status_page import ticket_of

RATING_WINDOW = timedelta(days=30)
RATEABLE = frozenset({TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value})
# C0/C1 controls but the line break, the Unicode line separators, and the bidirectional overrides and isolates
# (a comment shown in the report must read as it was written: no text reversed by an invisible character)
_UNSHOWN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_BLANK_LINES = re.compile(r"\n{3,}")

# what the rater reads for a score: the mail's links, the page, the report (German and English catalogs)
SCORE_WORDS: Mapping[int, str] = {
    1: N_("not at all satisfied"),
    2: N_("not very satisfied"),
    3: N_("partly satisfied"),
    4: N_("satisfied"),
    5: N_("very satisfied"),
}


class Refused(NotFound):
    """The one answer for every link that cannot rate (module docstring)."""

    error_id = "rating-not-possible"

    def __init__(self) -> None:
        super().__init__(Msg("This rating link is unknown or no longer valid."))


class AlreadyRated(Conflict):
    """A second rating of a ticket: refused, the first stands."""

    error_id = "already-rated"

    def __init__(self, given: RatingView) -> None:
        super().__init__(Msg("This request has been rated already."), {"score": given.score})
        self.given = given


class AlreadyCommented(Conflict):
    error_id = "already-commented"

    def __init__(self, given: RatingView) -> None:
        super().__init__(Msg("A comment has been added already."))
        self.given = given


class NotRated(Conflict):
    error_id = "not-rated"

    def __init__(self) -> None:
        super().__init__(Msg("Please choose a rating first."))


class BadRating(InvalidInput):
    """A score outside 1..5, a comment too long or not storable text."""

    error_id = "invalid-rating"


@dataclass(frozen=True, slots=True)
class RatingView:
    score: int
    comment: str | None
    created_at: datetime
    commented_at: datetime | None


@dataclass(frozen=True, slots=True)
class Rateable:
    """A ticket its link may rate now, with the rating it has (None: not rated yet)."""

    ticket_id: int
    tenant: str
    number: str
    category: str | None  # its category path now: what a rating records
    until: datetime  # the end of the rating window
    rating: RatingView | None


def parse_score(value: Any) -> int | None:
    """A score from a form or query ("4"), None when absent or blank; ``BadRating`` when not one of 1..5."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if text.isascii() and text.isdigit() and int(text) in SCORES:
        return int(text)
    raise BadRating(Msg("A rating is a whole number from 1 to 5."), {"field": "score"})


def clean_comment(value: str | None) -> str | None:
    """A comment as stored: line breaks kept (``\\r\\n`` as ``\\n``, at most one blank line in a row), tabs as
    spaces, other control and bidi characters removed, stripped; None when blank. ``BadRating`` when it is longer
    than ``COMMENT_LENGTH`` characters or not storable text (a lone surrogate)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRating(Msg("The comment is not readable text."), {"field": "comment"}) from None
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _BLANK_LINES.sub("\n\n", _UNSHOWN.sub("", text)).strip()
    if len(text) > COMMENT_LENGTH:
        raise BadRating(
            Msg("The comment is longer than %(limit)s characters.", limit=COMMENT_LENGTH), {"field": "comment"}
        )
    return text or None


def _view(row: Mapping[Any, Any]) -> RatingView:
    return RatingView(row["score"], row["comment"], row["created_at"], row["commented_at"])


async def find(conn: AsyncConnection, token: str, now: datetime) -> Rateable:
    """The ticket ``token`` may rate at ``now``, with its rating so far; ``Refused`` otherwise."""
    ticket = await ticket_of(conn, token)
    if ticket is None or ticket["status"] not in RATEABLE:
        raise Refused()
    done = ticket["closed_at"] or ticket["resolved_at"]
    if done is None or now > done + RATING_WINDOW:
        raise Refused()
    found = (await conn.execute(select(ratings).where(ratings.c.ticket_id == ticket["id"]))).mappings().first()
    return Rateable(
        ticket_id=int(ticket["id"]),
        tenant=ticket["tenant"],
        number=ticket["number"],
        category=ticket["category_path"],
        until=done + RATING_WINDOW,
        rating=None if found is None else _view(found),
    )


def _insert(dialect: str) -> Any:
    # a second rating racing the first (two clicks, two tabs) inserts nothing: the unique ticket_id decides
    return insert_or_nothing(dialect, ratings, [ratings.c.ticket_id])


async def rate(db: Database, token: str, score: int, comment: str | None, now: datetime) -> RatingView:
    """Record ``score`` (and ``comment``, already cleaned) for the ticket of ``token``; ``AlreadyRated`` with the
    rating that stands when there is one."""
    async with db.engine.begin() as conn:
        rateable = await find(conn, token, now)
        if rateable.rating is None:
            values: dict[str, Any] = {
                "ticket_id": rateable.ticket_id,
                "tenant": rateable.tenant,
                "score": score,
                "comment": comment,
                "category": rateable.category,
                "created_at": now,
                "commented_at": now if comment else None,
            }
            if (await conn.execute(_insert(conn.dialect.name).values(values))).rowcount == 1:
                return RatingView(score, comment, now, values["commented_at"])
        given = await _rating(conn, rateable.ticket_id)
    raise AlreadyRated(given)


async def add_comment(db: Database, token: str, comment: str, now: datetime) -> RatingView:
    """Add the one comment to the rating of ``token``'s ticket; ``NotRated``, ``AlreadyCommented`` otherwise."""
    async with db.engine.begin() as conn:
        rateable = await find(conn, token, now)
        if rateable.rating is None:
            raise NotRated()
        done = await conn.execute(
            update(ratings)
            .where(ratings.c.ticket_id == rateable.ticket_id, ratings.c.comment.is_(None))
            .values(comment=comment, commented_at=now)
        )
        given = await _rating(conn, rateable.ticket_id)
    if done.rowcount != 1:
        raise AlreadyCommented(given)
    return given


async def _rating(conn: AsyncConnection, ticket_id: int) -> RatingView:
    return _view((await conn.execute(select(ratings).where(ratings.c.ticket_id == ticket_id))).mappings().one())


async def rateable(db: Database, token: str, now: datetime) -> Rateable:
    """``find`` on a connection of its own: what the page shows (a GET reads, never writes)."""
    async with db.engine.connect() as conn:
        return await find(conn, token, now)
