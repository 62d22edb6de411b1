"""The AMI wire protocol of one client connection, as Asterisk 22's manager.c speaks it.

On connect the banner ``Asterisk Call Manager/11.0.0`` (one CRLF, no blank line); then frames of
``Key: Value`` lines ended by a blank line. Before Login every action but Login/Logoff/Challenge gets
``Permission denied``; a wrong secret gets ``Authentication failed`` and the connection is closed. Responses
echo the ``ActionID`` right after ``Response:``. Login, Logoff, Ping and Events are answered here; every other
action goes to the host (the simulator or the replay server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SEP = b"\r\n\r\n"
MAX_ACTION = 64 * 1024
PRIVILEGE_CLASSES = frozenset({"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
                               "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
                               "message"})  # fmt: skip


class Action:
    """An action frame's headers: case-insensitive names, repeated headers (``Variable``) kept in order."""

    __slots__ = ("_items",)

    def __init__(self, text: str) -> None:
        items: list[tuple[str, str]] = []
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip():
                items.append((key.strip().lower(), value.strip()))
        self._items = items

    @property
    def name(self) -> str:
        return self.get("action").lower()

    @property
    def action_id(self) -> str | None:
        for key, value in self._items:
            if key == "actionid":
                return value
        return None

    def get(self, key: str, default: str = "") -> str:
        key = key.lower()
        for k, value in self._items:
            if k == key:
                return value
        return default

    def getall(self, key: str) -> list[str]:
        key = key.lower()
        return [v for k, v in self._items if k == key]

    def items(self) -> list[tuple[str, str]]:
        """All headers as (lower-case name, value), in the order sent."""
        return list(self._items)

    def flag(self, key: str, default: bool = False) -> bool:
        """ast_true(): yes/true/y/t/1/on."""
        value = self.get(key)
        if not value:
            return default
        return value.lower() in ("yes", "true", "y", "t", "1", "on")


def fully_booted(uptime: int) -> bytes:
    """Sent to the session right after a successful Login (no Timestamp: manager.c writes it directly)."""
    return (
        f"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: {uptime}\r\nLastReload: {uptime}\r\n"
        "Status: Fully Booted\r\n\r\n"
    ).encode()


def login_preamble(uptime: int = 1, action_id: str = "1") -> bytes:
    """What a client sees before the first event: banner, Login response, FullyBooted (captures start so)."""
    response = f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n"
    return BANNER + response.encode() + fully_booted(uptime)


def event_mask(value: str) -> frozenset[str] | None:
    """Login ``Events:`` / ``EventMask:``: None for all, an empty set for none, else the privilege classes."""
    value = value.strip().lower()
    if value in ("", "on", "all", "yes", "true", "1"):
        return None
    if value in ("off", "none", "no", "false", "0"):
        return frozenset()
    return frozenset(p.strip() for p in value.split(",") if p.strip() in PRIVILEGE_CLASSES)


class Host(Protocol):
    """What a session needs from the server it belongs to."""

    username: str
    secret: str
    frozen: bool
    encoding: str

    def now(self) -> float: ...

    def flush(self) -> None: ...

    def session_opened(self, session: AmiSession) -> None: ...

    def session_closed(self, session: AmiSession) -> None: ...

    def logged_in(self, session: AmiSession) -> None: ...

    def handle_action(self, session: AmiSession, action: Action) -> None: ...


class AmiSession(asyncio.Protocol):
    """One AMI client: framing, authentication, event mask, and holding everything while the host is frozen."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.authenticated = False
        self.mask: frozenset[str] | None = None
        self.peer = ("", 0)
        self.local = ("", 0)
        self.closed = False
        self._inbox = b""
        self._held: list[bytes] = []
        self._writable = asyncio.Event()
        self._writable.set()

    # connection ---------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.peer, self.local = (peer[0], peer[1]), (local[0], local[1])
        self.host.session_opened(self)
        self.write(BANNER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._writable.set()  # nobody may wait for a dead socket to drain
        self.host.session_closed(self)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def drained(self) -> None:
        """Until the transport's write buffer is below its high-water mark again (or the connection is gone)."""
        await self._writable.wait()

    def data_received(self, data: bytes) -> None:
        # manager.c reads lines up to LF and drops the CR: clients that end lines with a bare LF work too
        self._inbox += data.replace(b"\r\n", b"\n")
        if self.host.frozen:
            return
        self._process()

    def _process(self) -> None:
        while not self.closed and not self.host.frozen:
            end = self._inbox.find(b"\n\n")
            if end < 0:
                if len(self._inbox) > MAX_ACTION:
                    log.warning("AMI client %s sent an oversized action: closing", self.peer)
                    self.close()
                return
            raw, self._inbox = self._inbox[:end], self._inbox[end + 2 :]
            text = raw.decode("utf-8", "replace").strip("\n")
            if not text:
                continue
            self.handle(Action(text))

    # writing ------------------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            return
        if self.host.frozen:
            self._held.append(data)
            return
        self.transport.write(data)

    def deliver(self, data: bytes, privilege: str) -> None:
        """A broadcast event, if this session is logged in and its event mask takes the class."""
        if self.authenticated and (self.mask is None or privilege in self.mask):
            self.write(data)

    def respond(
        self,
        action: Action,
        response: str = "Success",
        message: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        *,
        message_last: bool = False,
    ) -> None:
        """``Response: …`` then ``ActionID`` then ``Message`` (or other headers), as manager.c orders them."""
        self.host.flush()
        lines = [f"Response: {response}"]
        aid = action.action_id
        if aid is not None:
            lines.append(f"ActionID: {aid}")
        extra = [f"{k}: {v}" for k, v in headers]
        if message is not None and not message_last:
            lines.append(f"Message: {message}")
        lines.extend(extra)
        if message is not None and message_last:
            lines.append(f"Message: {message}")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode(self.host.encoding, "replace"))

    def send_list(self, action: Action, message: str, items: list[str], complete: str, event: str = "") -> None:
        """A list reply: ``EventList: start`` ack, the items, then ``<complete>``; every item carries the ActionID.

        Items are whole frames with the ActionID last (QueueStatus), or, with ``event``, bodies that get
        ``Event: <event>`` and the ActionID first (CoreShowChannels) — each as its Asterisk action writes it.
        """
        aid = action.action_id
        self.respond(action, "Success", message, [("EventList", "start")], message_last=True)
        aid_line = f"ActionID: {aid}\r\n" if aid is not None else ""
        if event:
            parts = [f"Event: {event}\r\n{aid_line}{item}\r\n" for item in items]
        else:
            parts = [f"{item}{aid_line}\r\n" for item in items]
        parts.append(f"Event: {complete}\r\n{aid_line}EventList: Complete\r\nListItems: {len(items)}\r\n\r\n")
        self.write("".join(parts).encode(self.host.encoding, "replace"))

    def close(self) -> None:
        """Close after what was written has gone out (Logoff, failed login)."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, unsent data and all (``drop_connections``)."""
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    def thaw(self) -> None:
        """The host unfroze: send what was held, then handle the actions that arrived meanwhile."""
        held, self._held = self._held, []
        if self.transport is not None and not self.closed:
            for data in held:
                self.transport.write(data)
        self._process()

    # actions ------------------------------------------------------------------------------------------------
    def handle(self, action: Action) -> None:
        name = action.name
        if name == "login":
            self._login(action)
        elif name == "logoff":
            self.respond(action, "Goodbye", "Thanks for all the fish.")
            self.close()
        elif not self.authenticated:
            # manager.c lets only Login, Logoff and Challenge through before authentication
            self.respond(action, "Error", "Permission denied")
        elif name == "ping":
            self.respond(action, "Success", None, [("Ping", "Pong"), ("Timestamp", f"{self.host.now():.6f}")])
        elif name == "events":
            self.mask = event_mask(action.get("eventmask", "on"))
            self.respond(action, "Success", None, [("Events", "Off" if self.mask == frozenset() else "On")])
        elif not name:
            self.respond(action, "Error", "Missing action in request")
        else:
            self.host.handle_action(self, action)

    def _login(self, action: Action) -> None:
        if self.authenticated:
            self.respond(action, "Success", "Already authenticated")
            return
        if action.get("username") != self.host.username or action.get("secret") != self.host.secret:
            self.respond(action, "Error", "Authentication failed")
            # manager.c returns -1 from the action: the session ends
            self.close()
            return
        self.mask = event_mask(action.get("events", "on"))
        self.respond(action, "Success", "Authentication accepted")
        self.authenticated = True
        self.host.logged_in(self)
