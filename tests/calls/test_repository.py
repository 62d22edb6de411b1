"""The call-record repository: idempotent upserts, the supersede rule, exact round trips, the queries."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.support.databases import sqlite_database
from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt
from uhd_telephony.calls.repository import CallRepository, supersedes, to_datetime, to_epoch, to_row
from uhd_telephony.errors import StoreError
from uhd_telephony.store.db import Database

from .conftest import T0, MakeCall


async def test_every_field_survives_the_round_trip(repo: CallRepository, make_call: MakeCall) -> None:
    record = make_call(
        7,
        caller_name="Jürgen Müller, Station 3b 🏥",
        outcome=Outcome.TRANSFERRED,
        queue_status="CONTINUE",
        callback_requested=True,
        transferred_to="PJSIP/2nd-level",
        ended_by="transfer",
        position=3,
        resynced=True,
        variables={"UHD_USER": "jmueller", "UHD_VIP": "1", "UHD_NOTE": "Grüße, ÄÖÜß"},
        ring_attempts=[
            RingAttempt("PJSIP/agent-bob", "Agent Böb", T0 + 1.000001, T0 + 11.999999, "noanswer", "PJSIP/b-1"),
            RingAttempt("PJSIP/agent-anna", "Agent Anna", T0 + 12.5),  # still ringing when this was taken
        ],
    )
    assert await repo.upsert_many([record]) == 1
    assert await repo.get(record.call_id) == record


async def test_an_in_progress_record_round_trips_with_its_nulls(repo: CallRepository, make_call: MakeCall) -> None:
    record = make_call(8, finished=False)
    await repo.upsert_many([record])
    stored = await repo.get(record.call_id)
    assert stored == record
    assert stored is not None and stored.outcome is None and stored.ended_at is None


async def test_get_of_an_unknown_call_is_none(repo: CallRepository) -> None:
    assert await repo.get("no-such-call") is None


def test_timestamps_convert_exactly_to_the_microsecond() -> None:
    rng = random.Random(20241127)
    for _ in range(20_000):
        # what float(Timestamp header) gives for an AMI "Timestamp: 1732694400.123456"
        ts = float(f"{rng.randrange(0, 4_102_444_800)}.{rng.randrange(0, 1_000_000):06d}")
        dt = to_datetime(ts)
        assert dt.tzinfo is UTC
        assert to_epoch(dt) == ts
    assert to_datetime(T0) == datetime(2024, 11, 27, 8, 0, 0, 123456, tzinfo=UTC)


async def test_awkward_timestamps_come_back_exactly(repo: CallRepository, make_call: MakeCall) -> None:
    stamps = [0.0, 0.000001, 1732694400.999999, 1732694401.000001, 2147483647.5, 4102444799.999999]
    records = [make_call(n, entered_at=ts, answered_at=ts + 0.000001) for n, ts in enumerate(stamps)]
    await repo.upsert_many(records)
    for record in records:
        stored = await repo.get(record.call_id)
        assert stored is not None
        assert (stored.entered_at, stored.answered_at, stored.ended_at) == (
            record.entered_at,
            record.answered_at,
            record.ended_at,
        )


async def test_writing_the_same_records_twice_leaves_one_row_each(repo: CallRepository, make_call: MakeCall) -> None:
    records = [make_call(n) for n in range(50)]
    assert await repo.upsert_many(records) == 50
    assert await repo.upsert_many(records) == 50  # rewritten with the same values
    assert await repo.count() == 50
    assert await repo.get(records[10].call_id) == records[10]


async def test_a_replayed_in_progress_snapshot_never_downgrades_a_finished_call(
    repo: CallRepository, make_call: MakeCall
) -> None:
    finished = [make_call(n) for n in range(20)]
    await repo.upsert_many(finished)
    late = [make_call(n, finished=False, resynced=True) for n in range(20)]
    assert await repo.upsert_many(late) == 0
    assert await repo.count() == 20
    for record in finished:
        assert await repo.get(record.call_id) == record


async def test_snapshots_of_a_call_in_progress_are_replaced_by_later_ones(
    repo: CallRepository, make_call: MakeCall
) -> None:
    offered = make_call(1, finished=False)
    ringing = dataclasses.replace(offered, ring_attempts=[RingAttempt("PJSIP/a", "A", T0 + 61.0)])
    finished = make_call(1)
    for record in (offered, ringing, finished):
        assert await repo.upsert_many([record]) == 1
        assert await repo.get(record.call_id) == record
    assert await repo.count() == 1
    async with repo.db.engine.connect() as conn:
        created, updated = (await conn.execute(select(Call.created_at, Call.updated_at))).one()
    assert created.tzinfo is UTC and updated.tzinfo is UTC
    assert created < updated  # created_at stays as first written


async def test_one_batch_with_several_versions_of_a_call_keeps_the_winner(
    repo: CallRepository, make_call: MakeCall
) -> None:
    batch = [make_call(1, finished=False), make_call(1), make_call(1, finished=False), make_call(2, finished=False)]
    assert await repo.upsert_many(batch) == 2
    assert await repo.get(batch[1].call_id) == batch[1]
    assert await repo.get(batch[3].call_id) == batch[3]


def _versions(make_call: MakeCall, n: int) -> dict[str, CallRecord]:
    answered = make_call(n)
    end = answered.ended_at
    assert end is not None
    return {
        "in_progress": make_call(n, finished=False),
        "answered": answered,
        "answered_same_end_corrected": dataclasses.replace(answered, agent="Agent Corrected"),
        "answered_later_end": dataclasses.replace(answered, ended_at=end + 5, talk_s=95.25),
        "answered_earlier_end": dataclasses.replace(answered, ended_at=end - 5, talk_s=85.25),
        "unknown_later_end": dataclasses.replace(answered, outcome=Outcome.UNKNOWN, ended_at=end + 60),
        "unknown_earlier_end": dataclasses.replace(answered, outcome=Outcome.UNKNOWN, ended_at=answered.entered_at),
        "finished_without_end": dataclasses.replace(answered, outcome=Outcome.REFUSED, ended_at=None),
    }


# (stored, incoming) -> does incoming replace stored?
RULES = {
    ("in_progress", "in_progress"): True,
    ("in_progress", "answered"): True,
    ("answered", "in_progress"): False,
    ("answered", "answered"): True,
    ("answered", "answered_same_end_corrected"): True,
    ("answered", "answered_later_end"): True,
    ("answered", "answered_earlier_end"): False,
    ("answered", "unknown_later_end"): False,
    ("unknown_later_end", "answered"): True,
    ("unknown_later_end", "unknown_earlier_end"): False,
    ("unknown_earlier_end", "unknown_later_end"): True,
    ("unknown_later_end", "in_progress"): False,
    ("finished_without_end", "answered"): True,
    ("answered", "finished_without_end"): False,
}


@pytest.mark.parametrize(("stored", "incoming"), list(RULES))
def test_the_supersede_rule(stored: str, incoming: str, make_call: MakeCall) -> None:
    versions = _versions(make_call, 1)
    assert supersedes(versions[incoming], versions[stored]) is RULES[(stored, incoming)]


async def test_the_database_applies_the_same_rule_as_python(repo: CallRepository, make_call: MakeCall) -> None:
    # every pair of versions, each on a call of its own: the stored result is what supersedes() predicts
    names = list(_versions(make_call, 0))
    pairs = [(a, b) for a in names for b in names]
    firsts, seconds, expected = [], [], {}
    for n, (a, b) in enumerate(pairs):
        versions = _versions(make_call, n)
        firsts.append(versions[a])
        seconds.append(versions[b])
        expected[versions[a].call_id] = versions[b] if supersedes(versions[b], versions[a]) else versions[a]
    await repo.upsert_many(firsts)
    changed = await repo.upsert_many(seconds)
    assert changed == sum(1 for rec in seconds if expected[rec.call_id] is rec)
    for call_id, record in expected.items():
        assert await repo.get(call_id) == record, call_id


async def test_open_calls_are_the_unfinished_ones_oldest_first(repo: CallRepository, make_call: MakeCall) -> None:
    await repo.upsert_many(
        [
            make_call(3, finished=False),
            make_call(1, finished=False),
            make_call(2),
            make_call(4, finished=False, tenant="klinikum-sued"),
        ]
    )
    assert [c.call_id for c in await repo.open_calls()] == [
        make_call(1).call_id,
        make_call(3).call_id,
        make_call(4).call_id,
    ]
    assert [c.call_id for c in await repo.open_calls("klinikum-sued")] == [make_call(4).call_id]
    assert await repo.open_calls("nobody") == []


async def test_list_calls_filters_by_tenant_period_and_outcome(repo: CallRepository, make_call: MakeCall) -> None:
    records = [
        make_call(n, tenant="nord" if n % 2 else "sued", outcome=Outcome.ABANDONED if n % 3 == 0 else Outcome.ANSWERED)
        for n in range(1, 31)
    ]
    await repo.upsert_many(records)

    def ids(calls: list[CallRecord]) -> list[str]:
        return [c.call_id for c in calls]

    assert ids(await repo.list_calls(limit=1000)) == ids(records)
    assert ids(await repo.list_calls(tenant="nord", limit=1000)) == ids([r for r in records if r.tenant == "nord"])
    # [since, until): the call entering exactly at `until` belongs to the next period
    since, until = records[4].entered_at, records[9].entered_at
    assert ids(await repo.list_calls(since=since, until=until)) == ids(records[4:9])
    as_dt = await repo.list_calls(since=to_datetime(since), until=to_datetime(until))
    assert ids(as_dt) == ids(records[4:9])
    assert ids(await repo.list_calls(outcome=Outcome.ABANDONED, limit=1000)) == ids(
        [r for r in records if r.outcome == Outcome.ABANDONED]
    )
    assert ids(await repo.list_calls(tenant="sued", outcome="abandoned", since=since, until=until)) == ids(
        [r for r in records[4:9] if r.tenant == "sued" and r.outcome == Outcome.ABANDONED]
    )
    pages = [await repo.list_calls(limit=7, offset=off) for off in range(0, 30, 7)]
    assert [c for page in pages for c in ids(page)] == ids(records)
    with pytest.raises(ValueError, match="naive"):
        await repo.list_calls(since=datetime(2024, 11, 1))
    with pytest.raises(ValueError, match="negative"):
        await repo.list_calls(limit=-1)


async def test_count_all_and_per_tenant(repo: CallRepository, make_call: MakeCall) -> None:
    assert await repo.count() == 0
    await repo.upsert_many([make_call(n, tenant="nord" if n < 3 else "sued") for n in range(10)])
    assert (await repo.count(), await repo.count("nord"), await repo.count("sued")) == (10, 3, 7)


async def test_nul_characters_from_a_mangled_frame_are_stored_as_replacement_characters(
    repo: CallRepository, make_call: MakeCall
) -> None:
    record = make_call(1, caller_name="M\x00ller", variables={"UHD_X": "a\x00b"})
    await repo.upsert_many([record])
    stored = await repo.get(record.call_id)
    assert stored is not None
    assert (stored.caller_name, stored.variables["UHD_X"]) == ("M\ufffdller", "a\ufffdb")


async def test_a_record_that_cannot_be_stored_is_a_store_error(repo: CallRepository, make_call: MakeCall) -> None:
    with pytest.raises(StoreError) as info:
        await repo.upsert_many([make_call(1), make_call(2, entered_at=float("nan"))])
    assert info.value.details == {"call_id": make_call(2).call_id}
    assert await repo.count() == 0


async def test_an_outcome_from_a_newer_version_reads_as_unknown(
    repo: CallRepository, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    record = make_call(1)
    await repo.upsert_many([record])
    async with repo.db.engine.begin() as conn:
        await conn.execute(text("UPDATE calls SET outcome = 'teleported'"))
    stored = await repo.get(record.call_id)
    assert stored is not None and stored.outcome is Outcome.UNKNOWN
    assert "teleported" in caplog.text


async def test_large_batches_are_split_below_the_bind_parameter_limits(
    repo: CallRepository, make_call: MakeCall
) -> None:
    # 3000 rows x 28 columns is far beyond PostgreSQL's 32767 parameters per statement
    records = [make_call(n, finished=n % 2 == 0) for n in range(3000)]
    assert await repo.upsert_many(records) == 3000
    assert await repo.count() == 3000
    assert len(await repo.open_calls()) == 1500


async def test_sqlite_rows_are_stored_as_the_column_types_store_them(tmp_path: Path, make_call: MakeCall) -> None:
    # the upsert hands SQLite plain values (issue 17 item 5): byte for byte what SQLAlchemy's types would have stored
    records = [
        make_call(1, caller_name="Jürgen Müller 🏥", variables={"UHD_NOTE": "Grüße", "UHD_VIP": "1"}),
        make_call(2, finished=False, callback_requested=True, resynced=True, backfilled=True),
        make_call(3, entered_at=0.0, answered_at=0.000001, ended_at=4102444799.999999, outcome=Outcome.ANSWERED),
        make_call(
            4,
            entered_at=1732694400.0,
            ring_attempts=[RingAttempt("PJSIP/101", "Agent Böb", T0 + 1.000001, T0 + 2.5, "noanswer", "PJSIP/101-1")],
        ),
    ]
    (tmp_path / "typed").mkdir()
    (tmp_path / "plain").mkdir()
    typed = Database(await sqlite_database(tmp_path / "typed"))
    plain = Database(await sqlite_database(tmp_path / "plain"))
    try:
        now = datetime(2026, 12, 7, 18, 0, 0, 5, tzinfo=UTC)
        async with typed.engine.begin() as conn:  # through every column type's own bind processing
            await conn.execute(Call.__table__.insert(), [to_row(record, now) for record in records])
        assert await CallRepository(plain).upsert_many(records) == 4
        stored: list[list[tuple[object, ...]]] = []
        for db in (typed, plain):
            async with db.engine.connect() as conn:
                rows = (await conn.exec_driver_sql("SELECT * FROM calls ORDER BY call_id")).all()
            # created_at/updated_at are the writes' own times
            stored.append([tuple(v for k, v in row._mapping.items() if k not in {"created_at", "updated_at", "id"})
                           for row in rows])  # fmt: skip
        assert stored[0] == stored[1]
        for record in records:
            assert await CallRepository(plain).get(record.call_id) == record
        async with plain.engine.connect() as conn:
            stamps = (await conn.exec_driver_sql("SELECT created_at FROM calls")).scalars().all()
        assert all(len(stamp) == len("2026-12-07 18:00:00.000005") for stamp in stamps)
    finally:
        await typed.close()
        await plain.close()
