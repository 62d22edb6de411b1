"""CallService with UHD_QUEUE_LOG: the queue_log backfill runs at start and again after every AMI reconnect."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.helpers import eventually
from tests.support.service import AGENTS, service_settings, started, stored
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

QUEUE_LOG = Path(__file__).resolve().parent.parent / "data" / "queue-log" / "soak_c120.queue_log"


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    async with AmiSimulator(default_config(len(AGENTS), max_wait_s=30), speed=0) as simulator:
        yield simulator


async def test_the_service_backfills_at_start_and_after_a_reconnect(
    sim: AmiSimulator, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "queue_log"
    shutil.copy(QUEUE_LOG, path)
    # one call the store knows (an hour before it is how far the first run reads back)
    await migrate(db_url)
    db = Database(db_url)
    try:
        known = CallRecord("x@hotline", "x", "x", "hotline", "klinikum-nord", 1796642200.0, outcome=Outcome.UNKNOWN)
        await CallRepository(db).upsert_many([known])
    finally:
        await db.close()
    service = await started(service_settings(sim.port, db_url, queue_log=str(path)))
    try:
        await eventually(lambda: service.resyncs >= 1)
        await backfilled(db_url, 120)
        # Asterisk goes on logging while the service cannot see it: a call that starts and ends in the gap
        now = int(time.time())
        with path.open("a", encoding="utf-8") as f:
            f.write(f"{now - 30}|{now - 30}.1|hotline|NONE|ENTERQUEUE||+4930123|1\n")
            f.write(f"{now - 28}|{now - 30}.1|hotline|Agent Anna|CONNECT|2|{now - 30}.2|1\n")
            f.write(f"{now - 10}|{now - 30}.1|hotline|Agent Anna|COMPLETECALLER|2|18|1\n")
        sim.drop_connections()
        await eventually(lambda: service.resyncs >= 2, within=30)
        await backfilled(db_url, 121)
    finally:
        await service.close()
    records = {r.call_id: r for r in await stored(db_url)}
    gap = records[f"{now - 30}.1@hotline"]
    assert gap.backfilled and gap.outcome == Outcome.ANSWERED and gap.agent == "Agent Anna" and gap.talk_s == 18
    assert len(records) == 122 and not records["x@hotline"].backfilled


async def backfilled(db_url: str, count: int) -> None:
    """Wait until the store holds ``count`` backfilled calls (the service's backfill runs in its connect hook)."""
    async with asyncio.timeout(45):
        # the hook runs in the AMI client's task: the store is the one place to see its result
        while sum(r.backfilled for r in await stored(db_url)) != count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_calls_made_during_a_deploy_are_backfilled_at_the_next_start(db_url: str, tmp_path: Path) -> None:
    """The simulator writes app_queue's queue_log as Asterisk does; the service is stopped while calls come and
    go, and its next start records them from the file, exactly as the simulator says they went."""
    path = tmp_path / "queue_log"
    async with AmiSimulator(default_config(len(AGENTS), max_wait_s=30), speed=0, queue_log=path) as sim:
        settings = service_settings(
            sim.port, db_url, queue_log=str(path), tenant_queues={"hotline": "klinikum-dortmund"}
        )
        first = await started(settings)
        try:
            live = sim.place_call("+492311234567", "Seen Live", talk_s=20)
            await sim.settle()
            await eventually(lambda: first.tracker.stats.finished == 1)
        finally:
            await first.close()
        # the deploy: nobody listens to AMI while these calls start and end
        answered = sim.place_call("+492317654321", "Während Des Deploys", talk_s=40)
        await sim.settle()
        for agent in AGENTS:
            sim.pause_member(agent)
        abandoned = sim.place_call("+4930123456", "Legt Auf", patience_s=12)
        short = sim.place_call("+4930654321", "Verwählt", patience_s=2)
        timed_out = sim.place_call("+4989555123", "Wartet Lange", patience_s=None)
        await sim.settle()
        truth = {t["uniqueid"]: t for t in sim.truth()}
        second = await started(settings)
        try:
            await backfilled(db_url, 4)
        finally:
            await second.close()
    records = {r.uniqueid: r for r in await stored(db_url)}
    assert set(records) == set(truth) and len(truth) == 5
    assert not records[live.uniqueid].backfilled
    for placed in (answered, abandoned, short, timed_out):
        record, t = records[placed.uniqueid], truth[placed.uniqueid]
        assert record.backfilled and record.call_id == f"{placed.uniqueid}@hotline"
        # the simulator's truth does not know the short-abandon threshold; the tracker and the backfill do
        short_abandon = t["outcome"] == "abandoned" and t["wait_s"] < settings.short_abandon_s
        assert record.outcome == ("short_abandon" if short_abandon else t["outcome"]) and record.agent == t["agent"]
        assert record.wait_s is not None and abs(record.wait_s - t["wait_s"]) <= 1
        assert record.tenant == "klinikum-dortmund" and record.caller_number == t["caller_number"]
    assert [records[p.uniqueid].outcome for p in (answered, abandoned, short, timed_out)] == [
        "answered",
        "abandoned",
        "short_abandon",
        "timeout",
    ]
    assert records[answered.uniqueid].talk_s == 40
