"""What the end of a period does to each data class's rows, in SQL: counted for the dry run, applied a bounded
batch at a time (every batch its own transaction; a batch leaves its rows out of the next one's selection, so a
run that stops half-way, or two instances at once, do no harm and the next run goes on).

Every rule leaves what the KPIs and the monthly report count: the calls' times, outcomes, queues and linkedids,
the tickets and their history, the ratings' scores, the subscriptions' rows (``tests/privacy`` builds months,
computes every report figure, applies every rule with short periods and computes them again: identical).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.ami import names
from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.callbacks.models import Callback, Status
from uhd_telephony.calls.models import Call
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.feedback.models import ratings
from uhd_telephony.incidents.models import IncidentSubscription
from uhd_telephony.mailin.models import attachments, messages
from uhd_telephony.outbox.models import OutboxStatus, outbox
from uhd_telephony.privacy import classes
from uhd_telephony.privacy.pseudonyms import HIDDEN, NAME_PREFIX, TOKEN_PREFIX, area_of, channel_of, token
from uhd_telephony.privacy.requesters import DONE, pseudonymise_tickets
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.view import tickets

calls = table_of(Call)
callbacks = table_of(Callback)
audit = table_of(AuditEntry)
subscriptions = table_of(IncidentSubscription)
PERSONAL_VARIABLES = (names.VAR_USER_ID, names.VAR_USER_NAME)


@dataclass(frozen=True, slots=True)
class Scope:
    """One tenant's run: its numbering plan (numbers cut to their area) and pseudonym key."""

    tenant: str
    plan: NumberingPlan
    secret: str


class Rule(abc.ABC):
    """One class's end of period."""

    data_class: classes.DataClass

    @abc.abstractmethod
    def due(self, scope: Scope, cutoff: datetime) -> tuple[Any, Any]:
        """The (count, oldest affected instant) of what goes at ``cutoff``, as one SELECT's two columns."""

    @abc.abstractmethod
    async def batch(self, conn: AsyncConnection, scope: Scope, cutoff: datetime, limit: int) -> int:
        """Apply to at most ``limit`` units; how many. Fewer than ``limit``: nothing is left."""

    async def count(self, conn: AsyncConnection, scope: Scope, cutoff: datetime) -> tuple[int, datetime | None]:
        count, oldest = self.due(scope, cutoff)
        row = (await conn.execute(select(count, oldest))).one()
        return int(row[0] or 0), row[1]


def _not_hidden(column: Any) -> ColumnElement[bool]:
    return and_(column != "", not_(column.like(f"%{HIDDEN}")))


class CallNumbers(Rule):
    data_class = classes.CALL_NUMBERS

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        c = calls.c
        personal = or_(c.caller_name != "", _not_hidden(c.caller_number), _not_hidden(c.channel))
        return and_(c.tenant == scope.tenant, c.entered_at < cutoff, c.outcome.is_not(None), personal)

    def due(self, scope: Scope, cutoff: datetime) -> tuple[Any, Any]:
        stmt = select(calls.c.entered_at).where(self._where(scope, cutoff)).subquery()
        return select(func.count()).select_from(stmt).scalar_subquery(), (
            select(func.min(stmt.c.entered_at)).scalar_subquery()
        )

    async def batch(self, conn: AsyncConnection, scope: Scope, cutoff: datetime, limit: int) -> int:
        c = calls.c
        stmt = select(c.id, c.caller_number, c.channel, c.variables).where(self._where(scope, cutoff))
        rows = (await conn.execute(stmt.order_by(c.id).limit(limit))).all()
        if rows:
            await conn.execute(
                update(calls)
                .where(c.id == bindparam("row_id"))
                .values(caller_number=bindparam("number"), caller_name="", channel=bindparam("chan"),
                        variables=bindparam("vars")),
                [{"row_id": r.id, "number": area_of(r.caller_number, scope.plan), "chan": channel_of(r.channel),
                  "vars": without_person(r.variables)} for r in rows],
            )  # fmt: skip
        return len(rows)


def without_person(variables: Any) -> dict[str, Any]:
    """The call's channel variables without the caller's directory user (id and name)."""
    return {k: v for k, v in dict(variables or {}).items() if k not in PERSONAL_VARIABLES}


class _Deleting(Rule):
    """A rule that deletes rows of one table by id."""

    table: Any
    instant: str

    @abc.abstractmethod
    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]: ...

    def due(self, scope: Scope, cutoff: datetime) -> tuple[Any, Any]:
        at = self.table.c[self.instant]
        where = self._where(scope, cutoff)
        return (select(func.count()).select_from(self.table).where(where).scalar_subquery(),
                select(func.min(at)).where(where).scalar_subquery())  # fmt: skip

    async def batch(self, conn: AsyncConnection, scope: Scope, cutoff: datetime, limit: int) -> int:
        ids = (await conn.execute(select(self.table.c.id).where(self._where(scope, cutoff)).limit(limit))).scalars()
        found = list(ids)
        if found:
            await self.remove(conn, found)
        return len(found)

    async def remove(self, conn: AsyncConnection, ids: Sequence[int]) -> None:
        await conn.execute(delete(self.table).where(self.table.c.id.in_(ids)))


class Callbacks(_Deleting):
    data_class, table, instant = classes.CALLBACKS, callbacks, "abandoned_at"

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        c = callbacks.c
        closed = c.status.in_((Status.DONE.value, Status.CLEARED.value))
        return and_(c.tenant == scope.tenant, closed, c.abandoned_at < cutoff)


class AuditLog(_Deleting):
    data_class, table, instant = classes.AUDIT_LOG, audit, "at"

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        return audit.c.at < cutoff


class OutboxSent(_Deleting):
    data_class, table, instant = classes.OUTBOX_SENT, outbox, "created_at"

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        o = outbox.c
        gone = o.status.in_((OutboxStatus.SENT.value, OutboxStatus.FAILED.value))
        return and_(o.tenant == scope.tenant, gone, func.coalesce(o.sent_at, o.created_at) < cutoff)


class MailIn(_Deleting):
    data_class, table, instant = classes.MAIL_IN, messages, "received_at"

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        return and_(messages.c.tenant == scope.tenant, messages.c.received_at < cutoff)

    async def remove(self, conn: AsyncConnection, ids: Sequence[int]) -> None:
        # SQLite enforces no foreign keys unless asked: the attachments go first, by hand, on both databases
        await conn.execute(delete(attachments).where(attachments.c.mail_id.in_(ids)))
        await super().remove(conn, ids)


class SatisfactionComments(Rule):
    data_class = classes.SATISFACTION_COMMENTS

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        r = ratings.c
        return and_(r.tenant == scope.tenant, r.commented_at < cutoff, r.comment.is_not(None), r.comment != "")

    def due(self, scope: Scope, cutoff: datetime) -> tuple[Any, Any]:
        where = self._where(scope, cutoff)
        return (select(func.count()).select_from(ratings).where(where).scalar_subquery(),
                select(func.min(ratings.c.commented_at)).where(where).scalar_subquery())  # fmt: skip

    async def batch(self, conn: AsyncConnection, scope: Scope, cutoff: datetime, limit: int) -> int:
        ids = list((await conn.execute(select(ratings.c.id).where(self._where(scope, cutoff)).limit(limit))).scalars())
        if ids:
            await conn.execute(update(ratings).where(ratings.c.id.in_(ids)).values(comment=""))
        return len(ids)


class IncidentSubscriptions(Rule):
    data_class = classes.INCIDENT_SUBSCRIPTIONS

    def _where(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        s = subscriptions.c
        personal = or_(not_(s.number.like(f"{TOKEN_PREFIX}%")), s.name.is_not(None), s.email.is_not(None))
        # a subscriber not told yet is still waiting for the notice
        return and_(s.tenant == scope.tenant, s.created_at < cutoff, s.notified_at.is_not(None), personal)

    def due(self, scope: Scope, cutoff: datetime) -> tuple[Any, Any]:
        where = self._where(scope, cutoff)
        return (select(func.count()).select_from(subscriptions).where(where).scalar_subquery(),
                select(func.min(subscriptions.c.created_at)).where(where).scalar_subquery())  # fmt: skip

    async def batch(self, conn: AsyncConnection, scope: Scope, cutoff: datetime, limit: int) -> int:
        s = subscriptions.c
        rows = (await conn.execute(select(s.id, s.number).where(self._where(scope, cutoff)).limit(limit))).all()
        for row in rows:
            await pseudonymise_subscriptions(conn, s.id == row.id, subscription_token(scope.secret, row.number))
        return len(rows)


def subscription_token(secret: str, number: str) -> str:
    return number if number.startswith(TOKEN_PREFIX) else token(secret, f"number:{number}")


async def pseudonymise_subscriptions(conn: AsyncConnection, where: ColumnElement[bool], pseudonym: str) -> int:
    values = {"number": pseudonym, "name": None, "email": None, "user_id": None}
    result = await conn.execute(update(subscriptions).where(where).values(**values))
    return int(result.rowcount or 0)


# ---------------------------------------------------------------------------------------------- ticket requesters
class TicketRequesters(Rule):
    """Per requester (directory user, calling number, mail address): once their newest ticket is older than the
    period and none of theirs is open, every ticket of theirs at once (``privacy.requesters``); tickets of a shared
    phone's place lose the mail address only (a place is no person); a ticket with a name alone, by itself."""

    data_class = classes.TICKET_REQUESTERS

    def _identities(self, scope: Scope, cutoff: datetime) -> list[tuple[str, Any, ColumnElement[bool]]]:
        """(kind, grouping column, which tickets) of each kind of requester key."""
        t = tickets.c
        anonymous = and_(t.requester_user_id.is_(None), t.requester_place_id.is_(None))
        return [
            ("user", t.requester_user_id, t.requester_user_id.is_not(None)),
            ("number", t.requester_number, and_(anonymous, _not_token(t.requester_number))),
            ("email", t.requester_email,
             and_(anonymous, t.requester_number == "", t.requester_email.is_not(None))),
        ]  # fmt: skip

    def _groups(self, scope: Scope, cutoff: datetime, column: Any, where: ColumnElement[bool]) -> Any:
        t = tickets.c
        still_open = func.sum(case((t.status.in_(DONE), 0), else_=1))
        return (
            select(column.label("key"), func.count().label("n"), func.min(t.created_at).label("oldest"))
            .where(t.tenant == scope.tenant, where)
            .group_by(column)
            .having(func.max(t.created_at) < cutoff, still_open == 0)
        )

    def _loose(self, scope: Scope, cutoff: datetime) -> ColumnElement[bool]:
        """Tickets with a name or address and no requester key: a place's, or a name alone."""
        t = tickets.c
        anonymous = and_(t.requester_user_id.is_(None), t.requester_number == "", t.requester_email.is_(None))
        named = and_(anonymous, t.requester_place_id.is_(None), t.requester_name != "",
                     not_(t.requester_name.like(f"{NAME_PREFIX}%")))  # fmt: skip
        place = and_(t.requester_place_id.is_not(None), t.requester_user_id.is_(None), t.requester_email.is_not(None))
        done = and_(t.status.in_(DONE), t.created_at < cutoff)
        return and_(t.tenant == scope.tenant, done, or_(named, place))

    def due(self, scope: Scope, cutoff: datetime) -> tuple[Any, Any]:
        # the keys' types differ (ids, numbers, addresses): the union carries only the counts and instants
        identities = self._identities(scope, cutoff)
        groups = [self._groups(scope, cutoff, column, where).subquery() for _, column, where in identities]
        parts = [select(g.c.n, g.c.oldest) for g in groups]
        loose = select(func.count().label("n"), func.min(tickets.c.created_at).label("oldest"))
        parts.append(loose.where(self._loose(scope, cutoff)))
        every = parts[0].union_all(*parts[1:]).subquery()
        return (select(func.coalesce(func.sum(every.c.n), 0)).scalar_subquery(),
                select(func.min(every.c.oldest)).scalar_subquery())  # fmt: skip

    async def batch(self, conn: AsyncConnection, scope: Scope, cutoff: datetime, limit: int) -> int:
        done = 0
        t = tickets.c
        for kind, column, where in self._identities(scope, cutoff):
            stmt = self._groups(scope, cutoff, column, where).limit(limit - done)
            for row in (await conn.execute(stmt)).all():
                key = f"{kind}:{str(row.key).lower() if kind == 'email' else row.key}"
                keyed = kind != "email"
                await pseudonymise_tickets(conn, scope.tenant, and_(where, column == row.key),
                                           token(scope.secret, key), keyed=keyed)  # fmt: skip
                done += 1
            if done >= limit:
                return done
        loose = (await conn.execute(select(t.id).where(self._loose(scope, cutoff)).limit(limit - done))).scalars()
        for ticket_id in list(loose):
            await pseudonymise_loose(conn, scope, ticket_id)
            done += 1
        return done


def _not_token(column: Any) -> ColumnElement[bool]:
    return and_(column != "", not_(column.like(f"{TOKEN_PREFIX}%")))


async def pseudonymise_loose(conn: AsyncConnection, scope: Scope, ticket_id: int) -> None:
    """A place's ticket loses its mail address; a ticket with a name alone gets a pseudonym of its own."""
    t = tickets.c
    row = (await conn.execute(select(t.requester_place_id).where(t.id == ticket_id))).one()
    if row.requester_place_id is not None:
        await conn.execute(update(tickets).where(t.id == ticket_id).values(requester_email=None))
        return
    await pseudonymise_tickets(conn, scope.tenant, t.id == ticket_id, token(scope.secret, f"ticket:{ticket_id}"),
                               keyed=False)  # fmt: skip


_ALL: tuple[Rule, ...] = (CallNumbers(), Callbacks(), TicketRequesters(), AuditLog(), OutboxSent(), MailIn(),
                          IncidentSubscriptions(), SatisfactionComments())  # fmt: skip
RULES: dict[str, Rule] = {rule.data_class.code: rule for rule in _ALL}
