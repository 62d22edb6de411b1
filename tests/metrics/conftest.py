"""Stored calls and tickets with known KPIs, for the API and the SQL aggregates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update

from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.metrics import kpi
from uhd_telephony.simulator.render import render_calls
from uhd_telephony.store.db import Database
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories
from uhd_telephony.tickets.history import Change
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import tickets

TENANT_A, TENANT_B = "klinikum-nord", "klinikum-sued"


def rendered_records(n_calls: int = 400, seed: int = 3) -> list[CallRecord]:
    """Simulated calls of two tenants (every outcome, transfers) as the tracker records them."""
    rendered = render_calls(n_calls, seed=seed, concurrency=8, agents=5, tenants=2)
    result = replay_bytes(rendered.data, CallTracker())
    names = {"tenant1": TENANT_A, "tenant2": TENANT_B}
    return [replace(r, tenant=names[r.tenant]) for r in result.records]


async def store_calls(db: Database, records: Sequence[CallRecord]) -> list[CallRecord]:
    """Writes the records; returns them as the store gives them back (the values the API reads)."""
    repo = CallRepository(db)
    await repo.upsert_many(records)
    return await repo.list_calls(limit=1_000_000)


@dataclass(frozen=True)
class TicketSpec:
    tenant: str
    created_at: datetime
    category_path: str | None
    priority: int | None
    channel: str
    history: tuple[tuple[str, str | None, datetime], ...] = ()


async def store_tickets(db: Database, specs: Iterable[TicketSpec]) -> list[kpi.TicketFact]:
    """Tickets as the service opens them, then classified and routed/escalated by history rows (issue #5's
    writers append the same rows); returns the facts kpi.py makes of them, computed from the specs."""
    imported: set[str] = set()
    facts = []
    for n, spec in enumerate(specs, start=1):
        if spec.tenant not in imported:
            await import_categories(db, spec.tenant, DEFAULT_CATEGORIES)
            imported.add(spec.tenant)
        call = CallRecord(
            f"t{n}@hotline", f"ticket-conv-{n}", f"t{n}", "hotline", spec.tenant, spec.created_at.timestamp()
        )
        call.caller_number, call.answered_at, call.agent = "+492319860572", spec.created_at.timestamp(), "Anna"
        view, created = await TicketService(db, now=lambda at=spec.created_at: at).open_for_call(call)
        assert created
        async with db.engine.begin() as conn:
            category_id = None
            if spec.category_path is not None:
                stmt = select(categories.c.id).where(
                    categories.c.tenant == spec.tenant, categories.c.path == spec.category_path
                )
                category_id = (await conn.execute(stmt)).scalar_one()
            await conn.execute(
                update(tickets)
                .where(tickets.c.id == view.id)
                .values(category_id=category_id, priority=spec.priority, channel=spec.channel)
            )
            for action, new_value, at in spec.history:
                await hist.append(conn, view.id, at, "system", [Change(action, "support_group", None, new_value)])
        top = kpi.top_level(spec.category_path)
        facts.append(kpi.ticket_fact(spec.tenant, spec.created_at, top, spec.priority, spec.channel, spec.history))
    return facts


async def category_paths(db: Database, tenant: str) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(categories.c.path).where(categories.c.tenant == tenant))
        return sorted(r.path for r in rows)
