"""The ticket state machine and the workflow's writes: every legal and illegal transition, history, side effects."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from uhd_telephony.errors import Conflict, NotFound, TicketError
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import import_categories
from uhd_telephony.tickets.models import Ticket, TicketHistory, TicketStatus
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import TicketView, tickets
from uhd_telephony.tickets.workflow import (
    INTERNAL,
    PUBLIC,
    TRANSITIONS,
    TicketWorkflow,
    check_transition,
    next_statuses,
)

from .conftest import EXAMPLE_CATEGORIES, OTHER, TENANT, Clock, MakeCall

S = TicketStatus
AGENT = "agent:7"
# the whole table, written out: what an agent may do with a ticket in each status
LEGAL = {
    ("new", "in_progress"),
    ("new", "resolved"),
    ("in_progress", "waiting"),
    ("in_progress", "resolved"),
    ("waiting", "in_progress"),
    ("waiting", "resolved"),
    ("resolved", "closed"),
    ("resolved", "reopened"),
    ("closed", "reopened"),
    ("reopened", "in_progress"),
    ("reopened", "resolved"),
}
NOTES = {"resolved": "Toner getauscht", "reopened": "druckt wieder nicht"}


@pytest.fixture
def workflow(service: TicketService) -> TicketWorkflow:
    return TicketWorkflow(service)


async def _web_ticket(workflow: TicketWorkflow, **values: Any) -> TicketView:
    defaults: dict[str, Any] = {
        "channel": "web",
        "subject": "Drucker",
        "requester": Requester(name="Jürgen Müller", email="j.mueller@example.org"),
        "actor": "api:web-form",
    }
    return await workflow.service.create(TENANT, **{**defaults, **values})


async def _set_status(db: Database, ticket_id: int, status: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(status=status))


async def _rows(db: Database, ticket_id: int) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        stmt = select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.id)
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def _count(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        t = (await conn.execute(select(func.count()).select_from(Ticket))).scalar_one()
        h = (await conn.execute(select(func.count()).select_from(TicketHistory))).scalar_one()
    return int(t), int(h)


def test_the_table_is_the_documented_one() -> None:
    assert {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL
    assert set(TRANSITIONS) == set(S)  # every status has a row, even if it leads nowhere new
    for old, new in itertools.product(S, S):
        if (old.value, new.value) in LEGAL:
            assert check_transition("UHD-2026-000001", old.value, new.value) == new
        else:
            with pytest.raises(Conflict) as caught:
                check_transition("UHD-2026-000001", old.value, new.value)
            assert caught.value.details["from"] == old.value and caught.value.details["to"] == new.value
            assert f"from {old.value} to {new.value}" in caught.value.message
    assert next_statuses("resolved") == ["closed", "reopened"]
    with pytest.raises(TicketError):
        check_transition("UHD-2026-000001", "new", "archived")


async def test_every_transition_on_the_database(workflow: TicketWorkflow, db: Database) -> None:
    """All 36 pairs: the legal ones change status and write one history row, the illegal ones write nothing."""
    ticket = await _web_ticket(workflow)
    for old, new in itertools.product(S, S):
        await _set_status(db, ticket.id, old.value)
        before = await _count(db)
        if (old.value, new.value) in LEGAL:
            moved = await workflow.transition(TENANT, ticket.id, new.value, note=NOTES.get(new.value), actor=AGENT)
            assert moved.status == new.value
            assert (await _count(db))[1] == before[1] + 1
            last = (await _rows(db, ticket.id))[-1]
            assert (last["action"], last["field"], last["old_value"], last["new_value"]) == (
                "status", "status", old.value, new.value,
            )  # fmt: skip
        else:
            with pytest.raises(Conflict, match=f"from {old.value} to {new.value}"):
                await workflow.transition(TENANT, ticket.id, new.value, note=NOTES.get(new.value), actor=AGENT)
            assert await _count(db) == before
            assert (await workflow.service.get(TENANT, ticket.id)).status == old.value


async def test_a_ticket_lives_its_whole_life(workflow: TicketWorkflow, db: Database, clock: Clock) -> None:
    ticket = await _web_ticket(workflow)
    assert ticket.first_response_at is None  # nobody has looked at the web form yet
    started = await workflow.transition(TENANT, ticket.id, "in_progress", note=None, actor=AGENT)
    assert started.first_response_at is not None  # the first agent action
    waiting = await workflow.transition(TENANT, ticket.id, "waiting", note="Rückruf erbeten", actor=AGENT)
    assert waiting.status == "waiting"
    resumed = await workflow.transition(TENANT, ticket.id, "in_progress", note=None, actor=AGENT)
    assert resumed.first_response_at == started.first_response_at  # only the first action counts
    with pytest.raises(TicketError, match="resolution is required"):
        await workflow.transition(TENANT, ticket.id, "resolved", note="  ", actor=AGENT)
    resolved = await workflow.transition(TENANT, ticket.id, "resolved", note="Toner getauscht", actor=AGENT)
    assert resolved.resolved_at is not None and resolved.closed_at is None
    closed = await workflow.transition(TENANT, ticket.id, "closed", note=None, actor=AGENT)
    assert closed.closed_at is not None
    with pytest.raises(Conflict, match="closed: reopen it first"):
        await workflow.comment(TENANT, ticket.id, text="noch da?", public=False, actor=AGENT)
    with pytest.raises(TicketError, match="reason is required"):
        await workflow.transition(TENANT, ticket.id, "reopened", note=None, actor=AGENT)
    reopened = await workflow.transition(TENANT, ticket.id, "reopened", note="druckt wieder nicht", actor=AGENT)
    assert reopened.resolved_at is None and reopened.closed_at is None
    status_rows = [r for r in await _rows(db, ticket.id) if r["action"] == "status"]
    assert [(r["old_value"], r["new_value"]) for r in status_rows] == [
        ("new", "in_progress"),
        ("in_progress", "waiting"),
        ("waiting", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
        ("closed", "reopened"),
    ]
    paused, resumed_row = status_rows[1], status_rows[2]
    # the history is the record of when the SLA clock stood still
    assert paused["note"] == "SLA clock paused: Rückruf erbeten"
    waited = int((resumed_row["at"] - paused["at"]).total_seconds())
    assert resumed_row["note"] == f"SLA clock resumed after {waited} s waiting" and waited > 0
    assert status_rows[3]["note"] == "Toner getauscht" and status_rows[5]["note"] == "druckt wieder nicht"
    assert all(r["actor"] == AGENT for r in status_rows)


async def test_comments_are_history_rows_flagged_public_or_internal(workflow: TicketWorkflow, db: Database) -> None:
    ticket = await _web_ticket(workflow)
    internal = await workflow.comment(TENANT, ticket.id, text="  Treiber prüfen ", public=False, actor=AGENT)
    public = await workflow.comment(TENANT, ticket.id, text="Wir kümmern uns.", public=True, actor=AGENT)
    assert (internal.entry["action"], internal.entry["field"], internal.entry["note"]) == (
        "comment", INTERNAL, "Treiber prüfen",
    )  # fmt: skip
    assert (public.entry["field"], public.entry["note"]) == (PUBLIC, "Wir kümmern uns.")
    assert public.entry["id"] > internal.entry["id"]
    assert public.ticket.first_response_at == internal.ticket.first_response_at is not None
    with pytest.raises(TicketError, match="text is required"):
        await workflow.comment(TENANT, ticket.id, text=" ", public=True, actor=AGENT)
    with pytest.raises(TicketError, match="NUL"):
        await workflow.comment(TENANT, ticket.id, text="a\x00b", public=True, actor=AGENT)


async def test_update_recomputes_the_priority_and_classifies(
    workflow: TicketWorkflow, db: Database, service: TicketService
) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    ticket = await _web_ticket(workflow)
    levels = await workflow.update(TENANT, ticket.id, impact=2, urgency=4, actor=AGENT)
    assert (levels.impact, levels.urgency, levels.priority) == (2, 4, 3)
    assert levels.status == "new"  # levels alone do not start the work
    same = await workflow.update(TENANT, ticket.id, impact=2, actor=AGENT)
    assert same.updated_at == levels.updated_at  # nothing changed, nothing written
    tree = await service.history(TENANT, ticket.id)
    assert [(e["action"], e["field"]) for e in tree[1:]] == [
        ("classified", "impact"),
        ("classified", "urgency"),
        ("priority", "priority"),
    ]
    from tests.tickets.categories_of import _category_id

    printer = await _category_id(db, TENANT, "hardware/printer")
    classified = await workflow.update(TENANT, ticket.id, category_id=printer, subject="Toner leer", actor=AGENT)
    # the levels the ticket had stay; the category's defaults are only for a ticket without them
    assert (classified.category_path, classified.impact, classified.urgency) == ("hardware/printer", 2, 4)
    assert classified.subject == "Toner leer" and classified.status == "in_progress"
    with pytest.raises(TicketError, match="unknown category"):
        await workflow.update(TENANT, ticket.id, category_id=999_999, actor=AGENT)
    other = await _category_id(db, TENANT, "kis")
    await import_categories(db, OTHER, EXAMPLE_CATEGORIES)
    foreign = await _category_id(db, OTHER, "kis")
    assert foreign != other
    before = await _count(db)
    with pytest.raises(TicketError, match="unknown category"):
        await workflow.update(TENANT, ticket.id, category_id=foreign, subject="x", actor=AGENT)
    assert await _count(db) == before
    assert (await service.get(TENANT, ticket.id)).subject == "Toner leer"


async def test_create_classifies_in_the_same_transaction(workflow: TicketWorkflow, db: Database) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    from tests.tickets.categories_of import _category_id

    kis = await _category_id(db, TENANT, "kis")
    phone = await workflow.service.create(
        TENANT, channel="phone", subject="KIS hängt", requester=Requester(name="Station 3B"),
        actor=AGENT, category_id=kis,
    )  # fmt: skip
    assert phone.category_path == "kis" and phone.priority == 2 and phone.status == "in_progress"
    assert phone.first_response_at == phone.created_at  # typed in by the agent with the caller on the line
    before = await _count(db)
    with pytest.raises(TicketError, match="unknown category"):
        await workflow.service.create(
            TENANT, channel="mail", subject="x", requester=Requester(name="y"), actor=AGENT, category_id=999_999
        )
    assert await _count(db) == before  # the ticket, its number and its history row rolled back together


async def test_assign_to_an_agent_of_the_tenant_only(workflow: TicketWorkflow, db: Database) -> None:
    from uhd_telephony.accounts.service import AccountService

    accounts = AccountService(db)
    ben = await accounts.create("ben", "correct horse", display_name="Ben Schäfer", tenants=[TENANT])
    carl = await accounts.create("carl", "correct horse", display_name="Carl", tenants=[OTHER])
    ticket = await _web_ticket(workflow)
    assigned = await workflow.assign(TENANT, ticket.id, agent=ben, actor=AGENT)
    assert (assigned.agent_id, assigned.agent_name) == (ben.id, "Ben Schäfer")
    with pytest.raises(TicketError, match="no active agent of klinikum-nord"):
        await workflow.assign(TENANT, ticket.id, agent=carl, actor=AGENT)
    again = await workflow.assign(TENANT, ticket.id, agent=ben, actor=AGENT)
    assert again.updated_at == assigned.updated_at
    unassigned = await workflow.assign(TENANT, ticket.id, agent=None, actor=AGENT)
    assert unassigned.agent_id is None and unassigned.agent_name is None
    rows = [r for r in await _rows(db, ticket.id) if r["action"] == "assigned"]
    assert [(r["old_value"], r["new_value"], r["note"]) for r in rows] == [
        (None, "Ben Schäfer", f"account {ben.id}"),
        ("Ben Schäfer", None, "unassigned"),
    ]


async def test_another_tenants_ticket_is_not_found(workflow: TicketWorkflow, db: Database) -> None:
    ticket = await _web_ticket(workflow)
    before = await _count(db)
    for attempt in (
        workflow.transition(OTHER, ticket.id, "in_progress", note=None, actor=AGENT),
        workflow.comment(OTHER, ticket.id, text="hallo", public=True, actor=AGENT),
        workflow.update(OTHER, ticket.id, subject="x", actor=AGENT),
        workflow.assign(OTHER, ticket.id, agent=None, actor=AGENT),
        workflow.transition(TENANT, 2**70, "in_progress", note=None, actor=AGENT),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert await _count(db) == before


async def test_a_phone_ticket_keeps_its_first_response(
    workflow: TicketWorkflow, service: TicketService, make_call: MakeCall, clock: Clock
) -> None:
    ticket, _ = await service.open_for_call(make_call(1), agent_name="Anna")
    later = await workflow.comment(TENANT, ticket.id, text="Rückruf", public=False, actor=AGENT)
    assert later.ticket.first_response_at == ticket.first_response_at == ticket.created_at
    assert later.ticket.updated_at - ticket.created_at >= timedelta(seconds=1)


async def test_routing_is_one_transaction_with_the_ticket_change(workflow: TicketWorkflow, db: Database) -> None:
    from uhd_telephony.outbox.models import outbox
    from uhd_telephony.tickets.groups import import_groups

    await import_groups(db, TENANT, [{"code": "2nd_level", "name": "2nd Level", "mail": "second@example.org"}])
    ticket = await _web_ticket(workflow)
    routed, result = await workflow.route(TENANT, ticket.id, group="2nd_level", reason="Treiberproblem", actor=AGENT)
    assert (result.routed, result.old_group, result.new_group, result.work_orders) == (
        True, "1st_level", "2nd_level", ("mail",),
    )  # fmt: skip
    assert routed.support_group == "2nd_level" and routed.first_response_at is not None
    [row] = [r for r in await _rows(db, ticket.id) if r["action"] == "routed"]
    assert (row["old_value"], row["new_value"], row["note"], row["actor"]) == (
        "1st_level", "2nd_level", "Treiberproblem", AGENT,
    )  # fmt: skip
    before = await _count(db)
    again, same = await workflow.route(TENANT, ticket.id, group="2nd_level", reason="nochmal", actor=AGENT)
    assert not same.routed and again.updated_at == routed.updated_at and await _count(db) == before
    with pytest.raises(TicketError, match="unknown group"):
        await workflow.route(TENANT, ticket.id, group="partner:nobody", reason="x", actor=AGENT)
    await workflow.transition(TENANT, ticket.id, "resolved", note="erledigt", actor=AGENT)
    async with db.engine.connect() as conn:
        orders = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    with pytest.raises(Conflict, match="reopen it before routing"):
        await workflow.route(TENANT, ticket.id, group="3rd_level", reason="x", actor=AGENT)
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == orders


async def test_an_empty_subject_is_refused_not_ignored(workflow: TicketWorkflow, db: Database) -> None:
    ticket = await _web_ticket(workflow)
    before = await _count(db)
    with pytest.raises(TicketError, match="subject is required"):
        await workflow.update(TENANT, ticket.id, subject="   ", description="neu", actor=AGENT)
    assert await _count(db) == before
