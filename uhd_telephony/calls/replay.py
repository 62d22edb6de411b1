"""Replay a raw AMI capture through the same pipeline the live service runs.

A capture file is read and decoded in socket-sized chunks (``replay_file``): the memory a replay needs does
not grow with the file, and its calls can be handed on as they end (``on_record``) instead of kept.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uhd_telephony.ami.frames import FrameStats
from uhd_telephony.calls.domain import CallEnded, DomainEvent
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.tracker import CallTracker, TrackerStats
from uhd_telephony.errors import CaptureError

CHUNK = 64 * 1024  # what one socket read typically hands the protocol
# a file that shows nothing of AMI (no banner, no Event or Response frame) within this many bytes is no capture
SNIFF_BYTES = 1024 * 1024


@dataclass(slots=True)
class ReplayResult:
    # the finished calls in the order they ended (empty when they were handed to ``on_record`` instead)
    records: list[CallRecord] = field(default_factory=list)
    in_progress: list[CallRecord] = field(default_factory=list)
    # the outcomes of the finished calls, kept or not
    ended: Counter[str] = field(default_factory=Counter)
    frames: FrameStats = field(default_factory=FrameStats)
    tracker: TrackerStats = field(default_factory=TrackerStats)
    banner: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "calls": sum(self.ended.values()),
            "outcomes": dict(sorted(self.ended.items())),
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
    """The whole capture in memory (small captures, tests); ``replay_file`` reads a file in chunks."""
    return b"".join(read_chunks(path))


def read_chunks(path: str | Path, chunk: int = CHUNK) -> Iterator[bytes]:
    """The capture's bytes, ``chunk`` at a time; CaptureError when the file cannot be read."""
    try:
        with Path(path).open("rb") as file:
            while data := file.read(chunk):
                yield data
    except OSError as exc:
        raise CaptureError(f"cannot read capture {path}: {exc.strerror or exc}", {"path": str(path)}) from exc


def replay_bytes(
    data: bytes,
    tracker: CallTracker | None = None,
    *,
    chunk: int = CHUNK,
    also: list[DomainEvent] | None = None,
) -> ReplayResult:
    """Feed a capture through the pipeline in socket-sized chunks; finished calls in the order they ended.

    ``also`` (when given) receives every domain event, for callers that publish them (``replay --store``).
    """
    view = memoryview(data)
    chunks = (bytes(view[offset : offset + chunk]) for offset in range(0, len(data), chunk))
    return replay_chunks(chunks, tracker, also=also)


def replay_file(
    path: str | Path,
    tracker: CallTracker | None = None,
    *,
    chunk: int = CHUNK,
    also: list[DomainEvent] | None = None,
    on_record: Callable[[CallRecord], None] | None = None,
) -> ReplayResult:
    """Replay the capture in the file at ``path``, read ``chunk`` bytes at a time.

    ``on_record`` (when given) gets each finished call as it ends, and ``records`` stays empty: memory flat in the
    file's size. CaptureError when the file cannot be read or is no AMI capture (nothing of AMI in its first
    ``SNIFF_BYTES`` or in the whole of a shorter file: no ``Asterisk Call Manager/`` banner, no Event or
    Response frame).
    """
    replay = _Replay(tracker, also, on_record)
    for data in read_chunks(path, chunk):
        replay.feed(data)
        if replay.fed >= SNIFF_BYTES and not replay.looks_like_ami():
            break
    if not replay.looks_like_ami():
        what = f"the first {SNIFF_BYTES // 1024} KiB of it hold" if replay.fed >= SNIFF_BYTES else "it holds"
        shown = "it is empty" if replay.fed == 0 else f"{what} no AMI banner, event or response"
        raise CaptureError(f"{path} is not an AMI capture: {shown}", {"path": str(path)})
    return replay.finish()


def replay_chunks(
    chunks: Iterable[bytes],
    tracker: CallTracker | None = None,
    *,
    also: list[DomainEvent] | None = None,
    on_record: Callable[[CallRecord], None] | None = None,
) -> ReplayResult:
    """Feed the chunks of a capture through the pipeline, as the live service gets them from its socket."""
    replay = _Replay(tracker, also, on_record)
    for data in chunks:
        replay.feed(data)
    return replay.finish()


class _Replay:
    """One replay: the pipeline, its clock (the capture's own Timestamp headers) and what it has found."""

    def __init__(
        self,
        tracker: CallTracker | None,
        also: list[DomainEvent] | None,
        on_record: Callable[[CallRecord], None] | None,
    ) -> None:
        self.tracker = tracker = tracker or CallTracker()
        self.result = result = ReplayResult()
        ended = result.ended
        keep = result.records.append if on_record is None else on_record

        def publish(events: Sequence[DomainEvent]) -> None:
            for event in events:
                if isinstance(event, CallEnded):
                    ended[str(event.call.outcome)] += 1
                    keep(event.call)
            if also is not None:
                also.extend(events)

        # replayed times are the capture's own Timestamp headers; the receive time is only a fallback
        self.pipeline = CallPipeline(tracker, publish, clock=lambda: tracker.now)
        self.fed = 0
        self.seconds = 0.0

    def feed(self, data: bytes) -> None:
        started = time.perf_counter()
        self.fed += len(data)
        self.pipeline.feed(data)
        self.seconds += time.perf_counter() - started

    def looks_like_ami(self) -> bool:
        stats = self.pipeline.decoder.stats
        return self.pipeline.decoder.banner is not None or stats.events + stats.skipped + stats.responses > 0

    def finish(self) -> ReplayResult:
        started = time.perf_counter()
        self.pipeline.flush()
        result, tracker = self.result, self.tracker
        result.seconds = self.seconds + time.perf_counter() - started
        result.in_progress = [c.snapshot() for c in tracker.calls.values()]
        result.frames = self.pipeline.decoder.stats
        result.tracker = tracker.stats
        result.banner = self.pipeline.decoder.banner
        return result
