"""Calls rebuilt by the resync after a restart or a cut know their tenant, hotline and lookup as live ones do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import eventually
from tests.test_service import service_settings, started, stored
from uhd_telephony.ami import names
from uhd_telephony.simulator import AmiSimulator, default_config

AGENTS = ["PJSIP/101", "PJSIP/102"]
SECOND_HOTLINE = "+49231990002"


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    # two tenants on one queue; the AGI lookup sets UHD_TENANT, which manager.conf's channelvars show on every
    # channel event and every CoreShowChannel
    config = default_config(len(AGENTS), tenants=2, agi_lookup=True, max_wait_s=None)
    async with AmiSimulator(config, speed=0) as simulator:
        yield simulator


async def test_calls_that_joined_while_the_service_was_down_get_their_tenant_from_the_channel(
    sim: AmiSimulator, sqlite_url: str
) -> None:
    # only the first hotline is in the number table: the second tenant is known from UHD_TENANT alone
    settings = service_settings(sim.port, sqlite_url)
    first = await started(settings)
    await first.close()
    sim.pause_member(AGENTS[1])
    talking = sim.place_call("+492311111111", "Talks Meanwhile", dialled=SECOND_HOTLINE, talk_s=60)
    await sim.advance(5)
    sim.pause_member(AGENTS[0])
    waiting = sim.place_call(
        "+492312222222", "Waits Meanwhile", dialled=SECOND_HOTLINE, lookup={names.VAR_USER_ID: "42"}
    )
    await sim.advance(5)
    second = await started(settings)
    try:
        rebuilt = {c.uniqueid: c for c in second.tracker.calls.values()}
        assert set(rebuilt) == {talking.uniqueid, waiting.uniqueid}
        for call in rebuilt.values():
            assert call.resynced and call.tenant == "tenant2" and call.dialled == SECOND_HOTLINE
        assert rebuilt[waiting.uniqueid].variables[names.VAR_USER_ID] == "42"
        assert rebuilt[talking.uniqueid].answered_at is not None
        # times on Asterisk's clock: entered <= answered, whatever this machine's clock says
        assert rebuilt[talking.uniqueid].entered_at <= rebuilt[talking.uniqueid].answered_at  # type: ignore[operator]
        sim.unpause_member(AGENTS[0])
        await sim.settle()
        await eventually(lambda: second.tracker.stats.finished == 2)
    finally:
        await second.close()
    records = {r.uniqueid: r for r in await stored(sqlite_url)}
    assert {r.tenant for r in records.values()} == {"tenant2"}
    for record in records.values():
        assert record.entered_at <= (record.answered_at or record.entered_at) <= record.ended_at  # type: ignore[operator]
    assert records[talking.uniqueid].outcome == "answered" and records[waiting.uniqueid].outcome == "answered"
