"""CSV that a spreadsheet opens without running anything: every CSV the project writes goes through ``writer()``.

A spreadsheet (Excel, LibreOffice Calc) takes a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula: a tenant named ``=cmd|' /C calc'!A0`` in the monthly report would run on a manager's desk
(CSV or formula injection). ``safe_cell`` neutralises such a cell the way OWASP recommends: a single quote in front
(``'=cmd|…``), which the spreadsheet shows as text.

Only strings are neutralised. Numbers (``int``, ``float``, ``Decimal``, ``bool``) are written as they are: a
negative figure such as ``-3`` comes from a numeric type, is data and stays ``-3`` in the file, so a spreadsheet
still reads it as the number it is. A writer that has a number must hand it over as a number, not as text: the
string ``"-3"`` becomes ``'-3``. ``None`` is left to the ``csv`` module (an empty cell).

The base layer (no import of the package): every capability, the web plumbing and the CLI may import it.
``tests/test_csv_safe.py`` fails when a module of the package writes CSV without it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

# what a spreadsheet reads as the start of a formula (OWASP: CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Text(Protocol):
    def write(self, s: str, /) -> Any: ...


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet runs: a string starting like a formula gets a ``'`` in front; every
    other value (numbers, None) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` with every cell through ``safe_cell``."""

    def __init__(self, out: _Text, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Text, **options: Any) -> SafeWriter:
    """A CSV writer on ``out`` (``csv.writer``'s options) that neutralises formula cells: the one to use."""
    return SafeWriter(out, **options)
