"""The monthly report's CSV sections of customer satisfaction and recurring problems (their HTML: the templates
``satisfaction.html.j2`` and ``recurring.html.j2``, included by ``report.html.j2``).

Each section as the CSV's other tables: an empty row, its title, its definition, a header row, the rows. Words in
the report's language (categories by their titles, scores with their words, times in Europe/Berlin), figures as
numbers (ratios 0..1), every cell through the report's ``csv_safe`` writer (a comment or a name starting like a
formula gets its ``'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uhd_telephony.feedback.models import SCORES
from uhd_telephony.feedback.service import SCORE_WORDS
from uhd_telephony.i18n import N_, format_datetime, gettext

if TYPE_CHECKING:
    from uhd_telephony.metrics.report import MonthlyReport
    from uhd_telephony.metrics.satisfaction import Scores


def score_label(score: int, locale: str | None) -> str:
    """``4 (zufrieden)``."""
    return f"{score} ({gettext(locale, SCORE_WORDS[score])})"


def _title(w: Any, report: MonthlyReport, title: str, key: str, header: list[str]) -> None:
    """The section's empty row, title, definition and header (``header``: msgids, or words already)."""
    w.writerow([])
    w.writerow([report.t.gettext(title)])
    w.writerow([report.definition(key)])
    w.writerow([report.t.gettext(h) for h in header])


def _scores(name: str, scores: Scores) -> list[Any]:
    mean = None if scores.mean is None else round(scores.mean, 2)
    rate = None if scores.response_rate is None else round(scores.response_rate, 4)
    cells = [name, scores.responses, mean, *scores.distribution.values(), scores.resolved, rate]
    return ["" if c is None else c for c in cells]


def satisfaction_csv(w: Any, report: MonthlyReport) -> None:
    s, t, locale = report.satisfaction, report.t, report.locale
    scores = [score_label(n, locale) for n in SCORES]
    header = [N_("Top-level category"), N_("Ratings"), N_("Mean score"), *scores, N_("Tickets resolved"),
              N_("Response rate")]  # fmt: skip
    _title(w, report, N_("Customer satisfaction"), "satisfaction", header)
    w.writerow(_scores(t.gettext("All categories"), s.overall))
    for code, per in s.by_category.items():
        w.writerow(_scores(report.category(code), per))
    w.writerow([t.gettext("Response rate"), report.definition("satisfaction.response_rate")])
    if not s.comments:
        return
    w.writerow([])
    shown = t.gettext("%(shown)s of %(total)s", shown=len(s.comments), total=s.comments_total)
    w.writerow([t.gettext("Comments"), shown])
    w.writerow([t.gettext(h) for h in (N_("Ticket"), N_("Rating"), N_("Top-level category"), N_("Comment"),
                                       N_("Written"))])  # fmt: skip
    for c in s.comments:
        w.writerow([c.number, score_label(c.score, locale), report.category(c.category), c.text,
                    format_datetime(c.at, locale)])  # fmt: skip


def recurring_csv(w: Any, report: MonthlyReport) -> None:
    r, locale = report.recurring, report.locale
    _title(w, report, N_("Rising categories"), "recurring_problems.rising_categories",
           [N_("Top-level category"), N_("Tickets in the month"), N_("Month before"), N_("Change"),
            N_("Change (ratio)")])  # fmt: skip
    for rise in r.rising:
        ratio = "" if rise.change_ratio is None else round(rise.change_ratio, 4)
        w.writerow([report.category(rise.category), rise.count, rise.previous, rise.change, ratio])
    _title(w, report, N_("Callers with repeated tickets"), "recurring_problems.repeat_callers",
           [N_("Caller"), N_("Department"), N_("Top-level category"), N_("Tickets"), N_("Ticket numbers"),
            N_("First ticket"), N_("Last ticket")])  # fmt: skip
    for c in r.callers:
        w.writerow([c.caller, c.department or "", report.category(c.category), c.tickets, ", ".join(c.numbers),
                    format_datetime(c.first_at, locale), format_datetime(c.last_at, locale)])  # fmt: skip
    _title(w, report, N_("Bursts"), "recurring_problems.bursts",
           [N_("Top-level category"), N_("First ticket"), N_("Last ticket"), N_("Tickets")])  # fmt: skip
    for b in r.bursts:
        w.writerow([report.category(b.category), format_datetime(b.start, locale), format_datetime(b.end, locale),
                    b.tickets])  # fmt: skip


def write_csv(w: Any, report: MonthlyReport) -> None:
    """Both sections, after the report's other tables."""
    satisfaction_csv(w, report)
    recurring_csv(w, report)
