"""The AMI simulator as a TCP server: the demo's PBX and the peer of the AMI client's tests.

    async with AmiSimulator(secret="s3cret", speed=20, seed=1) as sim:
        placed = sim.place_call("+492315551234", "Jürgen Müller", patience_s=30)
        ...  # connect a client to 127.0.0.1:sim.port, log in as "uhd"

Every connected, logged-in client gets every event. The server owns two things that run: the clock's pacing
task and a ``call_soon`` flush of the events emitted in one loop iteration (one write per client); both are
cancelled on ``close()``. The hooks (``place_call``, ``pause_member``, ``drop_connections``, ``freeze``,
``inject``, …) are synchronous and act at the simulated ``now``; ``answer_phone``/``hangup_phone``/``phone`` work a
phone a person answers by hand (``simulator.softphone``), and while one rings or talks the clock runs at real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from uhd_telephony.incidents.announcement import playlist
from uhd_telephony.simulator import actions, softphone
from uhd_telephony.simulator.callflow import QueueCall
from uhd_telephony.simulator.clock import LiveClock
from uhd_telephony.simulator.config import PbxConfig, PhoneBehaviour, default_config
from uhd_telephony.simulator.pbx import Pbx
from uhd_telephony.simulator.protocol import Action, AmiSession, fully_booted, login_preamble
from uhd_telephony.simulator.queuelog import QueueLog
from uhd_telephony.simulator.scenario import LoadGenerator, Scenario
from uhd_telephony.simulator.softphone import PhoneView

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class PlacedCall:
    """The ids of a call placed with ``place_call``: what the tracker will see in QueueCallerJoin."""

    uniqueid: str
    linkedid: str
    channel: str
    queue: str
    dialled: str
    tenant: str

    @classmethod
    def of(cls, call: QueueCall) -> PlacedCall:
        h = call.hotline
        return cls(call.ch.uniqueid, call.ch.linkedid, call.ch.name, call.queue_name, h.number, h.tenant)


class AmiSimulator:
    """A simulated Asterisk 22 on a TCP port: AMI sessions on top of a ``Pbx`` paced by a ``LiveClock``."""

    def __init__(
        self,
        config: PbxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "uhd",
        secret: str = "uhdsecret",
        speed: float = 1.0,
        seed: int = 0,
        start_time: float | None = None,
        scenario: Scenario | None = None,
        latin1: bool = False,
        capture: bool = True,
        capture_path: str | Path | None = None,
        truth_limit: int | None = None,
        queue_log: str | Path | None = None,
    ) -> None:
        if config is None:
            config = scenario.pbx_config() if scenario is not None else default_config()
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.encoding = "latin-1" if latin1 else "utf-8"
        self.frozen = False
        self.clock = LiveClock(time.time() if start_time is None else start_time, speed)
        self.full_speed = speed  # the clock's pace while no person's phone rings or talks (softphone.py)
        self.pbx = Pbx(config, self.clock, self._sink, seed=seed, truth_limit=truth_limit)
        self.pbx.on_people_busy = self._people_busy
        self._queue_log_path = Path(queue_log) if queue_log is not None else None
        self.generator = LoadGenerator(self.pbx, scenario, seed=seed) if scenario is not None else None
        self.sessions: set[AmiSession] = set()
        self.sessions_served = 0
        self._pending: list[tuple[bytes, str]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._capture: list[bytes] | None = [login_preamble()] if capture else None
        self._capture_path = Path(capture_path) if capture_path is not None else None
        self._capture_file: IO[bytes] | None = None
        self._progress = asyncio.Event()  # set whenever events went out: what wait_for() waits on

    # lifecycle --------------------------------------------------------------------------------------------
    async def start(self) -> AmiSimulator:
        """Listen (port 0 picks a free port: read ``self.port``) and start the clock and the load generator."""
        loop = self._loop = asyncio.get_running_loop()
        self.clock.bind(loop)
        if self._queue_log_path is not None:
            self.pbx.queue_log = QueueLog(self._queue_log_path)
        if self._capture_path is not None:
            self._capture_file = self._capture_path.open("wb")
            self._capture_file.write(login_preamble())
        self._server = await loop.create_server(lambda: AmiSession(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._clock_task = loop.create_task(self.clock.run(), name="ami-simulator-clock")
        if self.generator is not None:
            self.generator.start()
        log.info("AMI simulator listening on %s:%d (speed %g)", self.host, self.port, self.clock.speed)
        return self

    async def close(self, *, restart: bool = False) -> None:
        """Stop like Asterisk does: ``Event: Shutdown`` to every client, then close the connections and listener.

        The load generator stops and the clock task is cancelled and awaited; calls in progress are dropped.
        """
        if self.generator is not None:
            self.generator.stop()
        if self._server is not None:
            self.pbx.em.raw("Shutdown", "system", f"Shutdown: Cleanly\r\nRestart: {'True' if restart else 'False'}\r\n")
            self.flush()
        if self._clock_task is not None:
            self._clock_task.cancel()
            try:
                await self._clock_task
            except asyncio.CancelledError:
                pass
            self._clock_task = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions):
                session.close()
            await self._server.wait_closed()
            self._server = None
        if self._capture_file is not None:
            self._capture_file.close()
            self._capture_file = None
        if self.pbx.queue_log is not None:
            self.pbx.queue_log.close()
            self.pbx.queue_log = None
        log.info(
            "AMI simulator stopped: %d sessions served, %d calls recorded, %d frames emitted",
            self.sessions_served, len(self.pbx.truth), self.pbx.em.frames,
        )  # fmt: skip

    async def __aenter__(self) -> AmiSimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # the session host --------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def session_opened(self, session: AmiSession) -> None:
        self.sessions.add(session)
        self.sessions_served += 1

    def session_closed(self, session: AmiSession) -> None:
        self.sessions.discard(session)

    def logged_in(self, session: AmiSession) -> None:
        session.write(fully_booted(max(int(self.now() - self.clock.start), 1)))
        now = self.now()
        tv = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        local, peer = session.local, session.peer
        self.pbx.em.raw(
            "SuccessfulAuth",
            "security",
            f"EventTV: {tv}\r\nSeverity: Informational\r\nService: AMI\r\nEventVersion: 1\r\n"
            f"AccountID: {self.username}\r\nSessionID: 0x{id(session):x}\r\n"
            f"LocalAddress: IPV4/TCP/{local[0]}/{local[1]}\r\nRemoteAddress: IPV4/TCP/{peer[0]}/{peer[1]}\r\n"
            f"UsingPassword: 0\r\nSessionTV: {tv}\r\n",
        )

    def handle_action(self, session: AmiSession, action: Action) -> None:
        actions.handle(self.pbx, session, action)

    def _sink(self, frame: str, privilege: str) -> None:
        data = frame.encode(self.encoding, "replace")
        if self._capture is not None:
            self._capture.append(data)
        if self._capture_file is not None:
            self._capture_file.write(data)
        self._pending.append((data, privilege))
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the events emitted since the last flush to every session, one write each."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        self._progress.set()
        for session in list(self.sessions):
            if not session.authenticated:
                continue
            mask = session.mask
            if mask is None:
                session.write(b"".join(data for data, _ in pending))
            elif mask:
                session.write(b"".join(data for data, privilege in pending if privilege in mask))

    # hooks for tests and the demo --------------------------------------------------------------------------
    def place_call(
        self,
        number: str | None,
        name: str | None = None,
        *,
        queue: str | None = None,
        dialled: str | None = None,
        patience_s: float | None = None,
        talk_s: float = 5.0,
        ended_by: str = "agent",
        transfer_to: str | None = None,
        transfer_after_s: float | None = None,
        lookup: dict[str, str] | None = None,
        withheld: bool = False,
        **kwargs: Any,
    ) -> PlacedCall:
        """A caller dials a hotline now; returns its ids. See ``QueueCall`` for every option.

        ``dialled`` picks the hotline (tenant) by number (default: the first hotline of ``queue``); ``patience_s``
        is how long the caller waits before hanging up (None: forever); ``talk_s`` the conversation once
        answered, ended by ``ended_by`` ("agent" or "caller"); ``transfer_to`` a queue the agent blind-transfers
        the caller to after ``transfer_after_s``; ``lookup`` the UHD_* variables the AGI lookup sets.
        """
        call = self.pbx.place_call(
            number, name, queue=queue, dialled=dialled, patience_s=patience_s, talk_s=talk_s, ended_by=ended_by,
            transfer_to=transfer_to, transfer_after_s=transfer_after_s, lookup=lookup, withheld=withheld, **kwargs,
        )  # fmt: skip
        return PlacedCall.of(call)

    def set_incidents(self, tenant: str, incident: str, prompts: str = "") -> None:
        """The tenant's open major incidents as the AGI lookup sets them (``UHD_INCIDENT``, ``UHD_INCIDENT_PROMPT``;
        an empty ``incident``: none). ``simulator.incidents.IncidentDesk`` keeps them from the database."""
        self.pbx.set_incidents(tenant, incident, prompts or playlist([None]))

    def set_member(self, interface: str, **behaviour: Any) -> PhoneBehaviour:
        """How a phone answers from now on: ``ring_s``, ``never_answer``, ``busy``, ``no_answer_share``, ``talk_s``."""
        return self.pbx.set_behaviour(interface, **behaviour)

    def pause_member(self, interface: str, paused: bool = True, reason: str = "", queue: str | None = None) -> None:
        self.pbx.pause(interface, paused, reason, queue)

    def unpause_member(self, interface: str, queue: str | None = None) -> None:
        self.pbx.pause(interface, False, "", queue)

    def add_member(self, queue: str, interface: str, name: str = "", *, penalty: int = 0, paused: bool = False) -> None:
        self.pbx.add_member(queue, interface, name, penalty=penalty, paused=paused)

    def remove_member(self, queue: str, interface: str) -> None:
        self.pbx.remove_member(queue, interface)

    def hangup(self, channel: str) -> None:
        self.pbx.hangup(channel)

    # a phone a person works (PhoneBehaviour.manual; simulator.softphone) ------------------------------------------
    def phone(self, interface: str) -> PhoneView:
        """What the phone shows now: idle, ringing (who calls) or talking; paused or not."""
        return softphone.view(self.pbx, interface)

    def answer_phone(self, interface: str) -> PlacedCall:
        """The person picks up the call ringing on ``interface``; PbxError when it does not ring."""
        return PlacedCall.of(softphone.answer(self.pbx, interface))

    def hangup_phone(self, interface: str) -> str:
        """The person hangs up: ``call`` (conversation ended), ``ring`` (rejected) or ``callback``; PbxError: idle."""
        return softphone.hang_up(self.pbx, interface)

    @property
    def realtime(self) -> bool:
        """Whether the clock runs at real time now because a person's phone rings or talks."""
        return self.pbx.people_busy and 0 < self.clock.speed < self.full_speed

    def _people_busy(self, busy: bool) -> None:
        # one clock for the whole PBX: real time while a person rings or talks, full speed again after
        if self.full_speed <= 1.0:
            return  # real time or slower already; speed 0 (tests) moves only by advance()
        self.clock.set_speed(1.0 if busy else self.full_speed)
        log.info("AMI simulator clock at %gx: %s", self.clock.speed,
                 "a person's phone rings or talks" if busy else "no person on the phone")  # fmt: skip

    def drop_connections(self) -> int:
        """Close every client socket abruptly (RST, unsent data lost); calls go on in the PBX."""
        self.flush()
        dropped = list(self.sessions)
        for session in dropped:
            session.abort()
        return len(dropped)

    def freeze(self) -> None:
        """Stop answering anything, Ping included, and stop sending; sockets stay open, calls go on."""
        self.flush()
        self.frozen = True

    def unfreeze(self) -> None:
        """Send what was held back, then answer the actions that arrived meanwhile."""
        self.frozen = False
        self.flush()
        for session in list(self.sessions):
            session.thaw()

    def inject(self, raw: bytes) -> None:
        """Send raw bytes to every connected client as they are (malformed frames, Latin-1, …); not captured."""
        self.flush()
        for session in list(self.sessions):
            session.write(raw)

    def capture_bytes(self) -> bytes:
        """Everything a client logged in from the start would have received (events only, no responses)."""
        if self._capture is None:
            raise RuntimeError("the simulator was started with capture=False")
        return b"".join(self._capture)

    def truth(self) -> list[dict[str, Any]]:
        """Ground truth of every finished queue call so far (the latest ``truth_limit``; the format
        ``render_calls`` documents)."""
        return list(self.pbx.truth)

    async def advance(self, seconds: float) -> None:
        """Move simulated time forward at once (with ``speed=0`` the only way time moves) and deliver events."""
        self.clock.advance(seconds)
        self.flush()
        await asyncio.sleep(0)

    async def settle(self, within_s: float = 10.0, max_virtual_s: float = 7200.0) -> None:
        """Until no call is in progress (and the load generator placed all its calls).

        With ``speed=0`` time jumps from timer to timer; otherwise this waits, at most ``within_s`` wall seconds.
        """
        if self.clock.speed == 0:
            limit = self.clock.now() + max_virtual_s
            while not self._idle():
                due = self.clock.next_due()
                if due is None or due > limit:
                    break
                self.clock.advance(max(due - self.clock.now(), 0.0))
            self.flush()
            await asyncio.sleep(0)
            if not self._idle():
                raise TimeoutError("calls still in progress after the virtual time limit")
            return
        await self.wait_for(self._idle, within_s)

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        """Until ``predicate()`` holds, checked whenever events went out (the clock task runs the calls)."""
        async with asyncio.timeout(within_s):
            while not predicate():
                self._progress.clear()
                await self._progress.wait()

    def _idle(self) -> bool:
        return not self.pbx.active() and (self.generator is None or self.generator.finished)
