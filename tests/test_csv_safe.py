"""Issue 15 item 5: ``csv_safe`` neutralises formula cells and leaves numbers alone; every CSV writer uses it."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from uhd_telephony import csv_safe
from uhd_telephony.csv_safe import safe_cell

PACKAGE = Path(csv_safe.__file__).resolve().parent


@pytest.mark.parametrize(
    "hostile",
    ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://x")', "-"],
)
def test_a_text_cell_starting_like_a_formula_gets_a_quote_in_front(hostile: str) -> None:
    assert safe_cell(hostile) == "'" + hostile
    out = io.StringIO()
    csv_safe.writer(out).writerow(["x", hostile])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["x", "'" + hostile]


@pytest.mark.parametrize("harmless", ["", "klinikum-nord", "Klinikum = Nord", "0.6", "2026-11", "'quoted", " =x"])
def test_other_text_is_left_as_it_is(harmless: str) -> None:
    assert safe_cell(harmless) == harmless


def test_numbers_stay_numbers_negative_ones_too() -> None:
    for number in (-3, -2.5, Decimal("-0.75"), 0, 11, 0.6, True):
        assert safe_cell(number) is number
    assert safe_cell(None) is None
    out = io.StringIO()
    csv_safe.writer(out, lineterminator="\n").writerows([[-3, -2.5, Decimal("-0.75"), None], ["-3"]])
    assert out.getvalue() == "-3,-2.5,-0.75,\n'-3\n"  # a number is data; the same text is not trusted


# what writes CSV: the csv module's writers, or a body announced as CSV
_WRITES_CSV = re.compile(r"csv\.(writer|DictWriter)\b|from csv import[^\n]*\b(writer|DictWriter)\b|text/csv")
_OPENS_WRITER = re.compile(r"csv\.(writer|DictWriter)\b|from csv import[^\n]*\b(writer|DictWriter)\b")


def test_every_csv_writer_of_the_package_goes_through_csv_safe() -> None:
    writers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "csv_safe.py":
            continue
        text = path.read_text(encoding="utf-8")
        if _WRITES_CSV.search(text):
            writers[path.relative_to(PACKAGE).as_posix()] = text
    assert "metrics/report.py" in writers  # the guard sees the monthly report (it would see a new export too)
    for name, text in writers.items():
        assert not _OPENS_WRITER.search(text), f"{name}: write CSV with uhd_telephony.csv_safe.writer, not csv's own"
        assert "csv_safe" in text, f"{name} writes CSV without uhd_telephony.csv_safe"
