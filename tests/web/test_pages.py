"""``safe_next``: the page to go back to after the login is a path of this site, whatever a link puts in ``next``."""

from __future__ import annotations

import pytest

from uhd_telephony.web.pages import login_url, safe_next

SAFE = [
    "/console",
    "/kpis",
    "/tickets",
    "/tickets/klinikum-nord/42",
    "/tickets?status=open&q=m%C3%BCller%20j",
    "/tickets/klinikum-nord/42#history",
    "/tickets?next=/./x",  # a dot segment in the query is no path
]

HOSTILE = [
    "/\t/evil.example/phish",  # issue 15: the browser drops the tab and reads //evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\r/evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    "/\x85/evil.example",  # C1 control
    " /evil.example",
    "/ /evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:/evil.example",
    "HTTPS://evil.example/x",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "./console",
    "/./",
    "/.//evil.example",  # resolves to the path //evil.example
    "/..//evil.example",
    "/%2e//evil.example",
    "/%2E%2E//evil.example",
    "/%2F/evil.example",  # encoded variants: the decoded path is checked too
    "/%2f%2fevil.example",
    "%2F%2Fevil.example",
    "/%09/evil.example",
    "/%0d%0a/evil.example",
    "/%5Cevil.example",
    "/%5c%5cevil.example",
    "%2Fconsole",
    "",
    None,
    "/" + "a" * 3000,  # no endless values
]


@pytest.mark.parametrize("value", SAFE)
def test_a_path_of_this_site_is_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_anything_that_could_leave_the_site_is_refused(value: str | None) -> None:
    assert safe_next(value) == ""
    assert login_url(value) == "/login"


def test_the_login_url_carries_next_encoded() -> None:
    assert login_url("/console") == "/login?next=%2Fconsole"
    assert login_url("/tickets/klinikum-nord/42?x=1") == "/login?next=%2Ftickets%2Fklinikum-nord%2F42%3Fx%3D1"
