"""The connection to Asterisk's manager port: log in, deliver events, keep it alive, reconnect, resync.

One supervisor task owns the connection loop (connect → Login → ``on_connect`` → Ping/Pong keepalive →
on loss: capped exponential backoff with jitter → again). It replaces panoramisk's ``Manager``, whose
reconnect runs even after ``close()``, whose Ping never checks for the Pong, which retries a wrong secret
silently forever and which re-sends actions that were in flight at a disconnect. Only panoramisk's
``Action``/``Message`` bookkeeping is used, through ``protocol.AmiProtocol``.

Event frames reach the owner through ONE synchronous callback, ``on_event(fields, received_at)``: ``fields``
is the frame's headers (``dict[str, str]``, repeated ``ChanVariable`` joined by newlines), ``received_at``
the epoch time the frame arrived. It runs inside ``data_received``: it must only enqueue (the owner runs
``events.build_event`` and the tracker in its own task). If it raises, the error is logged, counted in
``status.callback_errors`` and the connection carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

from panoramisk.message import Message

from uhd_telephony.ami.events import tracker_filter
from uhd_telephony.ami.frames import EventFilter, FrameStats
from uhd_telephony.ami.protocol import AmiAction, AmiProtocol, EventCallback, LinkCounters, message_fields
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.errors import AmiAuthError, AmiError, AmiNotConnected
from uhd_telephony.settings import Settings

log = logging.getLogger(__name__)

OnConnect = Callable[["AmiClient"], Awaitable[None]]
OnDisconnect = Callable[["AmiClient", str], Awaitable[None]]

# actions that belong to the supervisor: a Logoff from outside would look like a lost connection
_RESERVED_ACTIONS = frozenset({"login", "logoff", "challenge"})
# how long closing waits for the socket to be gone, and for the owner's on_disconnect hook
_CLEANUP_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class AmiStatus:
    """A point-in-time view of the connection for the health endpoint and metrics (no secrets in it)."""

    host: str
    port: int
    username: str
    connected: bool
    authenticated: bool
    closed: bool
    last_error: str | None
    reconnects: int
    logins: int
    auth_failures: int
    connected_since: float | None
    last_event_at: float | None
    ping_rtt_s: float | None
    callback_errors: int
    hook_errors: int
    unmatched_responses: int
    decoder: FrameStats = field(default_factory=FrameStats)

    @property
    def healthy(self) -> bool:
        """Logged in and not closed: what a health check should report as up."""
        return self.authenticated and not self.closed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the health endpoint."""
        data = asdict(self)
        data["healthy"] = self.healthy
        return data


class _Outcome(NamedTuple):
    """How one connection attempt ended, for the supervisor's single log line."""

    message: str
    level: int
    up_for_s: float


class AmiClient:
    """Asterisk Manager Interface client: ``await start()``, ``send_action()``, ``snapshot()``, ``await close()``.

    ``on_event(fields, received_at)`` (sync): every event frame without ``ActionID`` that passes
    ``event_filter`` (default ``events.tracker_filter()``; ``None`` passes everything), in wire order, from
    inside ``data_received``. ``FullyBooted`` and ``Shutdown`` are acted on even when the filter drops them.

    ``on_connect(client)`` (async): after each successful Login, once Asterisk has said ``FullyBooted`` (or
    ``ami_action_timeout_s`` later if it has not); called again if ``FullyBooted`` arrives later on the same
    connection (Asterisk was still starting). This is where the owner resyncs (``await client.snapshot()``).
    Runs in a task of its own, cancelled when the connection goes; events keep flowing meanwhile.

    ``on_disconnect(client, reason)`` (async): when a connection that had logged in ends, ``close()`` included.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        on_event: EventCallback,
        on_connect: OnConnect | None = None,
        on_disconnect: OnDisconnect | None = None,
        event_filter: EventFilter | None = tracker_filter(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if inspect.iscoroutinefunction(on_event):
            # it runs inside data_received: an async one would leave an orphan task per event
            raise TypeError("on_event must be a synchronous callable that enqueues the event")
        self._settings = settings
        self._on_event = on_event
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._filter = event_filter
        self._clock = clock
        self._random = random.random
        self._where = f"{settings.ami_host}:{settings.ami_port}"

        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._protocol: AmiProtocol | None = None
        self._authenticated = False
        self._ready = asyncio.Event()

        self._frame_stats = FrameStats()
        self._counters = LinkCounters()
        self._last_error: str | None = None
        self._reconnects = 0
        self._logins = 0
        self._auth_failures = 0
        self._hook_errors = 0
        self._connected_since: float | None = None
        self._ping_rtt_s: float | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "authenticated" if self._authenticated else "not logged in"
        return f"<AmiClient {self._settings.ami_username}@{self._where} {state}>"

    # --- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the supervisor; returns at once (use ``wait_connected`` to wait for the first login)."""
        if self._closing:
            raise RuntimeError("AmiClient is closed; make a new one")
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"ami-supervisor {self._where}")

    # a timeout parameter rather than asyncio.timeout() around the call: expiry becomes AmiNotConnected
    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until logged in; ``AmiNotConnected`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            raise AmiNotConnected(
                f"not logged in to AMI at {self._where} after {timeout} s",
                details={"last_error": self._last_error},
            ) from None

    async def close(self) -> None:
        """Stop for good: cancel any connect, login, backoff or session, close the socket. Idempotent."""
        self._closing = True
        task = self._task
        if task is None:
            self._closed = True
            return
        if task is asyncio.current_task():
            self._closed = True  # called from on_disconnect: the supervisor sees _closing and stops after it
            return
        if not task.done():
            task.cancel()
        await asyncio.wait({task})
        if self._closed:
            return
        self._closed = True
        if not task.cancelled() and task.exception() is not None:
            log.error("AMI supervisor had crashed", exc_info=task.exception())
        stats = self._frame_stats
        log.info(
            "AMI client for %s closed: %d logins, %d reconnects, %d frames (%d events, %d skipped, %d malformed, "
            "%d oversized), %d callback errors",
            self._where,
            self._logins,
            self._reconnects,
            stats.frames,
            stats.events,
            stats.skipped,
            stats.malformed,
            stats.oversized,
            self._counters.callback_errors,
        )

    @property
    def status(self) -> AmiStatus:
        """Connection state and counters, including the frame decoder's."""
        protocol = self._protocol
        return AmiStatus(
            host=self._settings.ami_host,
            port=self._settings.ami_port,
            username=self._settings.ami_username,
            connected=protocol is not None and not protocol.closed,
            authenticated=self._authenticated,
            closed=self._closing,
            last_error=self._last_error,
            reconnects=self._reconnects,
            logins=self._logins,
            auth_failures=self._auth_failures,
            connected_since=self._connected_since,
            last_event_at=self._counters.last_event_at,
            ping_rtt_s=self._ping_rtt_s,
            callback_errors=self._counters.callback_errors,
            hook_errors=self._hook_errors,
            unmatched_responses=self._counters.unmatched_responses,
            decoder=replace(self._frame_stats),
        )

    # --- actions ------------------------------------------------------------------------------------------
    async def send_action(
        self,
        action: Mapping[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109 - defaults to ami_action_timeout_s; expiry is an AmiError
        *,
        as_list: bool | None = None,
    ) -> Message | list[Message]:
        """Send one action and return its reply: a ``Message``, or the list of them for list replies.

        ``as_list=True`` collects an ``EventList`` reply (response, list events, ``...Complete``).
        Raises ``AmiNotConnected`` when not logged in or when the connection drops before the reply (the
        action is then NOT re-sent), ``AmiError`` on ``Response: Error`` or no reply within ``timeout``
        (default ``ami_action_timeout_s``). An async ``Originate`` returns [response, OriginateResponse].
        """
        name = str(action.get("Action", ""))
        if not name:
            raise ValueError("an AMI action needs an 'Action' header")
        if name.lower() in _RESERVED_ACTIONS:
            raise ValueError(f"{name} is handled by the client itself")
        for key, value in action.items():
            values = value if isinstance(value, list | tuple) else [value]
            if any("\r" in str(v) or "\n" in str(v) for v in values) or "\r" in key or "\n" in key:
                # a line break would inject headers (or a second action) into the stream
                raise AmiError(f"line break in header {key!r} of {name}", details={"action": name, "header": key})
        protocol = self._protocol
        if protocol is None or protocol.closed or not self._authenticated:
            raise AmiNotConnected(
                f"not logged in to AMI at {self._where}", details={"action": name, "last_error": self._last_error}
            )
        limit = timeout if timeout is not None else self._settings.ami_action_timeout_s
        try:
            reply = await self._request(protocol, action, limit, as_list)
        except TimeoutError:
            raise AmiError(
                f"no reply to {name} from AMI at {self._where} within {limit} s",
                details={"action": name, "timeout_s": limit},
            ) from None
        first = reply[0] if isinstance(reply, list) else reply
        if not first.success:
            text = str(first.get("Message", "") or first.get("Response", ""))
            raise AmiError(f"{name} failed: {text}", details={"action": name, "response": message_fields(first)})
        return reply

    async def snapshot(self) -> Snapshot:
        """What Asterisk has now: ``QueueStatus`` (entries, members) and ``CoreShowChannels`` (channels)."""
        snap = Snapshot(taken_at=self._clock())
        # Asterisk's own clock at the snapshot (the Pong carries a Timestamp): the times of a call rebuilt from the
        # snapshot are on the same time line as the events', whatever this machine's clock says
        pong = await self.send_action({"Action": "Ping"}, as_list=False)
        if isinstance(pong, list):  # pragma: no cover - as_list=False answers one message
            pong = pong[0] if pong else {}
        snap.asterisk_time = _timestamp(message_fields(pong).get("Timestamp"))
        for name in ("QueueStatus", "CoreShowChannels"):
            reply = await self.send_action({"Action": name}, as_list=True)
            items = reply if isinstance(reply, list) else [reply]
            # the first item is the response, the last the ...Complete event; Snapshot.add ignores both
            snap.add_all(message_fields(item) for item in items)
        return snap

    async def _request(
        self, protocol: AmiProtocol, action: Mapping[str, Any], limit_s: float, as_list: bool | None = None
    ) -> Any:
        """Send on one connection and wait for the reply; the action is forgotten on timeout or cancel."""
        pending = AmiAction(action)  # inside the running loop: Action() creates its Future right here
        future = protocol.send(pending, as_list=as_list)
        try:
            async with asyncio.timeout(limit_s):
                return await future
        finally:
            protocol.forget(pending)

    # --- the supervisor -----------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        settings = self._settings
        attempt = 0
        while not self._closing:
            try:
                outcome = await self._session()
            except Exception as exc:  # a bug in a session must not end the supervisor: log it and reconnect
                log.exception("AMI session to %s failed unexpectedly", self._where)
                outcome = _Outcome(f"session to {self._where} failed: {exc!r}", logging.ERROR, 0.0)
            if self._closing:
                break
            if outcome.up_for_s >= settings.ami_reconnect_max_s:
                attempt = 0  # it was up for a while: start the backoff over
            delay = self._backoff(attempt)
            attempt += 1
            log.log(outcome.level, "AMI %s; retrying in %.2f s (attempt %d)", outcome.message, delay, attempt)
            await asyncio.sleep(delay)
            self._reconnects += 1

    def _backoff(self, attempt: int) -> float:
        low, high = self._settings.ami_reconnect_min_s, self._settings.ami_reconnect_max_s
        ceiling = min(high, low * 2 ** min(attempt, 32))
        # jitter in the top quarter: clients restarted together spread out, none goes below the minimum
        return max(low, ceiling * (0.75 + 0.25 * self._random()))

    async def _session(self) -> _Outcome:
        """One connection from connect to loss; returns how it ended (cancelled by ``close()``)."""
        settings = self._settings
        loop = asyncio.get_running_loop()
        protocol: AmiProtocol | None = None
        resync: asyncio.Task[None] | None = None
        logged_in_at: float | None = None
        reason = "closed by the client"  # unless the session ends otherwise: close() cancels it
        try:
            try:
                async with asyncio.timeout(settings.ami_connect_timeout_s):
                    _, protocol = await loop.create_connection(self._new_protocol, settings.ami_host, settings.ami_port)
            except TimeoutError:
                return self._failed(f"connection to {self._where} timed out after {settings.ami_connect_timeout_s} s")
            except OSError as exc:
                return self._failed(f"connection to {self._where} failed: {type(exc).__name__}: {exc.strerror or exc}")
            self._protocol = protocol

            try:
                await self._login(protocol)
            except AmiAuthError:
                self._auth_failures += 1
                return self._failed(
                    f"login to {self._where} as {settings.ami_username!r} failed: authentication failed "
                    "(check ami_username and ami_secret)",
                    level=logging.ERROR,
                    last_error="authentication failed",
                )
            except TimeoutError:
                return self._failed(
                    f"login to {self._where} as {settings.ami_username!r} failed: "
                    f"no reply within {settings.ami_action_timeout_s} s"
                )
            except AmiNotConnected:
                return self._failed(
                    f"login to {self._where} as {settings.ami_username!r} failed: {protocol.close_reason}"
                )
            except AmiError as exc:
                return self._failed(f"login to {self._where} as {settings.ami_username!r} failed: {exc.message}")

            logged_in_at = loop.time()
            self._authenticated = True
            self._logins += 1
            self._connected_since = self._clock()
            self._last_error = None
            self._ready.set()
            log.info(
                "AMI logged in to %s as %r (Asterisk Call Manager %s)",
                self._where,
                settings.ami_username,
                protocol.version or "?",
            )
            resync = asyncio.create_task(self._resync(protocol), name=f"ami-on-connect {self._where}")
            reason = await self._keepalive(protocol)
            return self._failed(
                f"connection to {self._where} lost: {reason}", up_for_s=loop.time() - logged_in_at, last_error=reason
            )
        finally:
            self._authenticated = False
            self._ready.clear()
            self._connected_since = None
            if protocol is not None:
                protocol.abort(reason)  # pending actions fail now, none is kept for re-sending
            if resync is not None:
                await _cancel_and_wait(resync)
            if protocol is not None:
                self._protocol = None
                # wait until asyncio has really closed the socket (connection_lost has run)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_CLEANUP_TIMEOUT_S):
                        await asyncio.shield(protocol.lost)
            if logged_in_at is not None and self._on_disconnect is not None:
                try:
                    async with asyncio.timeout(_CLEANUP_TIMEOUT_S):
                        await self._on_disconnect(self, reason)
                except Exception:
                    self._hook_errors += 1
                    log.exception("AMI on_disconnect hook failed")

    def _failed(
        self, message: str, level: int = logging.WARNING, up_for_s: float = 0.0, last_error: str | None = None
    ) -> _Outcome:
        self._last_error = last_error or message
        return _Outcome(message, level, up_for_s)

    def _new_protocol(self) -> AmiProtocol:
        return AmiProtocol(self._on_event, self._filter, self._frame_stats, self._counters, self._clock)

    async def _login(self, protocol: AmiProtocol) -> None:
        """Log in; ``AmiAuthError`` on a wrong username or secret (the secret is only ever in the wire form)."""
        settings = self._settings
        action = {
            "Action": "Login",
            "Username": settings.ami_username,
            "Secret": settings.ami_secret.get_secret_value(),
            "Events": "on",
        }
        reply = await self._request(protocol, action, settings.ami_action_timeout_s, as_list=False)
        if reply.success:
            return
        text = str(reply.get("Message", "") or reply.get("Response", ""))
        if "authentication" in text.lower():
            raise AmiAuthError("authentication failed")
        raise AmiError(text or "login refused")

    async def _keepalive(self, protocol: AmiProtocol) -> str:
        """Ping every ``ami_ping_interval_s``; no Pong within ``ami_ping_timeout_s`` drops the connection."""
        settings = self._settings
        loop = asyncio.get_running_loop()
        while True:
            done, _ = await asyncio.wait({protocol.lost}, timeout=settings.ami_ping_interval_s)
            if done or protocol.closed:
                return protocol.close_reason or "connection closed"
            started = loop.time()
            try:
                await self._request(protocol, {"Action": "Ping"}, settings.ami_ping_timeout_s, as_list=False)
            except TimeoutError:
                # panoramisk's Ping never looks at the Pong: a peer that stopped answering went unnoticed
                reason = f"no Pong within {settings.ami_ping_timeout_s} s (Asterisk stopped answering)"
                protocol.abort(reason)
                return reason
            except AmiNotConnected:
                continue  # lost meanwhile: the wait above returns at once
            self._ping_rtt_s = loop.time() - started

    async def _resync(self, protocol: AmiProtocol) -> None:
        """Call ``on_connect`` once Asterisk is fully booted, and again if that only happens later."""
        settings = self._settings
        if not protocol.booted.is_set():
            try:
                async with asyncio.timeout(settings.ami_action_timeout_s):
                    await protocol.booted.wait()
            except TimeoutError:
                # Asterisk sends FullyBooted right after Login when it is up and the user may read "system"
                log.info(
                    "no FullyBooted from AMI at %s within %s s of login (still starting, or no read=system); "
                    "resyncing anyway",
                    self._where,
                    settings.ami_action_timeout_s,
                )
        await self._call_on_connect()
        if not protocol.booted.is_set():
            await protocol.booted.wait()
            log.info("AMI at %s reports FullyBooted; resyncing again", self._where)
            await self._call_on_connect()

    async def _call_on_connect(self) -> None:
        if self._on_connect is None:
            return
        try:
            await self._on_connect(self)
        except AmiNotConnected as exc:
            # the connection went while resyncing: the next login resyncs again, nothing to report twice
            log.info("AMI on_connect hook interrupted: %s", exc.message)
        except Exception:
            self._hook_errors += 1
            log.exception("AMI on_connect hook failed")


async def _cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel a child task and wait for it to end, even if we are cancelled meanwhile (then re-raise)."""
    task.cancel()
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _timestamp(value: object) -> float | None:
    """A ``Timestamp`` header as epoch seconds; None when missing or garbled."""
    try:
        ts = float(str(value))
    except (TypeError, ValueError):
        return None
    return ts if ts > 0 and ts == ts and ts != float("inf") else None
