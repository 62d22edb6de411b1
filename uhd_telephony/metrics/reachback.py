"""Callers reached back (issue 20 item 2) as the KPI API, /metrics and the monthly report show them.

The definition is ``reachback.rules``' (which stays are lost, when a caller counts as reached back); the counts are
``reachback.figures``' (SQL over what the matcher stored). Here: the figures of a period (rate = reached ÷ identified
lost stays; time to reach: mean, median, p90 by ``kpi``'s nearest rank, in business seconds), their JSON, the
report's section (CSV here, HTML ``templates/reachback.html.j2``) and the /metrics gauges of the day so far, read by
the background refresh (``MetricsService``), never by a scrape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.i18n import N_, format_duration, gettext
from uhd_telephony.metrics.kpi import TIMEZONE, Distribution, ratio
from uhd_telephony.reachback.figures import ReachCounts, period_reach, reach_today_by_tenant
from uhd_telephony.store.db import Database

if TYPE_CHECKING:
    from uhd_telephony.metrics.report import MonthlyReport


@dataclass(frozen=True, slots=True)
class ReachFigures:
    """Lost stays of a period and how many of their callers were reached back."""

    identified: int = 0  # lost stays with a number that identifies the caller
    anonymous: int = 0  # lost stays without one: never reached
    call_again: int = 0  # reached: the caller called again and got through
    callback: int = 0  # reached: a callback's caller leg answered
    time_to_reach: Distribution = field(default_factory=lambda: Distribution.of([]))

    @classmethod
    def of(cls, counts: ReachCounts) -> ReachFigures:
        return cls(counts.identified, counts.anonymous, counts.call_again, counts.callback,
                   Distribution.of(counts.times_s))  # fmt: skip

    @property
    def lost(self) -> int:
        return self.identified + self.anonymous

    @property
    def reached(self) -> int:
        return self.call_again + self.callback

    @property
    def rate(self) -> float | None:
        """Reached ÷ identified lost stays (None without any)."""
        return ratio(self.reached, self.identified)

    @property
    def lost_callers(self) -> int:
        """Lost stays not reached back, anonymous ones included."""
        return self.lost - self.reached

    def to_dict(self) -> dict[str, Any]:
        return {
            "lost": self.lost,
            "identified": self.identified,
            "anonymous": self.anonymous,
            "reached": self.reached,
            "reached_by_call_again": self.call_again,
            "reached_by_callback": self.callback,
            "rate": self.rate,
            "lost_callers": self.lost_callers,
            "time_to_reach_s": self.time_to_reach.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class ReachSection:
    """The tenant's figures in total and per queue."""

    total: ReachFigures = field(default_factory=ReachFigures)
    queues: Mapping[str, ReachFigures] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.total.to_dict(), "queues": {q: f.to_dict() for q, f in self.queues.items()}}


async def reach_figures(
    db: Database, tenant: str, start: datetime, end: datetime, *, queue: str | None = None
) -> ReachSection:
    """The tenant's reach-back figures over the stays that entered in ``[start, end)``."""
    counted = await period_reach(db, tenant, start, end, queue=queue)
    return ReachSection(ReachFigures.of(counted.total), {q: ReachFigures.of(c) for q, c in counted.queues.items()})


# ------------------------------------------------------------------------------------------------------ the API
_OUT = ConfigDict(extra="forbid")


class DistributionOut(BaseModel):
    model_config = _OUT
    count: int
    mean: float | None
    median: float | None
    p90: float | None


class ReachFiguresOut(BaseModel):
    model_config = _OUT
    lost: int = Field(description="lost stays: offered in business hours, not answered, no short abandon")
    identified: int = Field(description="of those, with a caller number that identifies someone")
    anonymous: int = Field(description="of those, without one (never reached back)")
    reached: int = Field(description="identified lost stays whose caller was reached within the window")
    reached_by_call_again: int
    reached_by_callback: int = Field(description="the caller's leg of a callback answered")
    rate: float | None = Field(description="reached ÷ identified (null without any)")
    lost_callers: int = Field(description="lost stays not reached back, anonymous ones included")
    time_to_reach_s: DistributionOut = Field(description="business seconds from the lost stay's end to the reach")


class ReachedBackOut(ReachFiguresOut):
    queues: dict[str, ReachFiguresOut]


# --------------------------------------------------------------------------------------------------- the report
TITLE = N_("Callers reached back")
DEFINITION = N_(
    "Lost calls: calls of business hours in a queue that were not answered (abandoned after the short-abandon "
    "threshold, timed out, overflow, left by key, refused, or not known), no transfer between queues. A caller is "
    "reached back when, within %(window)s of business time after the lost call, the same number called again and "
    "was answered, or a callback reached the caller (the caller answered the callback's call: a callback an agent "
    "only marked as done does not count). Rate = reached ÷ lost calls with a number that identifies the caller; "
    "time to reach in business time. Lost callers: lost calls not reached back, those without a number included. "
    "A lost call counts in the month it came in, also when its window ends in the next one."
)
ROWS: tuple[tuple[str, str], ...] = (
    ("lost", N_("Lost calls")),
    ("identified", N_("of which with an identified caller")),
    ("anonymous", N_("of which without a caller number")),
    ("reached", N_("Reached back")),
    ("reached_by_call_again", N_("of which called again and got through")),
    ("reached_by_callback", N_("of which called back and answered")),
    ("rate", N_("Reached back (rate)")),
    ("lost_callers", N_("Lost callers")),
)
TIME_ROWS: tuple[tuple[str, str], ...] = (
    ("mean", N_("Time to reach, mean")),
    ("median", N_("Time to reach, median")),
    ("p90", N_("Time to reach, 90th percentile")),
)


def definition(window_s: float, locale: str | None) -> str:
    """The section's definition in ``locale``, with the window in words."""
    return gettext(locale, DEFINITION, window=format_duration(window_s, locale))


def write_csv(w: Any, report: MonthlyReport) -> None:
    """The section in the CSV report: title, definition, a header row, a row per figure (total, then per queue);
    counts as numbers, the rate 0..1, times in seconds; every cell through the report's ``csv_safe`` writer."""
    t, section = report.t, report.reached_back
    w.writerow([])
    w.writerow([t.gettext(TITLE)])
    w.writerow([definition(report.reach_window_s, report.locale)])
    queues = list(section.queues)
    w.writerow([t.gettext("Figure"), t.gettext("All queues"), *queues])
    figures = [section.total, *section.queues.values()]
    for key, label in ROWS:
        cells = [f.to_dict()[key] for f in figures]
        w.writerow(
            [t.gettext(label), *("" if c is None else round(c, 4) if isinstance(c, float) else c for c in cells)]
        )
    for key, label in TIME_ROWS:
        name = t.gettext("%(figure)s (%(unit)s)", figure=t.gettext(label), unit=t.gettext("seconds"))
        cells = [getattr(f.time_to_reach, key) for f in figures]
        w.writerow([name, *("" if c is None else round(c, 3) for c in cells)])


# ----------------------------------------------------------------------------------------------------- /metrics
GAUGES = (
    ("uhd_lost_stays_today", "Lost queue stays since local midnight (business hours, unanswered, no short abandon)"),
    ("uhd_lost_stays_identified_today", "Of uhd_lost_stays_today: with a caller number that identifies the caller"),
    ("uhd_lost_stays_reached_today", "Of those identified: callers reached back within the window, by how"),
    ("uhd_lost_callers_today", "Lost stays since local midnight not reached back (anonymous ones included)"),
)


def local_midnight(now: datetime) -> datetime:
    """Today's midnight in Europe/Berlin (the day figures' start)."""
    return datetime.combine(now.astimezone(TIMEZONE).date(), time(0), TIMEZONE)


async def today_by_tenant(db: Database, now: datetime | None = None) -> dict[str, ReachFigures]:
    """Every tenant's figures of the stays that entered since local midnight."""
    start = local_midnight(now or datetime.now(UTC))
    return {t: ReachFigures.of(c) for t, c in sorted((await reach_today_by_tenant(db, start)).items())}


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def gauges_text(figures: Mapping[str, ReachFigures]) -> str:
    """The gauges' exposition text (Prometheus text format 0.0.4)."""
    values = {
        "uhd_lost_stays_today": lambda f: [("", f.lost)],
        "uhd_lost_stays_identified_today": lambda f: [("", f.identified)],
        "uhd_lost_stays_reached_today": lambda f: [
            ('by="call_again",', f.call_again),
            ('by="callback",', f.callback),
        ],
        "uhd_lost_callers_today": lambda f: [("", f.lost_callers)],
    }
    out = []
    for name, doc in GAUGES:
        out.append(f"# HELP {name} {doc}\n# TYPE {name} gauge\n")
        for tenant, f in figures.items():
            for extra, n in values[name](f):
                out.append(f'{name}{{{extra}tenant="{_escape(tenant)}"}} {float(n)}\n')
    return "".join(out)
