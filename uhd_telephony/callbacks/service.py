"""The callback list: entries from ended calls, cleared when the caller calls again, dialled once by one agent.

The guard against dialling twice is the database, not the process: ``claim`` is one conditional UPDATE
(``open`` → ``dialing`` WHERE status is still ``open``), so of two agents, two clicks or two service instances
exactly one wins; the others get ``Conflict``. The Originate is then sent once through ``AmiClient``, which
never re-sends an action after a reconnect.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from uhd_telephony.accounts.service import AccountView
from uhd_telephony.ami.client import AmiClient
from uhd_telephony.ami.events import caller_id
from uhd_telephony.ami.names import VAR_USER_ID
from uhd_telephony.callbacks.models import Callback, ClearReason, Status
from uhd_telephony.callbacks.originate import REPLY_MARGIN_S, dialable, originate_action, originate_failure
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.directory.numbers import normalise
from uhd_telephony.errors import AmiError, Conflict, Forbidden, InvalidInput, NotFound
from uhd_telephony.i18n import Label, Msg, Quoted
from uhd_telephony.store.db import Database, insert_or_nothing
from uhd_telephony.store.models import table_of

log = logging.getLogger(__name__)

# outcomes where the dialplan's overflow branch may have asked for a callback (CALLBACK_REQUESTED)
CALLBACK_OUTCOMES = frozenset({Outcome.TIMEOUT, Outcome.CALLBACK, Outcome.OVERFLOW})
# every outcome on_call_ended may queue an entry for (the rest never get one): what a catch-up needs to look at
ENTRY_OUTCOMES = CALLBACK_OUTCOMES | {Outcome.ABANDONED}


@dataclass(frozen=True, slots=True)
class CallbackView:
    """One callback entry as the API and the agent console see it."""

    id: int
    tenant: str
    call_id: str
    linkedid: str
    caller_number: str
    caller_name: str
    user_id: int | None
    queue: str
    abandoned_at: datetime
    wait_s: float | None
    status: str
    cleared_reason: str | None
    claimed_by: int | None
    claimed_at: datetime | None
    attempts: int
    last_attempt_at: datetime | None
    done_at: datetime | None
    note: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Callback) -> CallbackView:
        return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the API: datetimes as ISO 8601 UTC."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = _iso(value) if isinstance(value, datetime) else value
        return out


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def same_caller(a: str, b: str) -> bool:
    """Whether two caller IDs are the same phone: ``0231 9860572``, ``+492319860572`` and ``0049…`` agree."""
    key_a, key_b = normalise(a), normalise(b)
    if key_a is not None and key_b is not None:
        return key_a == key_b
    # a number phonenumbers does not call valid (test ranges, odd trunks): compare the digits it dials
    digits_a, digits_b = dialable(a), dialable(b)
    return digits_a is not None and digits_a == digits_b


def user_id_of(call: CallRecord) -> tuple[bool, int | None]:
    """Whether the AGI lookup identified the caller (``UHD_USER_ID`` set), and the id when it is an integer."""
    raw = (call.variables.get(VAR_USER_ID) or "").strip()
    if not raw:
        return False, None
    try:
        return True, int(raw)
    except ValueError:
        log.warning("call %s: UHD_USER_ID %r is not an integer id; entry kept without it", call.call_id, raw[:64])
        return True, None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CallbackService:
    """The tenants' callback lists in the database; ``clock`` is injected for tests of expiry."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.db = db
        self.clock = clock

    # --- from the call tracker's domain events ------------------------------------------------------------
    async def on_call_ended(self, call: CallRecord, *, user_id: int | None = None) -> CallbackView | None:
        """Queue an entry for an abandoned call of a known caller or a requested callback; idempotent on call_id.

        Short abandons never get one (the tracker classified them by threshold). An abandon needs an identified
        caller (``user_id`` or the AGI's ``UHD_USER_ID``); a timeout/overflow needs the caller's callback request.
        Either way there must be a number to dial.
        """
        identified, var_user_id = user_id_of(call)
        if user_id is not None:
            identified = True
        if call.outcome == Outcome.ABANDONED:
            wanted = identified
        elif call.outcome in CALLBACK_OUTCOMES:
            wanted = call.callback_requested or call.outcome == Outcome.CALLBACK
        else:
            wanted = False
        if not wanted:
            return None
        if dialable(call.caller_number) is None:
            log.info("call %s: no number to call back (%r), no callback entry", call.call_id, call.caller_number)
            return None
        ended = call.ended_at if call.ended_at is not None else call.entered_at
        row = Callback(
            tenant=call.tenant,
            call_id=call.call_id,
            linkedid=call.linkedid,
            caller_number=call.caller_number.strip()[:64],
            caller_name=(call.caller_name or "").strip()[:200],
            user_id=user_id if user_id is not None else var_user_id,
            queue=call.queue,
            abandoned_at=datetime.fromtimestamp(ended, UTC),
            wait_s=call.wait_s,
            status=Status.OPEN.value,
            attempts=0,
        )
        async with self.db.sessionmaker() as session:
            existing = await session.scalar(select(Callback).where(Callback.call_id == call.call_id))
            if existing is not None:
                return CallbackView.of(existing)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                # another instance (or a replay) inserted the same call between our SELECT and INSERT
                await session.rollback()
                existing = await session.scalar(select(Callback).where(Callback.call_id == call.call_id))
                if existing is None:
                    raise
                return CallbackView.of(existing)
            view = CallbackView.of(await self._row(session, call.tenant, row.id))
        log.info("callback %d queued for tenant %s: call %s (%s)", view.id, view.tenant, call.call_id, call.outcome)
        return view

    async def on_call_offered(self, call: CallRecord) -> list[CallbackView]:
        """The caller calls again: that tenant's open entries for the same number are cleared."""
        if dialable(call.caller_number) is None:
            return []
        offered_at = datetime.fromtimestamp(call.entered_at, UTC)
        async with self.db.sessionmaker() as session:
            rows = await session.scalars(
                select(Callback).where(
                    Callback.tenant == call.tenant,
                    Callback.status == Status.OPEN.value,
                    # a replayed or late CallOffered must not clear the entry its own earlier call created later
                    Callback.abandoned_at <= offered_at,
                    Callback.call_id != call.call_id,
                )
            )
            ids = [r.id for r in rows if same_caller(r.caller_number, call.caller_number)]
            if not ids:
                return []
            now = self.clock()
            await session.execute(
                update(Callback)
                .where(Callback.id.in_(ids), Callback.status == Status.OPEN.value)
                .values(
                    status=Status.CLEARED.value,
                    cleared_reason=ClearReason.CALLER_CALLED_AGAIN.value,
                    done_at=now,
                    note=f"caller called again (call {call.call_id})"[:500],
                )
            )
            await session.commit()
            cleared = await session.scalars(
                select(Callback)
                .where(Callback.id.in_(ids), Callback.cleared_reason == ClearReason.CALLER_CALLED_AGAIN.value)
                .execution_options(populate_existing=True)
            )
            views = [CallbackView.of(r) for r in cleared]
        for view in views:
            log.info("callback %d of tenant %s cleared: the caller called again", view.id, view.tenant)
        return views

    # --- reading ------------------------------------------------------------------------------------------
    async def list_open(self, tenant: str, *, limit: int = 500) -> list[CallbackView]:
        """The tenant's open entries, oldest abandon first."""
        async with self.db.sessionmaker() as session:
            rows = await session.scalars(
                select(Callback)
                .where(Callback.tenant == tenant, Callback.status == Status.OPEN.value)
                .order_by(Callback.abandoned_at, Callback.id)
                .limit(limit)
            )
            return [CallbackView.of(r) for r in rows]

    async def get(self, tenant: str, callback_id: int) -> CallbackView:
        """One entry of ``tenant``; ``NotFound`` for an unknown id and for another tenant's."""
        async with self.db.sessionmaker() as session:
            return CallbackView.of(await self._row(session, tenant, callback_id))

    @staticmethod
    async def _row(session: AsyncSession, tenant: str, callback_id: int) -> Callback:
        row = await session.scalar(
            select(Callback)
            .where(Callback.id == callback_id, Callback.tenant == tenant)
            .execution_options(populate_existing=True)
        )
        if row is None:
            # the same answer for "no such id" and "another tenant's id": nothing leaks across tenants
            raise NotFound(Msg("no callback %(id)s", id=callback_id), {"callback_id": callback_id})
        return row

    # --- acting on an entry -------------------------------------------------------------------------------
    async def claim(self, tenant: str, callback_id: int, account_id: int) -> CallbackView:
        """Take an open entry for dialling (open → dialing), atomically; ``Conflict`` when someone was faster."""
        now = self.clock()
        async with self.db.sessionmaker() as session:
            try:
                won = await self._transition(
                    session,
                    tenant,
                    callback_id,
                    Status.OPEN,
                    status=Status.DIALING.value,
                    claimed_by=account_id,
                    claimed_at=now,
                )
                await session.commit()
            except IntegrityError:  # claimed_by must name an account
                raise NotFound(Msg("no account %(id)s", id=account_id), {"account_id": account_id}) from None
            row = await self._row(session, tenant, callback_id)
            if not won:
                taken = Msg(
                    "callback %(id)s is %(status)s, not open",
                    id=callback_id,
                    status=Label("callback_status", row.status),
                )
                raise Conflict(taken, {"callback_id": callback_id, "status": row.status, "claimed_by": row.claimed_by})
            view = CallbackView.of(row)
        log.info("callback %d of tenant %s claimed by account %d", callback_id, tenant, account_id)
        return view

    @staticmethod
    async def _transition(
        session: AsyncSession,
        tenant: str,
        callback_id: int,
        expected: Status,
        *,
        holder: int | None = None,
        **values: Any,
    ) -> bool:
        """One conditional UPDATE from ``expected`` (and, given ``holder``, that agent's claim); True if it hit."""
        stmt = update(Callback).where(
            Callback.id == callback_id, Callback.tenant == tenant, Callback.status == expected.value
        )
        if holder is not None:
            # release_stale() may have reopened the entry and another agent claimed it meanwhile
            stmt = stmt.where(Callback.claimed_by == holder)
        result = await session.execute(stmt.values(**values))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def dial(
        self,
        tenant: str,
        callback_id: int,
        account: AccountView,
        ami: AmiClient,
        *,
        context: str = "from-internal",
        timeout_s: float = 30,
    ) -> CallbackView:
        """Claim the entry and send ONE Originate: the agent's phone rings, then the dialplan dials the caller.

        Done once Asterisk reports the agent's leg answered (OriginateResponse Success); on any AMI failure the
        entry is open again with ``attempts`` counted and the error in ``note``, and the error is raised.
        """
        if not account.active or not account.serves(tenant):
            raise Forbidden(
                Msg(
                    "account %(username)s does not work for tenant %(tenant)s", username=account.username, tenant=tenant
                ),
                {"tenant": tenant},
            )
        channel = account.phone_channel
        if not channel:
            raise InvalidInput(
                Msg("account %(username)s has no phone to ring", username=account.username), {"field": "phone_channel"}
            )
        entry = await self.get(tenant, callback_id)
        exten = dialable(entry.caller_number)
        if exten is None:
            raise InvalidInput(
                Msg("callback %(id)s has no number to dial", id=callback_id), {"callback_id": callback_id}
            )
        await self.claim(tenant, callback_id, account.id)
        action = originate_action(
            channel=channel,
            context=context,
            exten=exten,
            caller_name=entry.caller_name,
            callback_id=callback_id,
            tenant=tenant,
            timeout_s=timeout_s,
        )
        # a cancellation from here on leaves the entry "dialing": the Originate may be ringing a phone right now,
        # and a second agent must not start another; release_stale() reopens it later
        try:
            reply = await ami.send_action(action, timeout=timeout_s + REPLY_MARGIN_S)
        except AmiError as exc:
            await self._failed(tenant, callback_id, account, f"Originate failed: {exc.message}")
            raise
        result = originate_failure(reply)
        if result is not None:
            await self._failed(tenant, callback_id, account, f"agent phone {channel} {result}")
            failed = Msg(
                "callback %(id)s: the phone %(channel)s %(result)s", id=callback_id, channel=channel, result=result
            )
            raise AmiError(failed, {"callback_id": callback_id, "channel": channel})
        return await self._finish(
            tenant, callback_id, Status.DIALING, Status.DONE, ClearReason.CALLED_BACK, account.id, attempt=True
        )

    async def _failed(self, tenant: str, callback_id: int, account: AccountView, note: str) -> None:
        """The attempt failed: the entry is open again for anyone, the attempt counted and explained."""
        now = self.clock()
        async with self.db.sessionmaker() as session:
            moved = await self._transition(
                session,
                tenant,
                callback_id,
                Status.DIALING,
                holder=account.id,
                status=Status.OPEN.value,
                claimed_by=None,
                claimed_at=None,
                attempts=Callback.attempts + 1,
                last_attempt_at=now,
                note=f"{account.username}: {note}"[:1000],
            )
            await session.commit()
        log.warning("callback %d of tenant %s: attempt by %s failed: %s", callback_id, tenant, account.username, note)
        if not moved:
            log.warning("callback %d was no longer dialing when its attempt failed", callback_id)

    async def _finish(
        self,
        tenant: str,
        callback_id: int,
        expected: Status,
        status: Status,
        reason: ClearReason,
        account_id: int | None,
        *,
        attempt: bool,
    ) -> CallbackView:
        """Close an entry that is in ``expected`` (done or cleared); ``Conflict`` when it no longer is."""
        now = self.clock()
        values: dict[str, Any] = {"status": status.value, "cleared_reason": reason.value, "done_at": now}
        if account_id is not None and expected == Status.OPEN:
            # closed by hand: claimed_by names who handled the entry, as it does after a dial
            values.update(claimed_by=account_id, claimed_at=now)
        if attempt:
            values.update(attempts=Callback.attempts + 1, last_attempt_at=now, note=None)
        async with self.db.sessionmaker() as session:
            try:
                holder = account_id if expected == Status.DIALING else None
                won = await self._transition(session, tenant, callback_id, expected, holder=holder, **values)
                await session.commit()
            except IntegrityError:  # claimed_by must name an account
                raise NotFound(Msg("no account %(id)s", id=account_id), {"account_id": account_id}) from None
            row = await self._row(session, tenant, callback_id)
            if not won:
                moved = Msg(
                    "callback %(id)s is %(status)s, not %(expected)s",
                    id=callback_id,
                    status=Label("callback_status", row.status),
                    expected=Label("callback_status", expected.value),
                )
                raise Conflict(moved, {"callback_id": callback_id, "status": row.status})
            view = CallbackView.of(row)
        log.info("callback %d of tenant %s %s (%s)", callback_id, tenant, status, reason)
        return view

    async def clear(
        self, tenant: str, callback_id: int, reason: str | ClearReason, account_id: int | None
    ) -> CallbackView:
        """Take an open entry off the list by hand; ``called_back`` (from a desk phone) makes it done."""
        try:
            why = ClearReason(reason)
        except ValueError:
            raise InvalidInput(
                Msg("unknown reason %(reason)s", reason=Quoted(reason, 40)), {"field": "reason"}
            ) from None
        status = Status.DONE if why == ClearReason.CALLED_BACK else Status.CLEARED
        return await self._finish(tenant, callback_id, Status.OPEN, status, why, account_id, attempt=False)

    # --- housekeeping -------------------------------------------------------------------------------------
    async def expire(self, older_than: timedelta, tenant: str | None = None) -> int:
        """Clear open entries abandoned longer ago than ``older_than`` (reason ``expired``); how many."""
        now = self.clock()
        stmt = update(Callback).where(Callback.status == Status.OPEN.value, Callback.abandoned_at < now - older_than)
        if tenant is not None:
            stmt = stmt.where(Callback.tenant == tenant)
        async with self.db.sessionmaker() as session:
            result = await session.execute(
                stmt.values(status=Status.CLEARED.value, cleared_reason=ClearReason.EXPIRED.value, done_at=now)
            )
            await session.commit()
        count = int(result.rowcount)  # type: ignore[attr-defined]
        if count:
            log.info("%d callback entries expired", count)
        return count

    async def release_stale(self, older_than: timedelta = timedelta(minutes=5)) -> int:
        """Reopen entries stuck in ``dialing`` (a dial cancelled or a process gone mid-Originate); how many."""
        now = self.clock()
        async with self.db.sessionmaker() as session:
            result = await session.execute(
                update(Callback)
                .where(Callback.status == Status.DIALING.value, Callback.claimed_at < now - older_than)
                .values(
                    status=Status.OPEN.value,
                    claimed_by=None,
                    claimed_at=None,
                    attempts=Callback.attempts + 1,
                    last_attempt_at=now,
                    note="the dial attempt did not report back; reopened",
                )
            )
            await session.commit()
        count = int(result.rowcount)  # type: ignore[attr-defined]
        if count:
            log.warning("%d callback entries stuck in dialing were reopened", count)
        return count


def _insert_once(dialect: str) -> Insert:
    """An insert into ``callbacks`` that skips an entry whose ``call_id`` is there already."""
    table = table_of(Callback)
    return insert_or_nothing(dialect, table, [table.c.call_id])


async def request_callback(
    conn: AsyncConnection,
    *,
    key: str,
    tenant: str,
    number: str,
    name: str,
    user_id: int | None,
    linkedid: str | None,
    at: datetime,
    note: str,
) -> bool:
    """Put a caller on the tenant's callback list in ``conn``'s transaction, for a reason told in ``note`` (a notice
    for someone without a mail address: ``incidents.notice``). ``key`` stands where a call's id would and makes it
    once-only (an entry there already counts as put there). False when the number cannot be dialled."""
    number = caller_id(number)
    if dialable(number) is None:
        return False
    values = {
        "tenant": tenant,
        "call_id": key,
        "linkedid": linkedid or key,
        "caller_number": number[:64],
        "caller_name": caller_id(name)[:200],
        "user_id": user_id,
        "queue": "",  # no queue call behind it
        "abandoned_at": at,
        "wait_s": None,
        "status": Status.OPEN.value,
        "attempts": 0,
        "note": note[:1000],
        "created_at": at,
    }
    await conn.execute(_insert_once(conn.dialect.name).values(values))
    return True
