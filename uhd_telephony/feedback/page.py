"""The rating page under the status link: ``GET /status/{token}/rating?score=4`` shows, ``POST`` records.

A link in a mail is fetched by machines too — Outlook's Safe Links and other scanners GET every link of a mail
before (or instead of) the person. So a GET never records: it shows the ticket's number and a form with the
linked score chosen. The page's script (``/static/feedback.js``, no inline script under the CSP) sends that form
at once, a same-origin POST to the same path, so the person's one click in the mail is all it takes; scanners run
no script. Without a script the form's button sends it. The POST is bound to the token in its path (no token, no
rating: that is its CSRF proof) and, when the browser names its origin, to ours.

After the rating the page thanks and shows what was given, and offers the one comment there may be (until the
rating window ends). A second rating is refused in words and the first one shown. Every link that cannot rate
gets the one refusal page (``feedback.service.Refused``). Both languages on every page, German first: the caller
has no account (as the status page).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from uhd_telephony.errors import UhdError
from uhd_telephony.feedback import service
from uhd_telephony.feedback.mail import RATING
from uhd_telephony.feedback.models import COMMENT_LENGTH, SCORES
from uhd_telephony.feedback.service import (
    AlreadyCommented,
    AlreadyRated,
    BadRating,
    NotRated,
    Rateable,
    RatingView,
    Refused,
)
from uhd_telephony.i18n import N_, Msg, format_datetime, gettext, render
from uhd_telephony.tickets.status_page import LANGUAGES, PAGE_HEADERS, both, page, pair
from uhd_telephony.web import keys
from uhd_telephony.web.middleware import same_origin

SCRIPT = "/static/feedback.js"
PATH = "/status/{token}" + RATING
# the pages' clock (the rating window); a test sets it on the app before it starts, the service never does
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("feedback_clock")


def _now(request: web.Request) -> datetime:
    clock = request.app.get(CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, show)
    app.router.add_post(PATH, record)


def _e(text: str) -> str:
    return html.escape(text)


def _lines(text: str) -> str:
    """A comment as written: escaped, its line breaks kept."""
    return "<br>".join(_e(line) for line in text.split("\n"))


def _both_p(msgid: str, **params: Any) -> str:
    de, en = both(msgid, **params)
    return f'<p>{_e(de)}<br><span lang="en">{_e(en)}</span></p>'


def _score_words(score: int) -> str:
    """``4 – zufrieden / satisfied``."""
    de, en = (gettext(locale, service.SCORE_WORDS[score]) for locale in LANGUAGES)
    return f"{score} – {de} / {en}"


# A form sent from a page under "no-referrer" (the house's default) carries "Origin: null", which no origin check
# can tell from another site's. "same-origin" gives our own requests their origin and everyone else still
# nothing (the page's address holds the token): our forms are then checked like every other write.
HEADERS = {**PAGE_HEADERS, "Referrer-Policy": "same-origin"}


def _respond(title: str, body: str, status: int = 200, *, script: bool = False) -> web.Response:
    text = page(title, body, script=SCRIPT if script else None)
    return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)


def refused() -> web.Response:
    """The one page for every link that cannot rate (``service.Refused``)."""
    days = service.RATING_WINDOW.days
    title = pair(N_("Rating not possible"))
    body = f"<h1>{_e(title)}</h1>" + _both_p(
        N_(
            "This rating link is unknown or no longer valid. A request can be rated once, up to %(days)s days "
            "after it was closed, with the link of the most recent mail about it."
        ),
        days=days,
    )
    return _respond(title, body, 404)


def _note(error: UhdError) -> str:
    """What went wrong, in both languages, above the page's form or thanks."""
    de, en = (render(error.message, locale) for locale in LANGUAGES)
    return f'<p role="alert"><strong>{_e(de)}</strong><br><span lang="en">{_e(en)}</span></p>'


def _heading(rateable: Rateable) -> str:
    return f"<h1>{_e(' / '.join(both(N_('Your request %(number)s'), number=rateable.number)))}</h1>"


def _comment_field(required: bool) -> str:
    label = pair(N_("Comment (optional)")) if not required else pair(N_("Your comment"))
    hint = " / ".join(both(N_("at most %(limit)s characters"), limit=COMMENT_LENGTH))
    return (
        f'<p><label for="comment">{_e(label)}</label><br>'
        f'<textarea id="comment" name="comment" rows="4" cols="50" maxlength="{COMMENT_LENGTH}"'
        f"{' required' if required else ''}></textarea><br><small>{_e(hint)}</small></p>"
    )


def rating_form(token: str, rateable: Rateable, chosen: int | None, note: str = "") -> str:
    """The form with ``chosen`` preselected; ``data-auto`` tells the script to send it at once."""
    options = "".join(
        f'<p><label><input type="radio" name="score" value="{score}" required'
        f"{' checked' if score == chosen else ''}> {_e(_score_words(score))}</label></p>"
        for score in SCORES
    )
    auto = ' data-auto="1"' if chosen is not None and not note else ""
    sending = " / ".join(both(N_("Your rating is being saved …")))
    return (
        _heading(rateable)
        + note
        + f'<form id="rating" method="post" action="{_e(_path(token))}"{auto}>'
        + f"<fieldset><legend>{_e(pair(N_('How satisfied were you with how your request was handled?')))}"
        + f"</legend>{options}</fieldset>"
        + _comment_field(required=False)
        + f'<p><button type="submit">{_e(pair(N_("Send rating")))}</button></p></form>'
        + f'<p id="sending" hidden>{_e(sending)}</p>'
    )


def thanks(token: str, rateable: Rateable, given: RatingView, note: str = "") -> str:
    """What was given, and the comment form while there is no comment and the window is open."""
    parts = [f"<h1>{_e(pair(N_('Thank you for your rating')))}</h1>", note]
    parts.append(_both_p(N_("Your rating of request %(number)s:"), number=rateable.number))
    parts.append(f'<p id="given-score"><strong>{_e(_score_words(given.score))}</strong></p>')
    when = format_datetime(given.created_at, "de")
    parts.append(f"<p><small>{_e(' / '.join(both(N_('given %(when)s'), when=when)))}</small></p>")
    if given.comment:
        parts.append(f"<h2>{_e(pair(N_('Your comment')))}</h2>")
        parts.append(f'<p id="given-comment">{_lines(given.comment)}</p>')
    else:
        parts.append(
            f'<form id="comment-form" method="post" action="{_e(_path(token))}">'
            + _comment_field(required=True)
            + f'<p><button type="submit">{_e(pair(N_("Send comment")))}</button></p></form>'
        )
    status = pair(N_("Status of your request"))
    parts.append(f'<p><a href="/status/{_e(token)}">{_e(status)}</a></p>')
    return "".join(parts)


def _path(token: str) -> str:
    return PATH.replace("{token}", token)


def _title(rateable: Rateable) -> str:
    return f"{rateable.number} - " + pair(N_("Rating"))


async def show(request: web.Request) -> web.StreamResponse:
    """The page: never records (a scanner's GET is as harmless as a person's)."""
    token = request.match_info["token"]
    try:
        rateable = await service.rateable(request.app[keys.DB], token, _now(request))
    except Refused:
        return refused()
    try:
        chosen = service.parse_score(request.query.get("score"))
        note = ""
    except BadRating as error:
        chosen, note = None, _note(error)
    if rateable.rating is not None:
        already = _note(AlreadyRated(rateable.rating)) if chosen is not None else ""
        return _respond(_title(rateable), thanks(token, rateable, rateable.rating, already))
    return _respond(_title(rateable), rating_form(token, rateable, chosen, note), script=True)


async def _form(request: web.Request) -> tuple[int | None, str | None]:
    """(score, cleaned comment) of the posted form; ``BadRating`` for what cannot be read."""
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError):
        raise BadRating(Msg("The form could not be read.")) from None
    score, comment = form.get("score"), form.get("comment")
    if comment is not None and not isinstance(comment, str):  # a file where text belongs
        raise BadRating(Msg("The form could not be read."))
    return service.parse_score(score if isinstance(score, str) else None), service.clean_comment(comment)


async def record(request: web.Request) -> web.StreamResponse:
    """The POST of the page's forms: a rating (with a comment, without a script), or the comment afterwards."""
    token = request.match_info["token"]
    db = request.app[keys.DB]
    now = _now(request)
    try:
        rateable = await service.rateable(db, token, now)
    except Refused:
        return refused()
    if not same_origin(request):
        note = _note(BadRating(Msg("Please send the form from this page.")))
        return _again(token, rateable, None, note, 403)
    try:
        score, comment = await _form(request)
        if score is not None:
            await service.rate(db, token, score, comment, now)
        elif comment is not None:
            await service.add_comment(db, token, comment, now)
        else:
            raise NotRated()
    except Refused:
        return refused()
    except (AlreadyRated, AlreadyCommented) as error:
        return _respond(_title(rateable), thanks(token, rateable, error.given, _note(error)), 409)
    except (BadRating, NotRated) as error:
        return _again(token, rateable, None, _note(error), error.status_code)
    raise web.HTTPSeeOther(_path(token))  # the thanks, by GET: a reload sends nothing again


def _again(token: str, rateable: Rateable, chosen: int | None, note: str, status: int) -> web.Response:
    """The page as it was (the form, or the thanks with the comment form) with what went wrong above it."""
    if rateable.rating is not None:
        return _respond(_title(rateable), thanks(token, rateable, rateable.rating, note), status)
    return _respond(_title(rateable), rating_form(token, rateable, chosen, note), status, script=True)
