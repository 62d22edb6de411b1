"""The README stays true: every setting documented with its default, the two set-up commands, its pictures."""

from __future__ import annotations

import re
from pathlib import Path

from uhd_telephony.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def test_every_setting_is_in_the_settings_table() -> None:
    table = section("Settings")
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `UHD_")]
    rows = {name for cell in first_cells for name in re.findall(r"`(UHD_[A-Z0-9_]+)`", cell)}
    expected = {f"UHD_{name.upper()}" for name in Settings.model_fields}
    assert expected - rows == set(), "settings missing from the README's table"
    assert rows - expected == set(), "the README documents settings that do not exist"


def test_exactly_two_set_up_commands_the_demo_and_the_tests() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", section("Two commands"), re.DOTALL)
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) == 1 for b in blocks)
    demo, tests = (b.strip() for b in blocks)
    assert demo.endswith("uhd-telephony demo") and "pip install -e ." in demo
    assert tests.endswith("python -m pytest -q") and 'pip install -e ".[dev]"' in tests
    # CI runs the README's test command (with the cache plugin off on a read-only clone)
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_pictures_it_shows_are_in_the_repository() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures, "the README shows the console and the KPI page"
    for path in pictures:
        picture = ROOT / path
        assert picture.is_file() and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
