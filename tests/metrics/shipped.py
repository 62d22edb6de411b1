"""The shipped Grafana dashboards and Prometheus rules, read the way the tests check them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
RULES = ROOT / "prometheus" / "rules"
RULE_TESTS = ROOT / "prometheus" / "tests"
DATASOURCE_UID = "prometheus"  # grafana/provisioning/datasources/prometheus.yml

# what Grafana puts in for its variables when a test runs the query against Prometheus itself
SUBSTITUTIONS = {"$__range": "1h", "$tenant": ".*", "$queue": ".*"}
_VARIABLE = re.compile(r"\$\{?\w+\}?")


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) of every PromQL query of the dashboard."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel, target


def variable_queries(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from board.get("templating", {}).get("list", [])


def rules() -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, rule) of every rule in prometheus/rules/."""
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                yield path.name, rule


def substitute(expr: str) -> str:
    """The query as Grafana sends it with every variable at its default (All); unknown variables fail."""
    for name, value in SUBSTITUTIONS.items():
        expr = expr.replace(name, value)
    left = _VARIABLE.findall(expr)
    if left:
        raise AssertionError(f"no test value for the dashboard variables {left} in {expr!r}")
    return expr


LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")
