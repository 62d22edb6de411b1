"""TicketService: one ticket per call conversation, tenant isolation, classification with history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.tickets.categories_of import _category_id
from uhd_telephony.errors import Conflict, NotFound, TicketError
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import category_tree, import_categories
from uhd_telephony.tickets.models import Ticket, TicketHistory
from uhd_telephony.tickets.requester import Requester, requester_of
from uhd_telephony.tickets.service import TicketService

from .conftest import EXAMPLE_CATEGORIES, OTHER, TENANT, MakeCall, all_of

NUMBER = re.compile(r"^UHD-2026-\d{6}$")
LOOKUP = {"user_id": 42, "place_id": 7, "name": "Dr. Erika Mustermann", "vip": False}


async def _count(db: Database, model: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_an_answered_call_opens_a_new_phone_ticket(service: TicketService, make_call: MakeCall) -> None:
    ticket, created = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=3, agent_name="Anna")
    assert created
    assert NUMBER.match(ticket.number)
    assert (ticket.tenant, ticket.status, ticket.channel) == (TENANT, "new", "phone")
    assert (ticket.requester_user_id, ticket.requester_place_id, ticket.requester_name) == (42, 7, LOOKUP["name"])
    assert ticket.requester_number == "+493012340001"
    assert (ticket.call_id, ticket.call_linkedid) == ("1772438400.1@hotline", "1772438400.1")
    assert (ticket.agent_id, ticket.agent_name) == (3, "Anna")
    assert ticket.priority is None and ticket.category_id is None
    assert ticket.first_response_at == ticket.created_at  # the agent is talking to the caller
    [entry] = await service.history(TENANT, ticket.id)
    assert (entry["action"], entry["actor"], entry["new_value"]) == ("created", "system", ticket.number)
    assert "1772438400.1@hotline" in entry["note"]


async def test_the_new_ticket_handed_back_is_the_one_stored(service: TicketService, make_call: MakeCall) -> None:
    """The pop gets the inserted row without reading it again: it must be exactly what a read gives (every column,
    times with their zone, on SQLite and PostgreSQL), and what the read gives for the conversation's second call."""
    ticket, created = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=3, agent_name="Anna")
    assert created
    assert ticket == await service.get(TENANT, ticket.id)
    assert ticket.created_at.tzinfo is not None and ticket.first_response_at == ticket.created_at
    again, created = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=3, agent_name="Anna")
    assert not created and again == ticket


async def test_an_unknown_caller_is_recorded_by_caller_id(service: TicketService, make_call: MakeCall) -> None:
    ticket, _ = await service.open_for_call(
        make_call(2, caller_name="Station 3B"), requester=None, agent_id=None, agent_name=None
    )
    assert (ticket.requester_user_id, ticket.requester_number, ticket.requester_name) == (
        None,
        "+493012340002",
        "Station 3B",
    )
    assert ticket.agent_name == "Agent Anna"  # the queue member who answered
    assert ticket.vip is False


async def test_the_same_conversation_gets_one_ticket(db: Database, service: TicketService, make_call: MakeCall) -> None:
    first, created = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=3, agent_name="Anna")
    # the same call again (a replay, a reconnect's resync) and the transfer's second queue call: same Linkedid
    again, created_again = await service.open_for_call(make_call(1), requester=None, agent_id=3, agent_name="Anna")
    transfer = make_call(9, linkedid="1772438400.1", queue="2nd-level")
    moved, created_moved = await service.open_for_call(transfer, requester=None, agent_id=8, agent_name="Bob")
    assert (created, created_again, created_moved) == (True, False, False)
    assert first == again == moved
    assert await _count(db, Ticket) == 1
    assert await _count(db, TicketHistory) == 1


async def test_concurrent_attempts_from_two_instances_make_one_ticket(
    db: Database, db_url: str, make_call: MakeCall
) -> None:
    async with Database(db_url) as other_db:
        instances = [TicketService(db), TicketService(other_db)]
        results = await all_of(
            *(
                instances[n % 2].open_for_call(make_call(5), requester=LOOKUP, agent_id=n + 1, agent_name=f"agent {n}")
                for n in range(10)
            )
        )
    assert sum(created for _, created in results) == 1
    assert len({ticket.id for ticket, _ in results}) == 1
    assert len({ticket.number for ticket, _ in results}) == 1
    assert await _count(db, Ticket) == 1
    assert await _count(db, TicketHistory) == 1
    # the losers gave their number back: the next ticket is number 2, not 11
    nxt, _ = await instances[0].open_for_call(make_call(6), requester=None, agent_id=None, agent_name=None)
    assert nxt.number.endswith("-000002")


async def test_a_conversation_first_seen_under_another_tenant_keeps_its_one_ticket_under_the_right_one(
    db: Database, service: TicketService, make_call: MakeCall
) -> None:
    # a call rebuilt by a resync before its UHD_TENANT was known opened the ticket under the fallback tenant
    first, _ = await service.open_for_call(make_call(1, tenant=OTHER), requester=None, agent_id=None, agent_name=None)
    again, created = await service.open_for_call(make_call(1), requester=None, agent_id=None, agent_name=None)
    assert not created and again.id == first.id and again.number == first.number and again.tenant == TENANT
    assert await _count(db, Ticket) == 1
    entries = await service.history(TENANT, first.id)
    assert [(e["action"], e["old_value"], e["new_value"]) for e in entries[1:]] == [("tenant", OTHER, TENANT)]
    with pytest.raises(NotFound):
        await service.get(OTHER, first.id)
    # once worked under a tenant, the ticket stays there: still one ticket, never a second
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    await service.classify(TENANT, first.id, category_id=await _category_id(db, TENANT, "pacs"), actor="agent:1")
    kept, created = await service.open_for_call(
        make_call(1, tenant=OTHER), requester=None, agent_id=None, agent_name=None
    )
    assert not created and kept.id == first.id and kept.tenant == TENANT
    assert await _count(db, Ticket) == 1


async def test_another_tenants_ticket_is_not_found(db: Database, service: TicketService, make_call: MakeCall) -> None:
    await import_categories(db, OTHER, EXAMPLE_CATEGORIES)
    ticket, _ = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=None, agent_name=None)
    for attempt in (
        service.get(OTHER, ticket.id),
        service.by_number(OTHER, ticket.number),
        service.history(OTHER, ticket.id),
        service.classify(OTHER, ticket.id, category_id=await _category_id(db, OTHER, "pacs"), actor="agent:1"),
    ):
        with pytest.raises(NotFound) as info:
            await attempt
        assert info.value.status_code == 404
        assert TENANT not in info.value.message
    assert await service.recent_for_requester(OTHER, user_id=42) == []
    assert await service.get(TENANT, ticket.id) == ticket


async def test_lookup_by_number(service: TicketService, make_call: MakeCall) -> None:
    ticket, _ = await service.open_for_call(make_call(1), requester=None, agent_id=None, agent_name=None)
    assert await service.by_number(TENANT, ticket.number.lower()) == ticket
    for bad in ("UHD-2026-999999", "nonsense", ""):
        with pytest.raises(NotFound):
            await service.by_number(TENANT, bad)
    for missing in (10_000, 2**70, -1, 0):
        with pytest.raises(NotFound):
            await service.get(TENANT, missing)
        with pytest.raises(NotFound):
            await service.history(TENANT, missing)
    assert await service.recent_for_requester(TENANT, user_id=2**70) == []


async def test_classify_sets_priority_moves_to_in_progress_and_records_each_change(
    db: Database, service: TicketService, make_call: MakeCall
) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    printer = await _category_id(db, TENANT, "hardware/printer/label-printer")  # impact low (4), urgency high (2)
    ticket, _ = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=3, agent_name="Anna")

    done = await service.classify(
        TENANT,
        ticket.id,
        category_id=printer,
        subject="Etikettendrucker 3B druckt nicht",
        description="Armbänder fehlen",
        actor="agent:3",
    )
    assert (done.impact, done.urgency, done.priority, done.status) == (4, 2, 3, "in_progress")
    assert (done.category_path, done.category_group) == ("hardware/printer/label-printer", "2nd_level")
    changes = {
        (e["field"], e["old_value"], e["new_value"], e["action"])
        for e in (await service.history(TENANT, ticket.id))[1:]
    }
    assert changes == {
        ("category", None, "hardware/printer/label-printer", "classified"),
        ("impact", None, "4", "classified"),
        ("urgency", None, "2", "classified"),
        ("priority", None, "3", "priority"),
        ("subject", "", "Etikettendrucker 3B druckt nicht", "classified"),
        ("description", "", "Armbänder fehlen", "classified"),
        ("status", "new", "in_progress", "status"),
    }

    # the agent raises the impact only: impact and priority change, nothing else is recorded
    again = await service.classify(TENANT, ticket.id, category_id=printer, impact="high", actor="agent:3")
    assert (again.impact, again.urgency, again.priority, again.status) == (2, 2, 2, "in_progress")
    latest = (await service.history(TENANT, ticket.id))[8:]
    assert [(e["field"], e["old_value"], e["new_value"], e["actor"]) for e in latest] == [
        ("impact", "4", "2", "agent:3"),
        ("priority", "3", "2", "agent:3"),
    ]
    # the same values once more: no history, no change
    before = await service.history(TENANT, ticket.id)
    same = await service.classify(TENANT, ticket.id, category_id=printer, impact=2, urgency=2, actor="agent:3")
    assert await service.history(TENANT, ticket.id) == before
    assert same.updated_at == again.updated_at


async def test_a_vip_callers_ticket_gets_a_higher_priority(
    db: Database, service: TicketService, make_call: MakeCall
) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    office = await _category_id(db, TENANT, "standard-apps/office")  # impact minimal (5), urgency medium (3)
    plain, _ = await service.open_for_call(make_call(1), requester=LOOKUP, agent_id=1, agent_name="Anna")
    vip, _ = await service.open_for_call(make_call(2), requester={**LOOKUP, "vip": True}, agent_id=1, agent_name="Anna")
    assert vip.vip and not plain.vip
    plain = await service.classify(TENANT, plain.id, category_id=office, actor="agent:1")
    vip = await service.classify(TENANT, vip.id, category_id=office, actor="agent:1")
    assert (plain.priority, vip.priority) == (4, 3)
    assert vip.urgency == 3  # the stored urgency stays what was assessed; only the priority reflects the VIP
    note = next(e["note"] for e in await service.history(TENANT, vip.id) if e["field"] == "priority")
    assert "VIP" in note


BAD_CLASSIFICATIONS: list[tuple[dict[str, Any], str]] = [
    ({"category_id": 999_999}, "unknown category"),
    ({"category_id": 2**64}, "unknown category"),
    ({"description": "nul \x00 byte"}, "NUL"),
    ({"impact": 0}, "impact must be between 1 and 5"),
    ({"urgency": "whenever"}, "urgency must be"),
    ({"subject": "x" * 201}, "subject is longer"),
    ({"category_id": "7"}, "category_id must be an integer"),
    ({"actor": ""}, "actor"),
]


async def test_classify_refuses_bad_values(db: Database, service: TicketService, make_call: MakeCall) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    ticket, _ = await service.open_for_call(make_call(1), requester=None, agent_id=None, agent_name=None)
    pacs = await _category_id(db, TENANT, "pacs")
    for changes, error in BAD_CLASSIFICATIONS:
        args: dict[str, Any] = {"category_id": pacs, "actor": "agent:1", **changes}
        with pytest.raises(TicketError, match=error) as info:
            await service.classify(TENANT, ticket.id, **args)
        assert info.value.status_code == 400
    assert await service.get(TENANT, ticket.id) == ticket
    assert len(await service.history(TENANT, ticket.id)) == 1


async def test_classify_refuses_another_tenants_category_and_an_inactive_one(
    db: Database, service: TicketService, make_call: MakeCall
) -> None:
    await import_categories(db, OTHER, EXAMPLE_CATEGORIES)
    await import_categories(
        db,
        TENANT,
        [
            {"name": "Old", "group": "1st_level", "impact": 3, "urgency": 3, "active": False},
            {"name": "Nodefaults", "group": "1st_level"},
        ],
    )
    ticket, _ = await service.open_for_call(make_call(1), requester=None, agent_id=None, agent_name=None)
    with pytest.raises(TicketError, match="unknown category"):
        await service.classify(TENANT, ticket.id, category_id=await _category_id(db, OTHER, "pacs"), actor="agent:1")
    tree = await category_tree(db, TENANT, include_inactive=True)
    ids = {n["code"]: n["id"] for n in tree}
    with pytest.raises(TicketError, match="no longer in use"):
        await service.classify(TENANT, ticket.id, category_id=ids["old"], actor="agent:1")
    with pytest.raises(TicketError, match="impact is required"):
        await service.classify(TENANT, ticket.id, category_id=ids["nodefaults"], actor="agent:1")
    done = await service.classify(
        TENANT, ticket.id, category_id=ids["nodefaults"], impact=1, urgency=1, actor="agent:1"
    )
    assert done.priority == 1


async def test_a_closed_ticket_cannot_be_classified(db: Database, service: TicketService, make_call: MakeCall) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    ticket, _ = await service.open_for_call(make_call(1), requester=None, agent_id=None, agent_name=None)
    async with db.engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.id == ticket.id).values(status="closed"))
    with pytest.raises(Conflict):
        await service.classify(TENANT, ticket.id, category_id=await _category_id(db, TENANT, "pacs"), actor="agent:1")


async def test_recent_tickets_of_a_requester(service: TicketService, make_call: MakeCall) -> None:
    opened = [
        (await service.open_for_call(make_call(n), requester=LOOKUP, agent_id=None, agent_name=None))[0]
        for n in range(1, 8)
    ]
    # an unknown caller from a shared ward phone, and a known user on the same phone
    ward, _ = await service.open_for_call(
        make_call(20, caller_number="+493012349999"), requester=None, agent_id=None, agent_name=None
    )
    recent = await service.recent_for_requester(TENANT, user_id=42, exclude_id=opened[-1].id)
    assert [t.id for t in recent] == [t.id for t in reversed(opened[1:-1])]
    assert len(await service.recent_for_requester(TENANT, user_id=42, limit=2)) == 2
    assert [t.id for t in await service.recent_for_requester(TENANT, number="+493012349999")] == [ward.id]
    assert await service.recent_for_requester(TENANT) == []
    assert await service.recent_for_requester(TENANT, user_id=43) == []


async def test_the_view_is_json_for_the_screen_pop(db: Database, service: TicketService, make_call: MakeCall) -> None:
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    ticket, _ = await service.open_for_call(
        make_call(1), requester={**LOOKUP, "vip": True}, agent_id=3, agent_name="Anna"
    )
    ticket = await service.classify(
        TENANT, ticket.id, category_id=await _category_id(db, TENANT, "pacs/viewer"), actor="agent:3"
    )
    data = json.loads(json.dumps(ticket.to_dict()))
    assert data["number"] == ticket.number and data["status"] == "in_progress"
    assert data["category"] == {
        "id": ticket.category_id,
        "path": "pacs/viewer",
        "name": "Bildanzeige / viewer",
        "group": "3rd_level",
    }
    assert data["requester"] == {
        "user_id": 42,
        "place_id": 7,
        "number": "+493012340001",
        "name": "Dr. Erika Mustermann",
        "email": None,
        "vip": True,
    }
    assert (data["priority"], data["priority_name"]) == (2, "high")
    assert data["call"] == {"call_id": "1772438400.1@hotline", "linkedid": "1772438400.1"}
    assert data["agent"] == {"id": 3, "name": "Anna"}
    assert data["created_at"] == "2026-03-02T08:00:00.000Z"
    assert data["resolved_at"] is None


async def test_a_web_ticket_has_no_call(service: TicketService) -> None:
    ticket = await service.create(
        TENANT, channel="web", subject="Passwort", requester=Requester(user_id=42), actor="user:42"
    )
    assert (ticket.channel, ticket.call_linkedid, ticket.to_dict()["call"]) == ("web", None, None)
    with pytest.raises(TicketError, match="channel"):
        await service.create(TENANT, channel="fax", subject="x", requester=Requester(), actor="user:42")


@pytest.mark.parametrize(
    ("vip", "expected"), [(True, True), ("1", True), ("yes", True), ("0", False), ("", False), (None, False)]
)
def test_the_lookups_vip_flag_is_read_as_the_agi_sets_it(make_call: MakeCall, vip: object, expected: bool) -> None:
    assert requester_of(make_call(1), {"vip": vip}).vip is expected


def test_a_mangled_caller_name_is_stored_readably(make_call: MakeCall) -> None:
    who = requester_of(make_call(1, caller_name="M\x00ller"), None)
    assert who.name == "M ller" and who.number == "+493012340001"  # control characters: a space (ami.events)
    with pytest.raises(TicketError, match="user_id"):
        requester_of(make_call(1), {"user_id": "42"})


async def test_a_ticket_opened_after_its_call_ended_gets_the_whole_first_level_time_from_now(
    db: Database, service: TicketService, make_call: MakeCall
) -> None:
    call = make_call(1)
    assert call.answered_at is not None
    # found two hours later (the queue_log backfill, a database outage): the call is over already
    call.entered_at -= 7200
    call.answered_at -= 7200
    call.ended_at = call.answered_at + 120
    ticket, created = await service.open_for_call(call, requester=None, agent_id=None, agent_name=None)
    async with db.engine.connect() as conn:
        due = (await conn.execute(select(Ticket.first_level_due_at).where(Ticket.id == ticket.id))).scalar_one()
    assert created and due is not None
    assert due.replace(tzinfo=UTC) - ticket.created_at == timedelta(seconds=service.first_level_limit_s)
    answered = datetime.fromtimestamp(call.answered_at, UTC)
    assert due.replace(tzinfo=UTC) > answered + timedelta(seconds=service.first_level_limit_s)
