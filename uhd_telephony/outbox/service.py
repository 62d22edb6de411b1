"""The outbox: ``enqueue`` writes a message in the caller's transaction; ``OutboxWorker`` sends what is due.

Why nothing is lost and nothing is sent twice on our side:

- the message row commits or rolls back with the change it reports (a ticket, a routing): no message about a
  change that did not happen, no change without its message;
- the worker claims due rows with one conditional UPDATE (PostgreSQL adds ``FOR UPDATE SKIP LOCKED``, SQLite
  has a single writer): two workers, in one process or on two hosts, never hold the same row;
- a claim is a lease (``claimed_until``): a worker that dies mid-send leaves a row that becomes due again when
  the lease ends, and is sent again with the same ids — the mail's Message-ID and the webhook's ``webhook-id``
  come from the row's ``dedupe_key``, so the receiver can drop the copy. Transport is at-least-once.

Failed sends retry with capped exponential backoff and jitter, every attempt logged; after
``outbox_max_attempts`` (or at once, for a permanent error) the row is ``failed`` and logged as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Insert, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import InvalidInput
from uhd_telephony.outbox.mail import Mailer, split_addresses
from uhd_telephony.outbox.models import OutboxChannel, OutboxStatus, outbox
from uhd_telephony.outbox.transport import SendError
from uhd_telephony.outbox.webhook import WebhookSender
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant

log = logging.getLogger(__name__)

# a mail text may name the configured public base URL like this; the worker fills it in when it sends, so a
# status link always points at the current UHD_PUBLIC_URL (and enqueue needs no settings)
PUBLIC_URL = "{public_url}"
# a mail body's key listing strings (a status-link token) to blank out of the stored row once it is done
REDACT = "redact"
REDACTED = "[redacted]"
MAX_KEY = 200
MAX_TARGET = 2000
MAX_SUBJECT = 300
MAX_ERROR = 1000
_PENDING, _SENDING = OutboxStatus.PENDING.value, OutboxStatus.SENDING.value
_LIVE = (_PENDING, _SENDING)

# (conn, tenant, url) -> the webhook's signing secret, or None when no group sends there
SecretLookup = Callable[[AsyncConnection, str, str], Awaitable[str | None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _one_line(value: str) -> str:
    # a header value with a line break is a header injection; a ticket subject may well contain one
    return " ".join(value.split())


def _check_body(channel: OutboxChannel, body: Any) -> None:
    if channel is OutboxChannel.MAIL:
        if isinstance(body, str):
            return
        if not isinstance(body, Mapping) or not isinstance(body.get("text"), str):
            raise InvalidInput('a mail body is text or {"text": ..., "html"?: ...}')
        if not isinstance(body.get("html", ""), str) or not isinstance(body.get(REDACT, []), list):
            raise InvalidInput('a mail body\'s "html" is text and its "redact" a list of strings')
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the outbox body is not JSON: {exc}") from None


def _insert(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
    if dialect == "sqlite":
        return sqlite.insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
    raise InvalidInput(f"no outbox insert for database dialect {dialect!r}")


@dataclass(frozen=True, slots=True)
class Message:
    """One message for ``enqueue_many``: ``enqueue``'s arguments."""

    tenant: str
    channel: Literal["mail", "webhook"]
    target: str
    subject: str | None
    body: dict[str, Any] | str
    dedupe_key: str
    ticket_id: int | None = None


async def enqueue(
    conn: AsyncConnection,
    *,
    tenant: str,
    channel: Literal["mail", "webhook"],
    target: str,
    subject: str | None,
    body: dict[str, Any] | str,
    dedupe_key: str,
    ticket_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Write one message to send in the caller's transaction; a second enqueue of ``dedupe_key`` does nothing.

    ``target``: comma-separated addresses (mail) or the URL (webhook; signed with the secret of the tenant's
    group that has this URL). ``body``: a mail's text or ``{"text", "html"?, "redact"?}``; a webhook's JSON.
    A mail text may contain ``{public_url}``, filled in from UHD_PUBLIC_URL when it is sent.
    """
    message = Message(tenant, channel, target, subject, body, dedupe_key, ticket_id)
    await conn.execute(_insert(conn.dialect.name).values(_row(message, now or _utc_now())))


async def enqueue_many(conn: AsyncConnection, messages: Sequence[Message], *, now: datetime | None = None) -> None:
    """``enqueue`` of many messages in one executemany (the SLA scanner's batch); each checked as ``enqueue``
    checks it, before anything is written."""
    at = now or _utc_now()
    rows = [_row(m, at) for m in messages]
    if rows:
        await conn.execute(_insert(conn.dialect.name), rows)


def _row(m: Message, at: datetime) -> dict[str, Any]:
    """The outbox row of the message ``m``, checked."""
    try:
        kind = OutboxChannel(m.channel)
    except ValueError:
        raise InvalidInput(f"unknown outbox channel {m.channel!r}", {"field": "channel"}) from None
    check_tenant(m.tenant)
    if not isinstance(m.dedupe_key, str) or not 0 < len(m.dedupe_key) <= MAX_KEY:
        raise InvalidInput(f"a dedupe key is 1..{MAX_KEY} characters", {"field": "dedupe_key"})
    target = m.target
    if not isinstance(target, str) or not target.strip() or len(target) > MAX_TARGET or "\n" in target:
        raise InvalidInput("an outbox target is one line of at most 2000 characters", {"field": "target"})
    if kind is OutboxChannel.WEBHOOK and not target.startswith(("https://", "http://")):
        raise InvalidInput(f"a webhook target is an http(s) URL, got {target[:80]!r}", {"field": "target"})
    _check_body(kind, m.body)
    return {
        "tenant": m.tenant,
        "channel": kind.value,
        "target": target.strip(),
        "subject": None if m.subject is None else _one_line(m.subject)[:MAX_SUBJECT],
        "body": m.body,
        "dedupe_key": m.dedupe_key,
        "ticket_id": m.ticket_id,
        "status": _PENDING,
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
    }


def backoff_s(attempt: int, *, min_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Wait before the next attempt after ``attempt`` failed ones: doubling from ``min_s``, capped at ``max_s``,
    between half and all of that (jitter: a relay that comes back is not hit by every row at once)."""
    cap = min(max_s, min_s * 2 ** max(0, min(attempt - 1, 60)))
    return cap / 2 + (rng or random).random() * cap / 2


def redacted(body: Any) -> Any:
    """The body to keep once a message is done: the strings listed under ``redact`` blanked out."""
    if not isinstance(body, Mapping) or not body.get(REDACT):
        return body
    secrets_ = [s for s in body[REDACT] if isinstance(s, str) and s]
    out = {k: v for k, v in body.items() if k != REDACT}
    for key, value in out.items():
        if isinstance(value, str):
            for secret in secrets_:
                value = value.replace(secret, REDACTED)
            out[key] = value
    return out


async def no_secret(conn: AsyncConnection, tenant: str, url: str) -> str | None:
    """The lookup of a worker told of none: webhooks go out unsigned."""
    return None


def first_secret(*lookups: SecretLookup) -> SecretLookup:
    """One lookup that asks ``lookups`` in turn (the support groups' webhooks, then the SLA contacts' ...) and
    answers with the first secret found. The capabilities that own webhook URLs hand theirs in (app/plugins.py)."""

    async def lookup(conn: AsyncConnection, tenant: str, url: str) -> str | None:
        for each in lookups:
            secret = await each(conn, tenant, url)
            if secret is not None:
                return secret
        return None

    return lookup


@dataclass(slots=True)
class OutboxStats:
    """What this worker did since it started, and the table's backlog as last counted."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    pending: int = 0
    sending: int = 0
    failed_total: int = 0
    last_error: str | None = None
    polling_ok: bool = True


class OutboxWorker:
    """Claims due outbox rows and sends them; one owned task, ``start()`` and ``close()``.

    ``mailer`` and ``webhooks`` default to ones built from ``settings`` (and owned here); ``secrets`` finds a
    webhook's signing key (the composition root chains the lookups of the capabilities that own webhook URLs;
    default: none, unsigned); ``clock`` is injectable.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        mailer: Mailer | None = None,
        webhooks: WebhookSender | None = None,
        secrets: SecretLookup | None = None,
        clock: Callable[[], datetime] = _utc_now,
        worker_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.mailer = mailer if mailer is not None else Mailer(settings)
        self._owns_webhooks = webhooks is None
        self.webhooks = webhooks if webhooks is not None else WebhookSender(timeout_s=settings.webhook_timeout_s)
        self.secrets = secrets or no_secret
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()
        self.stats = OutboxStats()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._started_at = 0.0

    # -- lifetime -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._started_at = time.monotonic()
        if self._owns_webhooks:
            await self.webhooks.start()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-worker-{self.worker_id}")

    async def close(self, grace_s: float = 5.0) -> None:
        """Finish the batch in hand (up to ``grace_s``), then stop; rows still claimed are resent after their lease."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(self._task, grace_s)
            except TimeoutError:
                log.warning("outbox worker %s stopped mid-batch: its claimed messages go out after their lease",
                            self.worker_id)  # fmt: skip
            except asyncio.CancelledError:
                if not self._task.cancelled():
                    raise
            self._task = None
        if self._owns_webhooks:
            await self.webhooks.close()
        s = self.stats
        log.info(
            "outbox worker %s shutdown: %d sent, %d retries, %d failed, %d pending, up %.0f s",
            self.worker_id, s.sent, s.retried, s.failed, s.pending, time.monotonic() - self._started_at,
        )  # fmt: skip

    def wake(self) -> None:
        """Look for due messages now instead of at the next poll (after a commit that enqueued some)."""
        self._wake.set()

    def health(self) -> dict[str, Any]:
        """The backlog as last counted, for the health endpoint."""
        s = self.stats
        running = self._task is not None and not self._task.done()
        return {
            "healthy": running and s.polling_ok,
            "pending": s.pending + s.sending,
            "failed": s.failed_total,
            "sent": s.sent,
            "last_error": s.last_error,
        }

    async def _run(self) -> None:
        poll = self.settings.outbox_poll_s
        while not self._stopping:
            self._wake.clear()
            handled = 0
            try:
                handled = await self.run_once()
                await self.count()
                self.stats.polling_ok = True
            except Exception as exc:  # the database may be away for a while: keep polling, say so once per poll
                self.stats.polling_ok = False
                self.stats.last_error = repr(exc)[:MAX_ERROR]
                log.warning("outbox worker %s: poll failed: %r", self.worker_id, exc)
            if handled >= self.settings.outbox_batch_size:
                continue  # more may be due: no pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    # -- one round ----------------------------------------------------------------------------------------------

    async def run_once(self, ids: Collection[int] | None = None) -> int:
        """Claim a batch of due messages, send them concurrently, record each outcome; the number handled.
        ``ids``: only these rows (a sender run for its own messages: the SLA's escalation test)."""
        rows = await self._claim(ids)
        if rows:
            # _deliver records every outcome itself and raises nothing but cancellation
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def count(self) -> None:
        """Refresh the backlog counts (pending, sending, failed) from the table."""
        stmt = (
            select(outbox.c.status, func.count())
            .where(outbox.c.status.in_([*_LIVE, OutboxStatus.FAILED.value]))
            .group_by(outbox.c.status)
        )
        async with self.db.engine.connect() as conn:
            counts = {status: n for status, n in (await conn.execute(stmt)).all()}
        self.stats.pending = counts.get(_PENDING, 0)
        self.stats.sending = counts.get(_SENDING, 0)
        self.stats.failed_total = counts.get(OutboxStatus.FAILED.value, 0)

    async def _claim(self, ids: Collection[int] | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        until = now + timedelta(seconds=self.settings.outbox_lease_s)
        async with self.db.engine.begin() as conn:
            due = (
                select(outbox.c.id)
                .where(outbox.c.status.in_(_LIVE), outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(self.settings.outbox_batch_size)
            )
            if ids is not None:
                due = due.where(outbox.c.id.in_(sorted(ids)))
            if conn.dialect.name == "postgresql":
                # rows another worker is claiming right now are skipped, not waited for (and never shared).
                # A MATERIALIZED CTE runs the LIMITed SELECT exactly once: as "id IN (subquery)" the planner may
                # turn it into a join that ignores the LIMIT and claims every due row at once.
                picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
                stmt = update(outbox).where(outbox.c.id == picked.c.id)
            else:
                # SQLite has one writer at a time: this UPDATE with its condition is the claim
                stmt = update(outbox).where(
                    outbox.c.id.in_(due.scalar_subquery()),
                    outbox.c.status.in_(_LIVE),
                    outbox.c.next_attempt_at <= now,
                )
            stmt = stmt.values(
                status=_SENDING,
                claimed_by=self.worker_id,
                claimed_until=until,
                next_attempt_at=until,
                attempts=outbox.c.attempts + 1,
            ).returning(*outbox.c)
            rows = [dict(row) for row in (await conn.execute(stmt)).mappings()]
        for row in rows:
            if row["attempts"] > 1 and row["last_error"] is None:
                log.warning("outbox %d (%s to %s): its earlier claim ran out without a result; sending again "
                            "with the same id", row["id"], row["channel"], row["target"])  # fmt: skip
        return sorted(rows, key=lambda r: r["id"])

    async def _deliver(self, row: dict[str, Any]) -> None:
        try:
            await self._send(row)
        except SendError as exc:
            await self._record(self._failure(row, exc))
            return
        except Exception as exc:  # a bug or an unexpected library error: treat it like a transient failure
            log.exception("outbox %d: unexpected error while sending", row["id"])
            await self._record(self._failure(row, SendError(repr(exc))))
            return
        await self._record(self._success(row))

    async def _send(self, row: dict[str, Any]) -> None:
        body = row["body"]
        if row["channel"] == OutboxChannel.MAIL.value:
            text = body if isinstance(body, str) else body["text"]
            html = None if isinstance(body, str) else body.get("html")
            base = self.settings.public_url
            await self.mailer.send(
                to=split_addresses(row["target"]),
                subject=row["subject"] or "",
                text=text.replace(PUBLIC_URL, base),
                html=None if html is None else html.replace(PUBLIC_URL, base),
                dedupe_key=row["dedupe_key"],
            )
            return
        async with self.db.engine.connect() as conn:
            secret = await self.secrets(conn, row["tenant"], row["target"])
        if not secret:
            raise SendError(f"no signing secret for webhook {row['target']} of tenant {row['tenant']!r}",
                            permanent=True)  # fmt: skip
        await self.webhooks.send(url=row["target"], body=body, msg_id=row["dedupe_key"], secret=secret)

    def _success(self, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        self.stats.sent += 1
        log.info("outbox %d: %s to %s sent (attempt %d)", row["id"], row["channel"], row["target"], row["attempts"])
        values = {
            "status": OutboxStatus.SENT.value,
            "sent_at": self.clock(),
            "claimed_by": None,
            "claimed_until": None,
            "last_error": None,
            "body": redacted(row["body"]),
        }
        return row, values

    def _failure(self, row: dict[str, Any], exc: SendError) -> tuple[dict[str, Any], dict[str, Any]]:
        attempts, limit = row["attempts"], self.settings.outbox_max_attempts
        error = str(exc)[:MAX_ERROR]
        self.stats.last_error = error
        common = {"claimed_by": None, "claimed_until": None, "last_error": error}
        if exc.permanent or attempts >= limit:
            self.stats.failed += 1
            why = "a permanent error" if exc.permanent else f"{attempts} attempts"
            log.error(
                "outbox %d: %s to %s (%s) FAILED after %s, giving up: %s",
                row["id"], row["channel"], row["target"], row["dedupe_key"], why, error,
            )  # fmt: skip
            return row, {**common, "status": OutboxStatus.FAILED.value, "body": redacted(row["body"])}
        self.stats.retried += 1
        delay = backoff_s(
            attempts, min_s=self.settings.outbox_retry_min_s, max_s=self.settings.outbox_retry_max_s, rng=self.rng
        )
        log.warning(
            "outbox %d: %s to %s, attempt %d of %d failed: %s; next attempt in %.1f s",
            row["id"], row["channel"], row["target"], attempts, limit, error, delay,
        )  # fmt: skip
        return row, {**common, "status": _PENDING, "next_attempt_at": self.clock() + timedelta(seconds=delay)}

    async def _record(self, outcome: tuple[dict[str, Any], dict[str, Any]]) -> None:
        row, values = outcome
        stmt = (
            update(outbox)
            # only while the claim is ours: a row whose lease ran out belongs to whoever claimed it next
            .where(outbox.c.id == row["id"], outbox.c.claimed_by == self.worker_id, outbox.c.status == _SENDING)
            .values(values)
        )
        try:
            async with self.db.engine.begin() as conn:
                done = (await conn.execute(stmt)).rowcount
        except Exception as exc:  # the row stays claimed and is sent again after its lease: logged, not lost
            log.warning("outbox %d: could not record the result (%r); it is retried after its lease", row["id"], exc)
            return
        if not done:
            log.warning("outbox %d: the claim ran out before the result was recorded; another worker has it",
                        row["id"])  # fmt: skip


__all__ = ["PUBLIC_URL", "REDACT", "OutboxWorker", "backoff_s", "enqueue", "redacted"]
