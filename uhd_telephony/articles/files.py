"""Solution articles as files: Markdown with a YAML front matter, one article a file, one folder per scope.

An article file (``*.md``, UTF-8)::

    ---
    title: "KIS: Anmeldung schlägt fehl"      # required; quote it when it holds ": "
    categories: [kis/login]                   # one or more category code paths, as the tenant's tree has them
    tags: [KIS, Anmeldung, Kennwort]          # optional: more words to find it by (a list, or "a, b")
    slug: kis-anmeldung                       # optional (or ``id``): its identity; default: the file's name
    ---
    Markdown: what the agent tells the caller, step by step.

An article fits its categories and their ancestors and descendants (``kis`` fits a ticket of ``kis/login``, and
``kis/login`` one of ``kis``). A folder is read whole (sub-folders too, hidden ones not) and checked before anything
is written: the first bad file stops it, named with its problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from uhd_telephony.articles.models import PATH_LENGTH, SLUG_LENGTH, TITLE_LENGTH
from uhd_telephony.errors import InvalidInput
from uhd_telephony.tickets.categories import slug as slug_of

# the example articles shipped with the package (the demo imports them, shared by every tenant)
EXAMPLES = Path(__file__).resolve().parent / "examples"
SUFFIX = ".md"
MAX_FILE_BYTES = 200_000
MAX_FILES = 5_000
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
MAX_CATEGORIES = 20
KEYS = frozenset({"title", "categories", "tags", "slug", "id"})
_CODE = r"[a-z0-9][a-z0-9_.-]{0,63}"  # a category code (tickets.categories)
PATH_RE = re.compile(rf"^{_CODE}(?:/{_CODE})*$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0," + str(SLUG_LENGTH - 1) + r"}$")
_FENCE = re.compile(r"^(---|\.\.\.)[ \t]*$")


class ArticleError(InvalidInput):
    """An article file that cannot be imported; the message names the file and its problem."""

    error_id = "invalid-article"


@dataclass(frozen=True, slots=True)
class ArticleFile:
    """One checked article as its file says it."""

    slug: str
    title: str
    body: str  # Markdown
    tags: tuple[str, ...]
    categories: tuple[str, ...]  # category code paths
    source: str  # the file, relative to the folder read

    @property
    def digest(self) -> str:
        """sha256 of what the article says: a re-import of the same text writes nothing."""
        content = [self.slug, self.title, self.body, list(self.tags), list(self.categories)]
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()

    @property
    def tag_text(self) -> str:
        """The tags as stored (``articles.tags``) and searched."""
        return ", ".join(self.tags)


def _fail(source: str, problem: str) -> ArticleError:
    return ArticleError(f"article {source}: {problem}", {"file": source})


def split(text: str, source: str) -> tuple[Any, str]:
    """The front matter's data and the Markdown body of one file's text."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise _fail(source, "it must start with a front matter: a line '---', title and categories, a line '---'")
    end = next((i for i in range(1, len(lines)) if _FENCE.match(lines[i])), None)
    if end is None:
        raise _fail(source, "the front matter has no closing line '---'")
    try:
        data = yaml.safe_load("".join(lines[1:end]))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _fail(source, f"the front matter is not valid YAML{line}: {what} (quote a title holding ': ')") from None
    return data, "".join(lines[end + 1 :]).strip()


def _text(source: str, key: str, value: Any, limit: int) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _fail(source, f"'{key}' must be a text, got {value!r}")
    text = str(value).strip()
    if not text or len(text) > limit or not text.isprintable():
        raise _fail(source, f"'{key}' must be 1..{limit} printable characters, got {text[:80]!r}")
    return text


def _listed(source: str, key: str, value: Any) -> list[Any]:
    """A list, or one text (``tags: a, b`` splits at commas)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    if isinstance(value, list):
        return value
    raise _fail(source, f"'{key}' must be a list or a text, got {value!r}")


def _categories(source: str, value: Any) -> tuple[str, ...]:
    paths = [_text(source, "categories", v, PATH_LENGTH).lower() for v in _listed(source, "categories", value)]
    if not paths:
        raise _fail(source, "'categories' needs at least one category path, e.g. kis/login")
    if len(paths) > MAX_CATEGORIES:
        raise _fail(source, f"at most {MAX_CATEGORIES} categories")
    for path in paths:
        if not PATH_RE.match(path):
            raise _fail(source, f"{path!r} is no category path: codes (a-z, 0-9, _ . -) joined by '/', e.g. kis/login")
    return tuple(dict.fromkeys(paths))


def _tags(source: str, value: Any) -> tuple[str, ...]:
    tags = [_text(source, "tags", v, MAX_TAG_LENGTH) for v in _listed(source, "tags", value)]
    if len(tags) > MAX_TAGS:
        raise _fail(source, f"at most {MAX_TAGS} tags")
    if any("," in tag for tag in tags):
        raise _fail(source, "a tag must not contain a comma")
    return tuple(dict.fromkeys(tags))


def _slug(source: str, data: Mapping[str, Any]) -> str:
    if "slug" in data and "id" in data:
        raise _fail(source, "give 'slug' or 'id', not both")
    key = "slug" if "slug" in data else "id" if "id" in data else None
    if key is None:
        name = slug_of(Path(source).stem)[:SLUG_LENGTH].rstrip("-")
        if not name:
            raise _fail(source, "its file name makes no slug: give one with 'slug:'")
        return name
    value = _text(source, key, data[key], SLUG_LENGTH).lower()
    if not SLUG_RE.match(value):
        raise _fail(source, f"'{key}' must be a lower-case slug (a-z, 0-9, _ . -), got {value!r}")
    return value


def parse(text: str, source: str) -> ArticleFile:
    """One file's text checked; ArticleError names ``source`` and the problem."""
    data, body = split(text, source)
    if not isinstance(data, Mapping):
        raise _fail(source, "the front matter must be a mapping with title and categories")
    unknown = sorted(map(str, set(data) - KEYS))
    if unknown:
        raise _fail(source, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    if "title" not in data:
        raise _fail(source, "'title' is missing")
    if not body:
        raise _fail(source, "the article has no text below its front matter")
    if "\x00" in body:
        raise _fail(source, "the text contains a NUL character")
    return ArticleFile(
        slug=_slug(source, data),
        title=_text(source, "title", data["title"], TITLE_LENGTH),
        body=body,
        tags=_tags(source, data.get("tags")),
        categories=_categories(source, data.get("categories")),
        source=source,
    )


def _files(folder: Path) -> list[Path]:
    found = sorted(
        path
        for path in folder.rglob(f"*{SUFFIX}")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not found:
        raise ArticleError(f"no articles (*{SUFFIX}) in {folder}", {"folder": str(folder)})
    if len(found) > MAX_FILES:
        raise ArticleError(f"more than {MAX_FILES} articles in {folder}", {"folder": str(folder)})
    return found


def read_file(path: Path, source: str) -> ArticleFile:
    """One article file read and checked."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _fail(source, f"the file is larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(source, "the file is not UTF-8 text") from None
    except OSError as exc:
        raise _fail(source, f"cannot read it: {exc.strerror or exc}") from None
    return parse(text, source)


def read_folder(folder: str | os.PathLike[str]) -> list[ArticleFile]:
    """Every article of ``folder`` (and its sub-folders), checked; a slug given twice is an error."""
    root = Path(folder)
    if not root.is_dir():
        raise ArticleError(f"{folder} is no folder of articles", {"folder": str(folder)})
    articles: dict[str, ArticleFile] = {}
    for path in _files(root):
        article = read_file(path, path.relative_to(root).as_posix())
        earlier = articles.get(article.slug)
        if earlier is not None:
            raise _fail(article.source, f"its slug {article.slug!r} is the slug of {earlier.source} too")
        articles[article.slug] = article
    return list(articles.values())
