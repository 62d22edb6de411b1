"""The /metrics text written directly is byte for byte what prometheus-client's own path writes for the same
state (hostile tenant, queue and category names included, and the info series naming tenants and categories);
kept texts follow every change of the counters and of the names."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import exposition
from uhd_telephony.metrics.exposition import (
    CATEGORY_INFO,
    COUNTERS,
    ESCALATION,
    TALK,
    TENANT_INFO,
    TICKET_GAUGES,
    WAIT,
    DisplayNames,
    Renderer,
)
from uhd_telephony.metrics.live import (
    ESCALATION_BUCKETS,
    TALK_BUCKETS,
    WAIT_BUCKETS,
    AmiSample,
    CallCounters,
    Histogram,
    Pair,
    QueueCalls,
    Sample,
    TicketTotals,
)
from uhd_telephony.metrics.members import QueueAgents
from uhd_telephony.tenants.contract import berlin_day, rules_at

# label values a tenant, queue or category file may hold: quotes, backslashes, newlines, braces, commas, umlauts
HOSTILE = ['klinikum-"nord"', "c:\\queues\\", "zeile 1\nzeile 2", 'a},b="{', "Müller-Warteschlange", "\\n"]
TENANTS = ["klinikum-nord", HOSTILE[0], HOSTILE[2], "t\\"]
QUEUES = ["hotline", "backoffice", HOSTILE[1], HOSTILE[3], HOSTILE[4], HOSTILE[5]]


# -- the reference: the families as prometheus-client metric objects, through generate_latest ---------------
class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _buckets(h: Histogram, bounds: Iterable[float]) -> list[tuple[str, float]]:
    running = list(itertools.accumulate(h.counts))
    return [*((floatToGoString(b), n) for b, n in zip(bounds, running, strict=True)), ("+Inf", h.count)]


def info_reference(s: Sample, names: DisplayNames | None) -> list[Metric]:
    """The info families as prometheus-client's ``InfoMetricFamily`` (a gauge ``<name>_info`` of value 1)."""
    names = names or DisplayNames()
    tenants = {pair[0] for pair in s.pairs} | {pair[0] for pair in s.waiting} | set(names.tenants)
    categories = set(names.categories)
    if (t := s.tickets) is not None:
        tenants |= {tenant for tenant, _ in t.created} | set(t.escalation)
        categories |= set(t.created) | set(t.routed) | set(t.escalated)
    tenant_info = InfoMetricFamily(TENANT_INFO[0].removesuffix("_info"), TENANT_INFO[1], labels=["tenant"])
    for tenant in sorted(tenants):
        tenant_info.add_metric([tenant], {"name": names.tenants.get(tenant) or tenant})
    category_info = InfoMetricFamily(
        CATEGORY_INFO[0].removesuffix("_info"), CATEGORY_INFO[1], labels=["tenant", "category"]
    )
    for tenant, category in sorted(categories):
        title = names.categories.get((tenant, category)) or ("nicht klassifiziert" if category == "none" else category)
        category_info.add_metric([tenant, category], {"title": title})
    contract_info = InfoMetricFamily(
        exposition.CONTRACT_INFO[0].removesuffix("_info"), exposition.CONTRACT_INFO[1], labels=["tenant"]
    )
    with_series = {pair[0] for pair in s.pairs} | {pair[0] for pair in s.waiting}
    if (t := s.tickets) is not None:
        with_series |= {tenant for tenant, _ in t.created} | set(t.escalation)
    for tenant in sorted(with_series | set(s.schedules)):
        r = rules_at(s.schedules.get(tenant, ()), s.day or berlin_day(datetime.now(UTC)))
        contract_info.add_metric(
            [tenant],
            {
                "abandons_in_service_level": "true" if r.abandons_in_service_level else "false",
                "outside_hours_count": "true" if r.outside_hours_count else "false",
                "queues": ",".join(sorted(r.queues or ())),
                "service_level_s": floatToGoString(r.service_level_s),
                "short_abandon_s": floatToGoString(r.short_abandon_s),
                "short_abandons_in_base": "true" if r.short_abandons_in_base else "false",
                "valid_from": "" if r.valid_from is None else r.valid_from.isoformat(),
            },
        )
    return [tenant_info, category_info, contract_info]


def reference(calls: dict[Pair, QueueCalls], s: Sample, names: DisplayNames | None = None) -> bytes:
    """What the metric-object path (``generate_latest``) writes for these counts and this sample's gauges."""
    tq = ["tenant", "queue"]
    ordered = sorted(calls.items())
    families: list[Metric] = []
    for name, doc, attr in COUNTERS:
        counter = CounterMetricFamily(name, doc, labels=tq)
        for (tenant, queue), q in ordered:
            counter.add_metric([tenant, queue], getattr(q, attr))
        families.append(counter)
    for (name, doc), bounds, which in ((WAIT, WAIT_BUCKETS, "wait"), (TALK, TALK_BUCKETS, "talk")):
        histogram = HistogramMetricFamily(name, doc, labels=tq)
        for (tenant, queue), q in ordered:
            h = getattr(q, which)
            histogram.add_metric([tenant, queue], _buckets(h, bounds), h.sum)
        families.append(histogram)
    waiting = GaugeMetricFamily(*exposition.WAITING, labels=tq)
    longest = GaugeMetricFamily(*exposition.LONGEST, labels=tq)
    for (tenant, queue), (n, wait_s) in sorted(s.waiting.items()):
        waiting.add_metric([tenant, queue], n)
        longest.add_metric([tenant, queue], round(wait_s, 3))
    logged_in = GaugeMetricFamily(*exposition.LOGGED_IN, labels=["queue"])
    paused = GaugeMetricFamily(*exposition.PAUSED, labels=["queue"])
    for queue, agents in s.agents.items():
        logged_in.add_metric([queue], agents.logged_in)
        paused.add_metric([queue], agents.paused)
    families += [waiting, longest, logged_in, paused]
    if (a := s.ami) is not None:
        families.append(
            GaugeMetricFamily("uhd_ami_connected", "1 while logged in to the Asterisk Manager Interface", a.connected)
        )
        families.append(
            CounterMetricFamily("uhd_ami_reconnects", "AMI reconnects since the service started", a.reconnects)
        )
        if a.event_lag_s is not None:
            families.append(
                GaugeMetricFamily(
                    "uhd_ami_event_lag_seconds",
                    "Now minus the Timestamp of the latest AMI event",
                    round(a.event_lag_s, 3),
                )
            )
        for kind, n in (
            ("skipped", a.frames_skipped),
            ("malformed", a.frames_malformed),
            ("oversized", a.frames_oversized),
        ):
            families.append(CounterMetricFamily(f"uhd_ami_frames_{kind}", f"AMI frames {kind} by the decoder", n))
    if (t := s.tickets) is not None:
        for name, doc, attr in TICKET_GAUGES:
            gauge = GaugeMetricFamily(name, doc, labels=["tenant", "category"])
            for (tenant, category), n in sorted(getattr(t, attr).items()):
                gauge.add_metric([tenant, category], n)
            families.append(gauge)
        escalation = HistogramMetricFamily(*ESCALATION, labels=["tenant"])
        les = [*(floatToGoString(b) for b in ESCALATION_BUCKETS), "+Inf"]
        for tenant, (counts, total) in sorted(t.escalation.items()):
            escalation.add_metric([tenant], list(zip(les, counts, strict=True)), total)
        families.append(escalation)
    families += info_reference(s, names)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


# -- a state to render --------------------------------------------------------------------------------------
class Calls:
    """Random queue stays of every outcome through the counters, over the hostile pairs."""

    def __init__(self, counters: CallCounters, seed: int = 5) -> None:
        self.counters = counters
        self.rng = random.Random(seed)
        self.n = 0
        self.pending: dict[Pair, list[CallRecord]] = {}

    def push(self, count: int, pairs: list[Pair] | None = None) -> set[Pair]:
        touched = set()
        for _ in range(count):
            self.n += 1
            tenant, queue = self.rng.choice(pairs) if pairs else (self.rng.choice(TENANTS), self.rng.choice(QUEUES))
            touched.add((tenant, queue))
            entered = 1_780_000_000.0 + self.n
            call = CallRecord(f"{self.n}@q", f"l{self.n}", str(self.n), queue, tenant, entered)
            outcome = self.rng.choice(list(Outcome))
            if outcome != Outcome.CLOSED:
                self.counters(CallOffered(call.snapshot(), entered))
            call.wait_s = round(self.rng.expovariate(1 / 30), 3)
            if outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED):
                call.answered_at = entered + call.wait_s
                self.counters(CallAnswered(call.snapshot(), call.answered_at))
                call.talk_s = self.rng.choice([round(self.rng.expovariate(1 / 200), 3), 1e7, 0.1 + 0.2])
            call.outcome = outcome
            self.counters(CallEnded(call, entered + 500))
        return touched

    def step(self, pair: Pair) -> Pair:
        """One event of a stay in progress in ``pair``: its offer, then its answer, then its end."""
        pending = self.pending.setdefault(pair, [])
        if not pending or self.rng.random() < 0.3:
            self.n += 1
            call = CallRecord(f"{self.n}@q", f"l{self.n}", str(self.n), pair[1], pair[0], 1_780_000_000.0 + self.n)
            pending.append(call)
            self.counters(CallOffered(call.snapshot(), call.entered_at))
        elif (call := pending[0]).answered_at is None:
            call.answered_at, call.wait_s = call.entered_at + 4.5, 4.5
            self.counters(CallAnswered(call.snapshot(), call.answered_at))
        else:
            call.outcome, call.talk_s = Outcome.ANSWERED, 77.25
            self.counters(CallEnded(pending.pop(0), call.answered_at + 77.25))
        return pair


def tickets() -> TicketTotals:
    categories = ["kis", "none", HOSTILE[2], HOSTILE[3]]
    created = {(tenant, c): 10**i + i for i, (tenant, c) in enumerate(itertools.product(TENANTS, categories))}
    routed = {k: v // 3 for k, v in created.items()}
    escalation = {tenant: ([0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 1_234_567], 99.5 * i) for i, tenant in enumerate(TENANTS)}
    return TicketTotals(created, routed, {k: 1 for k in created}, escalation)


def sample(counters: CallCounters, renderer: Renderer, ami: AmiSample | None, t: TicketTotals | None) -> Sample:
    pairs, changed = counters.sample(renderer.versions)
    waiting = {pair: (i % 3, 12.3456789 * i) for i, pair in enumerate(pairs)}
    agents = {queue: QueueAgents(i + 2, i + 1, i % 2) for i, queue in enumerate(sorted(QUEUES))}
    return Sample(pairs, changed, waiting, agents, ami, t)


def parsed(text: bytes) -> list[tuple[str, str, list[tuple[str, dict[str, str], float]]]]:
    return [
        (f.name, f.type, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text.decode())
    ]


# -- the tests ------------------------------------------------------------------------------------------------
def test_the_text_is_what_generate_latest_writes_for_hostile_names() -> None:
    counters = CallCounters()
    Calls(counters).push(600)
    assert len(counters.queues) == len(TENANTS) * len(QUEUES)
    renderer = Renderer()
    ami = AmiSample(True, 3, 1.23456789, 1, 2, 1_000_001)
    first = sample(counters, renderer, ami, tickets())
    zeros = {pair: QueueCalls() for pair in counters.queues}
    assert renderer.render(first) == reference(zeros, first)  # every pair's first showing is all zeros
    s = sample(counters, renderer, AmiSample(False, 0, None, 0, 0, 0), None)
    text = renderer.render(s)
    assert text == reference(counters.queues, s)
    # and prometheus-client's parser reads the hostile names back as they were
    families = parsed(text)
    labels = {(sm[1].get("tenant"), sm[1].get("queue")) for _, _, samples in families for sm in samples}
    assert set(counters.queues) <= labels
    offered = {
        (sm[1]["tenant"], sm[1]["queue"]): sm[2] for sm in dict((f[0], f[2]) for f in families)["uhd_calls_offered"]
    }
    assert offered == {pair: q.offered for pair, q in counters.queues.items()}
    assert sum(q.outside_hours for q in counters.queues.values()) > 0  # closed calls: outside hours too
    assert {name for name, _, _ in families} >= {"uhd_calls_outside_hours", "uhd_call_wait_seconds"}


def test_only_the_pairs_that_changed_are_formatted_and_the_text_follows_every_change() -> None:
    counters = CallCounters()
    calls = Calls(counters, seed=11)
    calls.push(300)
    renderer = Renderer()
    totals = tickets()
    renderer.render(sample(counters, renderer, None, totals))  # first showing
    renderer.render(sample(counters, renderer, None, totals))
    pairs = sorted(counters.queues)
    rng = random.Random(3)
    for scrape in range(40):
        before = renderer.pairs_rendered
        touched = calls.push(rng.randint(0, 4), rng.sample(pairs, 3)) if scrape % 5 else set()
        touched |= {calls.step(rng.choice(pairs)) for _ in range(rng.randint(0, 3))}  # stays in progress
        new_totals = tickets() if scrape % 7 == 0 else totals
        s = sample(counters, renderer, AmiSample(True, scrape, scrape / 7, 0, 0, 0), new_totals)
        assert set(s.changed) == touched
        text = renderer.render(s)
        assert renderer.pairs_rendered - before == len(touched)
        assert text == reference(counters.queues, s)
        cold = Sample(s.pairs, {p: q.copy() for p, q in counters.queues.items()}, s.waiting, s.agents, s.ami, s.tickets)
        assert text == Renderer().render(cold)
    # a pair that appears later shows at 0 first, then its counts
    calls.push(1, [("klinikum-neu", "hotline")])
    s = sample(counters, renderer, None, totals)
    assert s.changed[("klinikum-neu", "hotline")].offered == 0
    renderer.render(s)
    s = sample(counters, renderer, None, totals)
    assert set(s.changed) == {("klinikum-neu", "hotline")} and renderer.render(s) == reference(counters.queues, s)


def test_numbers_are_written_as_floatToGoString_writes_them() -> None:
    for value in [0, 1, 7, 999_999, 1_000_000, 12_345_678, 10**17, -3, 0.1 + 0.2, 1e-7, 123456.7, 2.5e6, 1e300]:
        assert exposition.number(value) == floatToGoString(value), value
    assert exposition.number(float("inf")) == "+Inf"


# display names a tenants table or a category tree may hold: quotes, backslashes, line breaks, braces, umlauts
NAMES = DisplayNames(
    tenants={
        "klinikum-nord": 'Klinikum "Nord" – Haus {A}, Dortmund',
        HOSTILE[0]: "C:\\Kliniken\\Nord\\",
        "klinikum-ost": "Klinikum Ost\nzweite Zeile",  # a tenant without series: still a choice in Grafana
        "t\\": "",  # an empty name: the slug names it
    },
    categories={
        ("klinikum-nord", "kis"): 'KIS (Klinisches Informationssystem) "iMed"',
        (HOSTILE[0], HOSTILE[3]): "Geräte\\Drucker\nneu",
        ("klinikum-ost", "pacs"): "PACS",
    },
)


def test_the_info_series_name_every_tenant_and_category_escaped() -> None:
    counters = CallCounters()
    Calls(counters).push(300)
    renderer = Renderer()
    totals = tickets()
    s = sample(counters, renderer, None, totals)
    text = renderer.render(s, NAMES)
    assert text == reference({pair: QueueCalls() for pair in counters.queues}, s, NAMES)
    families = {name: samples for name, _, samples in parsed(text)}
    tenant_names = {sm[1]["tenant"]: sm[1]["name"] for sm in families["uhd_tenant_info"]}
    assert all(sm[0] == "uhd_tenant_info" and sm[2] == 1 for sm in families["uhd_tenant_info"])
    # every tenant with series, and every tenant of the table, read back exactly as named
    assert set(tenant_names) == {pair[0] for pair in counters.queues} | set(NAMES.tenants)
    assert tenant_names["klinikum-nord"] == 'Klinikum "Nord" – Haus {A}, Dortmund'
    assert tenant_names[HOSTILE[0]] == "C:\\Kliniken\\Nord\\"
    assert tenant_names["klinikum-ost"] == "Klinikum Ost\nzweite Zeile"
    assert tenant_names["t\\"] == "t\\" and tenant_names[HOSTILE[2]] == HOSTILE[2]  # no name: the slug
    titles = {(sm[1]["tenant"], sm[1]["category"]): sm[1]["title"] for sm in families["uhd_category_info"]}
    assert titles[("klinikum-nord", "kis")] == 'KIS (Klinisches Informationssystem) "iMed"'
    assert titles[(HOSTILE[0], HOSTILE[3])] == "Geräte\\Drucker\nneu"
    assert titles[("klinikum-nord", "none")] == "nicht klassifiziert"
    assert titles[(HOSTILE[2], "kis")] == "kis"  # a code the tree does not name
    assert set(titles) == set(totals.created) | set(NAMES.categories)
    assert (
        b'uhd_tenant_info{name="Klinikum \\"Nord\\" \xe2\x80\x93 Haus {A}, Dortmund",tenant="klinikum-nord"} 1.0\n'
        in text
    )


def test_the_info_text_follows_the_names_and_the_tenants_with_series() -> None:
    counters = CallCounters()
    calls = Calls(counters, seed=7)
    calls.push(50, [("klinikum-nord", "hotline")])
    renderer = Renderer()
    s = sample(counters, renderer, None, None)
    assert renderer.render(s) == reference({("klinikum-nord", "hotline"): QueueCalls()}, s)  # no names: slugs
    s = sample(counters, renderer, None, None)
    renamed = DisplayNames(tenants={"klinikum-nord": "Klinikum Nord"})
    assert renderer.render(s, renamed) == reference(counters.queues, s, renamed)
    assert renderer.cost(s, renamed) == renderer.cost(s)  # names already rendered: nothing new to format
    calls.push(1, [("klinikum-neu", "hotline")])  # a tenant the table does not know yet
    s = sample(counters, renderer, None, None)
    text = renderer.render(s, renamed)
    assert b'uhd_tenant_info{name="klinikum-neu",tenant="klinikum-neu"} 1.0\n' in text
    assert b'uhd_tenant_info{name="Klinikum Nord",tenant="klinikum-nord"} 1.0\n' in text
