"""The sliding windows of the recurring problems, pure: both ends of a span included, overlapping windows one run,
the windows that end from a moment on."""

from __future__ import annotations

import numpy as np

from uhd_telephony.metrics.sliding import in_windows, runs, window_ends

MINUTE = 60_000_000  # microseconds


def _times(*minutes: float) -> np.ndarray:
    return np.array([round(m * MINUTE) for m in minutes], dtype=np.int64)


def test_a_window_includes_both_ends_of_its_span() -> None:
    assert window_ends(_times(0, 20, 60), 3, 60 * MINUTE).tolist() == [2]
    assert window_ends(_times(0, 20, 60.0001), 3, 60 * MINUTE).tolist() == []
    assert window_ends(_times(0, 20), 3, 60 * MINUTE).tolist() == []  # fewer instants than a window holds


def test_overlapping_windows_are_one_run_and_a_gap_starts_another() -> None:
    times = _times(0, 10, 20, 30, 40, 50, 60, 65, 200, 205, 210, 215, 220)
    assert runs(times, 5, 60 * MINUTE) == [
        (0, 65 * MINUTE, 8),  # windows ending at 40, 50, 60, 65 overlap: 0 to 65, eight instants
        (200 * MINUTE, 220 * MINUTE, 5),
    ]
    # a window that begins exactly where the one before ended still overlaps it
    assert runs(_times(0, 1, 2, 3, 4, 4, 5, 6, 7), 5, 4 * MINUTE) == [(0, 7 * MINUTE, 9)]
    assert runs(_times(0, 1, 2, 3, 61, 62, 63, 64), 5, 60 * MINUTE) == []


def test_the_instants_in_windows_that_end_from_a_moment_on() -> None:
    day = 24 * 60 * MINUTE
    times = np.array([0, 12 * day, 30 * day, 70 * day, 71 * day], dtype=np.int64)
    assert in_windows(times, 3, 30 * day, since=0).tolist() == [True, True, True, False, False]
    assert in_windows(times, 3, 30 * day, since=30 * day).tolist() == [True, True, True, False, False]
    assert in_windows(times, 3, 30 * day, since=30 * day + 1).tolist() == [False] * 5  # it ended before
    assert in_windows(times, 3, 30 * day - 1, since=0).tolist() == [False] * 5  # a microsecond short
