"""Callers reached back (issue 20 item 2): the recorder of callback answers on the call bus and the matcher, in
the process holding the tracker lease (workers run only there). No tables of its own: it fills columns of ``calls``
and ``callbacks``; the figures (``figures``) serve the KPI API, /metrics and the monthly report."""

from __future__ import annotations

from uhd_telephony.calls.domain import CallbackAnswered
from uhd_telephony.reachback.matcher import ReachbackMatcher
from uhd_telephony.reachback.recorder import CallbackRecorder
from uhd_telephony.runtime.plugin import Capability, Running, Runtime


class Recording:
    """The recorder as a worker: subscribed to the bus at start (the bus drains it at close)."""

    def __init__(self, rt: Runtime, recorder: CallbackRecorder) -> None:
        self.rt = rt
        self.recorder = recorder

    async def start(self) -> None:
        self.rt.bus.subscribe(self.recorder, CallbackAnswered, name="reachback")

    async def close(self) -> None:
        return None

    def health(self) -> dict[str, object]:
        return {"recorded": self.recorder.recorded, "pending": len(self.recorder.pending)}


def workers(rt: Runtime) -> list[Running]:
    matcher: ReachbackMatcher | None = None

    def wake() -> None:
        if matcher is not None:
            matcher.wake()

    recorder = CallbackRecorder(rt.db, on_recorded=wake)
    matcher = ReachbackMatcher(
        rt.db,
        interval_s=rt.settings.reachback_scan_s,
        lookback_s=rt.settings.reachback_lookback_s,
        before_scan=recorder.retry,
    )
    rt.provide("reachback", matcher)
    return [Running(Recording(rt, recorder), "reachback_recorder"), Running(matcher, "reachback")]


CAPABILITY = Capability(name="reachback", workers=workers)
