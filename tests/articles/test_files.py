"""Article files as an editor writes them: the front matter checked field by field, every problem named with its
file; the Markdown rendered to HTML a page may insert as it is (no raw HTML, no script, safe links)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.articles.conftest import write
from uhd_telephony.articles.files import EXAMPLES, ArticleError, parse, read_folder
from uhd_telephony.articles.render import to_html

GOOD = """---
title: "KIS: Anmeldung schlägt fehl"
categories: [kis/login, KIS/Orbis]
tags: Anmeldung, Kennwort, Anmeldung
---
Erst die **Feststelltaste** prüfen.
"""


def test_a_good_file_gives_its_article() -> None:
    found = parse(GOOD, "kis/KIS Anmeldung.md")
    assert found.title == "KIS: Anmeldung schlägt fehl"
    assert found.categories == ("kis/login", "kis/orbis")  # codes are lower-case, as the tree stores them
    assert found.tags == ("Anmeldung", "Kennwort")  # a text splits at commas, each tag once
    assert found.slug == "kis-anmeldung"  # from the file's name when none is given
    assert found.body == "Erst die **Feststelltaste** prüfen."
    assert found.tag_text == "Anmeldung, Kennwort"
    assert parse(GOOD.replace("---\n", "---\nslug: Mein.Artikel_1\n", 1), "x.md").slug == "mein.artikel_1"
    assert parse(GOOD.replace("---\n", "---\nid: 17\n", 1), "x.md").slug == "17"
    assert parse("\ufeff" + GOOD, "x.md").title == found.title  # a byte order mark is no problem


def test_the_digest_changes_with_what_the_article_says_only() -> None:
    one, same = parse(GOOD, "a.md"), parse(GOOD, "b.md")
    assert one.digest == parse(GOOD.replace("title:", "slug: a\ntitle:"), "elsewhere/c.md").digest
    assert one.digest != same.digest  # another slug (from another file name)
    assert one.digest != parse(GOOD.replace("Feststelltaste", "Umschalttaste"), "a.md").digest


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("title: x\n", "must start with a front matter"),
        ("---\ntitle: x\ncategories: [kis]\nText\n", "no closing line"),
        ("---\ntitle: KIS: kaputt\ncategories: [kis]\n---\nText\n", "not valid YAML (line 2)"),
        ("---\n- a\n- b\n---\nText\n", "must be a mapping"),
        ("---\ntitle: x\ncategories: [kis]\nauthor: me\n---\nText\n", "unknown key(s) author"),
        ("---\ncategories: [kis]\n---\nText\n", "'title' is missing"),
        ("---\ntitle: x\ncategories: [kis]\n---\n\n  \n", "has no text"),
        ("---\ntitle: ''\ncategories: [kis]\n---\nText\n", "'title' must be 1..200"),
        ("---\ntitle: [a]\ncategories: [kis]\n---\nText\n", "'title' must be a text"),
        ("---\ntitle: x\n---\nText\n", "needs at least one category"),
        ("---\ntitle: x\ncategories: [kis login]\n---\nText\n", "'kis login' is no category path"),
        ("---\ntitle: x\ncategories: [kis//login]\n---\nText\n", "no category path"),
        ("---\ntitle: x\ncategories: {kis: 1}\n---\nText\n", "must be a list or a text"),
        ("---\ntitle: x\ncategories: [kis]\ntags: [a, [b]]\n---\nText\n", "'tags' must be a text"),
        ("---\ntitle: x\ncategories: [kis]\nslug: a\nid: b\n---\nText\n", "'slug' or 'id', not both"),
        ("---\ntitle: x\ncategories: [kis]\nslug: Mit Leerzeichen\n---\nText\n", "lower-case slug"),
        ("---\ntitle: x\ncategories: [kis]\n---\nNUL \x00 here\n", "NUL character"),
        ("---\ntitle: x\ncategories: [kis]\ntitle: y\n---\nText\n", None),  # YAML keeps the last: no error
    ],
)
def test_every_problem_of_a_file_is_named_with_the_file(text: str, says: str | None) -> None:
    if says is None:
        assert parse(text, "x.md").title == "y"
        return
    with pytest.raises(ArticleError) as caught:
        parse(text, "drucker/bad.md")
    assert caught.value.message.startswith("article drucker/bad.md: ") and says in caught.value.message
    assert caught.value.details == {"file": "drucker/bad.md"}
    assert caught.value.status_code == 400


def test_a_folder_is_read_whole_and_checked(tmp_path: Path) -> None:
    write(tmp_path, "a.md", title="A")
    write(tmp_path / "sub", "b.md", title="B", categories=("hardware/printer",))
    write(tmp_path / ".git", "c.md", title="hidden")  # hidden folders are no articles
    (tmp_path / "notes.txt").write_text("not an article", encoding="utf-8")
    assert [(a.slug, a.source) for a in read_folder(tmp_path)] == [("a", "a.md"), ("b", "sub/b.md")]
    write(tmp_path / "other", "a.md", title="A again")
    with pytest.raises(ArticleError, match=r"article other/a.md: its slug 'a' is the slug of a.md too"):
        read_folder(tmp_path)


def test_a_folder_that_is_none_or_empty_or_has_a_bad_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ArticleError, match="is no folder of articles"):
        read_folder(tmp_path / "missing")
    with pytest.raises(ArticleError, match=r"no articles \(\*\.md\) in"):
        read_folder(tmp_path)  # an empty folder would deactivate every article of the scope: refused
    (tmp_path / "latin1.md").write_bytes("---\ntitle: Müller\ncategories: [kis]\n---\nText\n".encode("latin-1"))
    with pytest.raises(ArticleError, match=r"article latin1\.md: the file is not UTF-8 text"):
        read_folder(tmp_path)
    (tmp_path / "latin1.md").unlink()
    (tmp_path / "big.md").write_text("---\ntitle: x\ncategories: [kis]\n---\n" + "x" * 200_001, encoding="utf-8")
    with pytest.raises(ArticleError, match="larger than 200000 bytes"):
        read_folder(tmp_path)


def test_the_shipped_examples_are_good_german_articles() -> None:
    found = {a.slug: a for a in read_folder(EXAMPLES)}
    assert {"kis-anmeldung", "kennwort-zuruecksetzen", "drucker-druckt-nicht"} <= set(found)
    assert found["kis-anmeldung"].categories == ("kis/login",)
    assert "Kennwort" in found["kennwort-zuruecksetzen"].title


# -- the Markdown as HTML -------------------------------------------------------------------------------------


def test_markdown_is_rendered() -> None:
    html = to_html("# Titel\n\n1. **fett** und `code`\n2. ~~alt~~\n\n| a | b |\n|--:|:-|\n| 1 | 2 |\n")
    assert "<h1>Titel</h1>" in html and "<strong>fett</strong>" in html and "<code>code</code>" in html
    assert "<ol>" in html and "<s>alt</s>" in html and "<td>1</td>" in html
    assert "style=" not in html  # a column's alignment would be an inline style the console's CSP refuses


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<b onmouseover=alert(1)>x</b>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
    ],
)
def test_raw_html_comes_out_as_text(hostile: str) -> None:
    html = to_html(f"Vorher {hostile} nachher")
    assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<style" not in html
    assert "onerror=" not in html or "&lt;img" in html
    assert "&lt;" in html  # shown, escaped


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java&#x73;cript:alert(1)",
        "vbscript:msgbox",
        "data:text/html,x",
        "file:///etc/passwd",
    ],
)
def test_only_safe_links_become_links(target: str) -> None:
    html = to_html(f"[Klick]({target})")
    assert "<a " not in html and "Klick" in html


def test_links_open_apart_from_the_console_and_images_are_not_loaded() -> None:
    html = to_html("[Portal](https://intranet.example/portal) [Mail](mailto:it@example.org) ![Bild](https://x/y.png)")
    assert '<a href="https://intranet.example/portal" rel="noopener noreferrer nofollow" target="_blank">' in html
    assert 'href="mailto:it@example.org"' in html
    assert "<img" not in html  # a picture from elsewhere: a link, never loaded into the page
