"""Issue 15 item 5: the monthly CSV neutralises a hostile tenant name; a hostile category title never starts a cell
(issue 16: titles are written inside a label, "Erstellte Tickets: <title>", never as a cell's start); the figures
stay numbers."""

from __future__ import annotations

import csv
import io

from sqlalchemy import update

from tests.metrics.conftest import TENANT_A
from tests.metrics.month import berlin, store_month
from uhd_telephony.csv_safe import FORMULA_STARTS
from uhd_telephony.metrics import report
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tickets.categories import categories

MONTH = "2026-11"
HOSTILE_TENANT = "=cmd|' /C calc'!A0"
HOSTILE_CATEGORY = "@SUM(1+1)*cmd|' /C calc'!A0"


async def test_a_hostile_tenant_name_and_category_title_come_out_neutralised(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        await store_month(db)
        await TenantService(db).add(TENANT_A, name=HOSTILE_TENANT, hotlines=[])
        async with db.engine.begin() as conn:
            await conn.execute(update(categories).where(categories.c.tenant == TENANT_A).values(name=HOSTILE_CATEGORY))
        built = await report.build(db, TENANT_A, MONTH, now=berlin(1, 12, 6, 0))
    finally:
        await db.close()
    assert built.tenant_name == HOSTILE_TENANT
    text = report.to_csv(built)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Mandant", "'" + HOSTILE_TENANT, TENANT_A]
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]  # no cell a spreadsheet would run
    assert not [c for c in cells if c.startswith(HOSTILE_CATEGORY)]  # titles: not in the CSV, or quoted
    # figures are written from numbers and stay numbers
    by_key = {r[0]: r for r in rows if r}
    assert by_key["calls_offered"][2] == "11" and by_key["reachability"][2] == "0.6"
    assert by_key["tickets_escalated_by_category.kis"][2] == "2"
