"""The closure mail's rating links: "Wie zufrieden waren Sie? 1 (gar nicht zufrieden): <link>/rating?score=1 …".

Filled into ``tickets.notify``'s port (``add_closure_lines``) when this module is imported (feedback's plugin
does): tickets build the mail and its status link and know nothing of ratings. Each link opens the rating page
with its score chosen (``feedback.page``); the page, not the link, records it.
"""

from __future__ import annotations

from uhd_telephony.feedback.models import SCORES
from uhd_telephony.feedback.service import SCORE_WORDS
from uhd_telephony.i18n import translator
from uhd_telephony.tickets.notify import add_closure_lines

RATING = "/rating"  # under the status link: /status/<token>/rating (the token's redaction in logs covers it)


def rating_link(status_link: str, score: int | None = None) -> str:
    """The rating page of a status link, with ``score`` chosen."""
    return f"{status_link}{RATING}" + ("" if score is None else f"?score={score}")


def closure_lines(locale: str, status_link: str) -> list[str]:
    """The question and one link per score, in ``locale``."""
    t = translator(locale)
    lines = [t.gettext("How satisfied were you? One click on a number is enough:")]
    for score in SCORES:
        words = t.gettext(SCORE_WORDS[score])
        lines.append(
            t.gettext("%(score)s (%(words)s): %(link)s", score=score, words=words, link=rating_link(status_link, score))
        )
    return lines


add_closure_lines(closure_lines)
