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

from uhd_telephony.i18n import (
    DEFAULT_LOCALE,
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    priority_label,
    translator,
)
from uhd_telephony.i18n import label as i18n_label
from uhd_telephony.i18n.catalog import translations
from uhd_telephony.i18n.format import weekday_names

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from uhd_telephony.metrics.report import MonthlyReport

_ENVS: dict[str, Environment] = {}
DASH = "\u2013"  # an en dash: no figure (no base for the ratio, no values)
BLUE, GREY, ORANGE = "#2b6cb0", "#a0aec0", "#dd6b20"  # offered / outside business hours / forwarded
INK, MUTED, RULE = "#1a202c", "#4a5568", "#e2e8f0"
# ColorBrewer "Blues", light to dark: the heat map's scale
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
WIDTH = 900  # user units of every chart (the page scales them to its width)


def _environment(locale: str = DEFAULT_LOCALE) -> Environment:
    """The templates' environment of one language: Jinja2's i18n extension with that language's catalog
    (``{{ _("…") }}``, ``{% trans %}``), the number filters in its format. One per language: the pages are
    written in executor threads, so nothing is installed per render."""
    env = _ENVS.get(locale)
    if env is None:
        env = Environment(
            loader=PackageLoader("uhd_telephony.metrics", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
        env.filters["pct"] = lambda value: percent(value, locale)
        env.filters["duration"] = lambda value: duration(value, locale)
        env.filters["threshold"] = lambda value: threshold(value, locale)
        env.filters["num"] = lambda value: number(value, locale)
        env.filters["when"] = lambda value: format_datetime(value, locale)
        env.filters["day"] = lambda value: format_date(value, locale)
        env.filters["decimal"] = lambda value: decimal(value, locale)  # a mean score: 4,25
        _ENVS[locale] = env
    return env


def number(value: Any, locale: str | None = DEFAULT_LOCALE) -> str:
    """With the language's thousands separator: 1.234.567 (English 1,234,567)."""
    return DASH if value is None else format_number(int(value), locale)


def decimal(value: float | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """To two decimals in the language's format: 4,25 (English 4.25)."""
    return DASH if value is None else format_number(value, locale, digits=2)


def percent(value: float | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A ratio as a percentage: 60,0 % (English 60.0%)."""
    return format_percent(value, locale)


def duration(seconds: float | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A measured duration as people read it, to the second: 42 Sek., 2 Min. 17 Sek., 16 Std. 2 Min., 2 Tg. 3 Std.
    (English 42 secs, 2 mins 17 secs, …)."""
    return format_duration(seconds, locale)


def threshold(seconds: float, locale: str | None = DEFAULT_LOCALE) -> str:
    """A configured number of seconds: as a duration when whole (20 Sek.), else to the tenth, in words (7,5
    Sekunden): a threshold is never shown rounded."""
    if seconds == round(seconds):
        return format_duration(seconds, locale)
    return f"{format_number(seconds, locale, digits=1)} {translator(locale).gettext('seconds')}"


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


def heatmap_svg(grid: list[list[int]], title: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """Weekday x hour counts as a heat map, with its colour scale."""
    t = translator(locale)
    weekdays = weekday_names(locale)
    height, left, right, top, bottom = 290.0, 44.0, 110.0, 34.0, 44.0
    svg = _Svg(height, title)
    cell_w, cell_h = (WIDTH - left - right) / 24, (height - top - bottom) / 7
    ticks = nice_ticks(max(max(row) for row in grid))
    scale = ticks[-1]
    svg.text(left + 12 * cell_w, 20, title, anchor="middle", size=14)
    for d, row in enumerate(grid):
        y = top + d * cell_h
        svg.text(left - 8, y + cell_h / 2 + 4, weekdays[d], anchor="end")
        for h, n in enumerate(row):
            tip = t.gettext(
                "%(day)s %(hour)s–%(next)s h: %(n)s calls", day=weekdays[d], hour=h, next=h + 1, n=number(n, locale)
            )
            svg.rect(left + h * cell_w, y, cell_w, cell_h, shade(n / scale), tip, stroke="#fff")
    base = top + 7 * cell_h
    for h in range(24):
        svg.text(left + (h + 0.5) * cell_w, base + 15, str(h), anchor="middle", size=10)
    svg.text(left + 12 * cell_w, height - 6, t.gettext("Hour (Europe/Berlin)"), anchor="middle")
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
        svg.text(x + 21, y + 4, number(tick, locale), size=10)
    svg.ylabel(WIDTH - 10, top + (base - top) / 2, t.gettext("Calls"))
    return svg.done()


def hourly_bars_svg(offered: list[list[int]], outside: list[list[int]], locale: str | None = DEFAULT_LOCALE) -> str:
    """Calls per hour of the day: offered and outside business hours, stacked."""
    t = translator(locale)
    height, left, right, top, bottom = 260.0, 72.0, 16.0, 30.0, 44.0
    svg = _Svg(height, t.gettext("Calls by hour of the day"))
    per_hour = [sum(day[h] for day in offered) for h in range(24)]
    outside_hour = [sum(day[h] for day in outside) for h in range(24)]
    ticks = nice_ticks(max(a + b for a, b in zip(per_hour, outside_hour, strict=True)))
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    base, scale, slot = top + plot_h, plot_h / ticks[-1], plot_w / 24
    for tick in ticks:
        y = base - tick * scale
        svg.line(left, y, left + plot_w, y)
        svg.text(left - 6, y + 4, number(tick, locale), anchor="end", size=10)
    for h in range(24):
        x, a, b = left + h * slot + slot * 0.1, per_hour[h], outside_hour[h]
        tip = t.gettext(
            "%(hour)s–%(next)s h: %(offered)s offered, %(outside)s outside business hours",
            hour=h, next=h + 1, offered=number(a, locale), outside=number(b, locale),
        )  # fmt: skip
        svg.rect(x, base - a * scale, slot * 0.8, a * scale, BLUE, tip)
        svg.rect(x, base - (a + b) * scale, slot * 0.8, b * scale, GREY, tip)
        svg.text(left + (h + 0.5) * slot, base + 15, str(h), anchor="middle", size=10)
    svg.line(left, base, left + plot_w, base, MUTED)
    svg.text(left + plot_w / 2, height - 6, t.gettext("Hour (Europe/Berlin)"), anchor="middle")
    svg.ylabel(16, top + plot_h / 2, t.gettext("Calls"))
    svg.legend(left, 14, [(BLUE, t.gettext("offered")), (GREY, t.gettext("outside business hours"))])
    return svg.done()


def categories_svg(
    created: dict[str, int], forwarded: dict[str, int], locale: str | None = DEFAULT_LOCALE,
    titles: Callable[[str], str] = str,
) -> str:  # fmt: skip
    """Tickets per top-level category (by ``titles(code)``): created and forwarded beyond 1st level."""
    t = translator(locale)
    names = sorted(created, key=lambda k: (-created[k], titles(k)))
    row, top, bottom, right = 34.0, 30.0, 44.0, 24.0
    left = min(24 + 7.0 * max((len(titles(n)) for n in names), default=4), 300.0)  # longer names are cut
    height = top + row * len(names) + bottom
    svg = _Svg(height, t.gettext("Tickets by top-level category"))
    ticks = nice_ticks(max([*created.values(), *forwarded.values()], default=0))
    plot_w = WIDTH - left - right
    scale, base = plot_w / ticks[-1], top + row * len(names)
    for tick in ticks:
        x = left + tick * scale
        svg.line(x, top, x, base)
        svg.text(x, base + 15, number(tick, locale), anchor="middle", size=10)
    for i, code in enumerate(names):
        y, made, sent, name = top + i * row, created[code], forwarded.get(code, 0), titles(code)
        label = name if len(name) * 7.0 <= left - 24 else name[: int((left - 24) / 7.0) - 1] + "\u2026"
        svg.text(left - 8, y + row / 2 + 4, label, anchor="end")
        svg.rect(
            left, y + 4, made * scale, 12, BLUE, t.gettext("%(name)s: %(n)s created", name=name, n=number(made, locale))
        )
        svg.rect(
            left,
            y + 17,
            sent * scale,
            12,
            ORANGE,
            t.gettext("%(name)s: %(n)s forwarded", name=name, n=number(sent, locale)),
        )
    svg.line(left, top, left, base, MUTED)
    svg.text(left + plot_w / 2, height - 6, t.gettext("Tickets"), anchor="middle")
    svg.legend(left, 14, [(BLUE, t.gettext("created")), (ORANGE, t.gettext("forwarded"))])
    return svg.done()


def render(report: MonthlyReport) -> str:
    """The complete HTML page of ``report``, in the report's language."""
    from uhd_telephony.metrics.report import DEFINITIONS, GRID_DEFINITION

    locale = report.locale
    t = report.t
    c, tk = report.calls, report.tickets
    charts = {
        "heatmap": heatmap_svg(c.offered_by_weekday_hour, t.gettext("Calls offered by weekday and hour"), locale),
        "hours": hourly_bars_svg(c.offered_by_weekday_hour, c.outside_hours_by_weekday_hour, locale),
        "categories": categories_svg(tk.by_category, tk.forwarded_by_category, locale, report.category)
        if tk.created
        else "",
    }
    figures = report.figures()
    rows = []
    for key, value in figures.items():
        label, unit, _ = DEFINITIONS[key]
        if key.startswith("sla_") and report.sla is None:
            continue
        if unit == "ratio":
            shown = percent(value, locale)
        elif unit == "s":
            shown = duration(value, locale)
        else:
            shown = number(value, locale)
        rows.append({"key": key, "label": t.gettext(label), "value": shown, "definition": report.definition(key)})
    return (
        _environment(locale)
        .get_template("report.html.j2")
        .render(
            report=report,
            lang=locale,
            month_name=report.month_name(),
            rows=rows,
            charts=charts,
            weekdays=report.weekdays(),
            grid_definition=t.gettext(GRID_DEFINITION),
            tickets=tk,
            calls=c,
            category=report.category,
            priority=lambda p: priority_label(p, locale),
            channel=lambda ch: i18n_label("channel", ch, locale),
        )
    )
