"""Issue 17: the monthly report's SLA section counted in SQL equals the row-by-row definition (metrics.sla.sla_kpis
over sla_facts), on SQLite and PostgreSQL, and the report shows it."""

from __future__ import annotations

from datetime import datetime

from tests.metrics.conftest import TENANT_A, TENANT_B
from tests.metrics.month import berlin
from tests.metrics.sla_month import store_sla_month
from uhd_telephony.metrics import kpi, report, sla
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

NOVEMBER = (datetime(2026, 11, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE))
EXPECTED = {
    "measured": 4,  # T1, T2, T4, T5 (T6 has no timer; the October ticket is not of the month)
    "warnings": {"response": 2, "resolution": 2},
    "breaches": {"response": 1, "resolution": 2},
    "compliance": {"response": 0.75, "resolution": 0.5},
    "by_category": {
        "hardware": {"warning": 0, "breach": 1},
        "kis": {"warning": 2, "breach": 2},
        "none": {"warning": 1, "breach": 0},
        "pacs": {"warning": 1, "breach": 0},
    },
    # first escalations 22 min 29.999999 s, 45 min, 12 h, 2 days 3 h
    "escalation_time_s": {"mean": (1349.999999 + 2700 + 43200 + 183600) / 4, "p90": 183600.0},
    "open": 5,
}


async def test_the_sla_section_in_sql_equals_the_row_by_row_definition(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        await store_sla_month(db)
        periods = [
            NOVEMBER,
            (datetime(2026, 10, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)),
            (berlin(1, 11, 0, 0, 0.5), berlin(1, 11, 0, 0, 0.500001)),  # T1 alone, to the microsecond
            (datetime(2020, 1, 1, tzinfo=kpi.TIMEZONE), datetime(2020, 2, 1, tzinfo=kpi.TIMEZONE)),  # nothing
        ]
        got = {}
        for tenant in (TENANT_A, TENANT_B):
            for start, end in periods:
                counted = await sla.sla_aggregates(db, tenant, start, end)
                assert counted == sla.sla_kpis(*await sla.sla_facts(db, tenant, start, end)), (tenant, start, end)
                got[tenant, start, end] = counted
        built = await report.build(db, TENANT_A, "2026-11", now=berlin(1, 12, 6, 0))
    finally:
        await db.close()
    assert got[(TENANT_A, *NOVEMBER)].to_dict() == EXPECTED
    assert built.sla == EXPECTED and not built.sla_note
    assert got[(TENANT_B, *NOVEMBER)].breaches == {"response": 1, "resolution": 0}
    empty = got[(TENANT_A, *periods[-1])]
    assert empty.measured == 0 and empty.compliance == {"response": None, "resolution": None}
