"""TicketService: opens exactly one ticket per answered call, reads tickets per tenant, classifies them.

Every method takes the tenant and looks a ticket up by (tenant, id): a ticket of another tenant is NotFound,
exactly like one that does not exist. Each method is one short transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.calls.records import CallRecord
from uhd_telephony.errors import Conflict, NotFound, StoreError, TicketError
from uhd_telephony.i18n import Label, Msg, Quoted
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import TENANT_LENGTH, is_tenant
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.categories import categories
from uhd_telephony.tickets.history import SYSTEM, Action, Change
from uhd_telephony.tickets.ids import next_number, normalise_number, number_year
from uhd_telephony.tickets.models import Channel, TicketStatus
from uhd_telephony.tickets.notify import notify_caller
from uhd_telephony.tickets.priority import DEFAULT_MATRIX, PriorityMatrix, parse_level, priority
from uhd_telephony.tickets.requester import DirectoryMatch, Requester, requester_of
from uhd_telephony.tickets.view import TicketView, from_row, tickets, view_select

log = logging.getLogger(__name__)

# the helpdesk's local time decides a ticket number's year (a call at 00:30 on 1 January is next year's)
NUMBER_TZ = ZoneInfo("Europe/Berlin")
SUBJECT_LENGTH = 200
TEXT_LIMIT = 20_000  # a description, comment or note
MAX_RECENT = 50
MAX_ID = 2**63
# the 10-minute rule (tickets.routing): a phone ticket still at 1st level this long after the answer goes on
FIRST_LEVEL_LIMIT_S = 600.0
# classifying these moves the ticket on to "in progress": an agent is working it now
_START_WORK = {TicketStatus.NEW.value, TicketStatus.REOPENED.value}


# work done inside a new ticket's transaction: (connection, ticket id, now)
AfterInsert = Callable[[AsyncConnection, int, datetime], Awaitable[None]]


class _Rollback(Exception):
    """Ends a transaction without a write: the ticket existed already, or nothing changed."""


def _insert_statement(dialect: str, values: dict[str, Any], *, on_linkedid_conflict: bool) -> Insert:
    """INSERT of one ticket; with ``on_linkedid_conflict`` it does nothing when the conversation has a ticket."""
    # the conflict target is named: a clash on anything else (the number) must fail loudly, not be skipped
    target = [tickets.c.call_linkedid]
    if dialect == "postgresql":
        pg = postgresql.insert(tickets).values(values)
        return pg.on_conflict_do_nothing(index_elements=target) if on_linkedid_conflict else pg
    if dialect == "sqlite":
        lite = sqlite.insert(tickets).values(values)
        return lite.on_conflict_do_nothing(index_elements=target) if on_linkedid_conflict else lite
    raise StoreError(f"no ticket insert for database dialect {dialect!r}")


def _check_text(value: str | None, field: str, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TicketError(Msg("%(field)s must be text", field=Label("field", field)), {"field": field})
    if limit is not None and len(value) > limit:
        too_long = Msg("%(field)s is longer than %(limit)s characters", field=Label("field", field), limit=limit)
        raise TicketError(too_long, {"field": field})
    if "\x00" in value:
        raise TicketError(Msg("%(field)s contains a NUL character", field=Label("field", field)), {"field": field})
    return value


def is_id(value: object) -> bool:
    """Whether ``value`` can be a ticket id: a positive integer within BIGINT."""
    # an id from a URL can be any integer: beyond BIGINT PostgreSQL fails the query instead of finding nothing
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_ID


def _answered(call: CallRecord, fallback: datetime) -> datetime:
    return fallback if call.answered_at is None else datetime.fromtimestamp(call.answered_at, UTC)


def _first_level_start(call: CallRecord, now: datetime) -> datetime:
    """Where the 10-minute rule starts counting: the answer; for a ticket opened only after the call ended (a
    database outage, a call found in the queue_log), now: the agent gets the same time to solve it as live."""
    answered = _answered(call, now)
    return max(answered, now) if call.ended_at is not None else answered


def _check_actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 128:
        raise TicketError("actor must name who acts (system, agent:<id>, ...) in at most 128 characters")
    return actor


def _check_category_id(category_id: object) -> None:
    if isinstance(category_id, bool) or not isinstance(category_id, int):
        not_an_id = Msg("category_id must be an integer, got %(value)s", value=Quoted(category_id, 40))
        raise TicketError(not_an_id, {"field": "category_id"})


def _levels(impact: int | str | None, urgency: int | str | None) -> tuple[int | None, int | None]:
    """Impact and urgency as levels 1..5 (names such as ``"high"`` too); None stays None."""
    try:
        return (
            None if impact is None else parse_level(impact, "impact"),
            None if urgency is None else parse_level(urgency, "urgency"),
        )
    except ValueError as exc:  # priority.parse_level's words (a Msg)
        raise TicketError(exc.args[0]) from None


def is_staff(actor: str) -> bool:
    """Whether ``actor`` is a logged-in account (``agent:<id>``), whose first action is the first response."""
    return actor.startswith("agent:")


def clean_text(value: str | None, field: str, *, required: bool = False, limit: int = TEXT_LIMIT) -> str | None:
    """An agent's text as stored: stripped, None when blank; TicketError when required and blank, too long, not
    text or holding a NUL."""
    if value is not None and not isinstance(value, str):
        raise TicketError(Msg("%(field)s must be text", field=Label("field", field)), {"field": field})
    if value is not None:
        value = value.strip()
    if required and not value:
        raise TicketError(Msg("%(field)s is required", field=Label("field", field)), {"field": field})
    if value and len(value) > limit:
        raise TicketError(
            Msg("%(field)s is longer than %(limit)s characters", field=Label("field", field), limit=limit),
            {"field": field},
        )
    if value and "\x00" in value:
        raise TicketError(Msg("%(field)s contains a NUL character", field=Label("field", field)), {"field": field})
    return value or None


class TicketService:
    """Tickets over one Database; ``now`` and the numbering time zone are injectable for tests."""

    def __init__(
        self,
        db: Database,
        *,
        matrix: PriorityMatrix = DEFAULT_MATRIX,
        number_tz: tzinfo = NUMBER_TZ,
        now: Callable[[], datetime] | None = None,
        first_level_limit_s: float = FIRST_LEVEL_LIMIT_S,
    ) -> None:
        self.db = db
        self.first_level_limit_s = first_level_limit_s
        self.matrix = matrix
        self.number_tz = number_tz
        self._now = now or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        """The service's clock (injectable for tests): the time every ticket write of it records."""
        return self._now()

    # -- creation ---------------------------------------------------------------------------------------------

    async def open_for_call(
        self,
        call: CallRecord,
        *,
        requester: Mapping[str, Any] | DirectoryMatch | None = None,
        agent_id: int | None = None,
        agent_name: str | None = None,
        then: AfterInsert | None = None,
    ) -> tuple[TicketView, bool]:
        """The ticket of the call's conversation (tenant, Linkedid): (new ticket, True) or (existing, False).

        Idempotent and race-safe: a second queue call after a transfer, a replay, a reconnect or another service
        instance finds the ticket the first one opened; the unique constraint on (tenant, call_linkedid) decides
        a race, the loser reads the winner's row and writes nothing.
        """
        tenant = call.tenant
        if not is_tenant(tenant):
            raise TicketError(f"call {call.call_id!r} has no usable tenant ({tenant!r})", {"call_id": call.call_id})
        # Asterisk gives every channel a Linkedid; the fallbacks only matter for a hand-made record
        linkedid = call.linkedid or call.uniqueid or call.call_id
        if not linkedid:
            raise TicketError("a call without call_id or linkedid cannot get a ticket")
        if agent_id is not None and not is_id(agent_id):
            raise TicketError(f"agent_id must be a positive integer, got {agent_id!r}", {"field": "agent_id"})
        # the insert comes first and the existing ticket is read only when it says there is one: an answered
        # call almost always opens a new ticket, and the pop waits for this (one round trip fewer)
        who = requester_of(call, requester)
        agent = agent_name if agent_name is not None else call.agent
        now = self._now()
        values = {
            "tenant": tenant,
            "status": TicketStatus.NEW.value,
            "channel": Channel.PHONE.value,
            "subject": "",
            "description": "",
            "requester_user_id": who.user_id,
            "requester_place_id": who.place_id,
            "requester_number": who.number,
            "requester_name": who.name,
            "vip": who.vip,
            "call_id": call.call_id,
            "call_linkedid": linkedid,
            "agent_id": agent_id,
            "agent_name": None if agent is None else str(agent).replace("\x00", "\ufffd")[:200],
            # the agent has the caller on the line: the ticket is responded to the moment it opens
            "first_response_at": now,
            "first_level_due_at": _first_level_start(call, now) + timedelta(seconds=self.first_level_limit_s),
        }
        note = f"phone call {call.call_id} answered by {agent or 'an agent'}"
        inserted = await self._insert(values, now, note, on_linkedid_conflict=True, then=then)
        if inserted is None:
            existing = await self._conversation(tenant, linkedid, call.call_id)
            if existing is None:  # pragma: no cover - the conflicting row is committed before we are told
                raise StoreError(f"ticket of call {linkedid!r} vanished after a conflict", {"tenant": tenant})
            return existing, False
        log.info("ticket opened for call %s (linkedid %s) of tenant %s", call.call_id, linkedid, tenant)
        # the row as inserted (the history hooks and ``then`` write beside it, not to it; no category to join yet):
        # no second round trip before the pop
        return from_row({**inserted, "category_path": None, "category_name": None, "category_group": None}), True

    async def create(
        self,
        tenant: str,
        *,
        channel: Channel | str,
        subject: str,
        description: str = "",
        requester: Requester,
        actor: str,
        category_id: int | None = None,
        impact: int | str | None = None,
        urgency: int | str | None = None,
        then: AfterInsert | None = None,
    ) -> TicketView:
        """A ticket that did not come from a call (web form, mail, typed in); status new, numbered like any other.

        Classified in the same transaction when a category is given (impact and urgency default to the
        category's). A phone ticket an agent types in is responded to at once (the caller is on the line); a web
        or mail ticket waits for its first agent action. ``then`` writes in the same transaction, last (a mail's
        own record and attachments: the ticket exists with them or not at all).
        """
        if not is_tenant(tenant):
            invalid = Msg(
                "invalid tenant %(tenant)s: 1..%(limit)s printable characters",
                tenant=Quoted(tenant, 80),
                limit=TENANT_LENGTH,
            )
            raise TicketError(invalid, {"field": "tenant"})
        try:
            kind = Channel(channel)
        except ValueError:
            unknown = Msg("unknown channel %(channel)s", channel=Quoted(channel, 40))
            raise TicketError(unknown, {"field": "channel"}) from None
        if category_id is None and (impact is not None or urgency is not None):
            raise TicketError(Msg("impact and urgency need a category_id"), {"field": "category_id"})
        levels = _levels(impact, urgency) if category_id is not None else (None, None)
        if category_id is not None:
            _check_category_id(category_id)
        now = self._now()
        values = {
            "tenant": tenant,
            "status": TicketStatus.NEW.value,
            "channel": kind.value,
            "subject": _check_text(subject, "subject", SUBJECT_LENGTH),
            "description": _check_text(description, "description"),
            "requester_user_id": requester.user_id,
            "requester_place_id": requester.place_id,
            "requester_number": _check_text(requester.number, "requester number", 64),
            "requester_name": _check_text(requester.name, "requester name", 200),
            "requester_email": _check_text(requester.email, "requester email", 254),
            "vip": requester.vip,
            "first_response_at": now if kind == Channel.PHONE and is_staff(actor) else None,
        }

        async def after(conn: AsyncConnection, ticket_id: int, now: datetime) -> None:
            if category_id is not None:
                changes = await self._classify(conn, tenant, ticket_id, now, category_id, *levels, None, None)
                await hist.append(conn, ticket_id, now, actor, changes)
            if then is not None:
                await then(conn, ticket_id, now)

        inserted = await self._insert(values, now, f"{kind.value} ticket", actor=_check_actor(actor), then=after)
        assert inserted is not None  # no conflict target: a failed insert raises
        return await self.get(tenant, int(inserted["id"]))  # read again: the classification changed it

    async def _insert(
        self,
        values: dict[str, Any],
        now: datetime,
        note: str,
        *,
        actor: str = SYSTEM,
        on_linkedid_conflict: bool = False,
        then: AfterInsert | None = None,
    ) -> Mapping[str, Any] | None:
        """Number and insert one ticket with its ``created`` history row: the row as inserted (``then`` may change
        it after); None when its Linkedid has one already."""
        try:
            async with self.db.engine.begin() as conn:
                # the counter row first: its lock orders concurrent inserts (module tickets.ids)
                number = await next_number(conn, number_year(now, self.number_tz))
                stmt = _insert_statement(
                    conn.dialect.name,
                    {**values, "number": number, "created_at": now, "updated_at": now},
                    on_linkedid_conflict=on_linkedid_conflict,
                )
                found = (await conn.execute(stmt.returning(*tickets.c))).mappings().one_or_none()
                if found is None:
                    # the conversation has its ticket: roll back, which also gives the number back
                    raise _Rollback
                inserted: dict[str, Any] = dict(found)
                ticket_id = int(inserted["id"])
                await hist.append(conn, ticket_id, now, actor, [Change(Action.CREATED, "number", None, number, note)])
                # the caller's mail with the status link commits with the ticket (the outbox sends it)
                await notify_caller(conn, inserted, "created", new=True)
                if then is not None:
                    await then(conn, ticket_id, now)
        except _Rollback:
            return None
        return inserted

    # -- reading ----------------------------------------------------------------------------------------------

    async def get(self, tenant: str, ticket_id: int) -> TicketView:
        """One ticket of the tenant; NotFound when it does not exist or belongs to another tenant."""
        found = (
            await self._one(and_(tickets.c.tenant == tenant, tickets.c.id == ticket_id)) if is_id(ticket_id) else None
        )
        if found is None:
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
        return found

    async def by_number(self, tenant: str, number: str) -> TicketView:
        """One ticket of the tenant by its number (``UHD-2026-000123``, case-insensitive); NotFound otherwise."""
        canonical = normalise_number(number) if isinstance(number, str) else None
        found = None
        if canonical is not None:
            found = await self._one(and_(tickets.c.tenant == tenant, tickets.c.number == canonical))
        if found is None:
            raise NotFound(Msg("no ticket %(number)s", number=Quoted(number, 40)), {"number": str(number)})
        return found

    async def recent_for_requester(
        self,
        tenant: str,
        *,
        user_id: int | None = None,
        number: str | None = None,
        limit: int = 5,
        exclude_id: int | None = None,
    ) -> list[TicketView]:
        """A requester's newest tickets, newest first: by directory user when known, else by phone number.

        A known user is matched by ``user_id`` only: a shared ward phone's number would otherwise show the
        tickets of everyone who ever called from it.
        """
        if user_id is not None:
            if not is_id(user_id):
                return []
            where = tickets.c.requester_user_id == user_id
        elif number:
            where = tickets.c.requester_number == number
        else:
            return []
        stmt = view_select().where(tickets.c.tenant == tenant, where)
        if exclude_id is not None:
            stmt = stmt.where(tickets.c.id != exclude_id)
        stmt = stmt.order_by(tickets.c.created_at.desc(), tickets.c.id.desc()).limit(max(0, min(limit, MAX_RECENT)))
        async with self.db.engine.connect() as conn:
            return [from_row(row) for row in (await conn.execute(stmt)).mappings()]

    async def history(self, tenant: str, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's history, oldest first; NotFound for a ticket of another tenant."""
        async with self.db.engine.connect() as conn:
            await self._owned(conn, tenant, ticket_id)
            return await hist.entries(conn, ticket_id)

    async def _one(self, where: Any) -> TicketView | None:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(view_select().where(where))).mappings().first()
        return None if row is None else from_row(row)

    async def _conversation(self, tenant: str, linkedid: str, call_id: str) -> TicketView | None:
        """The ticket of a conversation, with its tenant corrected when the call now says another one.

        A call rebuilt by a resync before its ``UHD_TENANT`` was known may have opened the ticket under the
        fallback tenant. The same conversation under its right tenant takes that ticket over while nobody has
        worked it (new, unclassified): one ticket, the right tenant, a history row saying so. A ticket already
        worked stays where it is (the caller's data never moves between tenants behind an agent's back).
        """
        found = await self._one(tickets.c.call_linkedid == linkedid)
        if found is None or found.tenant == tenant:
            return found
        moved = False
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(tickets)
                .where(
                    tickets.c.id == found.id,
                    tickets.c.tenant == found.tenant,
                    tickets.c.status == TicketStatus.NEW.value,
                    tickets.c.category_id.is_(None),
                )
                .values(tenant=tenant, updated_at=self._now())
            )
            if result.rowcount == 1:
                moved = True
                note = f"call {call_id} belongs to tenant {tenant}"
                await hist.append(
                    conn, found.id, self._now(), SYSTEM, [Change(Action.TENANT, "tenant", found.tenant, tenant, note)]
                )
        if moved:
            log.warning("ticket %s of call %s moved from tenant %s to %s", found.number, call_id, found.tenant, tenant)
            return await self.get(tenant, found.id)
        log.warning(
            "call %s of tenant %s belongs to ticket %s of tenant %s, already worked: not moved",
            call_id,
            tenant,
            found.number,
            found.tenant,
        )
        return found

    @staticmethod
    async def _owned(conn: AsyncConnection, tenant: str, ticket_id: int) -> None:
        stmt = select(tickets.c.id).where(tickets.c.tenant == tenant, tickets.c.id == ticket_id)
        if not is_id(ticket_id) or (await conn.execute(stmt)).first() is None:
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})

    # -- changes ----------------------------------------------------------------------------------------------

    async def classify(
        self,
        tenant: str,
        ticket_id: int,
        *,
        category_id: int,
        impact: int | str | None = None,
        urgency: int | str | None = None,
        description: str | None = None,
        subject: str | None = None,
        actor: str,
    ) -> TicketView:
        """Set category, impact, urgency, text; compute the priority. The one way a ticket is classified: the
        console's classify, the API's PATCH with a category and the demo desk all come here.

        Impact and urgency: as given, else the ticket's own, else the category's defaults. Subject and
        description: None leaves them; a subject must not be blank, both are stripped. One history row per
        changed field with its old and new value; a new or reopened ticket moves to in_progress; a staff
        account's first change is the first response. Unknown or inactive categories and bad levels are
        TicketError, a closed ticket Conflict; nothing changed writes nothing.
        """
        _check_actor(actor)
        _check_category_id(category_id)
        if not is_id(ticket_id):
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
        impact_in, urgency_in = _levels(impact, urgency)
        subject = clean_text(subject, "subject", required=True, limit=SUBJECT_LENGTH) if subject is not None else None
        description = (clean_text(description, "description") or "") if description is not None else None
        now = self._now()
        try:
            async with self.db.engine.begin() as conn:
                changes = await self._classify(
                    conn, tenant, ticket_id, now, category_id, impact_in, urgency_in, subject, description,
                    keep_levels=True,
                )  # fmt: skip
                if not changes:
                    raise _Rollback
                await hist.append(conn, ticket_id, now, actor, changes)
                if is_staff(actor):
                    await conn.execute(
                        update(tickets)
                        .where(tickets.c.id == ticket_id, tickets.c.first_response_at.is_(None))
                        .values(first_response_at=now)
                    )
        except _Rollback:
            pass
        return await self.get(tenant, ticket_id)

    async def _classify(
        self,
        conn: AsyncConnection,
        tenant: str,
        ticket_id: int,
        now: datetime,
        category_id: int,
        impact: int | None,
        urgency: int | None,
        subject: str | None,
        description: str | None,
        *,
        keep_levels: bool = False,
    ) -> list[Change]:
        """Classify the ticket in ``conn``'s transaction; the history rows to append (none: nothing changed).

        Levels not given: with ``keep_levels`` the ticket's own first, then the category's defaults."""
        # the first statement writes: it locks the ticket row (PostgreSQL) or takes the write lock (SQLite), so
        # two agents classifying at once queue up and each history row's old value is the one it replaced
        touched = await conn.execute(
            update(tickets).where(tickets.c.tenant == tenant, tickets.c.id == ticket_id).values(updated_at=now)
        )
        if touched.rowcount == 0:
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
        row = (await conn.execute(view_select().where(tickets.c.id == ticket_id))).mappings().one()
        if row["status"] == TicketStatus.CLOSED.value:
            closed = Msg("ticket %(number)s is closed", number=row["number"])
            raise Conflict(closed, {"ticket_id": ticket_id, "status": row["status"]})
        stmt = select(categories).where(categories.c.tenant == tenant, categories.c.id == category_id)
        category = (await conn.execute(stmt)).mappings().first() if is_id(category_id) else None
        if category is None:
            # another tenant's category is as unknown as a missing one
            unknown = Msg("unknown category %(id)s", id=category_id)
            raise TicketError(unknown, {"field": "category_id", "category_id": category_id})
        if not category["active"]:
            path = Quoted(category["path"], shown=category["name"])
            raise TicketError(Msg("category %(path)s is no longer in use", path=path), {"field": "category_id"})
        if keep_levels:
            impact = impact if impact is not None else row["impact"]
            urgency = urgency if urgency is not None else row["urgency"]
        impact = impact if impact is not None else category["default_impact"]
        urgency = urgency if urgency is not None else category["default_urgency"]
        for field, level in (("impact", impact), ("urgency", urgency)):
            if level is None:
                no_default = Msg(
                    "%(field)s is required: category %(path)s has no default",
                    field=Label("field", field),
                    path=Quoted(category["path"], shown=category["name"]),
                )
                raise TicketError(no_default, {"field": field})
        assert impact is not None and urgency is not None
        new = {
            "category_id": category_id,
            "impact": impact,
            "urgency": urgency,
            "priority": priority(impact, urgency, vip=bool(row["vip"]), matrix=self.matrix),
            "subject": row["subject"] if subject is None else subject,
            "description": row["description"] if description is None else description,
            "status": TicketStatus.IN_PROGRESS.value if row["status"] in _START_WORK else row["status"],
        }
        changes: list[Change] = []
        for field, value in new.items():
            if row[field] == value:
                continue
            if field == "category_id":
                # paths read better than ids in the history, and stay meaningful after a re-import
                changes.append(Change(Action.CLASSIFIED, "category", row["category_path"], category["path"]))
            elif field == "priority":
                vip = " (VIP: urgency raised one level)" if row["vip"] else ""
                changes.append(
                    Change(Action.PRIORITY, field, row[field], value, f"impact {impact} x urgency {urgency}{vip}")
                )
            elif field == "status":
                changes.append(Change(Action.STATUS, field, row[field], value))
            else:
                changes.append(Change(Action.CLASSIFIED, field, row[field], value))
        if changes:
            await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values({**new, "updated_at": now}))
        return changes
