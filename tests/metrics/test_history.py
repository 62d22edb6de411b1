"""The KPI history: ``kpi_daily`` rows are metrics.aggregates' figures of each Berlin day, written idempotently by
the scanner, the server and the CLI; every SQL query of Grafana's history dashboard runs, as the read-only role
the PostgreSQL init script creates, against the migrated schema and returns the stored figures untouched."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

from tests.metrics.conftest import TENANT_A, TENANT_B, TicketSpec, store_calls, store_tickets
from tests.metrics.month import stay
from tests.metrics.shipped import HISTORY_UID, ROOT, dashboards, panel_queries, variable_queries
from tests.support.databases import PG_ADMIN_DSN, throwaway_pg
from tests.support.helpers import eventually, free_port
from uhd_telephony.app.cli import main
from uhd_telephony.app.server import Server
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import aggregates, daily, kpi
from uhd_telephony.metrics.models import kpi_daily
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import downgrade, migrate
from uhd_telephony.tenants.models import Tenant
from uhd_telephony.tickets.view import tickets

BERLIN = kpi.TIMEZONE
D0, D1, D2, D3 = date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26), date(2026, 10, 27)  # D1: 25 hours
TENANT_IDLE = "klinikum-ost"  # a tenant without calls or tickets: zero rows
INIT_SCRIPT = ROOT / "postgres" / "initdb" / "10-grafana-reader.sh"
HISTORY = dashboards()["history.json"]
NOON_D2 = datetime(2026, 10, 26, 12, 0, tzinfo=BERLIN)


def at(day: date, hh: int, mm: int, ss: float = 0.0, *, fold: int = 0) -> datetime:
    whole = int(ss)
    return datetime(day.year, day.month, day.day, hh, mm, whole, round((ss - whole) * 1e6), tzinfo=BERLIN, fold=fold)


def two_days_of_calls() -> list[CallRecord]:
    a, t = Outcome.ANSWERED, Outcome.TRANSFERRED
    return [
        stay(1, at(D1, 0, 0), a, wait=5, talk=60),  # the day's first instant
        stay(2, at(D1, 2, 30), a, wait=30, talk=10),  # 02:30 CEST ...
        stay(3, at(D1, 2, 30, fold=1), Outcome.ABANDONED, wait=40),  # ... and 02:30 CET, an hour later
        stay(4, at(D1, 23, 59, 59.5), a, wait=20, talk=100),  # exactly T; the day's last second
        stay(5, at(D2, 0, 0), Outcome.SHORT_ABANDON, wait=2),
        stay(6, at(D2, 9, 0), Outcome.TIMEOUT, wait=300),
        stay(7, at(D2, 9, 5), t, wait=10, talk=50, linkedid="conv-7"),
        stay(8, at(D2, 9, 6), a, wait=8, talk=200, linkedid="conv-7", queue="2nd-level"),  # a transfer in
        stay(9, at(D2, 22, 0), Outcome.CLOSED),  # outside business hours
        stay(10, at(D2, 12, 0), None),  # still in progress
        stay(11, at(D3, 0, 0), a, wait=1, talk=1),  # the next day
        stay(12, at(D0, 23, 59, 59.999), a, wait=1, talk=1),  # the day before
        stay(13, at(D2, 10, 0), a, wait=1, talk=1, tenant=TENANT_B),
    ]


def two_days_of_tickets() -> list[tuple[TicketSpec, str]]:
    t1, t2, t5 = at(D1, 10, 0), at(D1, 23, 59, 59), at(D2, 12, 0)
    return [
        (TicketSpec(TENANT_A, t1, "kis/login", 3, "phone", (("routed", "2nd_level", t1 + timedelta(seconds=600)),)),
         "in_progress"),
        # escalated (SLA) only and resolved: not forwarded (an SLA warning notifies, it does not forward), and a
        # first-contact resolution
        (TicketSpec(TENANT_A, t2, "pacs", 2, "web", (("escalated", None, t2 + timedelta(seconds=1800)),)), "resolved"),
        (TicketSpec(TENANT_A, at(D2, 0, 0, 0.5), "kis", 2, "phone"), "closed"),
        (TicketSpec(TENANT_A, at(D2, 11, 0), "hardware/printer", 4, "mail", (("routed", "1st_level", at(D2, 11, 1)),)),
         "new"),
        (TicketSpec(TENANT_A, t5, "kis", 1, "phone",
                    (("routed", "2nd_level", t5 + timedelta(seconds=3600)),
                     ("escalated", None, t5 + timedelta(seconds=7200)))), "closed"),
        (TicketSpec(TENANT_A, at(D3, 8, 0), "kis", 2, "phone"), "new"),
    ]  # fmt: skip


# tenant A's two days, worked out by hand from kpi.py's definitions
EXPECTED = {
    D1: {
        "service_level_s": 20.0,
        "calls_offered": 4,
        "calls_answered": 3,
        "calls_answered_within_service_level": 2,  # waits 5 and 20 (T included)
        "calls_abandoned": 1,
        "short_abandons": 0,
        "calls_timed_out": 0,
        "calls_outside_hours": 0,
        "calls_closed": 0,
        "transfers_in": 0,
        "calls_in_progress": 0,
        "reachability": 0.75,
        "service_level": 0.5,
        "abandon_rate": 0.25,
        "reaction_time_mean_s": 55 / 3,
        "reaction_time_median_s": 20.0,  # nearest rank 2 of 5, 20, 30
        "reaction_time_p90_s": 30.0,
        "talk_time_mean_s": 170 / 3,
        "tickets_created": 2,
        "tickets_routed": 1,
        "tickets_escalated": 1,
        "tickets_forwarded": 1,
        "escalation_time_mean_s": 600.0,
        "escalation_time_p90_s": 600.0,
        "tickets_resolved_first_level": 1,
        "first_contact_resolution": 0.5,
    },
    D2: {
        "service_level_s": 20.0,
        "calls_offered": 4,  # 5, 6, 7, 8
        "calls_answered": 2,  # 7 (transferred), 8
        "calls_answered_within_service_level": 2,
        "calls_abandoned": 0,
        "short_abandons": 1,
        "calls_timed_out": 1,
        "calls_outside_hours": 1,  # no business calendar imported: the dialplan's closed call only
        "calls_closed": 1,
        "transfers_in": 1,
        "calls_in_progress": 1,
        "reachability": 2 / 3,
        "service_level": 2 / 3,
        "abandon_rate": 0.0,
        "reaction_time_mean_s": 9.0,
        "reaction_time_median_s": 8.0,
        "reaction_time_p90_s": 10.0,
        "talk_time_mean_s": 125.0,
        "tickets_created": 3,
        "tickets_routed": 1,
        "tickets_escalated": 1,
        "tickets_forwarded": 1,
        "escalation_time_mean_s": 3600.0,
        "escalation_time_p90_s": 3600.0,
        "tickets_resolved_first_level": 1,
        "first_contact_resolution": 1 / 3,
    },
}


async def store_two_days(db: Database) -> list[CallRecord]:
    """The calls and tickets above, tickets at their status, and an active tenant without any; the stored calls."""
    records = await store_calls(db, two_days_of_calls())
    cases = two_days_of_tickets()
    await store_tickets(db, [spec for spec, _ in cases])
    async with db.engine.begin() as conn:
        for spec, status in cases:
            await conn.execute(
                update(tickets)
                .where(tickets.c.tenant == spec.tenant, tickets.c.created_at == spec.created_at)
                .values(status=status)
            )
        await conn.execute(insert(Tenant.__table__).values(tenant=TENANT_IDLE, name="Klinikum Ost"))
    return records


async def stored_rows(db: Database) -> dict[tuple[str, date], dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(kpi_daily))).mappings().all()
    return {(r["tenant"], r["day"]): dict(r) for r in rows}


def figures(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("tenant", "day", "computed_at")}


# ------------------------------------------------------------------------------------------------ the writer
async def test_rows_are_the_aggregates_figures_of_each_berlin_day_and_rewriting_changes_nothing(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        records = await store_two_days(db)
        now = NOON_D2.astimezone(UTC)
        assert await daily.write_days(db, [D1, D2], now=now) == 3 * 2  # A, B and the idle tenant
        rows = await stored_rows(db)
        assert sorted(rows) == [(t, d) for t in sorted([TENANT_A, TENANT_B, TENANT_IDLE]) for d in (D1, D2)]
        for day in (D1, D2):
            assert figures(rows[TENANT_A, day]) == EXPECTED[day], day
        for (tenant, day), row in rows.items():
            assert row["computed_at"] == now
            start, end = daily.day_period(day)
            calls = await aggregates.call_kpis(db, tenant, start, end)
            ticket_figures = await aggregates.ticket_kpis(db, tenant, start, end)
            assert row == daily.daily_row(tenant, day, calls, ticket_figures, now)
            # ... which is kpi.py over the stays that entered that Berlin day (one definition)
            mine = [r for r in records if r.tenant == tenant and start.timestamp() <= r.entered_at < end.timestamp()]
            assert calls == kpi.call_kpis(mine)
        start, end = daily.day_period(D1)
        assert end.timestamp() - start.timestamp() == 25 * 3600  # the end of summer time
        idle = rows[TENANT_IDLE, D2]
        assert idle["calls_offered"] == idle["tickets_created"] == 0 and idle["reachability"] is None
        assert rows[TENANT_B, D2]["calls_answered"] == 1 and rows[TENANT_B, D1]["calls_offered"] == 0

        # again, the same instant: the very same rows; later: only computed_at moves
        await daily.write_days(db, [D1, D2], now=now)
        assert await stored_rows(db) == rows
        later = now + timedelta(minutes=5)
        await daily.write_days(db, [D2, D1], now=later)
        again = await stored_rows(db)
        assert {k: figures(v) for k, v in again.items()} == {k: figures(v) for k, v in rows.items()}
        assert {v["computed_at"] for v in again.values()} == {later}
    finally:
        await db.close()


async def test_figures_computed_earlier_never_replace_later_ones(db_url: str) -> None:
    """Two instances (or a backfill started before a scan) may finish in either order: the later snapshot stays."""
    await migrate(db_url)
    db = Database(db_url)
    try:
        await store_two_days(db)
        now = NOON_D2.astimezone(UTC)
        await daily.write_days(db, [D2], tenants=[TENANT_A], now=now)
        await store_calls(db, [stay(20, at(D2, 13, 0), Outcome.ANSWERED, wait=3, talk=30)])
        await daily.write_days(db, [D2], tenants=[TENANT_A], now=now - timedelta(seconds=1))  # a slow instance
        assert (await stored_rows(db))[TENANT_A, D2]["calls_offered"] == 4
        await daily.write_days(db, [D2], tenants=[TENANT_A], now=now + timedelta(seconds=1))
        assert (await stored_rows(db))[TENANT_A, D2]["calls_offered"] == 5
    finally:
        await db.close()


async def test_the_scanner_writes_yesterday_and_today_of_every_tenant(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        await store_two_days(db)
        # 00:30 on D3 in Berlin is still D2 in UTC: the Berlin calendar decides
        scanner = daily.KpiDailyScanner(db, clock=lambda: at(D3, 0, 30).astimezone(UTC))
        assert await scanner.scan_once() == 3 * 2
        rows = await stored_rows(db)
        assert sorted({d for _, d in rows}) == [D2, D3]
        assert figures(rows[TENANT_A, D2]) == EXPECTED[D2]
        assert rows[TENANT_A, D3]["calls_offered"] == 1 and rows[TENANT_A, D3]["tickets_created"] == 1
        assert scanner.health() == {"written": 6, "last_error": None}
    finally:
        await db.close()


async def test_the_server_runs_the_scanner_on_its_interval_and_reports_it(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        now = datetime.now(UTC)
        await store_calls(db, [stay(1, now - timedelta(seconds=30), Outcome.ANSWERED, wait=4, talk=20)])
        # no PBX behind the AMI port: the history needs only the database
        server = Server(Settings(database_url=sqlite_url, http_port=0, ami_port=free_port(), kpi_daily_s=0.05))
        await server.start()
        try:
            assert server.kpi_daily is not None and server.kpi_daily.interval_s == 0.05
            await eventually(lambda: server.kpi_daily is not None and server.kpi_daily.written >= 4)
            assert server._health()["kpi_daily"]["last_error"] is None
        finally:
            await server.close()
        rows = await stored_rows(db)
        assert rows[TENANT_A, daily.berlin_day(now - timedelta(seconds=30))]["calls_answered"] == 1
    finally:
        await db.close()
    assert Settings.model_fields["kpi_daily_s"].default == 300.0


def test_the_cli_backfills_a_range_and_refuses_a_bad_one(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def prepare() -> None:
        await migrate(sqlite_url)
        async with Database(sqlite_url) as db:
            await store_two_days(db)

    async def rows() -> dict[tuple[str, date], dict[str, Any]]:
        async with Database(sqlite_url) as db:
            return await stored_rows(db)

    asyncio.run(prepare())
    args = [
        "kpi-daily",
        "--database-url",
        sqlite_url,
        "--tenant",
        TENANT_A,
        "--from",
        "2026-10-24",
        "--to",
        "2026-10-27",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"from": "2026-10-24", "to": "2026-10-27", "tenants": [TENANT_A], "rows": 4}
    first = asyncio.run(rows())
    assert sorted(first) == [(TENANT_A, d) for d in (D0, D1, D2, D3)]
    assert figures(first[TENANT_A, D1]) == EXPECTED[D1] and first[TENANT_A, D0]["calls_offered"] == 1
    assert main(args) == 0  # idempotent: the same figures again
    assert {k: figures(v) for k, v in asyncio.run(rows()).items()} == {k: figures(v) for k, v in first.items()}
    capsys.readouterr()

    assert main(["kpi-daily", "--database-url", sqlite_url, "--from", "2026-10-27", "--to", "2026-10-26"]) == 1
    tomorrow = daily.berlin_day(datetime.now(UTC)) + timedelta(days=1)
    assert main(["kpi-daily", "--database-url", sqlite_url, "--from", "2026-10-26", "--to", str(tomorrow)]) == 1
    with pytest.raises(SystemExit):
        main(["kpi-daily", "--database-url", sqlite_url, "--from", "26.10.2026"])
    assert "YYYY-MM-DD" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- the Grafana dashboard
def rfc3339(moment: datetime) -> str:
    """How Grafana's PostgreSQL macros write an instant (Go's time.RFC3339Nano in UTC)."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def expand(sql: str, start: datetime, end: datetime, tenant: str) -> str:
    """Grafana's macros and variables as its PostgreSQL datasource expands them; anything else left fails."""
    frm, to = rfc3339(start), rfc3339(end)
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", lambda m: f"{m[1].strip()} BETWEEN '{frm}' AND '{to}'", sql)
    sql = sql.replace("$__timeFrom()", f"'{frm}'").replace("$__timeTo()", f"'{to}'")
    # a single-value variable goes in escaped, not quoted: the query quotes it (SqlDatasource.interpolateVariable)
    sql = re.sub(r"\$\{tenant\}|\$tenant\b", lambda _: tenant.replace("'", "''"), sql)
    left = re.findall(r"\$\{?\w+", sql)
    assert not left, f"no test expansion for {left} in {sql!r}"
    return sql


SELECTED = re.compile(r"^\s*SELECT\s+(?P<items>.*?)\s+FROM\s+kpi_daily\s+WHERE\b", re.S | re.I)
TIME_EXPR = "day::timestamp AT TIME ZONE 'Europe/Berlin'"


def selected_columns(sql: str) -> list[tuple[str, str]]:
    """(kpi_daily column or the time expression, alias) of each item of the query's select list."""
    found = SELECTED.match(sql)
    assert found is not None, sql
    items = []
    for item in found["items"].split(","):
        plain = re.fullmatch(
            r"\s*(?P<expr>\w+|" + re.escape(TIME_EXPR) + r")\s+AS\s+(?P<alias>\w+|\"[^\"]+\")\s*", item
        )
        # Grafana shows what kpi_daily holds: a column, renamed; never a formula over columns
        assert plain is not None, f"not a plain column: {item!r}"
        items.append((plain["expr"], plain["alias"].strip('"')))
    return items


def history_panels() -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], target) for panel, target in panel_queries(HISTORY, HISTORY_UID)]


def test_the_history_dashboard_reads_plain_kpi_daily_columns_of_one_tenant() -> None:
    found = history_panels()
    assert len(found) >= 6
    columns = {c.name for c in kpi_daily.columns}
    for title, target in found:
        sql = target["rawSql"]
        assert target["rawQuery"] is True and target["format"] in ("time_series", "table"), title
        assert "tenant = '$tenant'" in sql and f"$__timeFilter({TIME_EXPR})" in sql, title
        items = selected_columns(sql)
        exprs = [e for e, _ in items]
        if target["format"] == "time_series":
            assert items[0] == (TIME_EXPR, "time"), title
            exprs = exprs[1:]
        assert exprs and set(exprs) <= columns, (title, set(exprs) - columns)
    shown = {e for _, t in found for e, _ in selected_columns(t["rawSql"])}
    for needed in ("reachability", "service_level", "calls_offered", "calls_answered", "calls_abandoned",
                   "reaction_time_mean_s", "reaction_time_p90_s", "tickets_created", "tickets_forwarded",
                   "escalation_time_mean_s", "escalation_time_p90_s"):  # fmt: skip
        assert needed in shown, needed
    (variable,) = variable_queries(HISTORY, HISTORY_UID)
    assert variable["name"] == "tenant" and variable["multi"] is False and variable["includeAll"] is False
    # the choices show the tenants' names (issue 16), their values stay the slugs kpi_daily holds
    query = variable["query"]
    assert "AS __value" in query and "AS __text" in query and "FROM (SELECT DISTINCT tenant FROM kpi_daily)" in query
    assert re.search(r"LEFT JOIN tenants\b", query)
    # the legends and columns in German
    for _, target in found:
        for _, alias in selected_columns(target["rawSql"]):
            assert not re.search(r"\b(Reachability|Offered|Answered|Mean|Created|Forwarded|Day)\b", alias), alias


def _pg_env(database: str, reader: str, password: str) -> dict[str, str]:
    admin = make_url(PG_ADMIN_DSN)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
        "POSTGRES_DB": database,
        "GRAFANA_DB_USER": reader,
        "GRAFANA_DB_PASSWORD": password,
    }
    if admin.password:
        env["PGPASSWORD"] = admin.password
    return env


async def run_init_script(url: str, reader: str, password: str) -> None:
    """postgres/initdb/10-grafana-reader.sh itself, as the postgres image's entrypoint runs it."""
    database = make_url(url).database or ""
    process = await asyncio.create_subprocess_exec(
        "sh", str(INIT_SCRIPT), env=_pg_env(database, reader, password),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, (out + err).decode(errors="replace")


async def drop_role(reader: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'DROP ROLE IF EXISTS "{reader}"')
    finally:
        await admin.close()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("psql") is None, reason="psql (PostgreSQL client >= 15) runs the init script")
@pytest.mark.parametrize("order", ["new volume: init script, then migrations", "init script run on a migrated db"])
async def test_every_history_query_runs_as_the_grafana_reader_which_cannot_write(order: str) -> None:
    reader, password = f"uhd_test_reader_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(18)
    try:
        async with throwaway_pg() as url:
            if order.startswith("new volume"):
                for _ in range(2):  # idempotent
                    await run_init_script(url, reader, password)  # no table yet: the event trigger grants later
                await migrate(url)
                await downgrade(url, "-1")  # kpi_daily dropped, its grant with it ...
                await migrate(url)  # ... and granted again when the migration creates it
            else:
                await migrate(url)
                for _ in range(2):
                    await run_init_script(url, reader, password)  # the tables there: granted right away
            async with Database(url) as db:
                await store_two_days(db)
                await daily.write_days(db, [D1, D2], now=NOON_D2)
                rows = await stored_rows(db)
            await check_reader(url, reader, password, rows)
    finally:
        await drop_role(reader)


async def check_reader(url: str, reader: str, password: str, rows: dict[tuple[str, date], dict[str, Any]]) -> None:
    admin = make_url(PG_ADMIN_DSN)
    conn = await asyncpg.connect(
        host=admin.host or "127.0.0.1",
        port=admin.port or 5432,
        user=reader,
        password=password,
        database=make_url(url).database,
    )
    try:
        # the $tenant variable: a tenant's name where the tenants table has one, else its slug
        variable = next(variable_queries(HISTORY, HISTORY_UID))
        choices = await conn.fetch(expand(variable["query"], NOON_D2, NOON_D2, TENANT_A))
        assert {r["__value"]: r["__text"] for r in choices} == {
            TENANT_A: TENANT_A,
            TENANT_B: TENANT_B,
            TENANT_IDLE: "Klinikum Ost",
        }
        assert len(choices) == 3

        whole = (daily.day_period(D1)[0], daily.day_period(D2)[1] - timedelta(milliseconds=1))
        only_d2 = (daily.day_period(D2)[0], daily.day_period(D2)[1] - timedelta(milliseconds=1))
        for title, target in history_panels():
            items = selected_columns(target["rawSql"])
            got = await conn.fetch(expand(target["rawSql"], *whole, TENANT_A))
            assert len(got) == 2, title
            assert list(got[0].keys()) == [alias for _, alias in items], title
            if target["format"] == "time_series":
                # a day is drawn at its Berlin midnight; the values are the stored figures, untouched
                assert [r["time"] for r in got] == [daily.day_period(D1)[0], daily.day_period(D2)[0]], title
                for result, day in zip(got, (D1, D2), strict=True):
                    for column, alias in items[1:]:
                        assert result[alias] == rows[TENANT_A, day][column], (title, alias)
            narrow = await conn.fetch(expand(target["rawSql"], *only_d2, TENANT_A))
            assert len(narrow) == 1, title
            assert await conn.fetch(expand(target["rawSql"], *whole, "no-such-tenant")) == [], title

        # read-only by default, and without the privilege when it asks for a read-write transaction
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("DELETE FROM kpi_daily")
        for statement in (
            "INSERT INTO kpi_daily (tenant, day) VALUES ('x', '2026-01-01')",
            "UPDATE kpi_daily SET calls_offered = 0",
            "SELECT count(*) FROM calls",  # nor anything but the history: no callers, tickets, accounts
            "SELECT count(*) FROM tickets",
            "SELECT count(*) FROM accounts",
            "SELECT region FROM tenants",  # of the tenants only their slugs and names
            "SELECT * FROM tenants",
            "SELECT count(*) FROM api_tokens",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction(readonly=False):
                    await conn.execute("SET TRANSACTION READ WRITE")
                    await conn.execute(statement)
    finally:
        await conn.close()
