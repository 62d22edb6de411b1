"""The HTML of the monthly report: charts as inline SVG in a Jinja2 page. Blocking: call in an executor.

The three charts (calls per hour, weekday x hour heat map, tickets per category) are SVG written here: rectangles,
lines and text on a fixed grid, in the page's font, a tooltip (``<title>``) on every bar and cell. Drawing them
with matplotlib cost 0.17 s per report and 0.5 s more for the first one of a process (its import and fonts) —
the larger part of the HTML's time beyond the figures; these take milliseconds. Every text from the data
(category names) is escaped: the charts go into the page unescaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

if TYPE_CHECKING:
    from collections.abc import Sequence

    from uhd_telephony.metrics.report import MonthlyReport

_ENV: Environment | None = None
DASH = "\u2013"  # an en dash: no figure (no base for the ratio, no values)
BLUE, GREY, ORANGE = "#2b6cb0", "#a0aec0", "#dd6b20"  # offered / outside business hours / forwarded
INK, MUTED, RULE = "#1a202c", "#4a5568", "#e2e8f0"
# ColorBrewer "Blues", light to dark: the heat map's scale
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
WIDTH = 900  # user units of every chart (the page scales them to its width)


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


def nice_ticks(top: float, count: int = 5) -> list[int]:
    """0, step, 2·step, ... up to at least ``top``, the step 1, 2 or 5 times a power of ten (about ``count``)."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(int(step), 1)
    return [i * step for i in range(math.ceil(top / step) + 1)]


def shade(share: float) -> str:
    """The colour of ``share`` (0..1) on the ``BLUES`` scale, interpolated between its stops."""
    position = min(max(share, 0.0), 1.0) * (len(BLUES) - 1)
    low = min(int(position), len(BLUES) - 2)
    a, b = BLUES[low], BLUES[low + 1]
    f = position - low
    rgb = (round(int(a[i : i + 2], 16) * (1 - f) + int(b[i : i + 2], 16) * f) for i in (1, 3, 5))
    return "#" + "".join(f"{c:02x}" for c in rgb)


class _Svg:
    """An SVG picture built part by part; numbers rounded to a tenth, text escaped."""

    def __init__(self, height: float, label: str) -> None:
        self.height = height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}"'
            f' height="{height:.0f}" role="img" aria-label="{escape(label)}" font-size="12" fill="{INK}">'
        ]

    def text(self, x: float, y: float, value: str, *, anchor: str = "start", size: int = 12, **extra: str) -> None:
        attrs = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in extra.items())
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{attrs}>{escape(value)}</text>'
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "", **extra: str) -> None:
        attrs = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in extra.items())
        shape = f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}"{attrs}'
        self.parts.append(f"{shape}><title>{escape(tip)}</title></rect>" if tip else f"{shape}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str = RULE) -> None:
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}"/>')

    def legend(self, x: float, y: float, entries: Sequence[tuple[str, str]]) -> None:
        for colour, label in entries:
            self.rect(x, y - 9, 12, 12, colour)
            self.text(x + 17, y + 1, label, size=11)
            x += 30 + 6.5 * len(label)

    def ylabel(self, x: float, y: float, value: str) -> None:
        self.text(x, y, value, anchor="middle", transform=f"rotate(-90 {x:.1f} {y:.1f})")

    def done(self) -> str:
        return "".join(self.parts) + "</svg>"


def heatmap_svg(grid: list[list[int]], title: str) -> str:
    """Weekday x hour counts as a heat map, with its colour scale."""
    from uhd_telephony.metrics.report import WEEKDAYS

    height, left, right, top, bottom = 290.0, 44.0, 110.0, 34.0, 44.0
    svg = _Svg(height, title)
    cell_w, cell_h = (WIDTH - left - right) / 24, (height - top - bottom) / 7
    ticks = nice_ticks(max(max(row) for row in grid))
    scale = ticks[-1]
    svg.text(left + 12 * cell_w, 20, title, anchor="middle", size=14)
    for d, row in enumerate(grid):
        y = top + d * cell_h
        svg.text(left - 8, y + cell_h / 2 + 4, WEEKDAYS[d], anchor="end")
        for h, n in enumerate(row):
            tip = f"{WEEKDAYS[d]} {h}-{h + 1} Uhr: {number(n)} Anrufe"
            svg.rect(left + h * cell_w, y, cell_w, cell_h, shade(n / scale), tip, stroke="#fff")
    base = top + 7 * cell_h
    for h in range(24):
        svg.text(left + (h + 0.5) * cell_w, base + 15, str(h), anchor="middle", size=10)
    svg.text(left + 12 * cell_w, height - 6, "Stunde (Europe/Berlin)", anchor="middle")
    # the scale: the ramp as a gradient from 0 (bottom) to the top tick, labelled with the ticks
    x = WIDTH - right + 22
    stops = "".join(f'<stop offset="{i / (len(BLUES) - 1):.3f}" stop-color="{c}"/>' for i, c in enumerate(BLUES))
    svg.parts.append(
        f'<defs><linearGradient id="uhd-heat-scale" x1="0" y1="1" x2="0" y2="0">{stops}</linearGradient></defs>'
    )
    svg.rect(x, top, 14, base - top, "url(#uhd-heat-scale)")
    for tick in ticks:
        y = base - (base - top) * tick / scale
        svg.line(x + 14, y, x + 18, y, MUTED)
        svg.text(x + 21, y + 4, number(tick), size=10)
    svg.ylabel(WIDTH - 10, top + (base - top) / 2, "Anrufe")
    return svg.done()


def hourly_bars_svg(offered: list[list[int]], outside: list[list[int]]) -> str:
    """Calls per hour of the day: offered and outside business hours, stacked."""
    height, left, right, top, bottom = 260.0, 72.0, 16.0, 30.0, 44.0
    svg = _Svg(height, "Anrufe nach Stunde des Tages")
    per_hour = [sum(day[h] for day in offered) for h in range(24)]
    outside_hour = [sum(day[h] for day in outside) for h in range(24)]
    ticks = nice_ticks(max(a + b for a, b in zip(per_hour, outside_hour, strict=True)))
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    base, scale, slot = top + plot_h, plot_h / ticks[-1], plot_w / 24
    for tick in ticks:
        y = base - tick * scale
        svg.line(left, y, left + plot_w, y)
        svg.text(left - 6, y + 4, number(tick), anchor="end", size=10)
    for h in range(24):
        x, a, b = left + h * slot + slot * 0.1, per_hour[h], outside_hour[h]
        tip = f"{h}-{h + 1} Uhr: {number(a)} angeboten, {number(b)} außerhalb der Servicezeit"
        svg.rect(x, base - a * scale, slot * 0.8, a * scale, BLUE, tip)
        svg.rect(x, base - (a + b) * scale, slot * 0.8, b * scale, GREY, tip)
        svg.text(left + (h + 0.5) * slot, base + 15, str(h), anchor="middle", size=10)
    svg.line(left, base, left + plot_w, base, MUTED)
    svg.text(left + plot_w / 2, height - 6, "Stunde (Europe/Berlin)", anchor="middle")
    svg.ylabel(16, top + plot_h / 2, "Anrufe")
    svg.legend(left, 14, [(BLUE, "angeboten"), (GREY, "außerhalb der Servicezeit")])
    return svg.done()


def categories_svg(created: dict[str, int], forwarded: dict[str, int]) -> str:
    """Tickets per top-level category: created and forwarded beyond 1st level."""
    names = sorted(created, key=lambda k: (-created[k], k))
    row, top, bottom, right = 34.0, 30.0, 44.0, 24.0
    left = min(24 + 7.0 * max((len(n) for n in names), default=4), 300.0)  # names longer than that are cut
    height = top + row * len(names) + bottom
    svg = _Svg(height, "Tickets nach Hauptkategorie")
    ticks = nice_ticks(max([*created.values(), *forwarded.values()], default=0))
    plot_w = WIDTH - left - right
    scale, base = plot_w / ticks[-1], top + row * len(names)
    for tick in ticks:
        x = left + tick * scale
        svg.line(x, top, x, base)
        svg.text(x, base + 15, number(tick), anchor="middle", size=10)
    for i, name in enumerate(names):
        y, made, sent = top + i * row, created[name], forwarded.get(name, 0)
        label = name if len(name) * 7.0 <= left - 24 else name[: int((left - 24) / 7.0) - 1] + "\u2026"
        svg.text(left - 8, y + row / 2 + 4, label, anchor="end")
        svg.rect(left, y + 4, made * scale, 12, BLUE, f"{name}: {number(made)} erstellt")
        svg.rect(left, y + 17, sent * scale, 12, ORANGE, f"{name}: {number(sent)} weitergeleitet/eskaliert")
    svg.line(left, top, left, base, MUTED)
    svg.text(left + plot_w / 2, height - 6, "Tickets", anchor="middle")
    svg.legend(left, 14, [(BLUE, "erstellt"), (ORANGE, "weitergeleitet/eskaliert")])
    return svg.done()


def render(report: MonthlyReport) -> str:
    """The complete HTML page of ``report``."""
    from uhd_telephony.metrics.report import DEFINITIONS, GRID_DEFINITION, MONTHS, WEEKDAYS

    c, t = report.calls, report.tickets
    charts = {
        "heatmap": heatmap_svg(c.offered_by_weekday_hour, "Angebotene Anrufe nach Wochentag und Stunde"),
        "hours": hourly_bars_svg(c.offered_by_weekday_hour, c.outside_hours_by_weekday_hour),
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
