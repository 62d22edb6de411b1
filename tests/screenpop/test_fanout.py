"""Pops reach exactly the agent's consoles, across processes through the real Redis, and wait for reconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.helpers import REDIS_URL, eventually
from uhd_telephony.screenpop.fanout import LocalFanout, RedisFanout
from uhd_telephony.screenpop.hub import Console, PopHub


class Sink:
    """Stands in for a browser's WebSocket at this level; the web tests use real ones."""

    def __init__(self, fail: bool = False) -> None:
        self.received: list[dict[str, Any]] = []
        self.closed = False
        self.fail = fail

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self.fail:
            raise ConnectionResetError("gone")
        self.received.append(json.loads(data))


def pop(agent_id: int, tenant: str = "klinikum-a", linkedid: str = "1.1") -> dict[str, Any]:
    return {"type": "pop", "agent_id": agent_id, "tenant": tenant, "call": {"linkedid": linkedid}, "ticket": {}}


@pytest.fixture
async def two_processes(redis_prefix: str) -> AsyncIterator[tuple[RedisFanout, PopHub, RedisFanout, PopHub]]:
    hub_a, hub_b = PopHub(), PopHub()
    a, b = RedisFanout(hub_a, REDIS_URL, redis_prefix), RedisFanout(hub_b, REDIS_URL, redis_prefix)
    await a.start()
    await b.start()
    try:
        yield a, hub_a, b, hub_b
    finally:
        await a.close()
        await b.close()


async def test_pop_published_in_one_process_reaches_the_agent_in_another(two_processes: Any) -> None:
    a, hub_a, _b, hub_b = two_processes
    anna, ben = Sink(), Sink()
    hub_b.add(Console(7, frozenset({"klinikum-a"}), anna))
    hub_b.add(Console(8, frozenset({"klinikum-a"}), ben))
    await a.publish(pop(7))
    await eventually(lambda: hub_b.stats.delivered == 1, 5)  # counted once every console's send is done
    assert anna.received[0]["agent_id"] == 7 and ben.received == []
    assert hub_a.stats.delivered == 0


async def test_pop_of_another_tenant_is_withheld(two_processes: Any) -> None:
    a, _, _b, hub_b = two_processes
    anna = Sink()
    hub_b.add(Console(7, frozenset({"klinikum-a"}), anna))
    await a.publish(pop(7, tenant="klinikum-b"))
    await a.publish(pop(7, tenant="klinikum-a", linkedid="2.2"))
    await eventually(lambda: len(anna.received) == 1, 5)
    assert anna.received[0]["call"]["linkedid"] == "2.2" and hub_b.stats.refused_tenant == 1


async def test_reconnecting_console_gets_the_current_pop_until_the_call_ends(two_processes: Any) -> None:
    a, _, b, _ = two_processes
    await a.publish(pop(7, linkedid="3.3"))
    assert (await b.current(7))["call"]["linkedid"] == "3.3"  # type: ignore[index]
    await b.end(7, "other-call")
    assert await b.current(7) is not None
    await a.end(7, "3.3")
    assert await b.current(7) is None


async def test_several_consoles_of_one_agent_all_get_it_and_a_dead_one_is_dropped() -> None:
    hub = PopHub()
    fanout = LocalFanout(hub)
    first, second, dead = Sink(), Sink(), Sink(fail=True)
    for sink in (first, second, dead):
        hub.add(Console(7, frozenset({"klinikum-a"}), sink))
    await fanout.publish(pop(7))
    assert len(first.received) == len(second.received) == 1
    assert hub.consoles_of(7) == 2 and hub.stats.failed == 1
    assert (await fanout.current(7)) == pop(7)
    await fanout.end(7, "1.1")
    assert await fanout.current(7) is None


async def test_redis_listener_survives_a_malformed_message(two_processes: Any) -> None:
    a, _, _b, hub_b = two_processes
    anna = Sink()
    hub_b.add(Console(7, frozenset({"klinikum-a"}), anna))
    await a._redis.publish(a.channel, "{not json")
    await a.publish(pop(7))
    await eventually(lambda: len(anna.received) == 1, 5)
    await asyncio.sleep(0)


async def test_the_same_pop_from_two_instances_reaches_the_console_once(two_processes: Any) -> None:
    a, hub_a, b, hub_b = two_processes
    anna, ben = Sink(), Sink()
    hub_a.add(Console(7, frozenset({"klinikum-a"}), anna))
    hub_b.add(Console(8, frozenset({"klinikum-a"}), ben))
    message = {**pop(7), "call": {"call_id": "1.1@hotline", "linkedid": "1.1"}}
    # both instances follow the same PBX and compose the same answer's pop
    assert await a.publish(message) is True
    assert await b.publish({**message, "at": "a little later"}) is False
    # the same conversation answered again in another queue, and the same call for another agent: new pops
    assert await b.publish({**message, "call": {"call_id": "1.1@backoffice", "linkedid": "1.1"}}) is True
    assert await a.publish({**message, "agent_id": 8}) is True
    ended = {"type": "call_ended", "tenant": "klinikum-a", "agent_id": 7, "call": message["call"]}
    assert [await a.publish(ended), await b.publish(ended)] == [True, False]
    await eventually(lambda: len(anna.received) == 3 and len(ben.received) == 1, 5)
    await asyncio.sleep(0.2)  # a duplicate would be on its way now
    assert [(m["type"], m["call"]["call_id"]) for m in anna.received] == [
        ("pop", "1.1@hotline"),
        ("pop", "1.1@backoffice"),
        ("call_ended", "1.1@hotline"),
    ]
    assert "at" not in anna.received[0]  # the first instance's pop, not the second's
    current = await a.current(7)
    assert current is not None and current["call"]["call_id"] == "1.1@backoffice"
