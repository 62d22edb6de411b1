"""panoramisk's AMI protocol with our framing: bytes go to ``FrameDecoder``, events to one sync callback.

panoramisk 1.4 keeps what it is good at: ``Action`` serialisation, ``ActionID`` correlation and gathering
multi-message (``EventList``) replies. Everything else of its ``AMIProtocol`` is replaced here:

- ``data_received`` decodes each TCP chunk with ``errors="ignore"`` before framing (Latin-1 "Müller" becomes
  "Mller", a UTF-8 character split across reads is dropped): we feed the raw bytes to ``FrameDecoder``.
- a handler that raises kills ``data_received``, an async one leaves an orphan task: the owner's one sync
  callback is wrapped, its errors logged and counted; an awaitable it returns is closed and counted.
- ``Message.from_line`` gives one ``ChanVariable`` as ``str`` and several as ``list``, and the ``strip()``
  before it loses an empty last header: replies are parsed by ``to_message`` instead.
- ``close()`` queues unanswered actions in ``awaiting_actions`` and the ``Manager`` re-sends them after the
  next ``FullyBooted`` (an ``Originate`` could dial twice): here they fail with ``AmiNotConnected`` instead.
- an ``Event: Shutdown`` makes it call ``factory.connection_lost``: here it aborts the transport and the
  client's supervisor reconnects.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from uhd_telephony.ami.frames import EventFilter, Fields, Frame, FrameDecoder, FrameStats
from uhd_telephony.errors import AmiError, AmiNotConnected

log = logging.getLogger(__name__)

EventCallback = Callable[[Fields, float], object]

# the events the client itself acts on, whatever the owner's filter says
CONTROL_EVENTS = frozenset({"FullyBooted", "Shutdown"})
_ERROR_RESPONSES = frozenset({"Error", "Fail", "Failure"})
_BODY_RESPONSES = ("Response: Follows", "Response: Fail")
_CALLBACK_LOG_INTERVAL_S = 1.0


class AmiAction(Action):
    """panoramisk's ``Action``: its repr never shows the ``Secret``, its wire form always ends lines in CRLF."""

    def __str__(self) -> str:
        # panoramisk joins with utils.EOL, which panoramisk.testing rewrites to "\n" for the whole process
        lines = []
        for key, value in sorted(self.items()):
            for item in value if isinstance(value, list | tuple) else (value,):
                lines.append(f"{key}: {item}\r\n")
        return "".join(lines) + "\r\n"

    def __repr__(self) -> str:
        shown = " ".join(
            f"{key}={'***' if key.lower() == 'secret' else value!r}" for key, value in sorted(self.items())
        )
        return f"<AmiAction {shown}>"


def default_as_list(action: Mapping[str, Any]) -> bool | None:
    """Whether to collect a multi-message reply, where panoramisk's own guess would fail.

    panoramisk's ``Action.multi`` reads ``self['async']`` unguarded when a reply says "successfully queued":
    a synchronous ``Originate`` (no ``Async`` header) raises ``KeyError`` there. An async one is answered by
    the response plus one ``OriginateResponse`` event, which is worth collecting.
    """
    name = str(action.get("Action", "")).lower()
    if name == "queueadd":
        # "Added interface to queue" matches panoramisk's list-start guess, yet it is the only reply
        return False
    if name == "originate":
        return str(action.get("Async", "false")).lower() in ("true", "yes", "1")
    return None


def to_message(text: str) -> Message | None:
    """A panoramisk ``Message`` for one decoded frame (what ``Message.from_line`` does, minus its quirks).

    ``from_line`` makes a header seen once a ``str`` and seen several times a ``list`` (``ChanVariable``);
    here every value is one ``str``, repeated headers joined by newlines as ``FrameDecoder`` does for events
    (``events.chan_vars`` splits them). A header whose empty value lost its trailing space (``Key:``) is
    kept with the value ``""``. Lines end in CRLF whatever ``panoramisk.utils.EOL`` says.
    """
    lines = text.split("\r\n")
    content = ""
    if lines[0].startswith(_BODY_RESPONSES):
        # the body of a Follows/Fail response is its last non-empty line, as in panoramisk
        content = lines.pop()
        while not content and lines:
            content = lines.pop()
    headers: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            if len(line) < 2 or not line.endswith(":"):
                continue
            key, value = line[:-1], ""
        if key.lower() in Message.quoted_keys:
            value = unquote(value).strip()
        headers[key] = headers[key] + "\n" + value if key in headers else value
    if "Event" not in headers and "Response" not in headers:
        return None
    return Message(headers, content)


def message_fields(message: Mapping[str, Any]) -> dict[str, str]:
    """A plain ``dict[str, str]`` of a message's headers.

    panoramisk stores a ``Response: Follows`` body as a ``content`` key of every message; an empty one is
    left out.
    """
    return {str(key): str(value) for key, value in message.items() if not (key == "content" and not value)}


class _WithControlEvents(EventFilter):
    """The owner's filter plus FullyBooted and Shutdown, which the client needs whatever the owner reads.

    One table of both (not the owner's filter asked after ours): the decoder looks each frame up once.
    """

    __slots__ = ()

    def __init__(self, inner: EventFilter) -> None:
        super().__init__(CONTROL_EVENTS)
        self._lines = {**inner.lines, **self._lines}
        self.names_of = {**inner.names_of, **self.names_of}
        self.hot = inner.hot


@dataclass(slots=True)
class LinkCounters:
    """What the protocol counts besides frames; one instance is shared by every connection of a client."""

    callback_errors: int = 0
    unmatched_responses: int = 0
    last_event_at: float | None = None


class AmiProtocol(AMIProtocol):
    """One AMI connection: our framing in, panoramisk's action bookkeeping for responses, no reconnect logic.

    Created by ``loop.create_connection`` (inside the running loop, as panoramisk objects must be).
    ``lost`` resolves when the connection is gone; ``booted`` is set on ``FullyBooted``.
    """

    def __init__(
        self,
        on_event: EventCallback,
        event_filter: EventFilter | None = None,
        frame_stats: FrameStats | None = None,
        counters: LinkCounters | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_event = on_event
        self._forward_control = frozenset(
            name for name in CONTROL_EVENTS if event_filter is None or name in event_filter.names()
        )
        wanted = _WithControlEvents(event_filter) if event_filter is not None else None
        self.responses: dict[str, Action] = {}
        self.decoder = FrameDecoder(self._event, self._response, wanted, awaiting=self.responses)
        if frame_stats is not None:
            self.decoder.stats = frame_stats  # counters survive reconnects; the partial-frame buffer does not
        self.counters = counters if counters is not None else LinkCounters()
        self._clock = clock
        self._received_at = 0.0
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.booted = asyncio.Event()
        self.close_reason: str | None = None
        self.closed = True  # until connection_made
        self.transport: asyncio.Transport | None = None
        self.version: str | None = None
        self._last_callback_log = float("-inf")
        self._callback_errors_unlogged = 0

    # --- asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        responses = self.responses
        super().connection_made(transport)
        self.responses = responses  # the decoder watches this dict (awaiting); panoramisk would make a new one
        self.log = log
        # panoramisk writes actions as ASCII by default: a caller name with "ü" in an Originate would fail
        self.encoding = "utf-8"

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        # the frames of one read arrived together: one receive time for all of them
        self._received_at = self._clock()
        try:
            self.decoder.feed(data)
        except Exception:  # a decoder bug: the stream position is unknown, start over on a new connection
            log.exception("AMI frame decoder failed; dropping the connection")
            self.abort("frame decoder failure")
            return
        if self.version is None and self.decoder.banner:
            self.version = self.decoder.banner.partition("/")[2].strip() or None

    def connection_lost(self, exc: Exception | None) -> None:
        # not super(): it would call the Manager's connection_lost, which schedules a reconnect
        self.closed = True
        if self.close_reason is None:
            self.close_reason = f"connection lost: {exc}" if exc else "connection closed by Asterisk"
        self._fail_pending()
        if not self.lost.done():
            self.lost.set_result(exc)

    # --- actions ------------------------------------------------------------------------------------------
    def send(self, data: Mapping[str, Any], as_list: bool | None = None) -> asyncio.Future[Any]:
        """Write one action; the returned future gets its ``Message`` (or list of them for ``as_list``)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise AmiNotConnected("no AMI connection", details={"action": str(data.get("Action", ""))})
        action = data if isinstance(data, Action) else AmiAction(data)
        if as_list is None:
            as_list = default_as_list(action)
        future: asyncio.Future[Any] = super().send(action, as_list=as_list)
        return future

    def forget(self, action: Action) -> None:
        """Stop waiting for an action's reply (answered, timed out or cancelled)."""
        self.responses.pop(action.id, None)
        if action.action_id:
            self.responses.pop(action.action_id, None)

    def handle_message(self, message: Message) -> None:
        action = self.responses.get(message.id) if message.id else None
        if action is None and message.action_id:
            action = self.responses.get(message.action_id)
        if action is None:
            # panoramisk would dispatch it as an event through its Manager; here it is a late reply
            self.counters.unmatched_responses += 1
            log.debug("AMI reply for no pending action (ActionID %s): answered after its timeout?", message.action_id)
            return
        try:
            if message.response in _ERROR_RESPONSES and not action.responses:
                # for an as_list action panoramisk waits for a list end that never follows an error
                action.responses.append(message)
                if not action.future.done():
                    action.future.set_result(message)
            else:
                action.add_message(message)
        except Exception as exc:  # panoramisk's reply heuristics choked (e.g. a repeated Message header)
            log.warning("AMI reply to %s could not be interpreted: %r", action.get("Action", "?"), exc)
            if not action.future.done():
                action.future.set_exception(
                    AmiError("unreadable AMI reply", details={"action": str(action.get("Action", ""))})
                )
        if action.future.done():
            self.forget(action)

    def _fail_pending(self) -> None:
        """Fail every unanswered action; panoramisk would keep them to re-send after a reconnect."""
        pending = {id(action): action for action in self.responses.values()}
        self.responses.clear()
        for action in pending.values():
            if not action.future.done():
                name = str(action.get("Action", ""))
                action.future.set_exception(
                    AmiNotConnected(
                        f"AMI connection lost before {name} was answered; it was not re-sent",
                        details={"action": name, "reason": self.close_reason or "closed"},
                    )
                )

    # --- closing ------------------------------------------------------------------------------------------
    def close(self, reason: str = "closed by the client") -> None:
        """Close gracefully (flushes what is written); pending actions fail now."""
        self._shut(reason, abort=False)

    def abort(self, reason: str) -> None:
        """Drop the connection at once, without flushing: for a peer that stopped reading or answering."""
        self._shut(reason, abort=True)

    def _shut(self, reason: str, abort: bool) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._fail_pending()
        if self.closed and (self.transport is None or self.transport.is_closing()):
            return
        self.closed = True
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    # --- frames from the decoder --------------------------------------------------------------------------
    def _event(self, frame: Frame) -> None:
        if self.closed:
            return  # frames behind a Shutdown in the same read
        now = self._received_at
        self.counters.last_event_at = now
        name = frame.name
        if name not in CONTROL_EVENTS:
            # _deliver, inline: this runs for every event the filter keeps
            try:
                result = self._on_event(frame, now)
            except Exception as exc:
                self._callback_failed(frame, exc)
                return
            if result is not None:
                self._not_sync(frame, result)
            return
        if name == "FullyBooted":
            self.booted.set()
        if name in self._forward_control:
            self._deliver(frame, now)
        if name == "Shutdown":
            # Asterisk is stopping or restarting and closes the socket right after; treat it as a
            # disconnect now rather than write actions into a dying session
            restart = frame.get("Restart", "")
            log.warning("Asterisk is shutting down (%s, restart %s)", frame.get("Shutdown", "?"), restart)
            self.abort(f"Asterisk shut down (restart: {restart or 'unknown'})")

    def _deliver(self, fields: Fields, received_at: float) -> None:
        try:
            result = self._on_event(fields, received_at)
        except Exception as exc:
            self._callback_failed(fields, exc)
            return
        if result is not None:
            self._not_sync(fields, result)

    def _not_sync(self, fields: Fields, result: object) -> None:
        if inspect.isawaitable(result):
            # an async handler would leave an orphan task per event (panoramisk's dispatch does that)
            if inspect.iscoroutine(result):
                result.close()
            self._callback_failed(fields, TypeError("on_event returned an awaitable; it must be synchronous"))

    def _callback_failed(self, fields: Fields, exc: Exception) -> None:
        self.counters.callback_errors += 1
        self._callback_errors_unlogged += 1
        now = time.monotonic()
        if now - self._last_callback_log < _CALLBACK_LOG_INTERVAL_S:
            return  # a broken handler fails for every event: one line a second is enough
        log.error(
            "AMI on_event callback failed on a %s event (%d failures not logged before this one, %d in all)",
            fields.get("Event", "?"),
            self._callback_errors_unlogged - 1,
            self.counters.callback_errors,
            exc_info=exc,
        )
        self._last_callback_log = now
        self._callback_errors_unlogged = 0

    def _response(self, text: str) -> None:
        try:
            message = to_message(text)
            if message is None:
                self.decoder.stats.malformed += 1
                return
            self.handle_message(message)
        except Exception:  # never let one odd reply kill data_received
            log.exception("AMI reply could not be handled")
