"""The report's SQL aggregates equal kpi.py over the same stored rows, on SQLite and PostgreSQL ("one definition")."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.metrics.conftest import TENANT_A, TENANT_B, rendered_records, store_calls
from tests.metrics.test_queries import specs
from tests.metrics.test_report import month_tickets, store_month
from uhd_telephony.metrics import aggregates, kpi, queries
from uhd_telephony.simulator.render import DEFAULT_START
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

START = datetime.fromtimestamp(DEFAULT_START, kpi.TIMEZONE)


async def test_call_aggregates_equal_kpi_over_simulated_and_edge_calls(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        await store_calls(db, rendered_records(n_calls=600, seed=11))
        records, _ = await store_month(db)  # every stored call, as the store gives them back
        periods = [
            (START - timedelta(days=1), START + timedelta(days=2)),  # all simulated calls
            (START + timedelta(minutes=20), START + timedelta(minutes=50)),  # cuts through transfers
            (datetime(2026, 11, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)),
            (datetime(2020, 1, 1, tzinfo=kpi.TIMEZONE), datetime(2020, 2, 1, tzinfo=kpi.TIMEZONE)),  # empty
        ]
        for tenant in (TENANT_A, TENANT_B):
            for start, end in periods:
                for t in (20.0, 7.5):
                    got = await aggregates.call_kpis(db, tenant, start, end, service_level_s=t)
                    streamed = await queries.call_kpis(db, tenant, start, end, service_level_s=t)
                    assert got == streamed, (tenant, start, end, t)
                    mine = [
                        r for r in records if r.tenant == tenant and start.timestamp() <= r.entered_at < end.timestamp()
                    ]
                    assert got == kpi.call_kpis(mine, service_level_s=t)
    finally:
        await db.close()
    whole = kpi.call_kpis([r for r in records if r.tenant == TENANT_A])
    # the data exercises what the SQL must get right
    assert whole.transfers_in > 0 and whole.short_abandons > 0 and whole.timed_out > 0
    assert whole.reaction_time.count > 100


async def test_ticket_aggregates_equal_kpi_and_first_contact_resolution(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        _, facts = await store_month(db, also=specs())
        statuses = {(c.spec.tenant, c.spec.created_at): c.status for c in month_tickets()}
        periods = [
            (datetime(2026, 3, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 4, 1, tzinfo=kpi.TIMEZONE)),
            (datetime(2026, 11, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)),
        ]
        for tenant in (TENANT_A, TENANT_B):
            for start, end in periods:
                got = await aggregates.ticket_kpis(db, tenant, start, end)
                assert got.kpis == kpi.ticket_kpis(await queries.ticket_facts(db, tenant, start, end))
                cohort = [f for f in facts if f.tenant == tenant and start <= f.created_at < end]
                assert got.kpis == kpi.ticket_kpis(cohort)
                want_fcr = kpi.first_contact_resolution(
                    (statuses.get((f.tenant, f.created_at), "new"), f.routed_at is not None) for f in cohort
                )
                assert got.first_contact == want_fcr
    finally:
        await db.close()


def test_first_contact_resolution_definition() -> None:
    assert kpi.is_resolved_at_first_level("resolved", False) and kpi.is_resolved_at_first_level("closed", False)
    assert not kpi.is_resolved_at_first_level("closed", True)  # routed beyond 1st level once
    assert not kpi.is_resolved_at_first_level("in_progress", False)
    fcr = kpi.first_contact_resolution([("closed", False), ("new", False), ("resolved", True), ("resolved", False)])
    assert (fcr.created, fcr.resolved_at_first_level, fcr.rate) == (4, 2, 0.5)
    assert kpi.first_contact_resolution([]).rate is None
