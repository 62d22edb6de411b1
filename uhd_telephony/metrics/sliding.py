"""Sliding windows over instants: the arithmetic of ``metrics.recurring``, pure, on sorted numpy int64 arrays of
whole microseconds (exact: no float ever holds a time).

A window of ``size`` within ``span`` ends at instant ``i`` when ``times[i] - times[i - size + 1] <= span``: the
``size`` instants up to ``i`` lie within ``span`` of each other, both ends included. numpy finds every such end in
one vectorised subtraction; nothing here is a loop over instants.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Times = Any  # a sorted 1-d numpy int64 array (numpy's typing of arrays is not worth the noise here)


def window_ends(times: Times, size: int, span: int) -> Any:
    """The indices at which a full window (``size`` instants within ``span``) ends, ascending."""
    n = len(times)
    if n < size:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(times[size - 1 :] - times[: n - size + 1] <= span) + (size - 1)


def runs(times: Times, size: int, span: int) -> list[tuple[int, int, int]]:
    """(first instant, last instant, how many) of each run of overlapping full windows: a run goes on while the
    next window begins at or before the previous one's end."""
    ends = window_ends(times, size, span)
    if not len(ends):
        return []
    firsts = ends - (size - 1)
    begins = np.ones(len(ends), dtype=bool)
    begins[1:] = times[firsts[1:]] > times[ends[:-1]]
    heads = np.flatnonzero(begins)
    tails = np.append(heads[1:], len(ends)) - 1
    out = []
    for head, tail in zip(heads.tolist(), tails.tolist(), strict=True):
        first, last = int(firsts[head]), int(ends[tail])
        out.append((int(times[first]), int(times[last]), last - first + 1))
    return out


def in_windows(times: Times, size: int, span: int, since: int) -> Any:
    """A mask of the instants that lie in a full window whose last instant is at or after ``since``: those no more
    than ``span`` before the first such end at or after them."""
    ends = times[window_ends(times, size, span)]
    ends = ends[ends >= since]
    mask = np.zeros(len(times), dtype=bool)
    if not len(ends):
        return mask
    nearest: Any = np.searchsorted(ends, times, side="left")  # the first end at or after each instant
    reached = nearest < len(ends)
    mask[reached] = ends[nearest[reached]] - times[reached] <= span
    return mask
