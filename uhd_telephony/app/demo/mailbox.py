"""Where the demo's mail goes: a directory of ``.eml`` files instead of an SMTP relay.

The outbox worker hands every message to ``MailSink.send`` exactly as it would to the SMTP ``Mailer`` — caller
mails with status links, work orders, SLA escalations — and the sink writes it as the relay would have received
it (same headers, same Message-ID), one file per message, named in the order sent. Open one in any mail client,
or read it as text. Nothing leaves the machine, and no failed SMTP attempt is logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from uhd_telephony.outbox.mail import MAX_RECIPIENTS, Mailer, build_message, message_id, valid_address
from uhd_telephony.outbox.transport import SendError
from uhd_telephony.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NUMBERED = re.compile(r"(\d+)-")  # the number a file name starts with


class MailSink(Mailer):
    """A ``Mailer`` that writes each message to ``directory`` (made if missing) as ``NNNNN-<subject>.eml``."""

    def __init__(self, settings: Settings, directory: str | Path) -> None:
        super().__init__(settings)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        # a restarted demo goes on numbering after the highest file there (not after their count: with one deleted
        # by hand, the count names a file that exists, and the rename below would replace it without a word)
        self.sent = max((int(m[1]) for p in self.directory.glob("*.eml") if (m := _NUMBERED.match(p.name))), default=0)
        self._lock = asyncio.Lock()

    async def send(self, *, to: Sequence[str], subject: str, text: str, html: str | None, dedupe_key: str) -> None:
        recipients = [a for a in to if valid_address(a)]
        if not recipients or len(recipients) != len(to) or len(recipients) > MAX_RECIPIENTS:
            raise SendError(f"no usable recipient list: {', '.join(to)!r}", permanent=True)
        msg = build_message(
            sender=self.sender, to=recipients, subject=subject, text=text, html=html,
            msg_id=message_id(dedupe_key, self.sender),
        )  # fmt: skip
        async with self._lock:  # the worker sends a batch concurrently: one number per file
            name = f"{self.sent + 1:05d}-{_UNSAFE.sub('-', subject).strip('-')[:60] or 'mail'}.eml"
            path = self.directory / name
            try:
                await asyncio.to_thread(_write_whole, path, msg.as_bytes())
            except OSError as exc:
                raise SendError(f"demo mail directory {self.directory}: {exc}") from exc
            self.sent += 1  # only a mail written takes its number (and counts in the closing summary)
        log.debug("demo mail to %s written to %s", ", ".join(recipients), path)


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` so that a reader never sees it half-written: a hidden temporary file, then a rename."""
    partial = path.with_name(f".{path.name}.part")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)  # a disk that filled up keeps no half-written leftovers
        raise
