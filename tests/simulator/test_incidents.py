"""A major incident from declaration to the callers and back, against the simulator and the real call service, on
SQLite and PostgreSQL: the incidents' service declares it, the simulated PBX announces it (``IncidentDesk`` doing
what the AGI scripts do), the call service records the calls, the subscriptions are in the database, and the
service level counts only the callers who queued."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.support.helpers import eventually
from tests.support.service import service_settings, started, stored
from tests.support.webapp import TENANT_A, TENANT_B, seed
from uhd_telephony.calls.domain import CallEvent
from uhd_telephony.incidents import phone
from uhd_telephony.incidents.announcement import GENERIC_PROMPT
from uhd_telephony.incidents.service import IncidentService
from uhd_telephony.metrics import aggregates, kpi
from uhd_telephony.metrics.live import CallCounters
from uhd_telephony.simulator import AmiSimulator, HotlineConfig, PbxConfig, QueueConfig
from uhd_telephony.simulator.announcement import HANGUP, QUEUE, SUBSCRIBE
from uhd_telephony.simulator.config import agent_members
from uhd_telephony.simulator.incidents import IncidentDesk
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.service import TicketService

NORD, SUED = "hotline-klinikum-nord", "hotline-klinikum-sued"
MUELLER = "+492319860572"  # Dr. Jürgen Müller in examples/users.example.csv (with a mail address)


def pbx_config() -> PbxConfig:
    return PbxConfig(
        queues=[QueueConfig(NORD, agent_members(2)), QueueConfig(SUED, agent_members(1, first_ext=201))],
        hotlines=[
            HotlineConfig("+4923198605000", NORD, tenant=TENANT_A, agi_lookup=True),
            HotlineConfig("+498941407000", SUED, tenant=TENANT_B, agi_lookup=True),
        ],
    )


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await seed(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.close()


async def declare(db: Database, tenant: str = TENANT_A) -> int:
    service = IncidentService(TicketService(db))
    view = await service.declare(
        tenant, title="KIS ausgefallen", caller_message="Das KIS ist gestört.", actor="system:test"
    )
    return int(view.id)


async def test_the_desk_keeps_the_pbx_announcing_what_is_open(db: Database) -> None:
    async with AmiSimulator(pbx_config(), speed=0) as sim:
        desk = IncidentDesk(sim.pbx, db)
        await desk.refresh()
        assert sim.pbx.incidents == {}

        kis = await declare(db)
        await desk.refresh()
        assert sim.pbx.incidents == {TENANT_A: (str(kis), GENERIC_PROMPT)}  # tenant B's callers hear nothing

        service = IncidentService(TicketService(db))
        await service.resolve(TENANT_A, kis, resolution="Behoben.", actor="system:test")
        await desk.refresh()
        assert sim.pbx.incidents == {}


async def test_work_the_database_could_not_take_waits_for_the_next_turn(db: Database, db_url: str) -> None:
    kis = await declare(db)
    async with AmiSimulator(pbx_config(), speed=0) as sim:
        away = Database("postgresql+asyncpg://uhd:x@127.0.0.1:1/uhd", pg_connect_timeout_s=0.5)
        desk = IncidentDesk(sim.pbx, away)
        sim.pbx.on_subscribed[0](TENANT_A, str(kis), MUELLER, "Müller", "1.1")
        with pytest.raises(OSError):
            await desk.scan_once()
        await away.close()
        assert desk.pending == 1
        desk.db = db  # the database is back
        await desk.scan_once()
        assert desk.pending == 0 and desk.subscribed == 1
    assert [s.number for s in await subscribers(db, kis)] == [MUELLER]


async def subscribers(db: Database, incident_id: int) -> list[phone.Subscriber]:
    s = phone.subscriptions.c
    stmt = select(s.number, s.name, s.email, s.user_id, s.linkedid).where(s.incident_id == incident_id)
    async with db.engine.connect() as conn:
        return [phone.Subscriber(*row) for row in (await conn.execute(stmt.order_by(s.id))).all()]


async def test_an_incident_from_declaration_to_the_callers_and_the_figures(db: Database, db_url: str) -> None:
    kis = await declare(db)
    started_at = time.time()
    async with AmiSimulator(pbx_config(), speed=0, start_time=started_at, seed=4) as sim:
        desk = IncidentDesk(sim.pbx, db)
        await desk.start()
        await eventually(lambda: TENANT_A in sim.pbx.incidents)
        service = await started(service_settings(sim.port, db_url))
        counters = CallCounters()
        service.bus.subscribe(counters, CallEvent, name="test-counters")
        try:
            told = sim.place_call(MUELLER, "Dr. Jürgen Müller", dialled="+4923198605000", at_announcement=SUBSCRIBE)
            gone = sim.place_call("+4923198699999", "Unbekannt", dialled="+4923198605000", at_announcement=HANGUP)
            queued = sim.place_call("+4923198611111", "Geduldig", dialled="+4923198605000", at_announcement=QUEUE,
                                    listen_s=6, talk_s=30)  # fmt: skip
            again = sim.place_call(MUELLER, "Dr. Jürgen Müller", dialled="+4923198605000", at_announcement=SUBSCRIBE)
            other = sim.place_call("+4989123456", "Süd", dialled="+498941407000", at_announcement=SUBSCRIBE, talk_s=20)
            await sim.settle()
            await eventually(lambda: service.tracker.stats.finished == 5 and desk.pending == 0)
        finally:
            await service.close()
            await desk.close()

    records = {r.uniqueid: r for r in await stored(db_url)}
    assert {u: str(r.outcome) for u, r in records.items()} == {
        told.uniqueid: "incident_subscribed",
        gone.uniqueid: "incident_left",
        queued.uniqueid: "answered",
        again.uniqueid: "incident_subscribed",
        other.uniqueid: "answered",  # tenant B has no incident: straight to its queue
    }
    assert records[told.uniqueid].tenant == TENANT_A and records[told.uniqueid].queue == NORD
    assert records[queued.uniqueid].variables["UHD_INCIDENT"] == str(kis)
    assert "UHD_INCIDENT" not in records[other.uniqueid].variables

    # subscribed once, with what the directory knows; the first announcement stamped
    (mueller,) = await subscribers(db, kis)
    assert (mueller.number, mueller.name, mueller.email) == (
        MUELLER, "Dr. Jürgen Müller", "juergen.mueller@klinikum-nord.example",
    )  # fmt: skip
    assert mueller.user_id is not None and mueller.linkedid in (told.linkedid, again.linkedid)
    async with db.engine.connect() as conn:
        stamped = (await conn.execute(select(phone.incidents.c.communicated_at))).scalar_one()
    assert stamped is not None and stamped >= datetime.fromtimestamp(started_at, UTC).replace(microsecond=0)

    # the service level is the queued callers' only: the same in the report's SQL, in kpi.py and live
    start, end = datetime.fromtimestamp(started_at - 60, UTC), datetime.fromtimestamp(started_at + 86400, UTC)
    figures = await aggregates.call_kpis(db, TENANT_A, start, end, calendar=None)
    direct = kpi.call_kpis([r for r in records.values() if r.tenant == TENANT_A])
    for k in (figures, direct):
        assert (k.offered, k.answered, k.abandoned, k.left_at_announcement, k.subscribed_at_announcement) == (
            1, 1, 0, 3, 2,
        )  # fmt: skip
        assert k.service_level == 1.0 and k.reachability == 1.0 and k.outside_hours == 0
        assert k.outcomes == {"answered": 1, "incident_left": 1, "incident_subscribed": 2}
    live = counters.queues[(TENANT_A, NORD)]
    assert (live.offered, live.answered, live.left_at_announcement, live.subscribed_at_announcement) == (1, 1, 3, 2)
    assert counters.queues[(TENANT_B, SUED)].left_at_announcement == 0
