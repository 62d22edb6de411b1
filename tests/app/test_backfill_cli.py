"""``uhd-telephony backfill``: the queue_log backfill from the command line (store/backfill.py does the work)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uhd_telephony.app.cli import main

QUEUE_LOG = Path(__file__).resolve().parent.parent / "data" / "queue-log" / "soak_c120.queue_log"


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UHD_QUEUE_LOG", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert main(["backfill", "--queue-log", str(QUEUE_LOG), "--database-url", url, "--short-abandon", "3"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["recorded"], first["answered"], first["offset"]) == (120, 82, QUEUE_LOG.stat().st_size)
    assert main(["backfill", "--queue-log", str(QUEUE_LOG), "--database-url", url]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == 0
    assert main(["backfill", "--queue-log", str(QUEUE_LOG), "--database-url", url, "--since", "2026-12-07"]) == 0
    assert json.loads(capsys.readouterr().out)["known"] == 120
    assert main(["backfill", "--database-url", url]) == 1  # no file named
    with pytest.raises(SystemExit):
        main(["backfill", "--queue-log", str(QUEUE_LOG), "--since", "last tuesday"])
