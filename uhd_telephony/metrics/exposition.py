"""The ``/metrics`` text: Prometheus' text format (version 0.0.4) written directly from a ``live.Sample``.

The bytes are those ``prometheus_client.generate_latest`` writes for the same metric families
(``tests/metrics/test_exposition.py`` keeps that path as the reference): ``# HELP`` and ``# TYPE`` per family, one
line per sample, labels sorted by name, label values escaped (backslash, newline, double quote), numbers by
prometheus-client's ``floatToGoString``. Building a ``Metric`` and a ``Sample`` with a label dict for each of the
~6,500 samples at 50 tenants, for ``generate_latest`` to take apart again, made tens of thousands of short-lived
objects per scrape; the garbage collections they set off were the slow scrapes. Here a scrape makes a
few hundred strings.

Each (tenant, queue)'s counter and histogram lines are kept with the ``version`` of the counts they show: a
scrape formats only the pairs whose counts changed since the previous one (a few per scrape interval even in a
busy hour) and the ticket totals only when they were read anew; the gauges (waiting callers, agents, AMI) every
time. ``cost`` estimates the lines a render will format, so ``MetricsService`` can render a cheap scrape on the
event loop and a big one (the first, or thousands of pairs) in a thread.

Info series give the slugs and codes their names for Grafana's legends and choices (issue 16):
``uhd_tenant_info{tenant, name} 1`` for every tenant (the tenants table's display name; a slug the table does not
know names itself, so a dashboard's join ``* on(tenant) group_left(name) uhd_tenant_info`` never drops a series) and
``uhd_category_info{tenant, category, title} 1`` for every top-level category (its title; ``none``: "nicht
klassifiziert", in German like the dashboards). The names are read by the background refresh, never by a scrape.
``uhd_kpi_contract_info{tenant, service_level_s, short_abandon_s, …} 1`` gives each tenant's KPI rules in force
today (``tenants.contract``), read by the background refresh too; the dashboards' service level is computed from
the counters the contract classifies (``live``'s docstring), so it needs no join.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from prometheus_client.utils import floatToGoString

from uhd_telephony.i18n import DEFAULT_LOCALE, gettext
from uhd_telephony.metrics.kpi import UNCLASSIFIED
from uhd_telephony.metrics.live import (
    ESCALATION_BUCKETS,
    TALK_BUCKETS,
    WAIT_BUCKETS,
    AmiSample,
    Histogram,
    Pair,
    QueueCalls,
    Sample,
    TicketTotals,
    le,
)
from uhd_telephony.tenants.contract import Schedule, berlin_day, rules_at

# (family name, help, QueueCalls attribute) of the call counters, in the order /metrics shows them
COUNTERS: tuple[tuple[str, str, str], ...] = (
    (
        "uhd_calls_offered",
        "Queue stays offered, counted as the caller enters the queue (refused joins included)",
        "offered",
    ),
    ("uhd_calls_answered", "Queue stays answered (answered + transferred)", "answered"),
    ("uhd_calls_abandoned", "Queue stays abandoned by the caller after the short-abandon threshold", "abandoned"),
    ("uhd_calls_short_abandoned", "Queue stays abandoned within the short-abandon threshold", "short_abandoned"),
    ("uhd_calls_timed_out", "Queue stays that timed out of the queue (timeout + overflow)", "timed_out"),
    (
        "uhd_calls_closed",
        "Calls the dialplan turned away as closed (never in a queue); also counted in uhd_calls_outside_hours_total",
        "closed",
    ),
    (
        "uhd_calls_outside_hours",
        "Stays outside business hours (entered outside the tenant's SLA calendar, or closed): not offered",
        "outside_hours",
    ),
    ("uhd_calls_transferred_in", "Offered queue stays that came by an agent's transfer", "transferred_in"),
    (
        "uhd_calls_left_at_announcement",
        "Calls that ended at a major incident's announcement before the queue (never in a queue): not offered",
        "left_at_announcement",
    ),
    (
        "uhd_calls_subscribed_at_announcement",
        "Of uhd_calls_left_at_announcement_total: the caller pressed the key to be told when it is over",
        "subscribed_at_announcement",
    ),
    (
        "uhd_calls_answered_within_service_level",
        "Queue stays answered within the tenant's contract's service-level threshold T (wait <= T)",
        "answered_within_service_level",
    ),
    (
        "uhd_calls_excluded_from_base",
        "Offered queue stays the tenant's contract leaves out of the base of reachability and abandon rate "
        "(short abandons, unless the contract keeps them)",
        "excluded_from_base",
    ),
    (
        "uhd_calls_excluded_from_service_level",
        "Offered queue stays the tenant's contract leaves out of the service level's base (those out of the base, "
        "and abandoned ones where the contract says so)",
        "excluded_from_service_level",
    ),
    (
        "uhd_calls_not_under_contract",
        "Queue stays of queues the tenant's contract does not count: in no other call counter",
        "not_under_contract",
    ),
)
WAIT = ("uhd_call_wait_seconds", "Call reaction time: queue entry to answer of answered stays")
TALK = ("uhd_call_talk_seconds", "Talk time of answered stays")
WAITING = ("uhd_callers_waiting", "Callers waiting in a queue now")
LONGEST = ("uhd_callers_longest_wait_seconds", "Longest current wait in a queue")
LOGGED_IN = ("uhd_queue_agents_logged_in", "Queue members logged in (device reachable)")
PAUSED = ("uhd_queue_agents_paused", "Queue members logged in and paused")
TICKET_GAUGES = (
    ("uhd_tickets_created", "Tickets stored, by current top-level category (database total)", "created"),
    ("uhd_tickets_routed", "Tickets routed beyond 1st level, by top-level category (database total)", "routed"),
    ("uhd_tickets_escalated", "Tickets with an escalation, by top-level category (database total)", "escalated"),
)
ESCALATION = (
    "uhd_ticket_escalation_seconds",
    "Escalation time: ticket creation to first forwarding (routed beyond 1st level), database total",
)

TENANT_INFO = ("uhd_tenant_info", "The tenant's display name: join it on tenant for legends and choices (value 1)")
CATEGORY_INFO = (
    "uhd_category_info",
    "A top-level category's title: join it on tenant and category for legends (value 1)",
)
CONTRACT_INFO = (
    "uhd_kpi_contract_info",
    "The KPI rules of the tenant's contract in force today (tenants.contract; value 1)",
)
CONTRACT_LABELS = (
    "abandons_in_service_level",
    "outside_hours_count",
    "queues",
    "service_level_s",
    "short_abandon_s",
    "short_abandons_in_base",
    "tenant",
    "valid_from",
)
# the families and labels of the info series (live.METRIC_NAMES lists the figures')
INFO_NAMES: dict[str, tuple[str, ...]] = {
    TENANT_INFO[0]: ("tenant", "name"),
    CATEGORY_INFO[0]: ("tenant", "category", "title"),
    CONTRACT_INFO[0]: CONTRACT_LABELS,
}

# lines a render formats per changed (tenant, queue), per waiting row, per ticket gauge row, per escalation row
PAIR_LINES = len(COUNTERS) + len(WAIT_BUCKETS) + 3 + len(TALK_BUCKETS) + 3
TICKET_ESCALATION_LINES = len(ESCALATION_BUCKETS) + 3

_WAIT_LES = tuple(map(le, WAIT_BUCKETS))
_TALK_LES = tuple(map(le, TALK_BUCKETS))
_ESCALATION_LES = (*map(le, ESCALATION_BUCKETS), "+Inf")


def escape(value: str) -> str:
    """A label value as the text format quotes it (what ``generate_latest`` does)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def header(name: str, doc: str, kind: str) -> str:
    doc = doc.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


def number(value: float) -> str:
    """``floatToGoString``, with the counts' common case (a whole number below 10^6: "42.0") made directly."""
    if type(value) is int and 0 <= value < 1_000_000:
        return f"{value}.0"
    return floatToGoString(value)


def pair_labels(pair: Pair) -> str:
    """The label text of a (tenant, queue), in label-name order: ``queue="…",tenant="…"``."""
    return f'queue="{escape(pair[1])}",tenant="{escape(pair[0])}"'


def _histogram(name: str, labels: str, les: tuple[str, ...], h: Histogram) -> str:
    out = []
    running = 0
    for bound, n in zip(les, h.counts, strict=True):
        running += n
        out.append(f'{name}_bucket{{le="{bound}",{labels}}} {number(running)}\n')
    out.append(f'{name}_bucket{{le="+Inf",{labels}}} {number(h.count)}\n')
    out.append(f"{name}_count{{{labels}}} {number(h.count)}\n")
    out.append(f"{name}_sum{{{labels}}} {number(h.sum)}\n")
    return "".join(out)


def pair_text(labels: str, q: QueueCalls) -> tuple[bytes, ...]:
    """One (tenant, queue)'s line of each counter family, then its two histograms' lines."""
    lines = [f"{name}_total{{{labels}}} {number(getattr(q, attr))}\n".encode() for name, _, attr in COUNTERS]
    lines.append(_histogram(WAIT[0], labels, _WAIT_LES, q.wait).encode())
    lines.append(_histogram(TALK[0], labels, _TALK_LES, q.talk).encode())
    return tuple(lines)


_PAIR_HEADS = (
    *(header(f"{name}_total", doc, "counter").encode() for name, doc, _ in COUNTERS),
    header(*WAIT, "histogram").encode(),
    header(*TALK, "histogram").encode(),
)


def gauges_text(s: Sample) -> str:
    """The families taken anew each scrape: waiting callers, queue agents, the AMI link."""
    out = [header(*WAITING, "gauge")]
    rows = [(pair_labels(pair), n, wait_s) for pair, (n, wait_s) in sorted(s.waiting.items())]
    out.extend(f"{WAITING[0]}{{{labels}}} {number(n)}\n" for labels, n, _ in rows)
    out.append(header(*LONGEST, "gauge"))
    out.extend(f"{LONGEST[0]}{{{labels}}} {number(round(wait_s, 3))}\n" for labels, _, wait_s in rows)
    queues = [(escape(queue), agents) for queue, agents in s.agents.items()]
    out.append(header(*LOGGED_IN, "gauge"))
    out.extend(f'{LOGGED_IN[0]}{{queue="{queue}"}} {number(a.logged_in)}\n' for queue, a in queues)
    out.append(header(*PAUSED, "gauge"))
    out.extend(f'{PAUSED[0]}{{queue="{queue}"}} {number(a.paused)}\n' for queue, a in queues)
    if s.ami is not None:
        out.extend(ami_lines(s.ami))
    return "".join(out)


def ami_lines(a: AmiSample) -> Iterator[str]:
    yield header("uhd_ami_connected", "1 while logged in to the Asterisk Manager Interface", "gauge")
    yield f"uhd_ami_connected {number(float(a.connected))}\n"
    yield header("uhd_ami_reconnects_total", "AMI reconnects since the service started", "counter")
    yield f"uhd_ami_reconnects_total {number(a.reconnects)}\n"
    if a.event_lag_s is not None:
        yield header("uhd_ami_event_lag_seconds", "Now minus the Timestamp of the latest AMI event", "gauge")
        yield f"uhd_ami_event_lag_seconds {number(round(a.event_lag_s, 3))}\n"
    for kind, n in (
        ("skipped", a.frames_skipped),
        ("malformed", a.frames_malformed),
        ("oversized", a.frames_oversized),
    ):
        yield header(f"uhd_ami_frames_{kind}_total", f"AMI frames {kind} by the decoder", "counter")
        yield f"uhd_ami_frames_{kind}_total {number(n)}\n"


def ticket_text(t: TicketTotals) -> str:
    """The ticket totals' families (per tenant and top-level category; the escalation histogram per tenant)."""
    out = []
    for name, doc, attr in TICKET_GAUGES:
        out.append(header(name, doc, "gauge"))
        values: dict[tuple[str, str], int] = getattr(t, attr)
        for (tenant, category), n in sorted(values.items()):
            out.append(f'{name}{{category="{escape(category)}",tenant="{escape(tenant)}"}} {number(n)}\n')
    name = ESCALATION[0]
    out.append(header(*ESCALATION, "histogram"))
    for tenant, (counts, total) in sorted(t.escalation.items()):
        labels = f'tenant="{escape(tenant)}"'
        for bound, n in zip(_ESCALATION_LES, counts, strict=True):
            out.append(f'{name}_bucket{{le="{bound}",{labels}}} {number(n)}\n')
        out.append(f"{name}_count{{{labels}}} {number(counts[-1])}\n")
        out.append(f"{name}_sum{{{labels}}} {number(total)}\n")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class DisplayNames:
    """What people call the labels' codes (``queries.display_names``): tenants and top-level categories."""

    tenants: Mapping[str, str] = field(default_factory=dict)  # slug -> display name
    categories: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (tenant, top-level code) -> title


NO_NAMES = DisplayNames()


def category_title(names: DisplayNames, tenant: str, category: str) -> str:
    """A top-level category's title; "nicht klassifiziert" for ``none``; a code the tree no longer has as it is."""
    title = names.categories.get((tenant, category))
    if title:
        return title
    return gettext(DEFAULT_LOCALE, "not classified") if category == UNCLASSIFIED else category


def info_text(names: DisplayNames, tenants: Iterable[str] = (), totals: TicketTotals | None = None) -> str:
    """The info families: every tenant of ``names`` and of ``tenants`` (those with series), every top-level
    category of ``names`` and of the ticket totals."""
    out = [header(*TENANT_INFO, "gauge")]
    for slug in sorted({*names.tenants, *tenants}):
        name = names.tenants.get(slug) or slug
        out.append(f'{TENANT_INFO[0]}{{name="{escape(name)}",tenant="{escape(slug)}"}} 1.0\n')
    keys = set(names.categories)
    if totals is not None:
        keys.update(totals.created, totals.routed, totals.escalated)
    out.append(header(*CATEGORY_INFO, "gauge"))
    for tenant, category in sorted(keys):
        title = category_title(names, tenant, category)
        labels = f'category="{escape(category)}",tenant="{escape(tenant)}",title="{escape(title)}"'
        out.append(f"{CATEGORY_INFO[0]}{{{labels}}} 1.0\n")
    return "".join(out)


def contract_text(schedules: Mapping[str, Schedule], tenants: Iterable[str], day: date) -> str:
    """``uhd_kpi_contract_info`` of every tenant with series or a contract: the rules in force on ``day``."""
    out = [header(*CONTRACT_INFO, "gauge")]
    for tenant in sorted({*schedules, *tenants}):
        r = rules_at(schedules.get(tenant, ()), day)
        values = {
            "abandons_in_service_level": str(r.abandons_in_service_level).lower(),
            "outside_hours_count": str(r.outside_hours_count).lower(),
            "queues": "" if r.queues is None else ",".join(sorted(r.queues)),
            "service_level_s": floatToGoString(r.service_level_s),
            "short_abandon_s": floatToGoString(r.short_abandon_s),
            "short_abandons_in_base": str(r.short_abandons_in_base).lower(),
            "tenant": tenant,
            "valid_from": "" if r.valid_from is None else r.valid_from.isoformat(),
        }
        labels = ",".join(f'{name}="{escape(values[name])}"' for name in CONTRACT_LABELS)
        out.append(f"{CONTRACT_INFO[0]}{{{labels}}} 1.0\n")
    return "".join(out)


def sample_tenants(s: Sample) -> frozenset[str]:
    """The tenants a sample has series of."""
    tenants = {pair[0] for pair in s.pairs}
    tenants.update(pair[0] for pair in s.waiting)
    if s.tickets is not None:
        tenants.update(tenant for tenant, _ in s.tickets.created)
        tenants.update(s.tickets.escalation)
    return frozenset(tenants)


class Renderer:
    """The exposition text of samples, keeping the text of each pair's counters, of the ticket totals and of the
    info series (made anew when the names, the ticket totals or the tenants with series change).

    Not for concurrent use: ``MetricsService`` renders one scrape at a time (on the loop or in one thread), and
    takes each sample against the ``versions`` the previous render left.
    """

    def __init__(self) -> None:
        self.versions: dict[Pair, int] = {}  # the version of the counts each pair's kept text shows
        self.pairs_rendered = 0  # pair texts made (a test counts them)
        self._pairs: dict[Pair, tuple[bytes, ...]] = {}
        self._labels: dict[Pair, str] = {}
        self._tickets: tuple[TicketTotals | None, bytes] = (None, b"")
        self._info: tuple[DisplayNames | None, TicketTotals | None, frozenset[str], bytes] = (
            None,
            None,
            frozenset(),
            b"",
        )
        self._contracts: tuple[Mapping[str, Schedule] | None, date | None, frozenset[str], bytes] = (
            None,
            None,
            frozenset(),
            b"",
        )

    def cost(self, s: Sample, names: DisplayNames | None = None) -> int:
        """Roughly the lines ``render(s)`` formats: what decides whether it may run on the event loop."""
        lines = len(s.changed) * PAIR_LINES + 2 * len(s.waiting) + 2 * len(s.agents)
        if names is not None and names is not self._info[0]:
            lines += len(names.tenants) + len(names.categories)
        t = s.tickets
        if t is not None and t is not self._tickets[0]:
            lines += len(t.created) + len(t.routed) + len(t.escalated)
            lines += len(t.escalation) * TICKET_ESCALATION_LINES
        return lines

    def render(self, s: Sample, names: DisplayNames | None = None) -> bytes:
        """The exposition text of ``s``, with the info series of ``names`` (None: every slug names itself)."""
        for pair, q in s.changed.items():
            labels = self._labels.get(pair)
            if labels is None:
                labels = self._labels[pair] = pair_labels(pair)
            self._pairs[pair] = pair_text(labels, q)
            self.versions[pair] = q.version
        self.pairs_rendered += len(s.changed)
        texts = [self._pairs[pair] for pair in s.pairs]
        out: list[bytes] = []
        for i, head in enumerate(_PAIR_HEADS):
            out.append(head)
            out.extend(text[i] for text in texts)
        out.append(gauges_text(s).encode())
        out.append(self._ticket_text(s.tickets))
        out.append(self._info_text(s, names))
        out.append(self._contract_text(s))
        return b"".join(out)

    def _contract_text(self, s: Sample) -> bytes:
        tenants = sample_tenants(s)
        day = s.day or berlin_day(datetime.now(UTC))
        cached_schedules, cached_day, cached_tenants, text = self._contracts
        if s.schedules is not cached_schedules or day != cached_day or tenants != cached_tenants:
            text = contract_text(s.schedules, tenants, day).encode()
            self._contracts = (s.schedules, day, tenants, text)
        return text

    def _info_text(self, s: Sample, names: DisplayNames | None) -> bytes:
        tenants = sample_tenants(s)
        cached_names, cached_totals, cached_tenants, text = self._info
        if names is not cached_names or s.tickets is not cached_totals or tenants != cached_tenants:
            text = info_text(names or NO_NAMES, tenants, s.tickets).encode()
            self._info = (names, s.tickets, tenants, text)
        return text

    def _ticket_text(self, totals: TicketTotals | None) -> bytes:
        cached_for, text = self._tickets
        if totals is not cached_for:
            text = ticket_text(totals).encode() if totals is not None else b""
            self._tickets = (totals, text)
        return text
