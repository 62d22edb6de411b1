"""store/backfill.py: calls Asterisk logged in its queue_log while the service could not see it, recorded once.

The proof: the real Asterisk 22 capture of 120 calls replayed with a minute of it cut out (an AMI outage: calls
never seen, calls seen only entering, calls seen only ending) through the live pipeline and store writer, then the
backfill over the queue_log Asterisk wrote for the same calls: the stored month is the truth, call for call.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.calls.conftest import MakeCall
from uhd_telephony.calls.backfill import (
    BackfillResult,
    answered_backfilled,
    backfill,
    backfill_after_connect,
    marks,
    opened_after_the_call,
    tracker_tenant_of,
)
from uhd_telephony.calls.domain import CallEvent
from uhd_telephony.calls.queue_log import TenantOf
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.repository import CallRepository, calls
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.calls.writer import CallWriter
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database

DATA = Path(__file__).resolve().parent.parent / "data" / "queue-log"
QUEUE_LOG = DATA / "soak_c120.queue_log"
# the outage: every AMI frame stamped in this minute is lost (the capture runs from 1796642162 to 1796642306)
GAP = (1796642200.0, 1796642265.0)
T = 1796642163


def truth() -> dict[str, dict[str, Any]]:
    return {t["uniqueid"]: t for t in json.loads((DATA / "soak_c120.truth.json").read_text(encoding="utf-8"))}


def tracker() -> CallTracker:
    return CallTracker(short_abandon_s=5, tenant_queues={"hotline": "klinikum-nord"})


def ami_with_a_gap(start: float, end: float) -> bytes:
    """The AMI capture without the frames Asterisk stamped in [start, end): what a client that lost them saw."""
    frames = (DATA / "soak_c120.ami").read_bytes().split(b"\r\n\r\n")
    kept = []
    for frame in frames:
        stamp = re.search(rb"\nTimestamp: ([0-9.]+)", frame)
        if stamp is None or not start <= float(stamp.group(1)) < end:
            kept.append(frame)
    assert len(kept) < len(frames)
    return b"\r\n\r\n".join(kept)


async def store_live(db: Database, data: bytes, live: CallTracker) -> None:
    """The live path: pipeline → domain events → the service's batched store writer."""
    events: list[CallEvent] = []
    replay_bytes(data, live, also=events)
    async with CallWriter(CallRepository(db), batch_size=50) as writer:
        for event in events:
            writer.submit(event.call)


async def all_calls(db: Database) -> dict[str, tuple[CallRecord, Any]]:
    from uhd_telephony.calls.repository import from_row

    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(calls))).mappings().all()
    return {row["call_id"]: (from_row(row), row["updated_at"]) for row in rows}


async def run(db: Database, path: Path | str = QUEUE_LOG, **kwargs: Any) -> BackfillResult:
    kwargs.setdefault("tenant_of", tracker_tenant_of(tracker()))
    kwargs.setdefault("short_abandon_s", 5.0)
    return await backfill(db, path, **kwargs)


def expected_outcome(t: dict[str, Any], record: CallRecord) -> str:
    if t["outcome"] == "abandoned":
        assert record.wait_s is not None
        return "short_abandon" if record.wait_s < 5 else "abandoned"
    if t["outcome"] == "exitwithkey":
        # the dialplan's CallbackRequested UserEvent is in AMI only: live reads "callback", the queue_log "exit_key"
        return "callback" if record.callback_requested else "exit_key"
    return str(t["outcome"])


async def test_an_ami_outage_is_filled_from_the_queue_log_exactly(db: Database) -> None:
    await store_live(db, ami_with_a_gap(*GAP), tracker())
    before = await all_calls(db)
    live_finished = {cid: v for cid, v in before.items() if v[0].outcome is not None}
    half_seen = {cid for cid, v in before.items() if v[0].outcome is None}
    # the gap makes every kind: calls finished live (some rebuilt from their end), half seen, never seen
    assert len(live_finished) >= 30 and len(half_seen) >= 10 and len(before) <= 70
    assert any(r.resynced for r, _ in live_finished.values())

    result = await run(db, batch_size=16, lines_per_read=25)  # many reads and batches, a mark after each
    assert result.found == 120 and result.in_progress == 0 and result.malformed == 0
    assert result.recorded == 120 - len(live_finished) and result.known == len(live_finished)
    assert result.batches >= 5  # written in batches

    stored = await all_calls(db)
    expected = truth()
    # the month is the truth: every call once, nothing more
    assert sorted(stored) == sorted(f"{uid}@hotline" for uid in expected)
    for call_id, (record, updated_at) in stored.items():
        t = expected[record.uniqueid]
        assert record.outcome == expected_outcome(t, record), call_id
        assert record.agent == t["agent"], call_id
        assert record.wait_s is not None and abs(record.wait_s - t["wait_s"]) <= 1, call_id
        if t["talk_s"] is None:
            assert record.talk_s is None, call_id
        else:
            assert record.talk_s is not None and abs(record.talk_s - t["talk_s"]) <= 1, call_id
        assert record.tenant == "klinikum-nord" and record.queue == "hotline"
        assert record.ended_at is not None and record.entered_at <= record.ended_at
        if call_id in live_finished:
            # recorded live: untouched, not even rewritten
            assert not record.backfilled
            assert (record, updated_at) == live_finished[call_id], call_id
        else:
            assert record.backfilled, call_id
            assert opened_after_the_call(record) == (record.outcome == Outcome.ANSWERED)
    # a half-seen call keeps what only the live record knew
    for call_id in half_seen:
        record, _ = stored[call_id]
        assert record.caller_name == before[call_id][0].caller_name
        assert record.linkedid == before[call_id][0].linkedid
        assert record.entered_at == before[call_id][0].entered_at
    assert all(stored[call_id][0].caller_name for call_id in half_seen if stored[call_id][0].caller_number[0] == "+")
    # the outage's answered calls are the ticket catch-up's to open "after the call"
    answered = {r.call_id for r in await answered_backfilled(db)}
    assert answered == set(result.answered)
    assert answered == {cid for cid, (r, _) in stored.items() if r.backfilled and r.outcome == "answered"}
    assert len(answered) >= 20

    # the second run reads nothing and adds nothing
    again = await run(db)
    assert (again.start, again.lines, again.recorded) == (QUEUE_LOG.stat().st_size, 0, 0)
    assert await all_calls(db) == stored


async def test_the_mark_is_stored_and_a_rerun_from_the_start_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    shutil.copy(QUEUE_LOG, path)
    first = await run(db, path)
    assert (first.start, first.offset, first.recorded, first.answered.__len__()) == (0, path.stat().st_size, 120, 82)
    async with db.engine.connect() as conn:
        (mark,) = (await conn.execute(select(marks))).mappings().all()
    assert mark["path"] == str(path.absolute()) and mark["offset"] == path.stat().st_size
    assert mark["inode"] == path.stat().st_ino and mark["head_len"] == 512
    assert mark["last_line_at"].timestamp() == 1796642306
    stored = await all_calls(db)
    # --since reads the whole file again: everything is known, nothing rewritten
    again = await run(db, path, since=0.0)
    assert (again.start, again.found, again.recorded, again.known) == (0, 120, 0, 120)
    assert await all_calls(db) == stored


async def test_since_records_only_calls_that_entered_from_then(db: Database) -> None:
    since = 1796642250.0
    result = await run(db, since=since)
    later = [t for t in truth().values() if float(t["uniqueid"].split(".")[0]) >= since]
    assert result.recorded == len(later) > 0 and result.skipped == 120 - len(later)
    stored = await all_calls(db)
    assert all(r.entered_at >= since for r, _ in stored.values()) and len(stored) == len(later)
    # and a later run without --since goes on from the mark that run left
    assert (await run(db)).lines == 0


async def test_live_records_win_and_unknown_or_open_ones_are_completed(db: Database, make_call: MakeCall) -> None:
    repo = CallRepository(db)
    answered_live = make_call(
        1, call_id="1796642163.100@hotline", uniqueid="1796642163.100", entered_at=T + 0.4, agent="Someone Else"
    )
    unknown = make_call(
        2,
        call_id="1796642163.104@hotline",
        uniqueid="1796642163.104",
        linkedid="1796642163.000",
        entered_at=T + 0.3,
        outcome=Outcome.UNKNOWN,
        agent="Agent Emma",
        agent_interface="Local/105@agents/n",
        resynced=True,
    )
    open_call = make_call(
        3,
        finished=False,
        call_id="1796642163.108@hotline",
        uniqueid="1796642163.108",
        entered_at=T + 0.2,
        tenant="klinikum-sued",
    )
    await repo.upsert_many([answered_live, unknown, open_call])
    result = await run(db)
    assert result.recorded == 119 and result.known == 1
    assert await repo.get(answered_live.call_id) == answered_live
    completed = await repo.get(unknown.call_id)
    assert completed is not None and completed.backfilled and completed.outcome == Outcome.ANSWERED
    assert (completed.agent, completed.agent_interface, completed.wait_s, completed.talk_s) == (
        "Agent Emma",
        "Local/105@agents/n",  # the live record knew the interface of the same agent
        2,
        10,
    )
    assert completed.linkedid == "1796642163.000" and completed.entered_at == T + 0.3 and completed.resynced
    finished = await repo.get(open_call.call_id)
    assert finished is not None and finished.backfilled and finished.outcome == Outcome.ANSWERED
    assert finished.tenant == "klinikum-sued" and finished.caller_name == open_call.caller_name
    assert finished.ended_at == 1796642173 and finished.agent == "Agent Fynn"

    # a later live write of a backfilled call wins (store.calls.supersedes), and says it was seen live
    late_live = make_call(
        4, call_id="1796642164.112@hotline", uniqueid="1796642164.112", entered_at=T + 1.2, agent="Agent Sören"
    )
    late_live.ended_at = 1796642171.5
    await repo.upsert_many([late_live])
    stored = await repo.get(late_live.call_id)
    assert stored == late_live and not stored.backfilled
    # ... and a backfill never takes it back
    assert (await run(db, since=0.0)).recorded == 0
    assert await repo.get(late_live.call_id) == late_live


async def test_a_growing_file_is_read_on_from_its_mark(db: Database, tmp_path: Path) -> None:
    lines = QUEUE_LOG.read_bytes().splitlines(keepends=True)
    path = tmp_path / "queue_log"
    # Asterisk is writing: the first 150 lines, and half of the 151st
    path.write_bytes(b"".join(lines[:150]) + lines[150][:10])
    first = await run(db, path, lines_per_read=7)
    assert first.lines == 150 and first.in_progress > 0
    # the mark holds at the oldest open call's ENTERQUEUE: the next run reads it whole
    assert first.offset < len(b"".join(lines[:150]))
    with path.open("ab") as f:
        f.write(lines[150][10:] + b"".join(lines[151:]))
    second = await run(db, path)
    assert second.start == first.offset and not second.restarted
    assert first.recorded + second.recorded == 120 and second.in_progress == 0
    assert len(await all_calls(db)) == 120
    assert (await run(db, path)).recorded == 0


@pytest.mark.parametrize("how", ["rotated", "truncated"])
async def test_a_rotated_or_truncated_file_is_read_from_the_start(db: Database, tmp_path: Path, how: str) -> None:
    lines = QUEUE_LOG.read_bytes().splitlines(keepends=True)
    path = tmp_path / "queue_log"
    path.write_bytes(b"".join(lines[:200]))
    first = await run(db, path)
    rest = b"".join(lines[200:])
    if how == "rotated":
        # logrotate: the file is renamed away, Asterisk opens a new one (another inode), bigger than the mark
        path.rename(tmp_path / "queue_log.1")
        path.write_bytes(rest)
        assert path.stat().st_size > first.offset
    else:
        # copytruncate: the same inode, emptied, written again
        with path.open("r+b") as f:
            f.truncate(0)
            f.write(rest[: first.offset // 2])
    second = await run(db, path)
    assert second.restarted and second.start == 0
    if how == "rotated":
        # the calls that ended in the new file are recorded, rebuilt from their end lines where they began before
        assert second.orphans > 0 and first.recorded + second.recorded == 120
        assert len(await all_calls(db)) == 120


async def test_a_missing_file_is_an_error_and_moves_no_mark(db: Database, tmp_path: Path) -> None:
    from uhd_telephony.errors import CaptureError

    with pytest.raises(CaptureError, match="cannot read the queue_log"):
        await run(db, tmp_path / "nope")
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(marks))).all() == []


async def test_the_tenant_is_the_trackers_for_a_queue(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(
        f"{T}|1.1|hotline|NONE|ENTERQUEUE||+4930123|1\n"
        f"{T + 3}|1.1|hotline|NONE|ABANDON|1|1|3\n"
        f"{T}|1.2|other|NONE|ENTERQUEUE||+4930123|1\n"
        f"{T + 9}|1.2|other|NONE|EXITWITHTIMEOUT|1|1|9\n",
        encoding="utf-8",
    )
    live = tracker()
    live.tenant_resolver = lambda dialled, queue, variables: {"other": "from-table"}.get(queue)
    tenant_of: TenantOf = tracker_tenant_of(live)
    await run(db, path, tenant_of=tenant_of)
    stored = await all_calls(db)
    assert stored["1.1@hotline"][0].tenant == "klinikum-nord"  # UHD_TENANT_QUEUES
    assert stored["1.2@other"][0].tenant == "from-table"  # the tenants table's hotline queue
    assert stored["1.1@hotline"][0].outcome == "short_abandon" and stored["1.2@other"][0].outcome == "timeout"


async def test_the_service_run_records_what_ended_before_the_login_only(
    db: Database, db_url: str, tmp_path: Path, make_call: MakeCall
) -> None:
    path = tmp_path / "queue_log"
    shutil.copy(QUEUE_LOG, path)
    settings = Settings(database_url=db_url, queue_log=str(path), tenant_queues={"hotline": "klinikum-nord"})
    live = tracker()
    # a new installation (nothing stored): the first run records no history, it only sets the mark
    result = await backfill_after_connect(settings, db, live, seen_from=1796642250.0)
    assert result is not None and result.recorded == 0 and result.skipped == 120
    async with db.engine.begin() as conn:
        await conn.execute(marks.delete())
    # with a call stored: an hour before it; calls that ended after the login were seen live
    await CallRepository(db).upsert_many([make_call(1, entered_at=1796642200.0)])
    result = await backfill_after_connect(settings, db, live, seen_from=1796642250.0)
    assert result is not None
    ended_before = [r for r, _ in (await all_calls(db)).values() if r.backfilled]
    assert result.recorded == len(ended_before) > 50 and result.skipped == 120 - len(ended_before)
    assert all(r.ended_at is not None and r.ended_at < 1796642250 for r in ended_before)
    # switched off, or the file gone: nothing, and the service goes on
    assert await backfill_after_connect(settings.with_overrides(queue_log=""), db, live) is None
    gone = settings.with_overrides(queue_log=str(tmp_path / "gone"))
    assert await backfill_after_connect(gone, db, live) is None


async def test_a_caller_who_left_at_an_incident_announcement_is_never_in_the_queue_log(
    db: Database, make_call: MakeCall
) -> None:
    """Asterisk writes no queue_log line for a caller who never entered a queue: the backfill finds nothing of
    theirs, and a live ``incident_left`` or ``incident_subscribed`` stays as the tracker recorded it. A resync's
    guess (``incident_left``, resynced: the channel went while the tracker could not see it) is completed by the
    queue stay the queue_log has of the same channel, when it has one."""
    repo = CallRepository(db)
    text = QUEUE_LOG.read_text(encoding="utf-8")
    left_live = make_call(1, call_id="1796642100.1@hotline", uniqueid="1796642100.1", entered_at=T - 60,
                          outcome=Outcome.INCIDENT_LEFT, agent=None, answered_at=None, talk_s=None)  # fmt: skip
    told_live = make_call(2, call_id="1796642100.2@hotline", uniqueid="1796642100.2", entered_at=T - 50,
                          outcome=Outcome.INCIDENT_SUBSCRIBED, agent=None, answered_at=None, talk_s=None)  # fmt: skip
    assert "1796642100.1|" not in text and "1796642100.2|" not in text
    # this channel heard the announcement, the AMI link dropped, and it queued and was answered in the gap
    guessed = make_call(3, call_id="1796642163.104@hotline", uniqueid="1796642163.104", entered_at=T + 0.1,
                        outcome=Outcome.INCIDENT_LEFT, agent=None, answered_at=None, talk_s=None,
                        resynced=True)  # fmt: skip
    await repo.upsert_many([left_live, told_live, guessed])

    result = await run(db)

    assert result.recorded == 120 and result.known == 0  # the guessed row completed, not left as known
    assert await repo.get(left_live.call_id) == left_live
    assert await repo.get(told_live.call_id) == told_live
    completed = await repo.get(guessed.call_id)
    assert completed is not None and completed.backfilled and completed.outcome == Outcome.ANSWERED
    assert (completed.agent, completed.wait_s, completed.talk_s) == ("Agent Emma", 2, 10)
