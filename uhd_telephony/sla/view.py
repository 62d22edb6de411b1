"""A ticket's SLA as people see it where they work: when each target is due, how much is left, whether the clock
stands still, and one word for it (ok, warning, breached, met, none).

The ticket API shows it under ``sla`` in every ticket it reads, and the ticket list sorts by it (``sort=sla``);
the support group's own targets (OLA, ``sla.ola``) for the routing it is in show under ``ola``, the same way:
both through the port ``tickets.extras`` (tickets know nothing of the SLA), registered when this module is
imported (``sla.plugin`` does; so does the screen-pop, which shows the caller's open tickets with it).

The figures come from the same clock as the escalations (``sla.clock``): the business time used on the running
clock, the instant a target is reached (``crossing``), and the escalations fired so far — a target whose breach
fired stays breached, a warning counts while its target is not met.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.clock import DONE, PAUSED, Facts, Kind, Policy, Target, crossing, met, running_spans, used
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.ola_policy import load_olas
from uhd_telephony.sla.ola_timers import plans as ola_plans
from uhd_telephony.sla.policy import load_sla
from uhd_telephony.tickets import extras
from uhd_telephony.tickets.history import Action, history, iso
from uhd_telephony.tickets.view import TicketView, tickets

OK, WARNING, BREACHED, MET, NONE = "ok", "warning", "breached", "met", "none"
FIELD = "sla"  # the name of the ticket JSON's field and of the list's sort
OLA_FIELD = "ola"  # the ticket JSON's field of the group's own targets (OLA)


def no_sla() -> dict[str, Any]:
    """The state of a ticket without an SLA (its tenant has none, or none for its priority)."""
    return {
        "state": NONE,
        "paused": False,
        "response_due_at": None,
        "response_remaining_s": None,
        "response_state": NONE,
        "resolution_due_at": None,
        "resolution_remaining_s": None,
        "resolution_state": NONE,
    }


def state_of(
    facts: Facts, policy: Policy, calendar: Calendar, fired: frozenset[tuple[str, str]], now: datetime
) -> dict[str, Any]:
    """The SLA state of one ticket at ``now`` (pure): per target its due instant, time left and state, and the
    ticket's state (module docstring). ``fired``: (kind, target) of its escalations so far."""
    spans = running_spans(facts)
    out: dict[str, Any] = {"paused": facts.status in PAUSED and facts.status not in DONE}
    states: list[str] = []
    for which in Target:
        done = met(facts, which)
        until = facts.first_response_at if which is Target.RESPONSE and facts.first_response_at else now
        on_clock = used(calendar, spans, min(until, now))
        target = policy.target(which)
        breached = on_clock >= target or (Kind.BREACH.value, which.value) in fired
        warned = on_clock >= policy.threshold(which, Kind.WARNING) or (Kind.WARNING.value, which.value) in fired
        state = BREACHED if breached else MET if done else WARNING if warned else OK
        out[f"{which.value}_due_at"] = None if done else iso(crossing(calendar, spans, target))
        out[f"{which.value}_remaining_s"] = None if done else round((target - on_clock) / timedelta(seconds=1), 1)
        out[f"{which.value}_state"] = state
        states.append(state)
    overall = BREACHED if BREACHED in states else WARNING if WARNING in states else MET if set(states) == {MET} else OK
    return {"state": overall, **out}


async def states(
    conn: AsyncConnection, tenant: str, views: Sequence[TicketView], now: datetime
) -> dict[int, dict[str, Any]]:
    """The SLA state of each of ``views`` (tickets of ``tenant``) at ``now``: the tenant's SLA, the tickets' status
    rows and their escalations in three queries for the whole batch."""
    sla = await load_sla(conn, tenant)
    if sla is None:
        return {v.id: no_sla() for v in views}
    measured = {v.id: v for v in views if sla.policy_for(v.priority) is not None}
    changes: dict[int, list[tuple[datetime, str]]] = {}
    fired: dict[int, set[tuple[str, str]]] = {}
    if measured:
        rows = await conn.execute(
            select(history.c.ticket_id, history.c.at, history.c.new_value)
            .where(
                history.c.ticket_id.in_(list(measured)),
                history.c.action == Action.STATUS.value,
                history.c.field == "status",
            )
            .order_by(history.c.id)
        )
        for ticket_id, at, new in rows.all():
            changes.setdefault(ticket_id, []).append((at, str(new)))
        stmt = select(escalations.c.ticket_id, escalations.c.kind, escalations.c.target).where(
            escalations.c.ticket_id.in_(list(measured))
        )
        for ticket_id, kind, target in (await conn.execute(stmt)).all():
            fired.setdefault(ticket_id, set()).add((kind, target))
    out: dict[int, dict[str, Any]] = {}
    for view in views:
        policy = sla.policy_for(view.priority)
        if policy is None:
            out[view.id] = no_sla()
            continue
        facts = Facts(
            created_at=view.created_at,
            status=view.status,
            changes=tuple(changes.get(view.id, ())),
            first_response_at=view.first_response_at,
        )
        out[view.id] = state_of(facts, policy, sla.calendar_of(policy), frozenset(fired.get(view.id, ())), now)
    return out


def open_ticket(view: TicketView) -> bool:
    """Work left on it: not resolved or closed."""
    return view.status not in DONE


def order(now: datetime) -> Sequence[ColumnElement[Any]]:
    """The ticket list's ``sort=sla``: breached first (a breach fired), then warnings (a warning fired for a target
    not met yet, or a due instant passed the scanner has not fired yet), then the rest; each by its next due
    instant (``sla_timers``; none last)."""
    done = tickets.c.status.in_(sorted(DONE))
    responded = or_(tickets.c.first_response_at.is_not(None), done)
    of_ticket = escalations.c.ticket_id == tickets.c.id
    breach = select(escalations.c.id).where(of_ticket, escalations.c.kind == Kind.BREACH.value).exists()
    unmet = or_(
        and_(escalations.c.target == Target.RESPONSE.value, not_(responded)),
        and_(escalations.c.target == Target.RESOLUTION.value, not_(done)),
    )
    warning = select(escalations.c.id).where(of_ticket, escalations.c.kind == Kind.WARNING.value, unmet).exists()
    due = select(sla_timers.c.next_due_at).where(sla_timers.c.ticket_id == tickets.c.id).scalar_subquery()
    rank = case((breach, 0), (warning, 1), (and_(due.is_not(None), due <= now), 1), else_=2)
    return [rank, due.is_(None), due]


async def ola_states(
    conn: AsyncConnection, tenant: str, views: Sequence[TicketView], now: datetime
) -> dict[int, dict[str, Any] | None]:
    """The OLA state of each of ``views`` at ``now``: the group it is routed to (the partner API shows a partner its
    due times), when it was routed there, and per target what ``state_of`` says of the SLA — on the group's clock
    since the routing (``sla.ola``). None: not routed to a group with an OLA for its priority. One statement for a
    tenant without OLAs; a fixed handful for the whole batch otherwise."""
    olas = await load_olas(conn, [tenant])
    if not olas:
        return dict.fromkeys((v.id for v in views), None)
    rows = [
        {"id": v.id, "tenant": tenant, "status": v.status, "priority": v.priority, "support_group": v.support_group}
        for v in views
    ]
    out: dict[int, dict[str, Any] | None] = {}
    for view, plan in zip(views, await ola_plans(conn, rows, olas), strict=True):
        stint, calendar = plan.stint, plan.calendar
        if stint is None or plan.policy is None or calendar is None:
            out[view.id] = None
            continue
        state = state_of(stint.facts(), plan.policy, calendar, plan.fired, now)
        out[view.id] = {"group": stint.group, "routed_at": iso(stint.start), **state}
    return out


extras.add_field(FIELD, states)
extras.add_field(OLA_FIELD, ola_states)
extras.add_sort(FIELD, order)
