"""The resolve cascade: an incident resolved resolves its linked tickets and tells every caller, once.

How it hangs together, and why nobody is told twice:

- resolving the incident's PARENT ticket — through ``IncidentService.resolve`` or on the ticket page/API, by
  anyone — resolves the incident in the same transaction (the ticket history's hook ``on_ticket_change``,
  registered with ``tickets.history.on_change`` when this module is imported): the parent's resolution is the
  incident's, the public text every caller gets;
- ``complete`` then resolves each linked ticket through ``TicketWorkflow.transition`` (its history row, SLA hooks,
  as any resolve). The same hook sees a linked ticket of a resolved incident resolved and, in that transaction,
  claims its ``incident_tickets`` row (``notified_at`` set only where it is still NULL), adds the public comment
  and queues the mail (with the status link) or the callback entry: the ticket's new status and its caller's
  notice commit together or not at all. A ticket resolved or closed before is told in a transaction of its own,
  with the same claim;
- subscribers are told one per transaction, claimed the same way.

A crash or a failure halfway leaves the rest unclaimed: the next ``complete`` — the API's retry, or the incident
scanner (``incidents.worker``), which looks for resolved incidents with callers not told yet — does exactly the
rest. Two of them at once claim each caller once (the conditional UPDATE is the lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict, NotFound
from uhd_telephony.i18n.labels import account_id
from uhd_telephony.incidents import board, notice
from uhd_telephony.incidents.models import IncidentStatus
from uhd_telephony.incidents.view import accounts, incidents, links, subscriptions
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import PUBLIC_COMMENT, Action, Change
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.view import tickets
from uhd_telephony.tickets.workflow import TicketWorkflow

log = logging.getLogger(__name__)

OPEN, RESOLVED = IncidentStatus.OPEN.value, IncidentStatus.RESOLVED.value
PAGE = 200  # callers read per round of ``complete``

# told when a parent ticket resolved an incident (the scanner of this process completes it soon)
_on_resolved: list[Callable[[], None]] = []


def when_resolved(listener: Callable[[], None]) -> Callable[[], None]:
    """Have ``listener()`` called whenever a parent ticket's resolve resolves an incident (``forget`` undoes it)."""
    if listener not in _on_resolved:
        _on_resolved.append(listener)
    return listener


def forget(listener: Callable[[], None]) -> None:
    if listener in _on_resolved:
        _on_resolved.remove(listener)


def _resolving(changes: Sequence[Change]) -> Change | None:
    for change in changes:
        if str(change.action) == Action.STATUS.value and change.new == TicketStatus.RESOLVED.value:
            return change
    return None


@hist.on_change
async def on_ticket_change(
    conn: AsyncConnection, ticket_id: int, at: datetime, actor: str, changes: Sequence[Change]
) -> None:
    """After a ticket's history append (same transaction): a parent resolved resolves its incident; a linked
    ticket of a resolved incident resolved tells its caller."""
    change = _resolving(changes)
    if change is None:
        return
    await _parent_resolved(conn, ticket_id, at, actor, change.note)
    await _linked_resolved(conn, ticket_id, at, actor)


async def _parent_resolved(conn: AsyncConnection, ticket_id: int, at: datetime, actor: str, note: str | None) -> None:
    who = account_id(actor)
    # an actor without an account row (a test's, a deleted one) leaves the incident without a name, not failed
    resolver = select(accounts.c.id).where(accounts.c.id == who).scalar_subquery() if who is not None else None
    resolved = await conn.execute(
        update(incidents)
        .where(incidents.c.parent_ticket_id == ticket_id, incidents.c.status == OPEN)
        .values(status=RESOLVED, resolved_at=at, resolved_by=resolver, resolution=note)
        .returning(incidents.c.id, incidents.c.tenant)
    )
    for row in resolved.all():
        log.info("major incident %s of tenant %s resolved with its parent ticket %s", row.id, row.tenant, ticket_id)
        board.changed(conn, row.tenant)
        for listener in list(_on_resolved):
            # a nudge only (the scanner's next round completes the incident anyway): a listener left behind by a
            # scanner whose loop is gone must not fail the ticket's resolve
            try:
                listener()
            except Exception:
                log.exception("a listener of resolved incidents failed; the incident scanner completes it later")


async def _linked_resolved(conn: AsyncConnection, ticket_id: int, at: datetime, actor: str) -> None:
    stmt = (
        select(incidents)
        .select_from(links.join(incidents, incidents.c.id == links.c.incident_id))
        .where(links.c.ticket_id == ticket_id, links.c.notified_at.is_(None), incidents.c.status == RESOLVED)
    )
    incident = (await conn.execute(stmt)).mappings().first()
    if incident is not None:
        await tell_linked(conn, incident, ticket_id, at, actor)


async def _communicated(conn: AsyncConnection, incident_id: int, at: datetime) -> None:
    """The first notice sent is when the callers were told, unless an announcement or a person said so earlier."""
    await conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id, incidents.c.communicated_at.is_(None))
        .values(communicated_at=at)
    )


async def tell_linked(
    conn: AsyncConnection, incident: Mapping[Any, Any], ticket_id: int, at: datetime, actor: str
) -> bool:
    """Claim the linked ticket's notice and do it in ``conn``'s transaction: the public comment with the resolution
    (not on a closed ticket: it takes none), then the mail or callback entry. False when it was claimed before."""
    claimed = await conn.execute(
        update(links)
        .where(links.c.ticket_id == ticket_id, links.c.incident_id == incident["id"], links.c.notified_at.is_(None))
        .values(notified_at=at)
    )
    if claimed.rowcount != 1:
        return False
    ticket = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).mappings().one()
    if ticket["status"] != TicketStatus.CLOSED.value and incident["resolution"]:
        await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated_at=at))
        comment = Change(Action.COMMENT, PUBLIC_COMMENT, None, None, incident["resolution"])
        await hist.append(conn, ticket_id, at, actor, [comment])
    via = await notice.tell_requester(conn, incident, ticket, at)
    await conn.execute(update(links).where(links.c.ticket_id == ticket_id).values(notified_via=via))
    if via is not None:
        await _communicated(conn, int(incident["id"]), at)
    else:
        log.warning("ticket %s of major incident %s: no mail address, no number to call back: not told",
                    ticket["number"], incident["id"])  # fmt: skip
    return True


async def tell_subscriber(
    conn: AsyncConnection, incident: Mapping[Any, Any], subscription_id: int, at: datetime
) -> bool:
    """Claim a subscriber's notice and do it in ``conn``'s transaction; False when it was claimed before."""
    claimed = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.notified_at.is_(None))
        .values(notified_at=at)
        .returning(*subscriptions.c)
    )
    subscriber = claimed.mappings().first()
    if subscriber is None:
        return False
    via = await notice.tell_subscriber(conn, incident, subscriber, at)
    await conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id).values(notified_via=via))
    if via is not None:
        await _communicated(conn, int(incident["id"]), at)
    else:
        log.warning("subscriber %s of major incident %s: no mail address, no number to call back: not told",
                    subscription_id, incident["id"])  # fmt: skip
    return True


async def _pending(conn: AsyncConnection, column: Any, notified: Any, incident_id: int, after: int) -> list[int]:
    stmt = (
        select(column)
        .where(column.table.c.incident_id == incident_id, notified.is_(None), column > after)
        .order_by(column)
        .limit(PAGE)
    )
    return [int(v) for v in (await conn.execute(stmt)).scalars()]


async def complete(workflow: TicketWorkflow, incident_id: int, actor: str) -> int:
    """Resolve and tell every linked ticket and tell every subscriber of the resolved incident not told yet; how
    many were told now. Each caller is one transaction: what fails stays for the next call (module docstring)."""
    db = workflow.db
    async with db.engine.connect() as conn:
        incident = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).mappings().first()
    if incident is None or incident["status"] != RESOLVED:
        return 0
    told = 0
    last = 0
    while True:
        async with db.engine.connect() as conn:
            page = await _pending(conn, links.c.ticket_id, links.c.notified_at, incident_id, last)
        for ticket_id in page:
            told += await _finish_ticket(workflow, incident, ticket_id, actor)
        if len(page) < PAGE:
            break
        last = page[-1]
    last = 0
    while True:
        async with db.engine.connect() as conn:
            page = await _pending(conn, subscriptions.c.id, subscriptions.c.notified_at, incident_id, last)
        for subscription_id in page:
            async with db.engine.begin() as conn:
                told += await tell_subscriber(conn, incident, subscription_id, workflow.service.now())
        if len(page) < PAGE:
            break
        last = page[-1]
    return told


async def _finish_ticket(workflow: TicketWorkflow, incident: Mapping[Any, Any], ticket_id: int, actor: str) -> int:
    """Resolve one linked ticket (the hook tells its caller in that transaction); one resolved or closed before is
    told on its own. 1 when its caller was told now."""
    tenant, text = incident["tenant"], incident["resolution"] or incident["title"]
    try:
        await workflow.transition(tenant, ticket_id, TicketStatus.RESOLVED.value, note=text, actor=actor)
    except Conflict:  # resolved or closed already: the caller is told all the same
        pass
    except NotFound:  # the ticket went to another tenant (a call's ticket taken over): not this incident's caller
        log.warning("ticket %s of major incident %s belongs to another tenant now: not told", ticket_id, incident["id"])
        async with workflow.db.engine.begin() as conn:
            await conn.execute(
                update(links)
                .where(links.c.ticket_id == ticket_id, links.c.notified_at.is_(None))
                .values(notified_at=workflow.service.now())
            )
        return 0
    else:
        async with workflow.db.engine.connect() as conn:
            stmt = select(links.c.notified_at).where(links.c.ticket_id == ticket_id)
            if (await conn.execute(stmt)).scalar_one_or_none() is not None:
                return 1
    async with workflow.db.engine.begin() as conn:
        return int(await tell_linked(conn, incident, ticket_id, workflow.service.now(), actor))


async def pending_incidents(conn: AsyncConnection, limit: int = 100) -> list[int]:
    """Resolved incidents with a linked ticket or subscriber not told yet (oldest resolve first)."""
    waiting = (
        select(links.c.incident_id).where(links.c.notified_at.is_(None))
        .union(select(subscriptions.c.incident_id).where(subscriptions.c.notified_at.is_(None)))
        .subquery()
    )  # fmt: skip
    stmt = (
        select(incidents.c.id)
        .where(incidents.c.status == RESOLVED, incidents.c.id.in_(select(waiting.c.incident_id)))
        .order_by(incidents.c.resolved_at, incidents.c.id)
        .limit(limit)
    )
    return [int(v) for v in (await conn.execute(stmt)).scalars()]
