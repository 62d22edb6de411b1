"""The rating's rules on their own: a score is 1 to 5 and nothing else, a comment is text as people wrote it."""

from __future__ import annotations

import pytest

from uhd_telephony.feedback.service import BadRating, clean_comment, parse_score


@pytest.mark.parametrize(("given", "score"), [("1", 1), (" 5 ", 5), ("3", 3), (None, None), ("", None), ("  ", None)])
def test_a_score_is_a_whole_number_from_one_to_five(given: str | None, score: int | None) -> None:
    assert parse_score(given) == score


@pytest.mark.parametrize("given", ["0", "6", "-1", "4.0", "4,0", "\u0664", "\u00b2", "1e0", "five", "99999999999"])
def test_anything_else_is_refused(given: str) -> None:
    with pytest.raises(BadRating) as refused:
        parse_score(given)
    assert refused.value.status_code == 400 and refused.value.details == {"field": "score"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (None, None),
        ("   \r\n\t ", None),
        ("Gut\r\ngemacht", "Gut\ngemacht"),
        ("a\n\n\n\n\nb", "a\n\nb"),  # at most one empty line in a row
        ("a\x00b\x1bc\x7fd\x85e", "abcde"),  # NUL, ESC, DEL, a C1 control
        ("\u202eevil\u202c \u2066x\u2069", "evil x"),  # no bidi override turns the text around in a report
        ("<b>fett</b> & 'so'", "<b>fett</b> & 'so'"),  # text as written: every page and file escapes it
    ],
)
def test_a_comment_is_kept_as_written_without_invisible_characters(given: str | None, kept: str | None) -> None:
    assert clean_comment(given) == kept


def test_a_comment_is_at_most_a_thousand_characters_and_storable() -> None:
    assert clean_comment("x" * 1000 + "   ") == "x" * 1000
    with pytest.raises(BadRating, match="longer than 1000"):
        clean_comment("x" * 1001)
    with pytest.raises(BadRating, match="not readable"):
        clean_comment("lone \ud800 surrogate")
