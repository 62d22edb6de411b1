"""IncidentService: declare a major incident, edit it, link tickets to it, resolve it.

Every method takes the tenant and finds an incident by (tenant, id): another tenant's incident is ``NotFound``
exactly like one that does not exist, and so is another tenant's ticket (``TicketService.get``). Tickets change
only through the tickets capability (``TicketService.create``, ``TicketWorkflow``, ``tickets.history``), so each
change has its history rows and hooks like any other. The resolve cascade is ``incidents.cascade``.

Declaring is one transaction: a new parent ticket (``TicketService.create``, numbered and classified) with the
incident and its links written in its ``then``, or the incident and its links on a named parent. What was read
before is checked again as it is written, so a race (a ticket linked elsewhere meanwhile) ends in ``Conflict``
with nothing written. The announcement is spoken afterwards (``incidents.prompt``): callers hear the recorded
generic one until it is there, or when it cannot be made.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Insert, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import Label, Msg, Quoted
from uhd_telephony.i18n.labels import account_id
from uhd_telephony.incidents import board, cascade, prompt
from uhd_telephony.incidents.models import TITLE_LENGTH, IncidentStatus
from uhd_telephony.incidents.view import (
    IncidentView,
    accounts,
    details,
    in_period,
    incidents,
    links,
    read,
    view_select,
)
from uhd_telephony.store.db import Database, insert_or_nothing
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import Change
from uhd_telephony.tickets.models import Channel, TicketStatus
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService, is_id
from uhd_telephony.tickets.view import TicketView, categories, tickets
from uhd_telephony.tickets.workflow import TicketWorkflow

log = logging.getLogger(__name__)

OPEN, RESOLVED = IncidentStatus.OPEN.value, IncidentStatus.RESOLVED.value
MESSAGE_LENGTH = 1000  # what callers hear: about a minute of speech
RESOLUTION_LENGTH = 5000
MAX_LINKED = 500  # tickets linked in one declaration (a suggestion's)
MAX_PAGE = 200
CLOCK_SKEW = timedelta(minutes=1)  # a browser's clock a little ahead is not "in the future"
SOUNDS_FOLDER = "uhd-incidents"  # the sounds directory's folder Asterisk plays the announcements from
# the ticket history's rows of incidents (described in words by incidents.history_text)
ACTION = "incident"
LINKED, PARENT = "incident", "parent_of"
FINISHED = frozenset({TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value})
# a spoken announcement: (text, file name, directory) -> whether the WAV was written (incidents.prompt.speak)
Speaker = Callable[..., Awaitable[bool]]


class _Unset:
    """A field a PATCH did not name (None there means "clear it")."""


UNSET: Final = _Unset()
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _field(name: str) -> Label:
    return Label("field", name)


def check_text(value: object, field: str, limit: int, *, one_line: bool = False) -> str:
    """A person's text as stored: stripped (one line: every run of blanks one space), required, at most ``limit``
    characters, no control characters (line breaks and tabs are text where more than one line is)."""
    if not isinstance(value, str):
        raise InvalidInput(Msg("%(field)s must be text", field=_field(field)), {"field": field})
    text = " ".join(value.split()) if one_line else value.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput(Msg("%(field)s is required", field=_field(field)), {"field": field})
    if len(text) > limit:
        too_long = Msg("%(field)s is longer than %(limit)s characters", field=_field(field), limit=limit)
        raise InvalidInput(too_long, {"field": field})
    if _CONTROL.search(text) or any(unicodedata.category(c) == "Cs" for c in text):
        raise InvalidInput(Msg("%(field)s contains control characters", field=_field(field)), {"field": field})
    return text


def _moment(value: datetime, field: str, now: datetime) -> datetime:
    """An instant a person gave: with its time zone, not in the future."""
    if value.tzinfo is None:
        raise InvalidInput(Msg("%(field)s needs a time zone", field=_field(field)), {"field": field})
    if value > now + CLOCK_SKEW:
        raise InvalidInput(Msg("%(field)s must not be in the future", field=_field(field)), {"field": field})
    return value


def _account(actor: str) -> Any:
    """The account behind ``actor`` as a column value: NULL when there is no such account (never a failed write)."""
    who = account_id(actor)
    return None if who is None else select(accounts.c.id).where(accounts.c.id == who).scalar_subquery()


def prompt_name(tenant: str, incident_id: int, message: str) -> str:
    """The announcement's file name: the tenant as a file name allows it, the incident, the message's hash (a new
    file per text: a caller hearing the old one while it is replaced hears it whole)."""
    slug = re.sub(r"[^A-Za-z0-9-]+", "-", tenant).strip("-")[:64] or "tenant"
    digest = hashlib.sha256(message.encode("utf-8")).hexdigest()[:8]
    return f"uhd-incident-{slug}-{incident_id}-{digest}"


def no_incident(incident_id: int) -> NotFound:
    return NotFound(Msg("no major incident %(id)s", id=incident_id), {"incident_id": incident_id})


def _insert_link(dialect: str) -> Insert:
    """An insert into ``incident_tickets`` that skips a ticket linked already (to this incident or another)."""
    return insert_or_nothing(dialect, links, [links.c.ticket_id])


class IncidentService:
    """Major incidents over the tickets' service (its database and clock); ``sounds_dir``: where announcements go
    (None, or a folder that does not exist: callers hear the recorded generic announcement)."""

    def __init__(
        self, tickets: TicketService, *, sounds_dir: Path | None = None, speak: Speaker = prompt.speak
    ) -> None:
        self.tickets = tickets
        self.workflow = TicketWorkflow(tickets)
        self.db: Database = tickets.db
        self.sounds_dir = sounds_dir
        self.speak = speak

    def now(self) -> datetime:
        return self.tickets.now()

    # -- reading ----------------------------------------------------------------------------------------------

    async def get(self, tenant: str, incident_id: int) -> IncidentView:
        """One incident of the tenant; NotFound for an unknown one and for another tenant's."""
        if not is_id(incident_id):
            raise no_incident(incident_id)
        stmt = view_select().where(incidents.c.tenant == tenant, incidents.c.id == incident_id)
        async with self.db.engine.connect() as conn:
            found = await read(conn, tenant, stmt)
        if not found:
            raise no_incident(incident_id)
        return found[0]

    async def details(self, tenant: str, incident_id: int) -> tuple[IncidentView, list[Any], list[Any]]:
        """The incident with its linked tickets and its subscribers."""
        view = await self.get(tenant, incident_id)
        async with self.db.engine.connect() as conn:
            linked, subscribed = await details(conn, incident_id)
        return view, linked, subscribed

    async def listing(
        self, tenant: str, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[IncidentView], int]:
        """The tenant's incidents, newest declared first (``status``: open or resolved only) and how many there
        are in all."""
        where = [incidents.c.tenant == tenant]
        if status is not None:
            where.append(incidents.c.status == status)
        stmt = (
            view_select()
            .where(*where)
            .order_by(incidents.c.declared_at.desc(), incidents.c.id.desc())
            .limit(max(1, min(limit, MAX_PAGE)))
            .offset(max(0, offset))
        )
        async with self.db.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(incidents).where(*where))).scalar_one()
            return await read(conn, tenant, stmt), int(total)

    async def in_period(self, tenant: str, start: datetime, end: datetime) -> list[IncidentView]:
        """The incidents of the tenant going on in ``[start, end)`` (``view.in_period``)."""
        async with self.db.engine.connect() as conn:
            return await in_period(conn, tenant, start, end)

    # -- declaring ----------------------------------------------------------------------------------------------

    async def declare(
        self,
        tenant: str,
        *,
        title: str,
        caller_message: str,
        actor: str,
        actor_name: str = "",
        category: str | None = None,
        known_at: datetime | None = None,
        parent_ticket_id: int | None = None,
        ticket_ids: Sequence[int] = (),
    ) -> IncidentView:
        """Declare a major incident: its parent ticket (``parent_ticket_id``, else a new one with the title,
        classified in ``category`` at the highest impact and urgency), ``ticket_ids`` linked (a pile-up's), the
        announcement spoken. ``known_at``: when it became known — by default the first report among the parent
        and the linked tickets, else now."""
        title = check_text(title, "title", TITLE_LENGTH, one_line=True)
        message = check_text(caller_message, "caller_message", MESSAGE_LENGTH)
        ids = _ticket_ids(ticket_ids)
        if parent_ticket_id is not None and parent_ticket_id in ids:
            raise InvalidInput(Msg("the parent ticket cannot also be linked"), {"field": "ticket_ids"})
        now = self.now()
        async with self.db.engine.connect() as conn:
            category_id = await _category(conn, tenant, category) if category is not None else None
            reported = await _linkable(conn, tenant, ids)
        parent = await self._parent(tenant, parent_ticket_id) if parent_ticket_id is not None else None
        first = min([now, *reported.values(), *([parent.created_at] if parent is not None else [])])
        known = _moment(known_at, "known_at", now) if known_at is not None else first
        values = {
            "tenant": tenant, "title": title, "caller_message": message, "category": category, "status": OPEN,
            "known_at": known, "declared_at": now, "declared_by": _account(actor),
        }  # fmt: skip
        made: list[int] = []

        async def record(conn: AsyncConnection, parent_id: int, at: datetime) -> None:
            """The incident on its parent, and its links, in the parent's transaction when it is a new one."""
            inserted = await conn.execute(
                incidents.insert().values({**values, "parent_ticket_id": parent_id}).returning(incidents.c.id)
            )
            made.append(int(inserted.scalar_one()))
            await hist.append(conn, parent_id, at, actor, [Change(ACTION, PARENT, None, made[0], title)])
            for ticket_id in ids:
                await self._link(conn, tenant, made[0], title, ticket_id, actor, at)

        if parent is None:
            parent = await self.tickets.create(
                tenant, channel=Channel.WEB, subject=title, description=message, requester=Requester(name=actor_name),
                actor=actor, category_id=category_id, impact=1 if category_id else None,
                urgency=1 if category_id else None, then=record,
            )  # fmt: skip
        else:
            try:
                async with self.db.engine.begin() as conn:
                    await record(conn, parent.id, now)
            except IntegrityError:  # the parent became another incident's meanwhile
                taken = Msg("ticket %(number)s belongs to another major incident", number=parent.number)
                raise Conflict(taken, {"ticket_id": parent.id}) from None
        incident_id = made[0]
        log.info("major incident %s declared for tenant %s (parent ticket %s, %d linked)", incident_id, tenant,
                 parent.number, len(ids))  # fmt: skip
        board.changed(self.db, tenant)
        await self._announce(tenant, incident_id, message, None)
        return await self.get(tenant, incident_id)

    async def _parent(self, tenant: str, ticket_id: int) -> TicketView:
        """The existing ticket named as parent: of the tenant (else NotFound), not finished, of no incident."""
        parent = await self.tickets.get(tenant, ticket_id)
        if parent.status in FINISHED:
            finished = Msg(
                "ticket %(number)s is %(status)s: a major incident needs an unresolved parent ticket",
                number=parent.number,
                status=Label("status", parent.status),
            )
            raise Conflict(finished, {"ticket_id": ticket_id, "status": parent.status})
        async with self.db.engine.connect() as conn:
            await _linkable(conn, tenant, [ticket_id])
        return parent

    async def _link(
        self,
        conn: AsyncConnection,
        tenant: str,
        incident_id: int,
        title: str,
        ticket_id: int,
        actor: str,
        now: datetime,
    ) -> bool:
        """Link the ticket in ``conn``'s transaction with its history row; False when it is linked to this
        incident already, Conflict when to another one or when it is an incident's parent."""
        await _not_a_parent(conn, ticket_id)
        values = {"ticket_id": ticket_id, "incident_id": incident_id, "tenant": tenant, "linked_by": _account(actor),
                  "linked_at": now}  # fmt: skip
        inserted = await conn.execute(_insert_link(conn.dialect.name).values(values))
        if inserted.rowcount != 1:
            owner = (await conn.execute(select(links.c.incident_id).where(links.c.ticket_id == ticket_id))).scalar()
            if owner == incident_id:
                return False
            raise await _linked_elsewhere(conn, ticket_id)
        await hist.append(conn, ticket_id, now, actor, [Change(ACTION, LINKED, None, incident_id, title)])
        return True

    # -- changing -----------------------------------------------------------------------------------------------

    async def link(self, tenant: str, incident_id: int, ticket_id: int, *, actor: str) -> tuple[IncidentView, bool]:
        """Link a ticket of the tenant to its open incident (a caller who reported it); idempotent: (the incident,
        whether it was linked now)."""
        await self.get(tenant, incident_id)
        await self.tickets.get(tenant, ticket_id)  # another tenant's ticket: as unknown as a missing one
        async with self.db.engine.begin() as conn:
            incident = await _lock_open(conn, tenant, incident_id)
            if incident["parent_ticket_id"] == ticket_id:
                raise Conflict(Msg("this is the major incident's parent ticket"), {"ticket_id": ticket_id})
            linked = await self._link(conn, tenant, incident_id, incident["title"], ticket_id, actor, self.now())
        return await self.get(tenant, incident_id), linked

    async def unlink(self, tenant: str, incident_id: int, ticket_id: int, *, actor: str) -> IncidentView:
        """Take a ticket off the open incident (linked by mistake); a ticket not linked to it stays as it is."""
        await self.get(tenant, incident_id)
        await self.tickets.get(tenant, ticket_id)
        async with self.db.engine.begin() as conn:
            incident = await _lock_open(conn, tenant, incident_id)
            removed = await conn.execute(
                delete(links).where(links.c.ticket_id == ticket_id, links.c.incident_id == incident_id)
            )
            if removed.rowcount:
                change = Change(ACTION, LINKED, incident_id, None, incident["title"])
                await hist.append(conn, ticket_id, self.now(), actor, [change])
        return await self.get(tenant, incident_id)

    async def edit(
        self,
        tenant: str,
        incident_id: int,
        *,
        actor: str,
        title: str | None = None,
        caller_message: str | None = None,
        category: str | _Unset | None = UNSET,
        known_at: datetime | None = None,
        communicated_at: datetime | None = None,
    ) -> IncidentView:
        """Change the title, the callers' message (spoken anew while open), the category, or correct when it
        became known and when the callers were told (``communicated_at``: "informed users at")."""
        current = await self.get(tenant, incident_id)
        now = self.now()
        values: dict[str, Any] = {}
        if title is not None:
            values["title"] = check_text(title, "title", TITLE_LENGTH, one_line=True)
        if caller_message is not None:
            values["caller_message"] = check_text(caller_message, "caller_message", MESSAGE_LENGTH)
        if not isinstance(category, _Unset):
            if category is not None:
                async with self.db.engine.connect() as conn:
                    await _category(conn, tenant, category)
            values["category"] = category
        if known_at is not None:
            values["known_at"] = _moment(known_at, "known_at", now)
            if known_at > current.declared_at:
                late = Msg("%(field)s must not be after the declaration", field=_field("known_at"))
                raise InvalidInput(late, {"field": "known_at"})
        known = values.get("known_at", current.known_at)
        told = communicated_at if communicated_at is not None else current.communicated_at
        if communicated_at is not None:
            values["communicated_at"] = _moment(communicated_at, "communicated_at", now)
        if told is not None and told < known:
            early = Msg("%(field)s must not be before it became known", field=_field("communicated_at"))
            raise InvalidInput(early, {"field": "communicated_at"})
        values = {k: v for k, v in values.items() if getattr(current, k) != v}
        if not values:
            return current
        async with self.db.engine.begin() as conn:
            await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(values))
        log.info("major incident %s of tenant %s edited by %s: %s", incident_id, tenant, actor, ", ".join(values))
        board.changed(self.db, tenant)
        if "caller_message" in values and current.open:
            await self._announce(tenant, incident_id, values["caller_message"], current.prompt)
        return await self.get(tenant, incident_id)

    async def resolve(self, tenant: str, incident_id: int, *, resolution: str, actor: str) -> tuple[IncidentView, int]:
        """Resolve the incident with a public text: its parent ticket resolved (through the workflow: the history's
        hook resolves the incident in that transaction), then every linked ticket resolved and every caller told
        (``cascade.complete``). Idempotent: an incident resolved already only has what is left of its cascade
        done. (the incident, how many callers were told now)."""
        incident = await self.get(tenant, incident_id)
        if incident.open:
            text = check_text(resolution, "resolution", RESOLUTION_LENGTH)
            if incident.parent_ticket_id is not None:
                try:
                    await self.workflow.transition(
                        tenant, incident.parent_ticket_id, TicketStatus.RESOLVED.value, note=text, actor=actor
                    )
                except (Conflict, NotFound):  # the parent finished or gone another way: the incident all the same
                    log.info("major incident %s: its parent ticket could not be resolved with it", incident_id)
            async with self.db.engine.begin() as conn:  # does nothing when the parent's resolve did it
                await conn.execute(
                    update(incidents)
                    .where(incidents.c.id == incident_id, incidents.c.status == OPEN)
                    .values(status=RESOLVED, resolved_at=self.now(), resolved_by=_account(actor), resolution=text)
                )
            board.changed(self.db, tenant)
        told = await cascade.complete(self.workflow, incident_id, actor)
        if told:
            log.info("major incident %s of tenant %s: %d callers told", incident_id, tenant, told)
        return await self.get(tenant, incident_id), told

    # -- the announcement ---------------------------------------------------------------------------------------

    async def _announce(self, tenant: str, incident_id: int, message: str, previous: str | None) -> None:
        """Speak ``message`` for the incident's callers and name it in ``prompt``; when that fails the generic
        recording plays (NULL). The previous announcement's file goes."""
        directory = self.sounds_dir
        if directory is None or not directory.is_dir():
            return
        name = prompt_name(tenant, incident_id, message)
        spoken = await self.speak(message, name=name, directory=directory)
        value = f"{SOUNDS_FOLDER}/{name}" if spoken else None
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id, incidents.c.status == OPEN).values(prompt=value)
            )
        board.changed(self.db, tenant)
        if previous and previous != value and previous.startswith(f"{SOUNDS_FOLDER}/"):
            (directory / f"{previous.removeprefix(SOUNDS_FOLDER + '/')}.wav").unlink(missing_ok=True)
        if not spoken:
            log.warning("major incident %s: no announcement of its own could be made; callers hear the generic one",
                        incident_id)  # fmt: skip


def _ticket_ids(values: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(values))
    if len(ids) > MAX_LINKED:
        raise InvalidInput(
            Msg("%(field)s has more than %(limit)s entries", field=_field("ticket_ids"), limit=MAX_LINKED),
            {"field": "ticket_ids"},
        )
    for value in ids:
        if not is_id(value):
            raise NotFound(Msg("no ticket %(id)s", id=value), {"ticket_id": value})
    return ids


async def _category(conn: AsyncConnection, tenant: str, path: str) -> int:
    """The id of the tenant's category ``path`` in use; another tenant's is as unknown as a missing one."""
    if isinstance(path, str) and len(path) <= 512:
        stmt = select(categories.c.id, categories.c.active).where(
            categories.c.tenant == tenant, categories.c.path == path
        )
        found = (await conn.execute(stmt)).first()
        if found is not None and found.active:
            return int(found.id)
    raise InvalidInput(Msg("unknown category %(path)s", path=Quoted(path, 80)), {"field": "category"})


async def _linkable(conn: AsyncConnection, tenant: str, ids: Sequence[int]) -> dict[int, datetime]:
    """The tickets' creation times when each is the tenant's and of no incident yet; NotFound or Conflict."""
    if not ids:
        return {}
    rows = await conn.execute(select(tickets.c.id, tickets.c.created_at).where(
        tickets.c.tenant == tenant, tickets.c.id.in_(ids)))  # fmt: skip
    found = {int(r.id): r.created_at for r in rows}
    for ticket_id in ids:
        if ticket_id not in found:
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
    taken = (await conn.execute(select(links.c.ticket_id).where(links.c.ticket_id.in_(ids)))).scalars().first()
    if taken is not None:
        raise await _linked_elsewhere(conn, int(taken))
    for ticket_id in ids:
        await _not_a_parent(conn, ticket_id)
    return found


async def _linked_elsewhere(conn: AsyncConnection, ticket_id: int) -> Conflict:
    stmt = (
        select(tickets.c.number, incidents.c.title, incidents.c.id)
        .select_from(links.join(incidents, incidents.c.id == links.c.incident_id))
        .join(tickets, tickets.c.id == links.c.ticket_id)
        .where(links.c.ticket_id == ticket_id)
    )
    row = (await conn.execute(stmt)).one()
    taken = Msg("ticket %(number)s belongs to the major incident %(title)s", number=row.number,
                title=Quoted(row.title, 80))  # fmt: skip
    return Conflict(taken, {"ticket_id": ticket_id, "incident_id": int(row.id)})


async def _not_a_parent(conn: AsyncConnection, ticket_id: int) -> None:
    stmt = (
        select(tickets.c.number, incidents.c.id)
        .select_from(incidents.join(tickets, tickets.c.id == incidents.c.parent_ticket_id))
        .where(incidents.c.parent_ticket_id == ticket_id)
    )
    row = (await conn.execute(stmt)).first()
    if row is not None:
        parent = Msg("ticket %(number)s is the parent ticket of a major incident", number=row.number)
        raise Conflict(parent, {"ticket_id": ticket_id, "incident_id": int(row.id)})


async def _lock_open(conn: AsyncConnection, tenant: str, incident_id: int) -> Any:
    """The open incident's row, locked for this transaction (a write first: PostgreSQL locks the row, SQLite takes
    its write lock), so a link and a resolve queue up and no ticket is linked after the cascade listed them;
    Conflict when it is resolved, NotFound when it is not the tenant's."""
    touched = await conn.execute(
        update(incidents)
        .where(incidents.c.tenant == tenant, incidents.c.id == incident_id)
        .values(status=incidents.c.status)
        .returning(incidents.c.id, incidents.c.title, incidents.c.status, incidents.c.parent_ticket_id)
    )
    row = touched.mappings().first()
    if row is None:
        raise no_incident(incident_id)
    if row["status"] != OPEN:
        raise Conflict(Msg("the major incident is resolved already"), {"incident_id": incident_id})
    return row
