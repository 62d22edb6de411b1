"""The HTML of the monthly report: matplotlib charts as inline SVG in a Jinja2 page. Blocking: call in an executor.

matplotlib through ``Figure`` objects only (no ``pyplot``): no global figure registry to leak or to share between
executor threads, and the Agg/SVG canvases need no display.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

if TYPE_CHECKING:
    from uhd_telephony.metrics.report import MonthlyReport

_ENV: Environment | None = None
DASH = "\u2013"  # an en dash: no figure (no base for the ratio, no values)
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def _environment() -> Environment:
    global _ENV
    if _ENV is None:
        env = Environment(
            loader=PackageLoader("uhd_telephony.metrics", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["pct"] = percent
        env.filters["sec"] = seconds
        env.filters["num"] = number
        _ENV = env
    return _ENV


def number(value: Any) -> str:
    """German thousands separator: 1.234.567."""
    return DASH if value is None else f"{int(value):,}".replace(",", ".")


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f} %".replace(".", ",")


def seconds(value: float | None) -> str:
    return DASH if value is None else f"{value:,.1f} s".replace(",", " ").replace(".", ",")


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _XML_PROLOGUE.sub("", buf.getvalue(), count=1)


def heatmap_svg(grid: list[list[int]], title: str) -> str:
    """Weekday x hour counts as a heat map."""
    from matplotlib.figure import Figure

    from uhd_telephony.metrics.report import WEEKDAYS

    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="Blues")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(24), [str(h) for h in range(24)], fontsize=8)
    ax.set_xlabel("Stunde (Europe/Berlin)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="Anrufe")
    return _svg(fig)


def hourly_bars_svg(offered: list[list[int]], closed: list[list[int]]) -> str:
    """Calls per hour of the day: offered and outside business hours, stacked."""
    from matplotlib.figure import Figure

    hours = range(24)
    per_hour = [sum(day[h] for day in offered) for h in hours]
    closed_hour = [sum(day[h] for day in closed) for h in hours]
    fig = Figure(figsize=(9, 2.8))
    ax = fig.add_subplot()
    ax.bar(hours, per_hour, color="#2b6cb0", label="angeboten")
    ax.bar(hours, closed_hour, bottom=per_hour, color="#a0aec0", label="außerhalb der Servicezeit")
    ax.set_xticks(list(hours), [str(h) for h in hours], fontsize=8)
    ax.set_xlabel("Stunde (Europe/Berlin)")
    ax.set_ylabel("Anrufe")
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def categories_svg(created: dict[str, int], forwarded: dict[str, int]) -> str:
    """Tickets per top-level category: created and forwarded beyond 1st level."""
    from matplotlib.figure import Figure

    names = sorted(created, key=lambda k: -created[k])
    fig = Figure(figsize=(9, 0.45 * max(len(names), 3) + 0.8))
    ax = fig.add_subplot()
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], [created[n] for n in names], height=0.4, color="#2b6cb0", label="erstellt")
    ax.barh([i - 0.2 for i in y], [forwarded.get(n, 0) for n in names], height=0.4, color="#dd6b20",
            label="weitergeleitet/eskaliert")  # fmt: skip
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("Tickets")
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def render(report: MonthlyReport) -> str:
    """The complete HTML page of ``report``."""
    from uhd_telephony.metrics.report import DEFINITIONS, GRID_DEFINITION, MONTHS, WEEKDAYS

    c, t = report.calls, report.tickets
    charts = {
        "heatmap": heatmap_svg(c.offered_by_weekday_hour, "Angebotene Anrufe nach Wochentag und Stunde"),
        "hours": hourly_bars_svg(c.offered_by_weekday_hour, c.closed_by_weekday_hour),
        "categories": categories_svg(t.by_category, t.forwarded_by_category) if t.created else "",
    }
    figures = report.figures()
    rows = []
    for key, value in figures.items():
        label, unit, text = DEFINITIONS[key]
        if key.startswith("sla_") and report.sla is None:
            continue
        if unit == "Anteil":
            shown = percent(value)
        elif unit == "s":
            shown = seconds(value)
        else:
            shown = number(value)
        rows.append({"key": key, "label": label, "value": shown, "definition": text})
    year, month = report.month.split("-")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            month_name=f"{MONTHS[int(month) - 1]} {year}",
            rows=rows,
            charts=charts,
            weekdays=WEEKDAYS,
            grid_definition=GRID_DEFINITION,
            definitions=DEFINITIONS,
            tickets=t,
            calls=c,
        )
    )
