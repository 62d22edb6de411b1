"""Asterisk's queue_log read back into call records: what the service missed while it could not see the PBX.

app_queue writes one line per queue happening, ``time|callid|queue|agent|event|data1|data2|…`` (queue_log_to_file,
the default format): ``callid`` is the caller channel's Uniqueid (``NONE`` / ``MANAGER`` on member events), times
are whole epoch seconds. One caller's stay in one queue is an ENTERQUEUE followed by exactly one end line
(COMPLETEAGENT, COMPLETECALLER, a transfer, ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY), with CONNECT and the
ring lines (RINGNOANSWER, RINGCANCELED) between. ``CallAssembler`` turns those lines into the same ``CallRecord``
the live tracker (calls/tracker.py) makes of the AMI events of the same call:

- identity: ``call_id = <uniqueid>@<queue>``; ``#n`` for the n-th stay of one channel in one queue within one read
  (the tracker numbers them the same way, but only what one read sees can be counted here);
- the queue_log has no Linkedid: a backfilled record's ``linkedid`` is its ``uniqueid`` (what the tracker also uses
  when Asterisk sends no Linkedid), so a blind transfer's two stays are two conversations here;
- outcomes: COMPLETEAGENT/COMPLETECALLER → answered (``ended_by`` agent/caller), TRANSFER/BLINDTRANSFER/
  ATTENDEDTRANSFER → transferred, ABANDON → abandoned, or short_abandon when its waittime is below the threshold,
  EXITWITHTIMEOUT → timeout, EXITEMPTY → overflow, EXITWITHKEY → exit_key (a callback asked for by the dialplan's
  UserEvent is not in the queue_log: the live tracker's ``callback`` reads ``exit_key`` here),
  FULL/JOINEMPTY/JOINUNAVAIL → refused;
- ``agent`` is the agent field (the member name, as AMI's MemberName); ``agent_interface`` only when that field is
  an interface (``PJSIP/101``: a member without a name); wait and talk are app_queue's own holdtime/calltime;
- caller name, channel and channel variables are not in the queue_log; an empty caller ID reads ``<unknown>`` as
  in AMI; a ``DID`` line (``QueueLog(NONE,${UNIQUEID},NONE,DID,<number>)`` in a dialplan) gives the number dialled.

The reader streams: lines are read one at a time from a byte offset, a last line without its newline (Asterisk
still writing it) is left for the next read, bytes that are not UTF-8 are read as cp1252 (as AMI frames are).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt

# a line longer than this is not app_queue's: skipped (and read in pieces, so it costs no memory)
MAX_LINE = 64 * 1024
# the bytes at the start of a file that identify it across reads (a rotated file starts differently)
HEAD_BYTES = 512
# a call still open this long after its ENTERQUEUE (by the file's own clock) is not waited for any more: Asterisk
# restarted under it and its end line will never come
MAX_OPEN_S = 12 * 3600
# how many DID lines are remembered for ENTERQUEUE lines still to come
MAX_DIDS = 10_000

END_EVENTS = frozenset(
    {
        "COMPLETEAGENT",
        "COMPLETECALLER",
        "TRANSFER",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITWITHKEY",
        "EXITEMPTY",
        "FULL",
        "JOINEMPTY",
        "JOINUNAVAIL",
    }
)
CALL_EVENTS = END_EVENTS | {"ENTERQUEUE", "CONNECT", "RINGNOANSWER", "RINGCANCELED"}
# the queue_log's ATTENDEDTRANSFER kinds as AMI's AttendedTransfer DestType names them (the tracker's transferred_to)
_ATTENDED_KINDS = {"BRIDGE": "Bridge", "APP": "App", "LINK": "Link", "THREEWAY": "Threeway"}
_NOT_A_CALL = frozenset({"", "NONE", "MANAGER", "REALTIME"})

TenantOf = Callable[[str, str], str]  # (dialled, queue) -> tenant


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    """One parsed line; ``offset`` is where it starts in the file, ``end`` where the next one does."""

    time: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    offset: int = 0
    end: int = 0

    def field(self, n: int, default: str = "") -> str:
        return self.data[n] if n < len(self.data) else default

    def number(self, n: int) -> float:
        """data field ``n`` as a number (0 when missing or not a number: an old or a foreign format)."""
        try:
            value = float(self.field(n, "0") or 0)
        except ValueError:
            return 0.0
        return value if value == value and abs(value) < 1e12 else 0.0  # NaN, absurd values


def decode(raw: bytes) -> str:
    """A line's bytes as text: UTF-8, else cp1252 (a caller name from a Latin-1 trunk)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def parse_line(raw: bytes, offset: int = 0) -> QueueLogLine | None:
    """One line (with or without its newline); None when it is not a queue_log line."""
    end = offset + len(raw)
    text = decode(raw.rstrip(b"\r\n")).replace("\x00", "")
    parts = text.split("|")
    if len(parts) < 5:
        return None
    try:
        ts = float(parts[0])
    except ValueError:
        return None
    if not (0 < ts < 1e11):
        return None
    event = parts[4].strip()
    if not event:
        return None
    return QueueLogLine(ts, parts[1].strip(), parts[2].strip(), parts[3], event, tuple(parts[5:]), offset, end)


def head_fingerprint(path: str | os.PathLike[str], length: int = HEAD_BYTES) -> tuple[int, str]:
    """(length, sha256 hex) of the first ``length`` bytes of a file (fewer when it is shorter)."""
    with open(path, "rb") as f:
        head = f.read(length)
    return len(head), hashlib.sha256(head).hexdigest()


def read_lines(f: BinaryIO, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each whole line from ``start``; stops before a last line that has no newline yet."""
    f.seek(start)
    offset = start
    while True:
        raw = f.readline(MAX_LINE)
        if not raw:
            return
        if not raw.endswith(b"\n"):
            if len(raw) < MAX_LINE:
                return  # the last line, still being written: read it next time
            # an overlong line: skip to its end
            skipped = len(raw)
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(MAX_LINE)
                skipped += len(raw)
            if not raw:
                return
            offset += skipped
            continue
        yield offset, raw
        offset += len(raw)


@dataclass(slots=True)
class AssemblerStats:
    lines: int = 0
    malformed: int = 0
    ignored: int = 0  # member, queue and unknown events
    orphans: int = 0  # call lines of a call whose ENTERQUEUE was not read (before the start, or rotated away)
    duplicates: int = 0  # lines of a call already ended in this read
    finished: int = 0


@dataclass(slots=True)
class _Open:
    record: CallRecord
    offset: int  # where its first line starts: the next read must start there to see it whole


@dataclass
class CallAssembler:
    """Feeds queue_log lines and returns each call record when its end line arrives. Pure: no I/O."""

    tenant_of: TenantOf
    short_abandon_s: float = 5.0
    stats: AssemblerStats = field(default_factory=AssemblerStats)
    open: dict[str, _Open] = field(default_factory=dict)  # by call_id
    _current: dict[str, str] = field(default_factory=dict)  # "<uniqueid>@<queue>" -> the open call_id
    _stays: dict[str, int] = field(default_factory=dict)  # "<uniqueid>@<queue>" -> stays seen in this read
    _dids: dict[str, str] = field(default_factory=dict)  # uniqueid -> number dialled (DID lines)
    last_time: float = 0.0

    def feed(self, line: QueueLogLine) -> CallRecord | None:
        self.stats.lines += 1
        self.last_time = max(self.last_time, line.time)
        event = line.event
        if event == "DID":
            if line.callid not in _NOT_A_CALL:
                if len(self._dids) >= MAX_DIDS:
                    self._dids.pop(next(iter(self._dids)))
                self._dids[line.callid] = line.field(0).strip()
            return None
        if event not in CALL_EVENTS or line.callid in _NOT_A_CALL or line.queue in _NOT_A_CALL:
            self.stats.ignored += 1
            return None
        base = f"{line.callid}@{line.queue}"
        if event == "ENTERQUEUE":
            self._enter(line, base)
            return None
        call_id = self._current.get(base)
        call = self.open[call_id].record if call_id is not None else None
        if call is None:
            if event in ("RINGNOANSWER", "RINGCANCELED"):
                self.stats.orphans += 1
                return None
            if base in self._stays:
                # the stay this line belongs to has ended already (a repeated or late line)
                self.stats.duplicates += 1
                return None
            call = self._orphan(line, base)
        if event == "CONNECT":
            self._connect(call, line)
            return None
        if event in ("RINGNOANSWER", "RINGCANCELED"):
            ringtime = line.number(0) / 1000
            result = "cancelled" if event == "RINGCANCELED" else ("busy" if ringtime == 0 else "noanswer")
            interface, member = _agent(line.agent)
            call.ring_attempts.append(RingAttempt(interface, member, line.time - ringtime, line.time, result))
            return None
        return self._end(call, line, base)

    # ------------------------------------------------------------------ the lines of one call
    def _enter(self, line: QueueLogLine, base: str) -> None:
        current = self._current.pop(base, None)
        if current is not None:
            # entered again without an end line for the earlier stay (Asterisk restarted): that one is lost
            self.open.pop(current, None)
        self._new(line, base, line.time, line.offset)
        call = self.open[self._current[base]].record
        number = line.field(1).strip()
        call.caller_number = number or "<unknown>"
        try:
            call.position = int(line.field(2) or 0)
        except ValueError:
            call.position = 0

    def _orphan(self, line: QueueLogLine, base: str) -> CallRecord:
        """A call whose ENTERQUEUE was not read: its entry time from the end line's own hold/call/wait times."""
        self.stats.orphans += 1
        event = line.event
        if event == "CONNECT":
            entered = line.time - line.number(0)
        elif event in ("COMPLETEAGENT", "COMPLETECALLER"):
            entered = line.time - line.number(0) - line.number(1)
        elif event in ("TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"):
            entered = line.time - line.number(len(line.data) - 3) - line.number(len(line.data) - 2)
        elif event == "EXITWITHKEY":
            entered = line.time - line.number(3)
        elif event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
            entered = line.time - line.number(2)
        else:
            entered = line.time
        call = self._new(line, base, entered, line.offset)
        call.caller_number = ""
        return call

    def _new(self, line: QueueLogLine, base: str, entered: float, offset: int) -> CallRecord:
        n = self._stays.get(base, 0) + 1
        self._stays[base] = n
        call_id = base if n == 1 else f"{base}#{n}"
        dialled = self._dids.pop(line.callid, "")
        call = CallRecord(
            call_id=call_id,
            linkedid=line.callid,  # no Linkedid in the queue_log (module docstring)
            uniqueid=line.callid,
            queue=line.queue,
            tenant=self.tenant_of(dialled, line.queue),
            entered_at=entered,
            dialled=dialled,
            backfilled=True,
        )
        self.open[call_id] = _Open(call, offset)
        self._current[base] = call_id
        return call

    def _connect(self, call: CallRecord, line: QueueLogLine) -> None:
        if call.answered_at is not None:
            self.stats.duplicates += 1
            return
        self._answer(call, line.time, line.agent, line.number(0), line.number(2))

    def _answer(self, call: CallRecord, ts: float, agent: str, hold_s: float, ring_s: float) -> None:
        interface, member = _agent(agent)
        call.answered_at = ts
        call.agent = agent or None
        call.agent_interface = interface or None
        call.wait_s = hold_s
        call.ring_attempts.append(RingAttempt(interface, member, ts - ring_s, ts, "answered"))

    def _end(self, call: CallRecord, line: QueueLogLine, base: str) -> CallRecord | None:
        event = line.event
        outcome: Outcome
        if event in ("COMPLETEAGENT", "COMPLETECALLER"):
            hold, talk = line.number(0), line.number(1)
            outcome = Outcome.ANSWERED
            call.ended_by = "agent" if event == "COMPLETEAGENT" else "caller"
        elif event in ("TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"):
            # the last three fields are holdtime|calltime|origposition whatever comes before them
            hold, talk = line.number(len(line.data) - 3), line.number(len(line.data) - 2)
            outcome = Outcome.TRANSFERRED
            call.ended_by = "transfer"
            call.transferred_to = _transfer_target(line)
        else:
            hold, talk = 0.0, 0.0
            if event == "ABANDON":
                wait = line.number(2)
                outcome = Outcome.SHORT_ABANDON if wait < self.short_abandon_s else Outcome.ABANDONED
            elif event == "EXITWITHTIMEOUT":
                wait = line.number(2)
                outcome, call.queue_status = Outcome.TIMEOUT, "TIMEOUT"
            elif event == "EXITEMPTY":
                wait = line.number(2)
                outcome, call.queue_status = Outcome.OVERFLOW, "LEAVEEMPTY"
            elif event == "EXITWITHKEY":
                wait = line.number(3)
                outcome = Outcome.EXIT_KEY
            else:  # FULL, JOINEMPTY, JOINUNAVAIL: never entered
                wait = 0.0
                outcome, call.queue_status = Outcome.REFUSED, event
            if call.answered_at is not None:
                # CONNECT, then ABANDON: the caller hung up as the agent answered; app_queue counts it abandoned
                call.answered_at = call.agent = call.agent_interface = None
                call.ring_attempts = [a for a in call.ring_attempts if a.result != "answered"]
            call.wait_s = wait
        if outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED):
            if call.answered_at is None:
                self._answer(call, line.time - talk, line.agent, hold, 0.0)
            elif line.agent and call.agent != line.agent:
                call.agent = line.agent
            call.talk_s = talk
        call.outcome = outcome
        call.ended_at = line.time
        del self.open[call.call_id]
        del self._current[base]
        self.stats.finished += 1
        return call

    # ------------------------------------------------------------------ where the next read starts
    def resume_offset(self, end: int) -> int:
        """Where the next read of this file should start when this one stopped at ``end``: the first line of the
        oldest call still open (so it is read whole next time), unless it has been open longer than MAX_OPEN_S."""
        waiting = [o.offset for o in self.open.values() if self.last_time - o.record.entered_at < MAX_OPEN_S]
        return min([end, *waiting])


def _agent(agent: str) -> tuple[str, str]:
    """(interface, member name) of a queue_log agent field: a member name, or an interface when it has none."""
    agent = agent.strip()
    if not agent or agent == "NONE":
        return "", ""
    if "/" in agent:
        return agent, ""
    return "", agent


def _transfer_target(line: QueueLogLine) -> str:
    first, second = line.field(0), line.field(1)
    if line.event == "ATTENDEDTRANSFER":
        return _ATTENDED_KINDS.get(first.upper(), first or "attended")
    return f"{first}@{second}" if second else first
