"""Frames → typed events → tracker → domain events: the one path both the live service and replay use."""

from __future__ import annotations

import time
from collections.abc import Callable

from uhd_telephony.ami.events import build_event, tracker_filter
from uhd_telephony.ami.frames import Fields, FrameDecoder
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.calls.domain import CallEvent
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.settings import Settings

Publish = Callable[[list[CallEvent]], None]


def tracker_from_settings(settings: Settings) -> CallTracker:
    return CallTracker(
        short_abandon_s=settings.short_abandon_s,
        grace_s=settings.finalize_grace_s,
        default_tenant=settings.default_tenant,
        tenant_numbers=settings.tenant_numbers,
        tenant_queues=settings.tenant_queues,
    )


class CallPipeline:
    """Feeds header dicts (or raw bytes, for replay) through the tracker and publishes what comes out."""

    def __init__(self, tracker: CallTracker, publish: Publish, clock: Callable[[], float] = time.time) -> None:
        self.tracker = tracker
        self._publish = publish
        self._clock = clock
        self.decoder = FrameDecoder(self.on_fields, None, tracker_filter())

    def on_fields(self, fields: Fields, received: float | None = None) -> None:
        """One event frame's headers, as the FrameDecoder or the AMI client hand them over."""
        if received is None:
            received = self._clock()
        event = build_event(fields, received)
        if event is None:
            return
        out = self.tracker.handle(event, received)
        if out:
            self._publish(out)

    def feed(self, data: bytes) -> None:
        """Raw AMI bytes (a capture being replayed)."""
        self.decoder.feed(data)

    def tick(self) -> None:
        out = self.tracker.tick(self._clock())
        if out:
            self._publish(out)

    def resync(self, snapshot: Snapshot) -> None:
        out = self.tracker.resync(snapshot)
        if out:
            self._publish(out)

    def flush(self) -> None:
        out = self.tracker.flush()
        if out:
            self._publish(out)
