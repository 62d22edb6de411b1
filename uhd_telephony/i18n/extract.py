"""Which msgids the code uses, and which of them a catalog lacks: ``python -m uhd_telephony.i18n.extract``.

Read from the sources, never run:

- Python (``ast``): ``_("…")``, ``N_("…")``, ``Msg("…")``, ``t.gettext("…")``, ``t.ngettext("…", "…", n)``, the
  module function ``gettext(locale, "…")``;
- the Jinja2 templates (``jinja2.ext.babel_extract``): ``{{ _("…") }}``, ``{% trans %}…{% endtrans %}``;
- the console's scripts: ``t("…")``, ``i18n.t("…")`` and ``tn("…", "…", n)`` with a string literal;
- the pages: ``data-i18n="…"`` (the element's text), ``data-i18n-placeholder``, ``-title``, ``-aria-label``.

A key built at run time (``label("status", code)``) is not found here: the label tables (``i18n.labels``) list
those. ``--add`` appends every missing msgid to both ``.po`` files with an empty translation (to fill in).
"""

from __future__ import annotations

import argparse
import ast
import html
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from jinja2.ext import babel_extract

from uhd_telephony.i18n.catalog import LOCALES, Translator, po_catalog, po_path

PACKAGE = Path(__file__).resolve().parent.parent
STATIC = PACKAGE / "web" / "static"
_PY_FUNCS = {"_", "N_", "Msg"}
_PY_METHODS = {"gettext", "ngettext"}
_JS_STRING = r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\''
# t("…") and i18n.t("…"), not another object's t() (a variable's .t, a name ending in t)
_JS_CALLER = r"(?:(?<![\w.$])|(?<=\bi18n\.))"
_JS_CALL = re.compile(_JS_CALLER + r"(?:t|tn)\(\s*(?:" + _JS_STRING + r")")
_HTML_ATTR = re.compile(r'\bdata-i18n(?:-placeholder|-title|-aria-label)?="([^"]*)"')


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_msgids(source: str) -> Iterator[str]:
    """The msgids of one Python module's calls of the i18n API (string literals only)."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _PY_FUNCS:
            found = _string(node.args[0])
        elif isinstance(func, ast.Name) and func.id == "gettext":
            # the module function gettext(locale, msgid); a bare gettext(msgid) as well
            found = _string(node.args[1]) if len(node.args) > 1 else _string(node.args[0])
        elif (isinstance(func, ast.Attribute) and func.attr in _PY_METHODS) or (
            isinstance(func, ast.Name) and func.id == "ngettext"
        ):
            found = _string(node.args[0])  # a plural message is its singular msgid in the catalog
        else:
            continue
        if found is not None:
            yield found


def _js_unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), value)


def js_msgids(source: str) -> Iterator[str]:
    """The msgids of a script's ``t("…")`` / ``tn("…", "…", n)`` calls (a plural message: its singular)."""
    for found in _JS_CALL.finditer(source):
        yield _js_unescape(found.group(1) if found.group(1) is not None else found.group(2))


def html_msgids(source: str) -> Iterator[str]:
    """The msgids of a page's ``data-i18n…`` attributes."""
    for found in _HTML_ATTR.finditer(source):
        yield html.unescape(found.group(1))


def template_msgids(path: Path) -> Iterator[str]:
    """The msgids of a Jinja2 template."""
    with path.open("rb") as handle:
        for _line, _func, message, _comments in babel_extract(handle, ("_", "gettext", "ngettext"), [], {}):
            first = message[0] if isinstance(message, tuple | list) else message
            if isinstance(first, str):
                yield first


def _files(root: Path, pattern: str) -> Iterable[Path]:
    return sorted(p for p in root.rglob(pattern) if "__pycache__" not in p.parts)


def used_msgids(package: Path = PACKAGE) -> dict[str, set[str]]:
    """msgid -> the files using it, over the whole package."""
    used: dict[str, set[str]] = {}

    def add(ids: Iterable[str], path: Path) -> None:
        for msgid in ids:
            if msgid:
                used.setdefault(msgid, set()).add(str(path.relative_to(package.parent)))

    for path in _files(package, "*.py"):
        add(python_msgids(path.read_text(encoding="utf-8")), path)
    for path in _files(package, "*.j2"):
        add(template_msgids(path), path)
    for path in _files(package / "web" / "static", "*.js"):
        add(js_msgids(path.read_text(encoding="utf-8")), path)
    for path in _files(package / "web" / "static", "*.html"):
        add(html_msgids(path.read_text(encoding="utf-8")), path)
    return used


def missing(locale: str, used: Iterable[str]) -> list[str]:
    """The msgids of ``used`` without a (non-empty, not fuzzy) entry in ``locale``'s catalog."""
    t = Translator(locale)
    return sorted(m for m in set(used) if not t.has(m))


def add_missing(locales: Iterable[str], used: Iterable[str]) -> None:
    """Append the missing msgids to each catalog with an empty translation (entries to fill in)."""
    for locale in locales:
        known = {str(m.id if isinstance(m.id, str) else m.id[0]) for m in po_catalog(locale) if m.id}
        new = sorted(set(used) - known)
        if not new:
            continue
        with po_path(locale).open("a", encoding="utf-8") as handle:
            for msgid in new:
                escaped = msgid.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                handle.write(f'\nmsgid "{escaped}"\nmsgstr ""\n')
        print(f"{locale}: {len(new)} msgid(s) added, to translate", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--add", action="store_true", help="append the missing msgids to the .po files")
    args = parser.parse_args(argv)
    used = used_msgids()
    gaps = {locale: missing(locale, used) for locale in LOCALES}
    for locale, ids in gaps.items():
        for msgid in ids:
            print(f"{locale}: missing {msgid!r} ({', '.join(sorted(used[msgid]))})")
    if args.add:
        add_missing(LOCALES, used)
    return 1 if any(gaps.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
