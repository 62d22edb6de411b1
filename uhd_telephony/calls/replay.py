"""Replay a raw AMI capture through the same pipeline the live service runs."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uhd_telephony.ami.frames import FrameStats
from uhd_telephony.calls.domain import CallEnded, CallEvent
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.tracker import CallTracker, TrackerStats
from uhd_telephony.errors import CaptureError

CHUNK = 64 * 1024  # what one socket read typically hands the protocol


@dataclass(slots=True)
class ReplayResult:
    records: list[CallRecord] = field(default_factory=list)
    in_progress: list[CallRecord] = field(default_factory=list)
    frames: FrameStats = field(default_factory=FrameStats)
    tracker: TrackerStats = field(default_factory=TrackerStats)
    banner: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        outcomes = Counter(str(r.outcome) for r in self.records)
        return {
            "calls": len(self.records),
            "outcomes": dict(sorted(outcomes.items())),
            "in_progress": len(self.in_progress),
            "frames": self.frames.frames,
            "events_decoded": self.frames.events,
            "frames_skipped": self.frames.skipped,
            "frames_malformed": self.frames.malformed,
            "frames_oversized": self.frames.oversized,
            "orphan_events": self.tracker.orphans,
            "duplicate_events": self.tracker.duplicates,
            "ignored_events": self.tracker.ignored,
            "seconds": round(self.seconds, 3),
        }


def read_capture(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read capture {path}: {exc.strerror or exc}", {"path": str(path)}) from exc


def replay_bytes(
    data: bytes,
    tracker: CallTracker | None = None,
    *,
    chunk: int = CHUNK,
    also: list[CallEvent] | None = None,
) -> ReplayResult:
    """Feed a capture through the pipeline in socket-sized chunks; finished calls in the order they ended.

    ``also`` (when given) receives every domain event, for callers that publish them (``replay --store``).
    """
    tracker = tracker or CallTracker()
    result = ReplayResult()

    def publish(events: list[CallEvent]) -> None:
        for event in events:
            if isinstance(event, CallEnded):
                result.records.append(event.call)
        if also is not None:
            also.extend(events)

    # replayed times are the capture's own Timestamp headers; the receive time is only a fallback
    pipeline = CallPipeline(tracker, publish, clock=lambda: tracker.now)
    started = time.perf_counter()
    view = memoryview(data)
    for offset in range(0, len(data), chunk):
        pipeline.feed(bytes(view[offset : offset + chunk]))
    pipeline.flush()
    result.seconds = time.perf_counter() - started
    result.in_progress = [c.snapshot() for c in tracker.calls.values()]
    result.frames = pipeline.decoder.stats
    result.tracker = tracker.stats
    result.banner = pipeline.decoder.banner
    return result
