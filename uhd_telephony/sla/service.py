"""What managers do with escalations — list, acknowledge, take back with a reason — and a ticket's SLA state.

Each write is one transaction that locks the ticket first (as every ticket change does), changes the
``escalations`` row only while it is in the state the request expects (a second acknowledgement is a Conflict,
not a second history row), and appends its history row. Another tenant's ticket or escalation is NotFound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import Label, Msg
from uhd_telephony.sla.calendar import describe
from uhd_telephony.sla.clock import Kind, Target, crossing, met, running_spans, used
from uhd_telephony.sla.escalation import ACKNOWLEDGED, HISTORY_FIELD, de_escalate_open, label
from uhd_telephony.sla.models import escalations
from uhd_telephony.sla.timers import plan
from uhd_telephony.store.db import Database
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import Change, iso
from uhd_telephony.tickets.view import categories, tickets

MAX_REASON = 1000
MAX_LIMIT = 200
MAX_ID = 2**63


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_ID


def _text(value: str | None, field: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(Msg("%(field)s is required", field=Label("field", field)), {"field": field})
    if len(text) > MAX_REASON or "\x00" in text:
        raise InvalidInput(
            Msg("%(field)s is longer than %(limit)s characters", field=Label("field", field), limit=MAX_REASON),
            {"field": field},
        )
    return text or None


def _select() -> Any:
    return (
        select(escalations, tickets.c.number.label("ticket_number"), categories.c.path.label("category_path"))
        .join(tickets, tickets.c.id == escalations.c.ticket_id)
        .outerjoin(
            categories,
            (categories.c.tenant == escalations.c.tenant) & (categories.c.id == escalations.c.category_id),
        )
    )


def escalation_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The JSON shape of one escalation (``open``: not taken back yet)."""
    return {
        "id": row["id"],
        "ticket_id": row["ticket_id"],
        "ticket_number": row["ticket_number"],
        "tenant": row["tenant"],
        "kind": row["kind"],
        "target": row["target"],
        "level": row["level"],
        "due_at": iso(row["due_at"]),
        "fired_at": iso(row["fired_at"]),
        "category_id": row["category_id"],
        "category_path": row["category_path"],
        "priority": row["priority"],
        "notified": list(row["notified"] or []),
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": iso(row["acknowledged_at"]),
        "de_escalated_by": row["de_escalated_by"],
        "de_escalated_at": iso(row["de_escalated_at"]),
        "reason": row["reason"],
        "open": row["de_escalated_at"] is None,
    }


@dataclass(frozen=True, slots=True)
class EscalationFilter:
    open: bool | None = None
    ticket_id: int | None = None
    kind: str | None = None
    target: str | None = None
    limit: int = 50
    offset: int = 0


class SlaService:
    """Escalations and SLA state of one database; ``now`` is injectable for tests."""

    def __init__(self, db: Database, *, now: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self._now = now or (lambda: datetime.now(UTC))

    async def list(self, tenant: str, where: EscalationFilter) -> tuple[list[dict[str, Any]], int]:
        """The tenant's escalations, newest first, and how many match in all."""
        conditions = [escalations.c.tenant == tenant]
        if where.open is not None:
            column = escalations.c.de_escalated_at
            conditions.append(column.is_(None) if where.open else column.is_not(None))
        if where.ticket_id is not None:
            conditions.append(escalations.c.ticket_id == where.ticket_id)
        if where.kind is not None:
            conditions.append(escalations.c.kind == where.kind)
        if where.target is not None:
            conditions.append(escalations.c.target == where.target)
        stmt = (
            _select()
            .where(*conditions)
            .order_by(escalations.c.fired_at.desc(), escalations.c.id.desc())
            .limit(max(1, min(where.limit, MAX_LIMIT)))
            .offset(max(0, where.offset))
        )
        async with self.db.engine.connect() as conn:
            rows = [escalation_dict(r) for r in (await conn.execute(stmt)).mappings()]
            total = (await conn.execute(select(func.count()).select_from(escalations).where(*conditions))).scalar_one()
        return rows, int(total)

    async def _locked(
        self, conn: AsyncConnection, tenant: str, ticket_id: int, escalation_id: int, now: datetime
    ) -> Any:
        # the first statement writes: it locks the ticket row (PostgreSQL) or takes the write lock (SQLite)
        touched = await conn.execute(
            update(tickets).where(tickets.c.tenant == tenant, tickets.c.id == ticket_id).values(updated_at=now)
        )
        if touched.rowcount == 0:
            raise NotFound(f"no ticket {ticket_id}", {"ticket_id": ticket_id})
        stmt = _select().where(
            escalations.c.id == escalation_id, escalations.c.ticket_id == ticket_id, escalations.c.tenant == tenant
        )
        row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            raise NotFound(f"no escalation {escalation_id} of ticket {ticket_id}", {"escalation_id": escalation_id})
        if row["de_escalated_at"] is not None:
            raise Conflict(
                f"escalation {escalation_id} was taken back at {iso(row['de_escalated_at'])} by "
                f"{row['de_escalated_by']}",
                {"escalation_id": escalation_id, "de_escalated_at": iso(row["de_escalated_at"])},
            )
        return row

    async def _read(self, conn: AsyncConnection, escalation_id: int) -> dict[str, Any]:
        return escalation_dict(
            (await conn.execute(_select().where(escalations.c.id == escalation_id))).mappings().one()
        )

    async def acknowledge(
        self, tenant: str, ticket_id: int, escalation_id: int, *, actor: str, note: str | None = None
    ) -> dict[str, Any]:
        """A manager has seen it: who and when, once (a second acknowledgement is a Conflict)."""
        if not _is_id(ticket_id) or not _is_id(escalation_id):
            raise NotFound(f"no escalation {escalation_id}", {"escalation_id": escalation_id})
        text = _text(note, "note", required=False)
        now = self._now()
        async with self.db.engine.begin() as conn:
            row = await self._locked(conn, tenant, ticket_id, escalation_id, now)
            if row["acknowledged_at"] is not None:
                raise Conflict(
                    f"escalation {escalation_id} was acknowledged at {iso(row['acknowledged_at'])} by "
                    f"{row['acknowledged_by']}",
                    {"escalation_id": escalation_id, "acknowledged_at": iso(row["acknowledged_at"])},
                )
            await conn.execute(
                update(escalations)
                .where(escalations.c.id == escalation_id, escalations.c.acknowledged_at.is_(None))
                .values(acknowledged_by=actor, acknowledged_at=now)
            )
            why = f"escalation #{escalation_id} acknowledged" + (f": {text}" if text else "")
            await hist.append(
                conn,
                ticket_id,
                now,
                actor,
                [Change(ACKNOWLEDGED, HISTORY_FIELD, label(row["kind"], row["target"]), None, why)],
            )
            # the row as locked and read above, with the two columns just set: no second read
            return escalation_dict({**row, "acknowledged_by": actor, "acknowledged_at": now})

    async def de_escalate(
        self, tenant: str, ticket_id: int, escalation_id: int, *, actor: str, reason: str
    ) -> dict[str, Any]:
        """Take the escalation back with a reason (acknowledging it too, when nobody has yet)."""
        if not _is_id(ticket_id) or not _is_id(escalation_id):
            raise NotFound(f"no escalation {escalation_id}", {"escalation_id": escalation_id})
        why = _text(reason, "reason", required=True)
        assert why is not None
        now = self._now()
        async with self.db.engine.begin() as conn:
            await self._locked(conn, tenant, ticket_id, escalation_id, now)
            await de_escalate_open(conn, ticket_id, actor=actor, at=now, reason=why, escalation_id=escalation_id)
            return await self._read(conn, escalation_id)

    async def ticket_sla(self, tenant: str, ticket_id: int) -> dict[str, Any]:
        """The ticket's SLA now: per target the business time used, whether it is met or paused, the warning and
        breach instants; its escalations."""
        if not _is_id(ticket_id):
            raise NotFound(f"no ticket {ticket_id}", {"ticket_id": ticket_id})
        now = self._now()
        async with self.db.engine.connect() as conn:
            current = await plan(conn, ticket_id, tenant=tenant)
            if current is None:
                raise NotFound(f"no ticket {ticket_id}", {"ticket_id": ticket_id})
            stmt = _select().where(escalations.c.ticket_id == ticket_id).order_by(escalations.c.id)
            found = [escalation_dict(r) for r in (await conn.execute(stmt)).mappings()]
        body: dict[str, Any] = {
            "ticket_id": ticket_id,
            "tenant": tenant,
            "priority": current.priority,
            "policy_priority": None if current.policy is None else current.policy.priority,
            "calendar": None if current.calendar is None else describe(current.calendar),
            "paused": current.facts.status in ("waiting", "resolved", "closed"),
            "targets": [],
            "escalations": found,
        }
        if current.policy is None or current.calendar is None:
            return body
        spans = running_spans(current.facts)
        facts = current.facts
        for which in Target:
            done = met(facts, which)
            until = facts.first_response_at if which is Target.RESPONSE and facts.first_response_at else now
            instants = {
                kind: None if done else crossing(current.calendar, spans, current.policy.threshold(which, kind))
                for kind in Kind
            }
            body["targets"].append(
                {
                    "target": which.value,
                    "target_s": int(current.policy.target(which).total_seconds()),
                    "used_s": round(used(current.calendar, spans, min(until, now)) / timedelta(seconds=1), 3),
                    "met": done,
                    "warning_at": iso(instants[Kind.WARNING]),
                    "breach_at": iso(instants[Kind.BREACH]),
                }
            )
        return body
