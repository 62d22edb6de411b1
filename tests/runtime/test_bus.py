"""The in-process bus: async subscribers, whatever their shape, get their events awaited."""

from __future__ import annotations

from uhd_telephony.runtime.bus import Bus


class Recorder:
    """A subscriber object with an ``async def __call__`` (as ``reachback.recorder.CallbackRecorder``)."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    async def __call__(self, event: object) -> None:
        self.seen.append(event)


async def test_an_object_with_an_async_call_is_awaited_in_its_own_worker() -> None:
    bus = Bus()
    recorder = Recorder()
    bus.subscribe(recorder, int, name="recorder")
    await bus.start()
    bus.publish_many([1, "not for it", 2])
    await bus.drain()
    assert recorder.seen == [1, 2]
    assert bus.stats()["recorder"]["errors"] == 0
    await bus.close()


async def test_plain_functions_keep_their_way() -> None:
    bus = Bus()
    inline: list[object] = []
    awaited: list[object] = []

    async def later(event: object) -> None:
        awaited.append(event)

    bus.subscribe(inline.append, name="inline")
    bus.subscribe(later, name="later")
    await bus.start()
    bus.publish("x")
    assert inline == ["x"] and awaited == []  # the inline one at once, the async one in its worker
    await bus.drain()
    assert awaited == ["x"]
    await bus.close()
