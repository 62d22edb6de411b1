"""ITIL priority from impact x urgency: a pure function over a configurable 5 x 5 matrix.

Levels run from 1 (the most severe) to 5. The default matrix is ``priority = (impact + urgency) // 2``
written out as data, so an operator can replace any cell::

    impact \\ urgency   1  2  3  4  5
    1 critical          1  1  2  2  3
    2 high              1  2  2  3  3
    3 medium            2  2  3  3  4
    4 low               2  3  3  4  4
    5 minimal           3  3  4  4  5

Priority 1 is critical, 2 high, 3 medium, 4 low, 5 planning. A VIP caller raises the urgency by one level
(4 becomes 3, 1 stays 1) before the matrix is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from uhd_telephony.i18n import Label, Msg, Quoted

LEVELS = (1, 2, 3, 4, 5)
# names accepted for impact and urgency in imports and the API, besides the numbers themselves
LEVEL_NAMES: Mapping[int, str] = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "minimal"}
PRIORITY_NAMES: Mapping[int, str] = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "planning"}
_BY_NAME = {name: level for level, name in LEVEL_NAMES.items()}


def _not_a_level(what: str, value: Any) -> Msg:
    return Msg(
        "%(field)s must be 1..5 or one of %(names)s, got %(value)s",
        field=Label("field", what),
        names=", ".join(_BY_NAME),
        value=Quoted(value, 40),
    )


def parse_level(value: Any, what: str = "level") -> int:
    """An impact or urgency level 1..5 from an int, a digit string or a name (``"high"``); ValueError otherwise
    (its argument a ``Msg``: the field's words for people)."""
    # bool is an int to Python, and YAML 1.1 turns "yes"/"no" into bools: never a level
    if isinstance(value, bool):
        raise ValueError(_not_a_level(what, value))
    if isinstance(value, int):
        level = value
    elif isinstance(value, str) and value.strip().isdigit():
        level = int(value.strip())
    elif isinstance(value, str) and value.strip().lower() in _BY_NAME:
        return _BY_NAME[value.strip().lower()]
    else:
        raise ValueError(_not_a_level(what, value))
    if level not in LEVELS:
        out_of_range = Msg("%(field)s must be between 1 and 5, got %(level)s", field=Label("field", what), level=level)
        raise ValueError(out_of_range)
    return level


@dataclass(frozen=True, slots=True)
class PriorityMatrix:
    """Priority per (impact, urgency): ``rows[impact - 1][urgency - 1]``, every cell 1..5."""

    rows: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.rows) != len(LEVELS) or any(len(row) != len(LEVELS) for row in self.rows):
            raise ValueError("a priority matrix has 5 rows (impact 1..5) of 5 cells (urgency 1..5)")
        for i, row in enumerate(self.rows, start=1):
            for u, cell in enumerate(row, start=1):
                if isinstance(cell, bool) or not isinstance(cell, int) or cell not in LEVELS:
                    raise ValueError(f"priority matrix cell impact={i} urgency={u} must be 1..5, got {cell!r}")

    @classmethod
    def parse(cls, data: Sequence[Sequence[Any]] | Mapping[Any, Sequence[Any]]) -> PriorityMatrix:
        """A matrix from a list of 5 rows, or a mapping impact -> row (keys as levels or names), e.g. from YAML."""
        if isinstance(data, Mapping):
            by_level = {parse_level(key, "impact"): row for key, row in data.items()}
            if sorted(by_level) != list(LEVELS):
                raise ValueError("a priority matrix needs one row for each impact 1..5")
            rows: Sequence[Sequence[Any]] = [by_level[level] for level in LEVELS]
        else:
            rows = data
        return cls(tuple(tuple(row) for row in rows))

    def lookup(self, impact: int, urgency: int) -> int:
        """The priority of one cell."""
        return self.rows[parse_level(impact, "impact") - 1][parse_level(urgency, "urgency") - 1]


DEFAULT_MATRIX = PriorityMatrix(tuple(tuple((i + u) // 2 for u in LEVELS) for i in LEVELS))


def vip_urgency(urgency: int) -> int:
    """The urgency a VIP caller gets: one level more urgent, never beyond 1."""
    return max(LEVELS[0], parse_level(urgency, "urgency") - 1)


def priority(impact: int, urgency: int, *, vip: bool = False, matrix: PriorityMatrix = DEFAULT_MATRIX) -> int:
    """The ITIL priority (1 critical .. 5 planning) of an impact and urgency, a VIP caller's urgency raised."""
    return matrix.lookup(impact, vip_urgency(urgency) if vip else urgency)
