"""Frames → typed events → tracker → domain events: the one path both the live service and replay use."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from uhd_telephony.ami.events import AmiEvent, build_event, tracker_filter
from uhd_telephony.ami.frames import Fields, FrameDecoder
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.calls.domain import DomainEvent
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.settings import Settings

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[DomainEvent]], None]


class AmiObserver(Protocol):
    """Reads the typed events and resync snapshots beside the tracker (the metrics' queue member state).

    Called inline for every typed event: it must be quick and must not change the event.
    """

    def observe(self, event: AmiEvent, received: float) -> None: ...

    def resynced(self, snapshot: Snapshot) -> None: ...


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
        # read-only watchers of the typed events (metrics.members keeps queue member state here;
        # the tracker stays the only one that turns events into calls)
        self.observers: list[AmiObserver] = []
        self.observer_errors = 0
        self._failed_observers: set[int] = set()

    def on_fields(self, fields: Fields, received: float | None = None) -> None:
        """One event frame's headers, as the FrameDecoder or the AMI client hand them over."""
        if received is None:
            received = self._clock()
        event = build_event(fields, received)
        if event is None:
            return
        for observer in self.observers:
            try:
                observer.observe(event, received)
            except Exception:  # a watcher's bug must not cost a call record
                self._observer_failed(observer, type(event).__name__)
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
        for observer in self.observers:
            try:
                observer.resynced(snapshot)
            except Exception:
                self._observer_failed(observer, "a resync")

    def _observer_failed(self, observer: AmiObserver, what: str) -> None:
        """Count it; log the first failure of each observer with its traceback (one per event would flood)."""
        self.observer_errors += 1
        if id(observer) not in self._failed_observers:
            self._failed_observers.add(id(observer))
            log.exception("AMI observer %r failed on %s (further failures are only counted)", observer, what)

    def flush(self) -> None:
        out = self.tracker.flush()
        if out:
            self._publish(out)
