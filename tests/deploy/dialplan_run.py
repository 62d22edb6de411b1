"""A small interpreter of the repository's dialplan, enough to walk one call through ``[uhd-hotline]`` and
``[uhd-incident]`` (the parser is ``asterisk_conf``): which applications run, with which arguments, on which branch.

It knows what those contexts use and fails on anything else (an unknown application or function is an
AssertionError, never a silent skip): ``${VAR}``, ``${VAR:offset:length}``, ``${LEN()}``, ``${FILTER()}``,
``${CALLERID(num|name|pres|all)}``, ``${CHANNEL(linkedid)}``, ``$[a = b]`` / ``$[a != b]`` as Asterisk's expression
parser compares them (strings, quotes included), ``Set``, ``GotoIf``, ``Goto``, ``Gosub``/``Return`` with
``ARGn`` and ``GOSUB_RETVAL``, and the applications with an outside effect, which are recorded and answered by
the test: ``AGI`` (the variables the script sets), ``Read`` (the key the caller presses), ``Playback``,
``UserEvent``, ``Answer``, ``NoOp``; ``Queue`` and ``Hangup`` end the walk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tests.deploy.asterisk_conf import Dialplan, Step, split_args, split_condition

Agi = Callable[[str, list[str], Mapping[str, str]], Mapping[str, str]]
Keys = Callable[[str], str]
MAX_STEPS = 500


@dataclass
class Caller:
    """The channel: its caller ID, its variables, and how the test answers AGI scripts and Read()."""

    number: str = "+4923198600001"
    name: str = "Jürgen Müller"
    pres: str = "allowed_not_screened"
    linkedid: str = "1795733173.14"
    variables: dict[str, str] = field(default_factory=dict)
    agi: Agi = lambda script, args, variables: {}
    keys: Keys = lambda prompts: ""


@dataclass
class Ran:
    """One application that ran: its name and its arguments as Asterisk hands them over (substituted)."""

    app: str
    args: list[str]
    where: str


@dataclass
class Walk:
    """What one call did, in order, and how it ended (``Queue`` or ``Hangup``)."""

    ran: list[Ran]
    ended: str

    @property
    def apps(self) -> list[str]:
        return [r.app for r in self.ran]

    def of(self, app: str) -> list[list[str]]:
        return [r.args for r in self.ran if r.app == app]


@dataclass
class _Frame:
    context: str
    exten: str
    index: int
    args: list[str]


def walk(plan: Dialplan, context: str, exten: str, args: list[str], caller: Caller) -> Walk:
    """Run ``exten@context`` from priority 1 as a Gosub with ``args`` until the call queues or hangs up."""
    run = _Run(plan, caller)
    return run.go(context, exten, args)


class _Run:
    def __init__(self, plan: Dialplan, caller: Caller) -> None:
        self.plan = plan
        self.caller = caller
        self.vars = dict(caller.variables)
        self.stack: list[_Frame] = []
        self.ran: list[Ran] = []

    def go(self, context: str, exten: str, args: list[str]) -> Walk:
        frame = _Frame(context, exten, self._index(context, exten, "1"), args)
        for _ in range(MAX_STEPS):
            step = self._steps(frame.context, frame.exten)[frame.index]
            frame.index += 1
            ended = self._execute(step, frame)
            if ended is not None:
                return Walk(self.ran, ended)
            if isinstance(self._next, _Frame):
                frame, self._next = self._next, None
        raise AssertionError(f"no end after {MAX_STEPS} steps")

    _next: _Frame | None = None

    # ------------------------------------------------------------------ the applications
    def _execute(self, step: Step, frame: _Frame) -> str | None:
        app = step.app
        if app in ("GotoIf", "Goto"):
            self._jump(step, frame)
            return None
        if app == "Gosub":
            target, _, rest = step.args.partition("(")
            context, exten, priority = (p.strip() for p in target.split(","))
            call_args = [self.sub(a, frame) for a in split_args(rest[:-1])]
            self.ran.append(Ran(app, [context, exten, priority, *call_args], step.where))
            self.stack.append(frame)
            self._next = _Frame(context, exten, self._index(context, exten, priority), call_args)
            return None
        args = [self.sub(a, frame) for a in split_args(step.args)] if step.args else []
        self.ran.append(Ran(app, args, step.where))
        if app == "Return":
            assert self.stack, f"{step.where}: Return outside a Gosub"
            self.vars["GOSUB_RETVAL"] = args[0] if args else ""
            self._next = self.stack.pop()
            return None
        if app in ("Queue", "Hangup"):
            return app
        if app == "Set":
            name, _, value = ",".join(args).partition("=")
            self.vars[name.strip()] = value
        elif app == "AGI":
            self.vars.update(self.caller.agi(args[0], args[1:], dict(self.vars)))
        elif app == "Read":
            self.vars[args[0]] = self.caller.keys(args[1])[: int(args[2] or 0) or None]
        else:
            assert app in ("NoOp", "Answer", "Playback", "UserEvent"), f"{step.where}: {app} is not known here"
        return None

    def _jump(self, step: Step, frame: _Frame) -> None:
        if step.app == "Goto":
            target = step.args
        else:
            condition, branches = split_condition(step.args)
            yes, _, no = branches.partition(":")
            target = yes if self.truth(self.sub(condition, frame)) else no
            self.ran.append(Ran("GotoIf", [self.sub(condition, frame), target], step.where))
        if not target.strip():
            return
        parts = [p.strip() for p in target.split(",")]
        context, exten = frame.context, frame.exten
        if len(parts) == 2:
            exten = parts[0]
        elif len(parts) == 3:
            context, exten = parts[0], parts[1]
        frame.context, frame.exten = context, exten
        frame.index = self._index(context, exten, parts[-1])

    # ------------------------------------------------------------------ where
    def _steps(self, context: str, exten: str) -> list[Step]:
        steps = [s for s in self.plan.contexts[context] if s.exten == exten]
        assert steps, f"no {exten}@{context}"
        return steps

    def _index(self, context: str, exten: str, priority: str) -> int:
        for i, step in enumerate(self._steps(context, exten)):
            if (priority.isdigit() and step.priority == int(priority)) or step.label == priority:
                return i
        raise AssertionError(f"no priority {priority} at {exten}@{context}")

    # ------------------------------------------------------------------ values
    def sub(self, text: str, frame: _Frame) -> str:
        """``text`` with every ``${...}`` and ``$[...]`` replaced, innermost first."""
        while True:
            start = max(text.rfind("${"), text.rfind("$["))
            if start < 0:
                return text
            close = "}" if text[start + 1] == "{" else "]"
            end = _matching(text, start + 1, close)
            inner = text[start + 2 : end]
            value = self.value(inner, frame) if close == "}" else _expression(inner)
            text = text[:start] + value + text[end + 1 :]

    def value(self, inner: str, frame: _Frame) -> str:
        match = _REFERENCE.fullmatch(inner)
        assert match is not None, f"${{{inner}}} is not known here"
        name, argument, offset, length = match.groups()
        value = self.variable(name, frame) if argument is None else self.function(name, argument)
        if offset is not None:
            value = value[int(offset) :]
            value = value[: int(length)] if length is not None else value
        return value

    def variable(self, name: str, frame: _Frame) -> str:
        if re.fullmatch(r"ARG\d+", name):
            n = int(name[3:])
            return frame.args[n - 1] if n <= len(frame.args) else ""
        if name in self.plan.globals and name not in self.vars:
            return self.plan.globals[name]
        if name == "UNIQUEID":
            return self.caller.linkedid
        return self.vars.get(name, "")

    def function(self, name: str, argument: str) -> str:
        if name == "LEN":
            return str(len(argument))
        if name == "FILTER":
            allowed, _, value = argument.partition(",")
            return "".join(c for c in value if c in allowed)
        if name == "CALLERID":
            c = self.caller
            return {"num": c.number, "name": c.name, "pres": c.pres, "all": f'"{c.name}" <{c.number}>'}[argument]
        if name == "CHANNEL":
            assert argument == "linkedid", argument
            return self.caller.linkedid
        raise AssertionError(f"function {name}() is not known here")

    @staticmethod
    def truth(value: str) -> bool:
        return value.strip() not in ("", "0")


def _matching(text: str, open_at: int, close: str) -> int:
    opener = text[open_at]
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == opener:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError(f"unclosed {opener} in {text!r}")


# NAME, FUNC(argument), either with :offset[:length]
_REFERENCE = re.compile(r"(\w+)(?:\((.*)\))?(?::(-?\d+)(?::(\d+))?)?", re.DOTALL)
_COMPARISON = re.compile(r'^\s*("[^"]*"|\S*)\s*(!=|=)\s*("[^"]*"|\S*)\s*$')


def _expression(text: str) -> str:
    """``a = b`` / ``a != b`` as ast_expr compares: numbers as numbers, anything else as the text it is (quotes
    included, which is why the dialplan quotes both sides)."""
    match = _COMPARISON.match(text)
    assert match is not None, f"expression {text!r} is not known here"
    left, op, right = match.groups()
    same = int(left) == int(right) if left.isdigit() and right.isdigit() else left == right
    return "1" if same == (op == "=") else "0"
