"""The endpoint the mail server delivers to: LMTP (Postfix's ``lmtp`` transport, a reply per recipient) or SMTP,
with aiosmtpd, in every process that serves the web (any of them may take a mail: the database decides once).

What each stage answers (the mail server bounces a 5xx, retries a 4xx, forgets a 250):

- MAIL from a client outside ``UHD_MAIL_IN_CLIENTS``: ``554 5.7.1`` (only the mail server delivers here);
- RCPT to an address that is no tenant's helpdesk address: ``550 5.1.1``; the database away: ``451 4.3.0``;
- DATA larger than ``UHD_MAIL_IN_MAX_MESSAGE_BYTES``: ``552`` (SIZE is announced, so a server knows before);
  a header block over 128 KiB ``552 5.3.4``, a structure nested past reading ``554 5.6.0``;
- an auto-reply or bounce (null sender, ``Auto-Submitted`` other than ``no``, ``Precedence`` bulk/junk/list/
  auto_reply, ``X-Autoreply``/``X-Autorespond``, a ``multipart/report``) or a mail from a helpdesk address itself
  (a loop): ``250``, dropped, logged and counted — never a ticket, never a reply to a machine;
- no usable From: address: ``550 5.7.1``, nothing written;
- a ticket, comment or note written, or the mail known already: ``250``; any failure while writing (the database
  briefly gone): ``451 4.3.0``, nothing written (one transaction), the mail server tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from uhd_telephony.mailin.addresses import MailAddresses
from uhd_telephony.mailin.intake import MailIntake
from uhd_telephony.mailin.message import Incoming, Unreadable, parse
from uhd_telephony.mailin.parts import Limits

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
LINE_LIMIT = 1024 * 1024  # RFC 5321 says 1,000 octets a line; HTML mails without line breaks go far beyond
CLOSE_GRACE_S = 10.0  # how long a shutdown waits for mails being written before it hangs up on them
IDENT = "uhd-telephony mail-in"


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply: the code and its text (ASCII, one line)."""

    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


RETRY = Reply(451, "4.3.0 temporarily unable to take the mail, nothing was recorded: try again later")
NO_SENDER = Reply(
    550, "5.7.1 no recognisable sender: the From header names no usable mail address; nothing was recorded"
)


class _Envelope(Envelope):
    """aiosmtpd's envelope plus the tenant of each accepted recipient (found at RCPT)."""

    def __init__(self) -> None:
        super().__init__()
        self.tenants: list[str] = []


class MailHandler:
    """aiosmtpd's handler: the checks of each stage, and the mail taken in per tenant (``MailIntake``)."""

    def __init__(
        self,
        intake: MailIntake,
        addresses: MailAddresses,
        *,
        limits: Limits,
        clients: tuple[IPv4Network | IPv6Network, ...],
    ) -> None:
        self.intake = intake
        self.addresses = addresses
        self.limits = limits
        self.clients = clients
        self.counts: Counter[str] = Counter()
        self.busy = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def allowed(self, peer: Any) -> bool:
        """Whether the client (the session's peer address) is one that may deliver."""
        try:
            address = ip_address(peer[0] if isinstance(peer, tuple) else peer)
        except (ValueError, TypeError, IndexError):
            return False
        if address.version == 6 and address.ipv4_mapped is not None:  # a dual-stack socket's IPv4 client
            address = address.ipv4_mapped
        return any(address in network for network in self.clients)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.allowed(session.peer):
            self.counts["refused_client"] += 1
            log.warning("mail-in: client %s is not allowed to deliver (UHD_MAIL_IN_CLIENTS)", session.peer)
            return "554 5.7.1 this client may not deliver mail here"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        try:
            tenant = await self.addresses.tenant_of(address)
        except Exception:
            log.exception("mail-in: recipient %s could not be checked", address)
            return str(RETRY)
        if tenant is None:
            self.counts["unknown_recipient"] += 1
            return "550 5.1.1 no such helpdesk address here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        if isinstance(envelope, _Envelope):
            envelope.tenants.append(tenant)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content if isinstance(envelope.original_content, bytes) else b""
        tenants = envelope.tenants if isinstance(envelope, _Envelope) else []
        self.busy += 1
        self.idle.clear()
        try:
            replies = await self.receive(raw, envelope.mail_from, tenants)
        finally:
            self.busy -= 1
            if not self.busy:
                self.idle.set()
        if isinstance(server, LMTP):  # one reply per accepted recipient, in their order
            return "\r\n".join(str(replies[t]) for t in tenants)
        return str(_together(list(replies.values())))

    async def receive(self, raw: bytes, envelope_sender: str | None, tenants: list[str]) -> dict[str, Reply]:
        """The reply for each tenant the mail is for (the same one for all when it is refused or dropped)."""
        self.counts["received"] += 1
        try:
            mail = await asyncio.to_thread(parse, raw, envelope_sender, self.limits)
        except Unreadable as exc:
            self.counts["rejected_unreadable"] += 1
            log.warning("mail-in: a mail of %d bytes refused: %s", len(raw), exc)
            return dict.fromkeys(tenants, Reply(exc.code, f"{exc.status} {exc}"))
        except Exception:
            log.exception("mail-in: a mail of %d bytes could not be read", len(raw))
            self.counts["failed"] += 1
            return dict.fromkeys(tenants, RETRY)
        refused = await self._screen(mail)
        if refused is not None:
            return dict.fromkeys(tenants, refused)
        return {tenant: await self._take(mail, tenant) for tenant in dict.fromkeys(tenants)}

    async def _screen(self, mail: Incoming) -> Reply | None:
        """The reply for a mail that makes no ticket anywhere (a machine's, no sender, a loop), else None."""
        reason = mail.automatic
        if reason is None and mail.sender is not None:
            try:
                looped = await self.addresses.any_of(mail.addresses) or self.intake.sent_from_address in mail.addresses
            except Exception:
                log.exception("mail-in: the sender of mail %s could not be checked", mail.message_id)
                self.counts["failed"] += 1
                return RETRY
            reason = "loop" if looped else None
        if reason is not None:
            self.counts[f"dropped_{reason}"] += 1
            log.info("mail-in: mail %s dropped (%s): no ticket", mail.message_id, reason)
            return Reply(250, f"2.0.0 automatic mail ({reason}) dropped: no ticket")
        if mail.sender is None:
            self.counts["rejected_no_sender"] += 1
            log.warning("mail-in: mail %s refused: no usable From address", mail.message_id)
            return NO_SENDER
        return None

    async def _take(self, mail: Incoming, tenant: str) -> Reply:
        try:
            outcome = await self.intake.take(mail, tenant)
        except Exception:
            self.counts["failed"] += 1
            log.exception("mail-in: mail %s for tenant %s not taken: the mail server will retry", mail.message_id,
                          tenant)  # fmt: skip
            return RETRY
        self.counts[outcome.kind] += 1
        if outcome.kind == "duplicate":
            return Reply(250, f"2.0.0 already received: {outcome.number}")
        if outcome.kind == "ticket":
            return Reply(250, f"2.0.0 ticket {outcome.number} opened")
        return Reply(250, f"2.0.0 added to ticket {outcome.number}" + (", reopened" if outcome.reopened else ""))


def _together(replies: list[Reply]) -> Reply:
    """SMTP's one reply for all recipients: a temporary failure wins (everything is retried; what was written is
    found again), then a refusal, else the first success."""
    for first_digit in (4, 5):
        for reply in replies:
            if reply.code // 100 == first_digit:
                return reply
    return replies[0] if replies else RETRY


class _Endpoint(asyncio.BaseProtocol):
    """What both protocols add to aiosmtpd's: long lines, the envelope with tenants, the listener told of each
    connection (it hangs up on them at shutdown)."""

    line_length_limit = LINE_LIMIT
    listener: MailListener

    def _create_envelope(self) -> Envelope:
        return _Envelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.listener.connections.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self.listener.connections.discard(self)


class _Lmtp(_Endpoint, LMTP):
    pass


class _Smtp(_Endpoint, SMTP):
    pass


class MailListener:
    """The server socket (a Worker of the process): started with the web, closed before it."""

    def __init__(self, handler: MailHandler, *, host: str, port: int, protocol: str, max_bytes: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.protocol = protocol
        self.max_bytes = max_bytes
        self.connections: set[_Endpoint] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        kind = _Lmtp if self.protocol == "lmtp" else _Smtp
        hostname = socket.gethostname()  # once: aiosmtpd would ask the resolver for every connection
        quiet = logging.getLogger("mail.log")  # aiosmtpd's own: a handful of INFO lines per connection
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)

        def endpoint() -> _Endpoint:
            made = kind(self.handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True, hostname=hostname,
                        ident=IDENT, loop=loop)  # fmt: skip
            made.listener = self
            return made

        self._server = await loop.create_server(endpoint, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("mail-in: %s on %s:%d", self.protocol.upper(), self.host, self.port)

    async def close(self) -> None:
        """Stop taking connections, let the mails being written finish (``CLOSE_GRACE_S``), hang up on the rest:
        a mail cut off is written not at all, and the mail server delivers it again."""
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.handler.idle.wait(), CLOSE_GRACE_S)
        sessions = [task for c in self.connections if (task := getattr(c, "_handler_coroutine", None)) is not None]
        for connection in list(self.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        if sessions:  # aiosmtpd's session tasks end once their connection is gone
            await asyncio.wait(sessions, timeout=CLOSE_GRACE_S)
        await self._server.wait_closed()
        self._server = None
        log.info("mail-in: closed (%s)", ", ".join(f"{k} {v}" for k, v in sorted(self.handler.counts.items())) or
                 "no mail")  # fmt: skip

    def health(self) -> dict[str, Any]:
        """``/healthz``'s ``mail_in``: where it listens and what it did with the mails since the start."""
        return {"listening": self._server is not None, "address": f"{self.host}:{self.port}",
                "protocol": self.protocol, "mails": dict(self.handler.counts)}  # fmt: skip
