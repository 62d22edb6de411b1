"""A scripted fake of Asterisk's manager port, over real TCP: only because no Asterisk runs on this machine.

It speaks what the client needs (banner, Login, Ping, QueueStatus, CoreShowChannels; anything else gets a
plain Success) with the framing of the recorded Asterisk 22 traces, and can misbehave on demand: refuse
the secret, leave actions unanswered, stop answering, push raw bytes, drop the connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
FULLY_BOOTED = (
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 100\r\nLastReload: 100\r\nStatus: Fully Booted\r\n\r\n"
)


def frame(*headers: tuple[str, str]) -> bytes:
    """One AMI frame from (name, value) pairs, UTF-8 encoded."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n"


def parse_action(raw: bytes) -> list[tuple[str, str]]:
    """The headers of one action as sent by the client, in order."""
    headers = []
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(": ")
        if sep:
            headers.append((name, value))
    return headers


@dataclass
class FakeConnection:
    """One client connection as the server sees it."""

    index: int
    writer: asyncio.StreamWriter
    opened_at: float
    closed_at: float | None = None
    muted: bool = False
    actions: list[dict[str, str]] = field(default_factory=list)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


QUEUE_STATUS_ITEMS: list[list[tuple[str, str]]] = [
    [("Event", "QueueParams"), ("Queue", "hotline"), ("Max", "0"), ("Strategy", "rrmemory"), ("Calls", "1")],
    [
        ("Event", "QueueMember"),
        ("Queue", "hotline"),
        ("Name", "Agent Jürgen"),
        ("Location", "Local/101@agents/n"),
        ("StateInterface", "Local/101@agents/n"),
        ("Membership", "static"),
        ("InCall", "1"),
        ("Status", "2"),
        ("Paused", "1"),
        ("PausedReason", "Rückruf"),
    ],
    [
        ("Event", "QueueEntry"),
        ("Queue", "hotline"),
        ("Position", "1"),
        ("Channel", "Local/60@callers-00000000;1"),
        ("Uniqueid", "1795733173.0"),
        ("CallerIDNum", "+4923198601000"),
        ("CallerIDName", "Anna Schmidt"),
        ("Wait", "12"),
        ("Linkedid", "1795733173.0"),
    ],
]

# CoreShowChannel as manager.c writes it: ActionID right after Event, channel variables inside the channel
# state, BridgeId last and empty for a channel not in a bridge (panoramisk's strip() loses that header)
CHANNEL_ITEMS: list[list[tuple[str, str]]] = [
    [
        ("Event", "CoreShowChannel"),
        ("Channel", "Local/60@callers-00000000;1"),
        ("Uniqueid", "1795733173.0"),
        ("Linkedid", "1795733173.0"),
        ("CallerIDNum", "+4923198601000"),
        ("CallerIDName", "Anna Schmidt"),
        ("Context", "hotline-in"),
        ("Exten", "s"),
        ("ChanVariable", "UHD_TENANT=klinikum"),
        ("ChanVariable", "UHD_VIP=1"),
        ("Application", "Queue"),
        ("ApplicationData", "hotline,r,,,300"),
        ("Duration", "00:01:05"),
        ("BridgeId", ""),
    ],
    [
        ("Event", "CoreShowChannel"),
        ("Channel", "Local/101@agents-00000001;1"),
        ("Uniqueid", "1795733173.2"),
        ("Linkedid", "1795733173.2"),
        ("ChanVariable", "UHD_TENANT=klinikum"),
        ("Application", "AppQueue"),
        ("ApplicationData", ""),
        ("Duration", "42"),
        ("BridgeId", ""),
    ],
]


class FakeAmi:
    """The fake manager port. ``await start()``, then point ``Settings(ami_port=server.port)`` at it."""

    def __init__(self, username: str = "uhd", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.send_fully_booted = True
        self.silent = False  # accept connections but never say or answer anything (a hung Asterisk)
        self.hold: set[str] = set()  # action names left unanswered
        self.errors: dict[str, str] = {}  # action name -> Message of a Response: Error
        self.queue_status = QUEUE_STATUS_ITEMS
        self.channels = CHANNEL_ITEMS
        self.connections: list[FakeConnection] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in self.connections:
            conn.writer.transport.abort()
        if self._handlers:
            await asyncio.wait(self._handlers)
        if self._server is not None:
            await self._server.wait_closed()

    # --- what the tests look at ---------------------------------------------------------------------------
    @property
    def actions(self) -> list[dict[str, str]]:
        """Every action received, over all connections, in order."""
        return [action for conn in self.connections for action in conn.actions]

    def count(self, name: str) -> int:
        return sum(1 for action in self.actions if action.get("Action") == name)

    @property
    def current(self) -> FakeConnection:
        """The newest connection still open."""
        for conn in reversed(self.connections):
            if conn.closed_at is None:
                return conn
        raise AssertionError("no open connection")

    # --- misbehaving on demand ----------------------------------------------------------------------------
    async def push(self, data: bytes) -> None:
        """Write raw bytes to the newest open connection."""
        await self.current.write(data)

    def mute(self) -> None:
        """The current connection stays open but nothing more is answered (a hung Asterisk)."""
        self.current.muted = True

    def drop(self) -> None:
        """Cut the current connection (an Asterisk crash or a network failure)."""
        self.current.writer.transport.abort()

    # --- the server ---------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self._loop is not None
        self._handlers.add(task)
        conn = FakeConnection(len(self.connections), writer, self._loop.time())
        self.connections.append(conn)
        try:
            if not self.silent:
                await conn.write(BANNER)
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                headers = parse_action(raw[:-4])
                action = dict(headers)
                conn.actions.append(action)
                if conn.muted or self.silent:
                    continue
                if not await self._answer(conn, action):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            conn.closed_at = self._loop.time()
            writer.transport.abort()
            self._handlers.discard(task)

    async def _answer(self, conn: FakeConnection, action: dict[str, str]) -> bool:
        """Reply to one action; False when the server closes the connection afterwards."""
        name = action.get("Action", "")
        action_id = ("ActionID", action.get("ActionID", ""))
        if name in self.hold:
            return True
        if name in self.errors:
            await conn.write(frame(("Response", "Error"), action_id, ("Message", self.errors[name])))
            return True
        if name == "Login":
            if action.get("Username") != self.username or action.get("Secret") != self.secret:
                # like Asterisk: an error response, then the session is closed
                await conn.write(frame(("Response", "Error"), action_id, ("Message", "Authentication failed")))
                return False
            reply = frame(("Response", "Success"), action_id, ("Message", "Authentication accepted"))
            await conn.write(reply + (FULLY_BOOTED if self.send_fully_booted else b""))
        elif name == "Ping":
            await conn.write(
                frame(("Response", "Success"), action_id, ("Ping", "Pong"), ("Timestamp", "1795733173.000000"))
            )
        elif name == "QueueStatus":
            await self._list(conn, action_id, "Queue status will follow", self.queue_status, "QueueStatusComplete")
        elif name == "CoreShowChannels":
            await self._list(
                conn, action_id, "Channels will follow", self.channels, "CoreShowChannelsComplete", id_first=True
            )
        elif name == "Originate":
            # Asterisk says "successfully queued" for both kinds; an async one is followed by OriginateResponse
            out = frame(("Response", "Success"), action_id, ("Message", "Originate successfully queued"))
            if action.get("Async", "").lower() == "true":
                out += frame(
                    ("Event", "OriginateResponse"),
                    ("Privilege", "call,all"),
                    action_id,
                    ("Response", "Success"),
                    ("Channel", action.get("Channel", "")),
                    ("Reason", "4"),
                    ("Uniqueid", "1795733173.118"),
                )
            await conn.write(out)
        else:
            await conn.write(frame(("Response", "Success"), action_id, ("Message", f"{name} done")))
        return True

    async def _list(
        self,
        conn: FakeConnection,
        action_id: tuple[str, str],
        message: str,
        items: list[list[tuple[str, str]]],
        complete: str,
        id_first: bool = False,
    ) -> None:
        """An EventList reply as Asterisk 22 sends it (ActionID after the Event line or at the end)."""
        out = frame(("Response", "Success"), action_id, ("EventList", "start"), ("Message", message))
        for item in items:
            out += frame(item[0], action_id, *item[1:]) if id_first else frame(*item, action_id)
        out += frame(("Event", complete), action_id, ("EventList", "Complete"), ("ListItems", str(len(items))))
        await conn.write(out)
