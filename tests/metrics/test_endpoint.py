"""GET /metrics through the app: valid exposition text, bounded labels, no caller data, counters that move."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.metrics.conftest import TENANT_A, TicketSpec, store_tickets
from tests.support.helpers import trace_bytes
from tests.support.sla_data import sla_data
from tests.support.webapp import web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.domain import CallEvent, CallOffered
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.metrics import kpi, queries
from uhd_telephony.metrics.exposition import INFO_NAMES, Renderer
from uhd_telephony.metrics.live import METRIC_NAMES
from uhd_telephony.metrics.service import MetricsService, TicketStatsCache
from uhd_telephony.runtime.bus import Bus
from uhd_telephony.sla import policy
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tenants.models import KpiContract, Tenant

ALLOWED_LABELS = {"tenant", "queue", "category", "le", "source"}


class Live:
    """A tracker, a pipeline and a bus like CallService's, with the metrics listening."""

    def __init__(self, db: Database) -> None:
        # threshold 0: the captured abandon is a plain abandon, as in Asterisk's queue_log
        self.tracker = CallTracker(short_abandon_s=0, tenant_queues={"hotline": TENANT_A, "backoffice": TENANT_A})
        self.bus = Bus()
        self.pipeline = CallPipeline(self.tracker, self.bus.publish_many, clock=lambda: self.tracker.now)
        self.metrics = MetricsService(db=db, tracker=self.tracker)
        self.bus.subscribe(self.metrics.counters, CallEvent, name="metrics")
        self.pipeline.observers.extend([self.metrics.members, self.metrics.events])

    def feed(self, data: bytes) -> None:
        self.pipeline.feed(data)


@pytest.fixture
async def live(sqlite_url: str, aiohttp_client: Any) -> AsyncIterator[tuple[TestClient, Live]]:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    # the tenant's contract: threshold 0, so the captured abandon is a plain abandon in the figures too (they
    # reclassify abandons by the contract's threshold, whatever the tracker's was)
    async with db.sessionmaker() as session:
        session.add(
            KpiContract(
                tenant=TENANT_A, valid_from=date(2000, 1, 1), service_level_s=20.0, short_abandon_s=0.0,
                abandons_in_service_level=True, short_abandons_in_base=False, outside_hours_count=False,
                queues=None, callback_window_s=7200.0, changed_by="test", changed_at=datetime.now(UTC),
            )
        )  # fmt: skip
        await session.commit()
    live = Live(db)
    await live.metrics.refresh_contracts()
    client = await aiohttp_client(init_app(web_settings(sqlite_url), db=db, metrics=live.metrics))
    try:
        yield client, live
    finally:
        await db.close()


async def scrape(client: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value} of every sample, parsed by prometheus-client's own parser."""
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(await response.text()):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return float(samples[name][tuple(sorted(labels.items()))])


def tenant_name(samples: dict[str, Any], tenant: str) -> str:
    """The name ``uhd_tenant_info`` gives ``tenant`` (its one series, of value 1)."""
    (found,) = [
        dict(labels) for labels, v in samples["uhd_tenant_info"].items() if dict(labels)["tenant"] == tenant and v == 1
    ]
    return found["name"]


async def test_counters_move_after_call_events_and_labels_stay_bounded(live: tuple[TestClient, Live]) -> None:
    client, state = live
    before = await scrape(client)
    assert "uhd_calls_offered_total" not in before  # no call seen yet: no series
    assert value(before, "uhd_ami_connected") == 0
    # a real Asterisk 22 capture each: answered (Jürgen Müller), abandoned, a blind transfer to a second queue
    for name in ("a_answered", "b_abandoned", "f_transfer"):
        state.feed(trace_bytes(name))
    state.pipeline.flush()
    hotline = {"tenant": TENANT_A, "queue": "hotline"}
    # a new series shows 0 first: Prometheus' increase() counts from its first sample, the calls are not lost
    first = await scrape(client)
    assert value(first, "uhd_calls_offered_total", **hotline) == 0
    assert value(first, "uhd_call_wait_seconds_count", **hotline) == 0
    after = await scrape(client)
    assert value(after, "uhd_calls_offered_total", **hotline) == 3
    assert value(after, "uhd_calls_answered_total", **hotline) == 2
    assert value(after, "uhd_calls_abandoned_total", **hotline) == 1
    assert value(after, "uhd_call_wait_seconds_count", **hotline) == 2
    assert value(after, "uhd_call_talk_seconds_count", **hotline) == 2
    # the transfer's second stay is a stay of its own, in its queue, flagged as come by transfer
    assert value(after, "uhd_calls_offered_total", tenant=TENANT_A, queue="backoffice") == 1
    assert value(after, "uhd_calls_transferred_in_total", tenant=TENANT_A, queue="backoffice") == 1
    assert value(after, "uhd_callers_waiting", **hotline) == 0
    # only bounded labels, and nothing of a caller, a call or a ticket anywhere in the text
    text = await (await client.get("/metrics")).text()
    for name, series in after.items():
        for labels in series:
            assert {k for k, _ in labels} <= ALLOWED_LABELS | set(INFO_NAMES.get(name, ())), name
    for needle in ("Müller", "Muller", "Mueller", "+49", "@hotline", "Local/", "PJSIP/", "UHD-"):
        assert needle not in text
    for record in state.tracker._finished:  # every call id the tracker made
        assert record.split("@")[0] not in text
    # every name is one the dashboards may rely on
    families = {f.name for f in text_string_to_metric_families(text)}
    documented = {n.removesuffix("_total") for n in METRIC_NAMES} | set(INFO_NAMES)
    assert families <= documented, families - documented


async def test_a_waiting_caller_shows_until_answered(live: tuple[TestClient, Live]) -> None:
    client, state = live
    data = trace_bytes("a_answered")
    connect = data.index(b"Event: AgentConnect")
    state.feed(data[:connect])  # the caller has joined the queue, nobody answered yet
    await scrape(client)  # the series' first showing (at 0)
    samples = await scrape(client)
    hotline = {"tenant": TENANT_A, "queue": "hotline"}
    assert value(samples, "uhd_callers_waiting", **hotline) == 1
    assert value(samples, "uhd_callers_longest_wait_seconds", **hotline) >= 0
    assert value(samples, "uhd_calls_offered_total", **hotline) == 1
    assert value(samples, "uhd_calls_answered_total", **hotline) == 0
    state.feed(data[connect:])
    samples = await scrape(client)
    assert value(samples, "uhd_callers_waiting", **hotline) == 0
    assert value(samples, "uhd_calls_answered_total", **hotline) == 1


async def test_queue_members_from_events(live: tuple[TestClient, Live]) -> None:
    client, state = live
    state.feed(trace_bytes("g_members"))
    samples = await scrape(client)
    assert value(samples, "uhd_queue_agents_logged_in", queue="hotline") == 5
    assert value(samples, "uhd_queue_agents_paused", queue="hotline") == 0


async def test_ticket_totals_appear_per_tenant_and_top_level_category(
    live: tuple[TestClient, Live], sqlite_url: str
) -> None:
    client, state = live
    db = state.metrics.db
    assert db is not None
    from datetime import UTC, datetime, timedelta

    c0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    await store_tickets(
        db,
        [
            TicketSpec(TENANT_A, c0, "kis/login", 3, "phone", (("routed", "2nd_level", c0 + timedelta(minutes=7)),)),
            TicketSpec(TENANT_A, c0, None, None, "phone"),
        ],
    )
    samples = await scrape(client)
    assert "uhd_tickets_created" not in samples or not samples["uhd_tickets_created"]  # a scrape reads nothing
    _, state = live
    assert state.metrics.tickets is not None
    state.metrics.tickets.ttl_s = 0  # the background refresh's next round
    await state.metrics.refresh()
    samples = await scrape(client)
    assert value(samples, "uhd_tickets_created", tenant=TENANT_A, category="kis") == 1
    assert value(samples, "uhd_tickets_created", tenant=TENANT_A, category="none") == 1
    assert value(samples, "uhd_tickets_routed", tenant=TENANT_A, category="kis") == 1
    assert value(samples, "uhd_ticket_escalation_seconds_bucket", tenant=TENANT_A, le="300.0") == 0
    assert value(samples, "uhd_ticket_escalation_seconds_bucket", tenant=TENANT_A, le="600.0") == 1
    assert value(samples, "uhd_ticket_escalation_seconds_sum", tenant=TENANT_A) == 420


async def test_tenants_and_categories_are_named_by_the_background_refresh(live: tuple[TestClient, Live]) -> None:
    """Issue 16: ``uhd_tenant_info`` and ``uhd_category_info`` give Grafana the names of the slugs and codes; a
    tenant with series but no row names itself; a rename shows after the refresh, never read by a scrape."""
    client, state = live
    metrics = state.metrics
    assert metrics.db is not None and metrics.names is not None
    c0 = datetime(2026, 3, 2, 9, tzinfo=kpi.TIMEZONE)
    await store_tickets(
        metrics.db, [TicketSpec(TENANT_A, c0, "kis/login", 3, "phone"), TicketSpec(TENANT_A, c0, None, 3, "web")]
    )
    async with metrics.db.engine.begin() as conn:
        await conn.execute(Tenant.__table__.insert().values(tenant=TENANT_A, name='Klinikum "Nord" – Dortmund'))
        await conn.execute(Tenant.__table__.insert().values(tenant="klinikum-ost", name="Klinikum Ost"))
    state.feed(trace_bytes("a_answered"))  # a call of TENANT_A
    state.pipeline.flush()
    metrics.counters(
        CallOffered(CallRecord("1@x", "l1", "1", "hotline", "klinikum-west", c0.timestamp()), c0.timestamp())
    )
    samples = await scrape(client)
    assert "uhd_tenant_info" in samples  # before any read: every tenant with series names itself
    assert tenant_name(samples, TENANT_A) == TENANT_A
    await metrics.prime()  # at start: the names, the ticket totals
    samples = await scrape(client)
    assert samples["uhd_tenant_info"] == {
        (("name", 'Klinikum "Nord" – Dortmund'), ("tenant", TENANT_A)): 1,
        (("name", "Klinikum Ost"), ("tenant", "klinikum-ost")): 1,  # no series yet, a choice all the same
        (("name", "klinikum-west"), ("tenant", "klinikum-west")): 1,  # not in the table: the slug
    }
    titles = {
        dict(labels)["category"]: dict(labels)["title"]
        for labels in samples["uhd_category_info"]
        if dict(labels)["tenant"] == TENANT_A
    }
    assert titles["kis"] == "KIS (Krankenhausinformationssystem)"  # the top-level node's title
    assert titles["none"] == "nicht klassifiziert"
    # renamed: shown after the background refresh's next read, not by a scrape
    async with metrics.db.engine.begin() as conn:
        await conn.execute(Tenant.__table__.update().where(Tenant.tenant == TENANT_A).values(name="Klinikum Nord"))
    metrics.names.ttl_s = 0
    assert tenant_name(await scrape(client), TENANT_A) == 'Klinikum "Nord" – Dortmund'
    await metrics.refresh()
    assert tenant_name(await scrape(client), TENANT_A) == "Klinikum Nord"


async def test_ticket_totals_are_cached_and_survive_a_database_outage(tmp_path: Any, monkeypatch: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}"
    await migrate(url)
    now = [0.0]
    db = Database(url)
    try:
        cache = TicketStatsCache(db, ttl_s=30, clock=lambda: now[0])
        first = await cache.get()
        assert first is not None and cache.reads == 1
        now[0] = 10
        assert await cache.get() is first and cache.reads == 1  # within the TTL: no query

        async def down(db: Database) -> None:
            raise ConnectionRefusedError("database is down")

        monkeypatch.setattr(queries, "ticket_totals", down)
        now[0] = 45
        assert await cache.get() is first and cache.errors == 1  # the last totals serve meanwhile
        now[0] = 50
        assert await cache.get() is first and cache.errors == 1  # and the next try waits a TTL
        # /metrics tells the stale totals apart from a quiet day: their age and the failed reads
        service = MetricsService(db=db)
        service.tickets = cache
        text = service.sources_text().decode()
        assert 'uhd_metrics_source_age_seconds{source="tickets"} 50.000' in text
        assert 'uhd_metrics_source_errors_total{source="tickets"} 1' in text
        assert 'uhd_metrics_source_errors_total{source="names"} 0' in text
    finally:
        await db.close()


async def test_a_cheap_render_runs_on_the_loop_and_a_big_one_in_a_thread(
    live: tuple[TestClient, Live], monkeypatch: Any
) -> None:
    client, state = live
    threads: list[int] = []
    original = Renderer.render

    def spy(self: Renderer, sample: Any, *names: Any) -> bytes:
        threads.append(threading.get_ident())
        return original(self, sample, *names)

    monkeypatch.setattr(Renderer, "render", spy)
    # the background sources' ages stand still between the two scrapes (they are rendered to the millisecond)
    frozen = time.monotonic()
    for name in ("tickets", "calendars", "contracts", "names", "reached"):
        cache = getattr(state.metrics, name)
        if cache is not None:
            monkeypatch.setattr(cache, "clock", lambda: frozen)
    small = await (await client.get("/metrics")).text()
    assert threads == [threading.get_ident()]  # a few lines: formatted on the loop, no thread hop
    state.metrics.inline_lines = -1  # as if thousands of queues had changed since the last scrape
    big = await (await client.get("/metrics")).text()
    assert len(threads) == 2 and threads[1] != threading.get_ident()
    assert big == small


async def test_business_hours_come_from_the_tenants_sla_calendar(live: tuple[TestClient, Live]) -> None:
    client, state = live
    metrics = state.metrics
    assert metrics.db is not None and metrics.calendars is not None
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    await import_sla(metrics.db, TENANT_A, sla_data(calendar={"hours": {d: ["06:30-17:00"] for d in weekdays}}))
    await metrics.prime()  # at start
    assert not metrics.counters.calendars[TENANT_A].always
    hotline = {"tenant": TENANT_A, "queue": "hotline"}
    monday = datetime(2026, 3, 2, tzinfo=kpi.TIMEZONE).timestamp()
    for n, entered in enumerate((monday + 6 * 3600, monday + 7 * 3600, monday - 12 * 3600), start=1):  # 06:00 07:00 Sun
        metrics.counters(
            CallOffered(CallRecord(f"{n}@hotline", f"l{n}", str(n), "hotline", TENANT_A, entered), entered)
        )
    await scrape(client)  # the series' first showing (at 0)
    samples = await scrape(client)
    assert value(samples, "uhd_calls_outside_hours_total", **hotline) == 2
    assert value(samples, "uhd_calls_offered_total", **hotline) == 1
    # an import of a 24/7 calendar (here, or by the CLI in another process) is read again after the TTL
    await import_sla(metrics.db, TENANT_A, sla_data(calendar={"always": True}))
    await metrics.refresh()  # the background refresh's round
    assert not metrics.counters.calendars[TENANT_A].always  # read at most every minute
    metrics.calendars.ttl_s = 0
    await scrape(client)
    assert not metrics.counters.calendars[TENANT_A].always  # never by a scrape
    await metrics.refresh()
    assert metrics.counters.calendars[TENANT_A].always and metrics.calendars.reads == 2
    metrics.counters(CallOffered(CallRecord("9@hotline", "l9", "9", "hotline", TENANT_A, monday), monday))
    assert value(await scrape(client), "uhd_calls_offered_total", **hotline) == 2


async def test_no_metrics_service_no_metrics(sqlite_url: str, aiohttp_client: Any) -> None:
    await migrate(sqlite_url)
    client = await aiohttp_client(init_app(web_settings(sqlite_url)))
    assert (await client.get("/metrics")).status == 404


async def test_a_scrape_never_waits_for_the_database(live: tuple[TestClient, Live], monkeypatch: Any) -> None:
    """Issue 17: the ticket totals on 300,000 tickets take half a second; a scrape shows the last ones read."""
    client, state = live
    metrics = state.metrics
    assert metrics.tickets is not None and metrics.calendars is not None
    await metrics.prime()
    reads = (metrics.tickets.reads, metrics.calendars.reads)
    stuck = asyncio.Event()

    async def slow(db: Database) -> Any:
        stuck.set()
        await asyncio.sleep(60)

    monkeypatch.setattr(queries, "ticket_totals", slow)
    monkeypatch.setattr(queries, "display_names", slow)
    monkeypatch.setattr(policy, "load_calendars", slow)
    assert metrics.names is not None
    metrics.tickets.ttl_s = metrics.calendars.ttl_s = metrics.names.ttl_s = 0  # everything stale
    async with asyncio.timeout(2):
        for _ in range(3):
            assert (await client.get("/metrics")).status == 200
    assert not stuck.is_set() and (metrics.tickets.reads, metrics.calendars.reads) == reads
    # the background round does read (and a stuck database times out there, not in a scrape)
    refresh = asyncio.create_task(metrics.refresh())
    async with asyncio.timeout(2):
        await stuck.wait()
    refresh.cancel()
    assert (await client.get("/metrics")).status == 200
