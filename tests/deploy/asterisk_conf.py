"""A small reader of Asterisk .conf files, enough for the deployment tests (pyst2's asterisk.config cannot read
templates or #include).

It knows: ``;`` comments (``\\;`` is a literal), ``;-- block comments --;``, ``[section]``, ``[name](!)``
templates, ``[name](tmpl,...)`` inheritance, ``key = value`` / ``key => value``, ``#include`` / ``#tryinclude``
relative to the including file, and the dialplan's ``exten =>`` / ``same =>`` / ``include =>`` lines.
Includes of absolute paths (files written at container start) are recorded, not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?\s*$")
_INCLUDE = re.compile(r'^#(try)?include\s+"?([^"]+?)"?\s*$')


@dataclass
class Entry:
    key: str
    value: str
    file: Path
    line: int


@dataclass
class Section:
    name: str
    template: bool = False
    bases: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    external_includes: list[str] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        return [e.value for e in self.entries if e.key == key]

    def get(self, key: str) -> str | None:
        found = self.values(key)
        return found[-1] if found else None


@dataclass
class ConfFile:
    """Every section of a file and the files it includes, in order; sections may repeat (pjsip: one per type)."""

    path: Path
    sections: list[Section] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    external_includes: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name]

    def section(self, name: str) -> Section:
        found = self.named(name)
        assert len(found) == 1, f"{name}: {len(found)} sections in {self.path}"
        return found[0]

    def real(self) -> list[Section]:
        """The sections Asterisk uses: not templates."""
        return [s for s in self.sections if not s.template]

    def resolved(self, section: Section) -> list[Entry]:
        """A section's entries with its templates' first (templates of templates too)."""
        out: list[Entry] = []
        for base in section.bases:
            templates = [s for s in self.named(base) if s.template]
            assert templates, f"[{section.name}] inherits from unknown template {base!r}"
            out.extend(self.resolved(templates[-1]))
        return out + section.entries


def strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    in_block = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw
        if in_block:
            end = line.find("--;")
            if end < 0:
                continue
            line = line[end + 3 :]
            in_block = False
        start = line.find(";--")
        if start >= 0:
            end = line.find("--;", start + 3)
            if end < 0:
                in_block = True
                line = line[:start]
            else:
                line = line[:start] + line[end + 3 :]
        yield number, line


def parse(path: Path, conf: ConfFile | None = None) -> ConfFile:
    """Read ``path`` (and what it includes) into ``conf``."""
    conf = conf if conf is not None else ConfFile(path)
    conf.files.append(path)
    current = conf.sections[-1] if conf.sections else None
    for number, raw in _lines(path):
        stripped = raw.strip()
        if stripped.startswith("#"):
            match = _INCLUDE.match(stripped)
            assert match is not None, f"{path}:{number}: unknown directive {stripped!r}"
            target = match.group(2).strip()
            if target.startswith("/"):
                conf.external_includes.append(target)
                if current is not None:
                    current.external_includes.append(target)
                continue
            included = (path.parent / target).resolve()
            if not included.exists():
                assert match.group(1), f"{path}:{number}: #include of a missing file {target}"
                continue
            parse(included, conf)
            current = conf.sections[-1] if conf.sections else None
            continue
        line = strip_comment(raw)
        if not line:
            continue
        section = _SECTION.match(line)
        if section is not None:
            options = [o.strip() for o in (section.group(2) or "").split(",") if o.strip()]
            current = Section(section.group(1).strip(), "!" in options, [o for o in options if o != "!"])
            conf.sections.append(current)
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}:{number}: not key = value: {line!r}"
        assert current is not None, f"{path}:{number}: {line!r} outside a section"
        if value.startswith(">"):
            value = value[1:]
        current.entries.append(Entry(key.strip(), value.strip(), path, number))
    return conf


# --- the dialplan ------------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One priority of an extension: ``exten => name,priority(label),App(args)``."""

    context: str
    exten: str
    priority: int
    label: str | None
    app: str
    args: str
    where: str


@dataclass
class Dialplan:
    contexts: dict[str, list[Step]]
    includes: dict[str, list[str]]
    globals: dict[str, str]

    def steps(self) -> Iterator[Step]:
        for steps in self.contexts.values():
            yield from steps

    def extensions(self, context: str) -> set[str]:
        return {s.exten for s in self.contexts.get(context, [])}

    def labels(self, context: str, exten: str) -> set[str]:
        return {s.label for s in self.contexts.get(context, []) if s.exten == exten and s.label}

    def apps(self, name: str) -> list[Step]:
        return [s for s in self.steps() if s.app.lower() == name.lower()]


_PRIORITY = re.compile(r"^(\d+|n)(?:\((\w[\w-]*)\))?$")
_APP = re.compile(r"^(\w+)(?:\((.*)\))?$", re.DOTALL)


def dialplan(conf: ConfFile) -> Dialplan:
    """The contexts of an extensions.conf: every step with its resolved priority and label."""
    contexts: dict[str, list[Step]] = {}
    includes: dict[str, list[str]] = {}
    glob: dict[str, str] = {}
    for section in conf.sections:
        if section.name == "general":
            continue
        if section.name == "globals":
            glob.update({e.key: e.value for e in section.entries})
            continue
        steps = contexts.setdefault(section.name, [])
        last: Step | None = None
        for entry in section.entries:
            where = f"{entry.file.name}:{entry.line}"
            if entry.key == "include":
                includes.setdefault(section.name, []).append(entry.value)
                continue
            assert entry.key in ("exten", "same"), f"{where}: {entry.key} in a dialplan context"
            if entry.key == "exten":
                exten, prio_text, app_text = _split_step(entry.value, 3, where)
            else:
                assert last is not None, f"{where}: same => without exten =>"
                exten = last.exten
                prio_text, app_text = _split_step(entry.value, 2, where)
            prio = _PRIORITY.match(prio_text)
            assert prio is not None, f"{where}: priority {prio_text!r}"
            if prio.group(1) == "n":
                assert last is not None and last.exten == exten, f"{where}: n without a previous priority"
                number = last.priority + 1
            else:
                number = int(prio.group(1))
            app = _APP.match(app_text.strip())
            assert app is not None, f"{where}: application {app_text!r}"
            step = Step(section.name, exten, number, prio.group(2), app.group(1), app.group(2) or "", where)
            steps.append(step)
            last = step
    return Dialplan(contexts, includes, glob)


def _split_step(value: str, parts: int, where: str) -> list[str]:
    out = value.split(",", parts - 1)
    assert len(out) == parts, f"{where}: {value!r}"
    return [p.strip() for p in out]


def split_args(text: str) -> list[str]:
    """An application's arguments split at the commas outside (), [] and {}."""
    out: list[str] = []
    depth = 0
    current: list[str] = []
    for c in text:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(current))
            current = []
            continue
        current.append(c)
    out.append("".join(current))
    return [a.strip() for a in out]


def split_condition(text: str) -> tuple[str, str]:
    """``condition?destinations`` at the first ``?`` outside brackets."""
    depth = 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "?" and depth == 0:
            return text[:i], text[i + 1 :]
    raise AssertionError(f"no ? in {text!r}")
