"""Declaring, editing, linking and unlinking major incidents on SQLite and PostgreSQL: the parent ticket through the
ticket service, the history rows on the tickets, one tenant never reaching another's incidents or tickets, and
hostile input refused with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.incidents.conftest import T0, TENANT_A, TENANT_B, World
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import render
from uhd_telephony.incidents import prompt
from uhd_telephony.incidents.service import IncidentService, prompt_name
from uhd_telephony.incidents.view import incidents, links


async def _counts(world: World) -> tuple[int, int]:
    async with world.db.engine.connect() as conn:
        made = (await conn.execute(select(func.count()).select_from(incidents))).scalar_one()
        linked = (await conn.execute(select(func.count()).select_from(links))).scalar_one()
    return int(made), int(linked)


async def test_declaring_creates_the_parent_ticket_classified_at_the_top(world: World) -> None:
    view = await world.declare(category="kis/orbis")
    assert (view.tenant, view.title, view.status, view.category) == (TENANT_A, "KIS ausgefallen", "open", "kis/orbis")
    assert view.category_label == "KIS (Krankenhausinformationssystem) › ORBIS"
    assert view.known_at == view.declared_at == T0 and view.declared_by == world.seeded.anna.id
    assert view.declared_by_name == "Anna Becker" and view.prompt is None  # no sounds folder: the generic one
    parent = await world.tickets.get(TENANT_A, view.parent_ticket_id)
    assert (parent.subject, parent.description, parent.channel) == (view.title, view.caller_message, "web")
    assert (parent.category_path, parent.impact, parent.urgency, parent.priority) == ("kis/orbis", 1, 1, 1)
    assert parent.status == "in_progress" and view.parent_number == parent.number
    entry = (await world.history(parent.id, "incident"))[0]
    assert (entry["field"], entry["new_value"], entry["note"]) == ("parent_of", str(view.id), "KIS ausgefallen")
    deadlines = view.deadlines
    assert deadlines.early_warning == T0 + timedelta(hours=24)
    assert deadlines.notification == T0 + timedelta(hours=72)
    # 5 March 09:00 Berlin + one month: 5 April 09:00 Berlin, summer time by then (07:00 UTC)
    assert deadlines.final_report == datetime(2026, 4, 5, 7, 0, tzinfo=UTC)


async def test_known_at_defaults_to_the_first_report_and_an_existing_parent_is_used(world: World) -> None:
    first = await world.ticket(subject="KIS hängt")
    world.later(minutes=10)
    parent = await world.ticket(subject="Großstörung KIS")
    world.later(minutes=10)
    view = await world.declare(parent_ticket_id=parent.id, ticket_ids=[first.id])
    assert view.parent_ticket_id == parent.id and view.known_at == first.created_at and view.tickets == 1
    assert view.declared_at == T0 + timedelta(minutes=20)
    assert [r["ticket_id"] for r in await world.links(view.id)] == [first.id]
    linked = (await world.history(first.id, "incident"))[0]
    assert (linked["field"], linked["new_value"], linked["actor"]) == ("incident", str(view.id), world.anna)
    told = await world.declare(known_at=T0 - timedelta(days=1), title="Drucker")
    assert told.known_at == T0 - timedelta(days=1)


async def test_a_parent_must_be_the_tenants_unfinished_ticket_of_no_incident(world: World) -> None:
    foreign = await world.ticket(tenant=TENANT_B)
    with pytest.raises(NotFound) as unknown:
        await world.declare(parent_ticket_id=foreign.id)
    with pytest.raises(NotFound) as missing:
        await world.declare(parent_ticket_id=987654)
    assert unknown.value.status_code == missing.value.status_code == 404  # the same answer: nothing leaks
    done = await world.ticket()
    await world.incidents.workflow.transition(TENANT_A, done.id, "resolved", note="erledigt", actor=world.anna)
    with pytest.raises(Conflict):
        await world.declare(parent_ticket_id=done.id)
    first = await world.declare()
    with pytest.raises(Conflict):
        await world.declare(parent_ticket_id=first.parent_ticket_id)
    linked = await world.ticket()
    await world.incidents.link(TENANT_A, first.id, linked.id, actor=world.anna)
    with pytest.raises(Conflict):
        await world.declare(parent_ticket_id=linked.id)
    with pytest.raises(InvalidInput):
        await world.declare(parent_ticket_id=linked.id, ticket_ids=[linked.id])
    assert await _counts(world) == (1, 1)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "x" * 201}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "KIS\x07aus"}, "title"),
        ({"caller_message": "y" * 1001}, "caller_message"),
        ({"caller_message": "Bitte\x00warten"}, "caller_message"),
        ({"caller_message": "\u2028"}, "caller_message"),
        ({"category": "kis/nope"}, "category"),
        ({"known_at": T0 + timedelta(hours=1)}, "known_at"),
        ({"known_at": datetime(2026, 3, 1, 8, 0)}, "known_at"),  # no time zone
        ({"ticket_ids": list(range(1, 502))}, "ticket_ids"),
    ],
)
async def test_hostile_declarations_are_refused_and_write_nothing(
    world: World, values: dict[str, Any], field: str
) -> None:
    tickets_before = await world.tickets.recent_for_requester(TENANT_A, number="x")
    with pytest.raises(InvalidInput) as refused:
        await world.declare(**values)
    assert refused.value.details["field"] == field
    assert await _counts(world) == (0, 0) and tickets_before == []
    german, english = render(refused.value.message, "de"), render(refused.value.message, "en")
    assert german != english and "field." not in german and field not in german  # the field by its label


async def test_a_title_is_one_line_and_a_message_keeps_its_lines(world: World) -> None:
    view = await world.declare(title="  KIS\n\tausgefallen  ", caller_message="Zeile eins\r\nZeile zwei")
    assert view.title == "KIS ausgefallen" and view.caller_message == "Zeile eins\nZeile zwei"


async def test_another_tenants_category_and_tickets_are_unknown(world: World) -> None:
    await world.declare(tenant=TENANT_B, title="Süd", category="kis", actor=world.carl)  # B has its own tree
    foreign = await world.ticket(tenant=TENANT_B)
    with pytest.raises(NotFound):
        await world.declare(ticket_ids=[foreign.id])
    assert await _counts(world) == (1, 0)


async def test_linking_is_idempotent_and_stays_within_the_tenant(world: World) -> None:
    view = await world.declare()
    ticket = await world.ticket()
    linked, fresh = await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    again, repeated = await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    assert (fresh, repeated, linked.tickets, again.tickets) == (True, False, 1, 1)
    assert len(await world.history(ticket.id, "incident")) == 1  # the second link wrote nothing

    foreign_ticket = await world.ticket(tenant=TENANT_B)
    foreign = await world.declare(tenant=TENANT_B, actor=world.carl)
    for tenant, incident_id, ticket_id in (
        (TENANT_A, view.id, foreign_ticket.id),  # B's ticket under A's incident
        (TENANT_A, foreign.id, ticket.id),  # B's incident under A's path
        (TENANT_B, view.id, foreign_ticket.id),  # A's incident under B's path
        (TENANT_A, view.id, 10**17),
        (TENANT_A, 10**17, ticket.id),
    ):
        with pytest.raises(NotFound):
            await world.incidents.link(tenant, incident_id, ticket_id, actor=world.anna)
        with pytest.raises(NotFound):
            await world.incidents.unlink(tenant, incident_id, ticket_id, actor=world.anna)
    assert [r["ticket_id"] for r in await world.links(foreign.id)] == []


async def test_a_ticket_belongs_to_one_incident_and_the_parent_is_not_linked(world: World) -> None:
    first, second = await world.declare(), await world.declare(title="Netz")
    ticket = await world.ticket()
    await world.incidents.link(TENANT_A, first.id, ticket.id, actor=world.anna)
    with pytest.raises(Conflict) as taken:
        await world.incidents.link(TENANT_A, second.id, ticket.id, actor=world.anna)
    assert taken.value.details["incident_id"] == first.id
    for incident_id, parent in ((first.id, first.parent_ticket_id), (second.id, first.parent_ticket_id)):
        with pytest.raises(Conflict):
            await world.incidents.link(TENANT_A, incident_id, parent, actor=world.anna)


async def test_unlinking_takes_the_ticket_off_with_a_history_row(world: World) -> None:
    view = await world.declare()
    ticket = await world.ticket()
    await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    after = await world.incidents.unlink(TENANT_A, view.id, ticket.id, actor=world.anna)
    again = await world.incidents.unlink(TENANT_A, view.id, ticket.id, actor=world.anna)
    assert after.tickets == again.tickets == 0
    rows = await world.history(ticket.id, "incident")
    assert [(r["old_value"], r["new_value"]) for r in rows] == [(None, str(view.id)), (str(view.id), None)]


async def test_a_resolved_incident_takes_no_links(world: World) -> None:
    view = await world.declare()
    await world.incidents.resolve(TENANT_A, view.id, resolution="Behoben.", actor=world.anna)
    ticket = await world.ticket()
    with pytest.raises(Conflict):
        await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    with pytest.raises(Conflict):
        await world.incidents.unlink(TENANT_A, view.id, ticket.id, actor=world.anna)


async def test_editing_corrects_the_nis2_times_within_reason(world: World) -> None:
    view = await world.declare()
    world.later(hours=1)
    edited = await world.incidents.edit(
        TENANT_A, view.id, actor=world.anna, title="KIS und PACS ausgefallen", category="pacs",
        known_at=T0 - timedelta(minutes=30), communicated_at=T0 + timedelta(minutes=5),
    )  # fmt: skip
    assert (edited.title, edited.category, edited.known_at) == (
        "KIS und PACS ausgefallen",
        "pacs",
        T0 - timedelta(minutes=30),
    )
    assert edited.communicated_at == T0 + timedelta(minutes=5) and edited.category_label is not None
    cleared = await world.incidents.edit(TENANT_A, view.id, actor=world.anna, category=None)
    assert cleared.category is None and cleared.category_label is None
    bad: list[dict[str, Any]] = [
        {"known_at": T0 + timedelta(minutes=1)},  # after the declaration
        {"communicated_at": T0 - timedelta(hours=2)},  # before it became known
        {"known_at": T0 + timedelta(minutes=10)},
        {"communicated_at": world.clock.now + timedelta(hours=1)},  # in the future
        {"title": ""},
        {"category": "nope"},
    ]
    for values in bad:
        with pytest.raises(InvalidInput):
            await world.incidents.edit(TENANT_A, view.id, actor=world.anna, **values)
    assert await world.incidents.get(TENANT_A, view.id) == cleared
    with pytest.raises(NotFound):
        await world.incidents.edit(TENANT_B, view.id, actor=world.carl, title="fremd")


async def test_the_announcement_is_spoken_and_replaced_when_the_message_changes(world: World, tmp_path: Path) -> None:
    service = IncidentService(world.tickets, sounds_dir=tmp_path)
    view = await service.declare(TENANT_A, title="KIS", caller_message="Das KIS ist gestört.", actor=world.anna)
    name = prompt_name(TENANT_A, view.id, "Das KIS ist gestört.")
    assert view.prompt == f"uhd-incidents/{name}" and (tmp_path / f"{name}.wav").stat().st_size > 1000
    edited = await service.edit(TENANT_A, view.id, actor=world.anna, caller_message="Das KIS läuft wieder an.")
    assert edited.prompt != view.prompt and edited.prompt is not None
    assert not (tmp_path / f"{name}.wav").exists()
    assert (tmp_path / f"{edited.prompt.split('/')[1]}.wav").exists()
    # espeak-ng missing: the generic recording plays, not the old message
    broken = IncidentService(world.tickets, sounds_dir=tmp_path, speak=partial(prompt.speak, binary="/nonexistent"))
    after = await broken.edit(TENANT_A, view.id, actor=world.anna, caller_message="Noch einmal anders.")
    assert after.prompt is None


async def test_a_tenant_name_becomes_a_plain_file_name() -> None:
    assert prompt_name("../../etc passwd", 7, "x").startswith("uhd-incident-etc-passwd-7-")
    assert prompt_name("///", 7, "x").startswith("uhd-incident-tenant-7-")
