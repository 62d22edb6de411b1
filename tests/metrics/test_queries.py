"""The SQL of the KPIs on SQLite and PostgreSQL: the /metrics ticket aggregates equal kpi.py over the same tickets."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from tests.metrics.conftest import TENANT_A, TENANT_B, store_calls, store_tickets
from tests.metrics.ticket_specs import C0, after, specs
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import kpi, queries
from uhd_telephony.metrics.live import ESCALATION_BUCKETS
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate


async def test_ticket_totals_for_metrics_equal_kpi_over_the_same_tickets(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        facts = await store_tickets(db, specs())
        totals = await queries.ticket_totals(db)
    finally:
        await db.close()
    created = Counter((f.tenant, f.category) for f in facts)
    routed = Counter((f.tenant, f.category) for f in facts if f.routed_at is not None)
    escalated = Counter((f.tenant, f.category) for f in facts if f.escalated_at is not None)
    assert dict(totals.created) == dict(created)
    assert dict(totals.routed) == dict(routed)
    assert dict(totals.escalated) == dict(escalated)
    for tenant in (TENANT_A, TENANT_B):
        mine = [f for f in facts if f.tenant == tenant]
        k = kpi.ticket_kpis(mine)
        seconds = [us / 1_000_000 for f in mine if (us := f.escalation_us) is not None]
        buckets, total = totals.escalation[tenant]
        assert buckets == kpi.cumulative_buckets(seconds, ESCALATION_BUCKETS)
        assert buckets[-1] == k.forwarded
        assert total == sum(f.escalation_us or 0 for f in mine) / 1_000_000
    assert totals.escalation[TENANT_A][0][:2] == [0, 1]  # 600 s is in le="600", 600.000001 s is not
    assert totals.created[(TENANT_A, "kis")] == 3 and totals.created[(TENANT_A, "none")] == 1


async def test_ticket_facts_of_a_period(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        facts = await store_tickets(db, specs())
        got = await queries.ticket_facts(db, TENANT_A, C0, after(60))  # [C0, C0 + 60 s): not the one created at 60 s
    finally:
        await db.close()
    want = [f for f in facts if f.tenant == TENANT_A and f.created_at < after(60)]
    assert sorted(got, key=repr) == sorted(want, key=repr)
    assert kpi.ticket_kpis(got) == kpi.ticket_kpis(want)


async def test_recent_tenant_queue_pairs(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    records = []
    for n, (tenant, queue, days_ago) in enumerate(
        [(TENANT_A, "hotline", 1), (TENANT_A, "backoffice", 3), (TENANT_B, "hotline", 40), (TENANT_A, "hotline", 2)]
    ):
        call = CallRecord(f"{n}@{queue}", f"l{n}", str(n), queue, tenant, (now - timedelta(days=days_ago)).timestamp())
        call.outcome, call.ended_at = Outcome.ABANDONED, call.entered_at + 10
        records.append(call)
    try:
        await store_calls(db, records)
        assert await queries.recent_pairs(db, now) == [(TENANT_A, "backoffice"), (TENANT_A, "hotline")]
    finally:
        await db.close()
