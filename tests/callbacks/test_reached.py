"""A callback that reached the caller, end to end over TCP (issue 20 item 2): the simulator runs the product's
``[uhd-outbound]`` with Dial's U() gosub, sends ``UserEvent UhdCallback`` on the caller's channel once they answered,
the tracker makes it a ``CallbackAnswered``, the recorder stores ``reached_at`` on the entry (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import select

from tests.callbacks import test_dial
from tests.callbacks.conftest import TENANT, MakeCall
from tests.support.helpers import eventually
from uhd_telephony.accounts.service import AccountView
from uhd_telephony.ami.client import AmiClient
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.callbacks.models import Callback
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.calls.domain import CallbackAnswered, DomainEvent
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.reachback.recorder import CallbackRecorder
from uhd_telephony.simulator import AmiSimulator
from uhd_telephony.store.db import Database

# the dial tests' simulator (speed 0) and AMI client
sim = test_dial.sim
ami = test_dial.ami


def answers_in(data: bytes, tracker: CallTracker | None = None) -> list[CallbackAnswered]:
    tracker = tracker or CallTracker()
    seen: list[DomainEvent] = []

    def publish(events: Sequence[DomainEvent]) -> None:
        seen.extend(events)

    pipeline = CallPipeline(tracker, publish, clock=lambda: tracker.now)
    pipeline.feed(data)
    pipeline.flush()
    return [e for e in seen if isinstance(e, CallbackAnswered)]


async def test_the_callers_answer_reaches_the_entry_once(
    sim: AmiSimulator, ami: AmiClient, callbacks: CallbackService, agent: AccountView, make_call: MakeCall, db: Database
) -> None:
    entry = await callbacks.on_call_ended(make_call(1, number="+492319860572"))
    assert entry is not None
    dialing = asyncio.create_task(callbacks.dial(TENANT, entry.id, agent, ami, context="callbacks", timeout_s=20))
    await eventually(lambda: bool(sim.pbx.originations))
    await sim.settle()
    await asyncio.wait_for(dialing, 5)
    capture = sim.capture_bytes()
    # the UserEvent as Asterisk writes it: the caller channel's block, then UserEvent and the dialplan's headers
    frame = next(f for f in capture.split(b"\r\n\r\n") if b"UserEvent: UhdCallback" in f)
    head, _, body = frame.partition(b"UserEvent: UhdCallback\r\n")
    assert head.startswith(b"Event: UserEvent\r\nPrivilege: user,all\r\n") and b"Linkedid: " in head
    assert body == f"CallbackId: {entry.id}\r\nTenant: {TENANT}\r\nStage: answered".encode()
    assert b"U(uhd-callback-answered^" in capture  # the Dial of [uhd-outbound]

    (answer,) = answers_in(capture + frame + b"\r\n\r\n")  # the same UserEvent twice: one answer
    assert (answer.callback_id, answer.tenant, answer.resynced) == (entry.id, TENANT, False)
    recorder = CallbackRecorder(db)
    assert await recorder.record(answer) is True
    assert await recorder.record(answer) is False
    stored = await callbacks.get(TENANT, entry.id)
    assert stored.status == "done"
    async with db.engine.connect() as conn:
        reached = (await conn.execute(select(Callback.reached_at).where(Callback.id == entry.id))).scalar_one()
    assert reached is not None and abs(reached.timestamp() - answer.at) < 0.001


def test_an_ami_drop_mid_callback_is_caught_by_the_resync() -> None:
    """The UserEvent was lost in the cut; the caller's channel is still up with UHD_CALLBACK_REACHED: the resync
    reports the answer at the snapshot's time, and the UserEvent arriving after all adds nothing."""
    tracker = CallTracker()
    snap = Snapshot(1_795_000_100.0)
    snap.add_all(
        [
            {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-00000007", "Uniqueid": "9.7", "Linkedid": "9.6",
             "Application": "AppDial", "ChanVariable": "UHD_TENANT=klinikum-nord\nUHD_CALLBACK_REACHED=42"},
            {"Event": "CoreShowChannel", "Channel": "PJSIP/101-00000006", "Uniqueid": "9.6", "Linkedid": "9.6",
             "Application": "Dial", "ChanVariable": "UHD_TENANT=klinikum-nord"},  # the agent's leg: no proof
        ]
    )  # fmt: skip
    (answer,) = [e for e in tracker.resync(snap) if isinstance(e, CallbackAnswered)]
    assert (answer.callback_id, answer.tenant, answer.resynced, answer.uniqueid) == (42, "klinikum-nord", True, "9.7")
    late = (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nTimestamp: 1795000101.0\r\nChannel: PJSIP/trunk-00000007\r\n"
        b"Uniqueid: 9.7\r\nLinkedid: 9.6\r\nUserEvent: UhdCallback\r\nCallbackId: 42\r\nTenant: klinikum-nord\r\n"
        b"Stage: answered\r\n\r\n"
    )
    assert answers_in(late, tracker) == []
    assert not any(isinstance(e, CallbackAnswered) for e in tracker.resync(snap))  # a second resync: nothing new


def test_hostile_or_foreign_user_events_make_no_answer() -> None:
    def event(callback_id: str, stage: str = "answered") -> bytes:
        return (
            f"Event: UserEvent\r\nPrivilege: user,all\r\nTimestamp: 1795000101.0\r\nChannel: PJSIP/x-1\r\n"
            f"Uniqueid: 1.1\r\nUserEvent: UhdCallback\r\nCallbackId: {callback_id}\r\nTenant: t\r\n"
            f"Stage: {stage}\r\n\r\n"
        ).encode()

    data = event("") + event("12; DROP TABLE") + event("-3") + event("9" * 40) + event("5", "ringing")
    assert answers_in(data) == []
    assert [a.callback_id for a in answers_in(event("7"))] == [7]
