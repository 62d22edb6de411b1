"""The ITIL priority matrix: a pure function, its default table, the VIP rule and configuration."""

from __future__ import annotations

import pytest

from uhd_telephony.tickets.priority import DEFAULT_MATRIX, PriorityMatrix, parse_level, priority, vip_urgency

# impact (rows) x urgency (columns), as documented in the module docstring
DEFAULT_TABLE = [
    [1, 1, 2, 2, 3],
    [1, 2, 2, 3, 3],
    [2, 2, 3, 3, 4],
    [2, 3, 3, 4, 4],
    [3, 3, 4, 4, 5],
]


@pytest.mark.parametrize("impact", range(1, 6))
@pytest.mark.parametrize("urgency", range(1, 6))
def test_the_default_matrix_is_the_documented_table(impact: int, urgency: int) -> None:
    assert priority(impact, urgency) == DEFAULT_TABLE[impact - 1][urgency - 1]


@pytest.mark.parametrize(
    ("impact", "urgency", "plain", "vip"),
    [
        (3, 3, 3, 2),  # medium/medium: a VIP is treated as medium/high
        (4, 4, 4, 3),
        (5, 5, 5, 4),
        (1, 1, 1, 1),  # already the most urgent: capped
        (2, 1, 1, 1),
        (5, 2, 3, 3),  # the matrix may give the same priority one urgency up
    ],
)
def test_a_vip_caller_raises_urgency_by_one_level(impact: int, urgency: int, plain: int, vip: int) -> None:
    assert priority(impact, urgency) == plain
    assert priority(impact, urgency, vip=True) == vip
    assert priority(impact, urgency, vip=True) == priority(impact, vip_urgency(urgency))


def test_levels_are_numbers_digits_or_names() -> None:
    assert [parse_level(v) for v in (1, "2", " medium ", "LOW", "minimal", "critical")] == [1, 2, 3, 4, 5, 1]


@pytest.mark.parametrize("bad", [0, 6, -1, True, False, None, 2.0, "urgent", "", "3.5"])
def test_anything_else_is_not_a_level(bad: object) -> None:
    with pytest.raises(ValueError, match="impact"):
        parse_level(bad, "impact")


def test_a_configured_matrix_replaces_the_default() -> None:
    # an operator for whom every PACS-sized impact is critical whatever the urgency
    strict = PriorityMatrix.parse(
        {"critical": [1] * 5, 2: [1, 1, 2, 2, 3], 3: DEFAULT_TABLE[2], 4: DEFAULT_TABLE[3], 5: DEFAULT_TABLE[4]}
    )
    assert priority(1, 5, matrix=strict) == 1
    assert priority(1, 5, matrix=DEFAULT_MATRIX) == 3
    assert PriorityMatrix.parse(DEFAULT_TABLE) == DEFAULT_MATRIX


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (DEFAULT_TABLE[:4], "5 rows"),
        ([*DEFAULT_TABLE[:4], [1, 2, 3]], "5 rows"),
        ([*DEFAULT_TABLE[:4], [3, 3, 4, 4, 6]], "impact=5 urgency=5"),
        ([*DEFAULT_TABLE[:4], [3, 3, 4, 4, "5"]], "impact=5 urgency=5"),
    ],
)
def test_a_malformed_matrix_is_refused_with_the_cell(rows: list[list[object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PriorityMatrix.parse(rows)


def test_a_matrix_mapping_needs_every_impact() -> None:
    with pytest.raises(ValueError, match="one row for each impact"):
        PriorityMatrix.parse({1: DEFAULT_TABLE[0], 2: DEFAULT_TABLE[1]})
