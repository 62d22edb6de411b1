"""Solution articles where agents work: the suggestions for a ticket's category, one article, the articles used on a
ticket ("solved with article") and the 10-minute budget a phone ticket has left at 1st level.

Recording an article goes through the ticket's one write path (``TicketWorkflow.record``): the ticket locked, the
use stored and its history row written in one transaction. ``solved`` means the caller's problem is solved: a
ticket still open is resolved in the same step (its resolution: the article's title); one already resolved stays
as it is; a closed ticket takes nothing (reopen it first). ``solved`` false records that the article was tried and
did not help: the ticket stays open, for the next article or for 2nd level. The agent's last word per ticket and
article counts (the history keeps every one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.articles.importer import articles
from uhd_telephony.articles.models import ArticleUse
from uhd_telephony.articles.search import ArticleView, find, paths_of, view
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import Label, Msg, Quoted
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import Change, iso
from uhd_telephony.tickets.history_text import category_titles
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.routing import DONE
from uhd_telephony.tickets.service import is_id
from uhd_telephony.tickets.view import TicketView, categories, tickets
from uhd_telephony.tickets.workflow import FINAL, TicketWorkflow

uses = table_of(ArticleUse)

ACTION = "article"  # the history rows of an article's use (action; field: SOLVED or TRIED; new value: its id)
SOLVED, TRIED = "solved", "tried"


@dataclass(frozen=True, slots=True)
class Recorded:
    """An article's use as recorded: the ticket after it, whether this step resolved it, and the use."""

    ticket: TicketView
    resolved: bool
    use: dict[str, Any]


def use_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The JSON of one use (with its article's title)."""
    return {
        "article_id": row["article_id"],
        "title": row["title"],
        "solved": bool(row["solved"]),
        "actor": row["actor"],
        "used_at": iso(row["used_at"]),
        "updated_at": iso(row["updated_at"]),
    }


async def uses_of(conn: AsyncConnection, tenant: str, ticket_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The articles used on each of ``ticket_ids`` (tickets of ``tenant``), in the order they were first used."""
    if not ticket_ids:
        return {}
    stmt = (
        select(uses, articles.c.title)
        .join(articles, articles.c.id == uses.c.article_id)
        .where(uses.c.tenant == tenant, uses.c.ticket_id.in_(list(ticket_ids)))
        .order_by(uses.c.used_at, uses.c.id)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["ticket_id"], []).append(use_dict(row))
    return out


def _no_article(article_id: int) -> NotFound:
    return NotFound(Msg("no article %(id)s", id=article_id), {"article_id": article_id})


class ArticleService:
    """The articles of one database as agents use them."""

    def __init__(self, db: Database, *, now: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self._now = now or (lambda: datetime.now(UTC))

    async def category_path(self, conn: AsyncConnection, tenant: str, category_id: int) -> str:
        """The path of the tenant's category ``category_id``; another tenant's is as unknown as none."""
        stmt = select(categories.c.path).where(categories.c.tenant == tenant, categories.c.id == category_id)
        path = (await conn.execute(stmt)).scalar_one_or_none()
        if path is None:
            unknown = Msg("unknown category %(id)s", id=category_id)
            raise InvalidInput(unknown, {"field": "category", "category_id": category_id})
        return str(path)

    async def suggest(
        self, tenant: str, *, category_id: int | None = None, text: str | None = None, limit: int = 5
    ) -> tuple[list[ArticleView], dict[str, str]]:
        """The articles for the tenant's category ``category_id`` and/or the words of ``text``, best first
        (``articles.search``), and the tenant's category titles by path (to name their categories)."""
        async with self.db.engine.connect() as conn:
            path = None if category_id is None else await self.category_path(conn, tenant, category_id)
            found = await find(conn, tenant, path=path, text=text, limit=limit)
            return found, await category_titles(conn, tenant)

    async def get(self, tenant: str, article_id: int) -> tuple[ArticleView, dict[str, str]]:
        """One article the tenant sees (``article``) and the tenant's category titles by path."""
        async with self.db.engine.connect() as conn:
            return await self.article(conn, tenant, article_id), await category_titles(conn, tenant)

    @staticmethod
    async def article(conn: AsyncConnection, tenant: str, article_id: int) -> ArticleView:
        """One article the tenant sees: its own or a shared one, deactivated ones too (tickets name them); another
        tenant's is as missing as one that is not."""
        if not is_id(article_id):
            raise _no_article(article_id)
        stmt = select(articles).where(
            articles.c.id == article_id, (articles.c.tenant == tenant) | articles.c.tenant.is_(None)
        )
        row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            raise _no_article(article_id)
        return view(row, (await paths_of(conn, [article_id])).get(article_id, ()))

    async def record(
        self, workflow: TicketWorkflow, tenant: str, ticket_id: int, article_id: int, *, solved: bool, actor: str
    ) -> Recorded:
        """Record that ``article_id`` was used on the ticket, solved or not (module docstring)."""
        if not is_id(ticket_id):
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
        async with self.db.engine.connect() as conn:
            article = await self.article(conn, tenant, article_id)
        if not article.active:
            withdrawn = Msg("the article %(title)s was withdrawn", title=Quoted(article.title))
            raise Conflict(withdrawn, {"article_id": article_id})
        resolve = workflow.status_change(TicketStatus.RESOLVED.value, article.title)
        done: dict[str, Any] = {}

        async def change(conn: AsyncConnection, row: Mapping[str, Any], now: datetime) -> list[Change]:
            if row["status"] in FINAL:
                final = Msg("ticket %(number)s is %(status)s: reopen it first", number=row["number"],
                            status=Label("status", row["status"]))  # fmt: skip
                raise Conflict(final, {"ticket_id": row["id"], "status": row["status"]})
            changes = await resolve(conn, row, now) if solved and row["status"] not in DONE else []
            done["resolved"] = bool(changes)
            done["use"] = await self._store(conn, tenant, row["id"], article, solved=solved, actor=actor, now=now)
            what = SOLVED if solved else TRIED
            return [*changes, Change(ACTION, what, None, article.id, article.title)]

        ticket = await workflow.record(tenant, ticket_id, change, actor=actor)
        return Recorded(ticket, done["resolved"], done["use"])

    @staticmethod
    async def _store(
        conn: AsyncConnection, tenant: str, ticket_id: int, article: ArticleView, *, solved: bool, actor: str,
        now: datetime,
    ) -> dict[str, Any]:  # fmt: skip
        """The use row of (ticket, article), inserted or updated (the ticket row is locked: no race)."""
        key = (uses.c.ticket_id == ticket_id) & (uses.c.article_id == article.id)
        found = (await conn.execute(select(uses).where(key))).mappings().first()
        values = {"solved": solved, "actor": actor, "updated_at": now}
        if found is None:
            row = {"tenant": tenant, "ticket_id": ticket_id, "article_id": article.id, "used_at": now, **values}
            await conn.execute(insert(uses).values(row))
        else:
            await conn.execute(update(uses).where(key).values(values))
            row = {**found, **values}
        return use_dict({**row, "title": article.title})

    async def ticket_state(self, tenant: str, ticket_id: int, *, budget_s: float) -> dict[str, Any]:
        """The articles used on the ticket and its 10-minute budget: ``first_level`` while the 10-minute rule
        still waits for it (a phone ticket at 1st level, not resolved), else None."""
        if not is_id(ticket_id):
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
        now = self._now()
        stmt = select(tickets.c.status, tickets.c.first_level_due_at).where(
            tickets.c.tenant == tenant, tickets.c.id == ticket_id
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
            if row is None:
                raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
            used = (await uses_of(conn, tenant, [ticket_id])).get(ticket_id, [])
        return {"ticket_id": ticket_id, "articles": used, "first_level": first_level(row, budget_s, now)}


def first_level(row: Any, budget_s: float, now: datetime) -> dict[str, Any] | None:
    """The budget of the 10-minute rule (``tickets.routing``) as the console counts it down: when the ticket
    leaves 1st level (``due_at``, the server's), when that clock started, and the seconds left at ``now``."""
    due: datetime | None = row.first_level_due_at
    if due is None or row.status in DONE:
        return None
    return {
        "due_at": iso(due),
        "started_at": iso(due - timedelta(seconds=budget_s)),
        "budget_s": budget_s,
        "remaining_s": round((due - now).total_seconds(), 1),
    }
