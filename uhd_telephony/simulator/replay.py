"""Serve a recorded AMI stream (``tests/data/ami-traces/*.ami`` or a simulator capture) to real clients.

A client connects, gets the banner, logs in (this server checks the secret and answers the Login itself), and
then receives the recorded frames after the recorded Login response, verbatim: as fast as the socket takes them,
or with the original timing (``realtime=True``, divided by ``speed``). The arrival times come from the
capture's ``.meta.json`` ``frame_index`` (seconds since connect, byte offset, length per frame); without one,
from the frames' ``Timestamp`` headers. The recorded responses to the recorder's own actions are left out by
default (``responses=True`` keeps them); recorded events that carry the recorder's ActionID (OriginateResponse,
QueueStatus list events) stay, as they were on the wire. Each session's replay is a task the server owns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from uhd_telephony.errors import CaptureError
from uhd_telephony.simulator.protocol import BANNER, SEP, Action, AmiSession

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


@dataclass(slots=True, frozen=True)
class Frame:
    """One recorded frame (with its blank line) and when it arrived, seconds after the first replayed frame."""

    at: float
    data: bytes

    @property
    def is_response(self) -> bool:
        return self.data.startswith(b"Response:")


def _timestamp(data: bytes) -> float | None:
    i = data.find(b"\r\nTimestamp: ")
    if i < 0:
        return None
    end = data.find(b"\r\n", i + 13)
    try:
        return float(data[i + 13 : end if end > 0 else None])
    except ValueError:
        return None


def load_capture(path: str | Path) -> list[Frame]:
    """The frames of a capture after its banner and recorded Login response, with their arrival times."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read capture {path}: {exc}", {"path": str(path)}) from exc
    meta_path = path.with_name(path.name.removesuffix(".ami") + ".meta.json")
    index: list[list[float]] | None = None
    if meta_path.exists():
        try:
            index = json.loads(meta_path.read_text(encoding="utf-8")).get("frame_index")
        except (OSError, ValueError) as exc:
            raise CaptureError(f"cannot read {meta_path}: {exc}", {"path": str(meta_path)}) from exc
    raw: list[tuple[float | None, bytes]] = []
    if index:
        for t, offset, length in index:
            raw.append((float(t), data[int(offset) : int(offset) + int(length)]))
    else:
        # the greeting line ends in a single CRLF, not a blank line
        start = data.find(b"\r\n") + 2 if data.startswith(BANNER[:22]) else 0
        for part in data[start:].split(SEP):
            if part.strip(b"\r\n"):
                raw.append((None, part + SEP))
    # the recorded Login response answered the recorder: this server answers its own client's Login
    if raw and raw[0][1].startswith(b"Response:") and b"Authentication accepted" in raw[0][1]:
        raw = raw[1:]
    if not raw:
        return []
    if index:
        t0 = raw[0][0] or 0.0
        return [Frame(max((t or 0.0) - t0, 0.0), d) for t, d in raw]
    stamps = [_timestamp(d) for _, d in raw]
    first = next((s for s in stamps if s is not None), None)
    frames, last = [], 0.0
    for stamp, (_, d) in zip(stamps, raw, strict=True):
        if stamp is not None and first is not None:
            last = max(stamp - first, last)
        frames.append(Frame(last, d))
    return frames


class ReplayServer:
    """Serves one capture to every client that logs in."""

    def __init__(
        self,
        capture: str | Path | list[Frame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "uhd",
        secret: str = "uhdsecret",
        realtime: bool = False,
        speed: float = 1.0,
        responses: bool = False,
    ) -> None:
        frames = load_capture(capture) if isinstance(capture, (str, Path)) else capture
        self.frames = frames if responses else [f for f in frames if not f.is_response]
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.realtime = realtime
        self.speed = speed if speed > 0 else 1.0
        self.frozen = False
        self.encoding = "utf-8"
        self.sessions: set[AmiSession] = set()
        self.completed = 0  # sessions that received the whole capture
        self._progress = asyncio.Event()
        self._tasks: dict[AmiSession, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None
        self._started = time.time()

    async def start(self) -> ReplayServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: AmiSession(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("replaying %d frames on %s:%d", len(self.frames), self.host, self.port)
        return self

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions):
                session.abort()
            await self._server.wait_closed()
            self._server = None
        log.info("replay stopped: %d sessions got the whole capture", self.completed)

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def wait_complete(self, sessions: int = 1) -> None:
        """Until ``sessions`` clients have received the whole capture (bound it with ``asyncio.timeout``)."""
        while self.completed < sessions:
            self._progress.clear()
            await self._progress.wait()

    # the session host ---------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time()

    def flush(self) -> None:
        """Nothing is batched here."""

    def session_opened(self, session: AmiSession) -> None:
        self.sessions.add(session)

    def session_closed(self, session: AmiSession) -> None:
        self.sessions.discard(session)
        task = self._tasks.get(session)
        if task is not None:
            task.cancel()  # it removes itself from _tasks when it ends

    def logged_in(self, session: AmiSession) -> None:
        loop = asyncio.get_running_loop()
        self._tasks[session] = loop.create_task(self._replay(session), name=f"ami-replay-{session.peer[1]}")

    def handle_action(self, session: AmiSession, action: Action) -> None:
        """A replay has no PBX behind it: list actions get an empty list (so a resync completes), others an error."""
        lists = {
            "queuestatus": ("Queue status will follow", "QueueStatusComplete"),
            "queuesummary": ("Queue summary will follow", "QueueSummaryComplete"),
            "coreshowchannels": ("Channels will follow", "CoreShowChannelsComplete"),
        }
        if action.name in lists:
            message, complete = lists[action.name]
            session.send_list(action, message, [], complete)
        else:
            session.respond(action, "Error", "Invalid/unknown command")

    async def _replay(self, session: AmiSession) -> None:
        transport = session.transport
        assert transport is not None
        try:
            if self.realtime:
                loop = asyncio.get_running_loop()
                start = loop.time()
                for frame in self.frames:
                    delay = start + frame.at / self.speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if session.closed:
                        return
                    session.write(frame.data)
            else:
                buf: list[bytes] = []
                size = 0
                for frame in self.frames:
                    buf.append(frame.data)
                    size += len(frame.data)
                    if size >= CHUNK:
                        await self._send(session, b"".join(buf))
                        buf, size = [], 0
                    if session.closed:
                        return
                if buf:
                    await self._send(session, b"".join(buf))
            self.completed += 1
            self._progress.set()
        except Exception:  # the boundary of this task: log, never take the server down
            log.exception("replay to %s failed", session.peer)
        finally:
            if self._tasks.get(session) is asyncio.current_task():
                del self._tasks[session]

    async def _send(self, session: AmiSession, data: bytes) -> None:
        """Write with back-pressure: wait while the client is slow to read."""
        session.write(data)
        await session.drained()
        await asyncio.sleep(0)
