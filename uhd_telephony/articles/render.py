"""An article's Markdown as HTML the console may put into its page as it is.

markdown-it-py (CommonMark) with raw HTML off: a ``<script>`` or an ``onerror=`` in an article comes out as text.
Links go to http(s), mail and phone addresses only (``javascript:``, ``data:`` and the like stay text), open in a
new tab that cannot reach back (``rel="noopener noreferrer"``); images are not rendered (the console loads
nothing from elsewhere: its CSP allows none, and a picture from outside would tell its server who reads the
article); a table's column alignment is dropped (an inline style the CSP would refuse).
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

SCHEMES = ("http:", "https:", "mailto:", "tel:")
LINK_REL = "noopener noreferrer nofollow"


def _safe_link(url: str) -> bool:
    """A link target an article may have: a web, mail or phone address (scheme-less: a path of this site)."""
    target = url.strip().lower()
    scheme = target.split("/", 1)[0]
    return target.startswith(SCHEMES) or ":" not in scheme


def _harden(state: StateCore) -> None:
    """Every link to a new tab without a way back to the console; no inline style (table alignment)."""
    for token in state.tokens:
        for inner in [token, *(token.children or [])]:
            if inner.type == "link_open":
                inner.attrSet("rel", LINK_REL)
                inner.attrSet("target", "_blank")
            if "style" in inner.attrs:
                del inner.attrs["style"]


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"]).disable("image")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.core.ruler.push("uhd_harden", _harden)
    return md


_MARKDOWN = _parser()


def to_html(markdown: str) -> str:
    """The article's HTML: safe to insert into a page as it is (module docstring)."""
    return _MARKDOWN.render(markdown)
