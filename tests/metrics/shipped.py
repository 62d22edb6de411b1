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
HISTORY_UID = "postgres-history"  # grafana/provisioning/datasources/postgres.yml: SQL, tests/metrics/test_history.py

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


def datasource_uid(panel: dict[str, Any], target: dict[str, Any] | None = None) -> str | None:
    """The uid of the datasource a query runs on: the target's, else the panel's (or the variable's)."""
    source = (target or {}).get("datasource") or panel.get("datasource") or {}
    return source.get("uid")


def panel_queries(board: dict[str, Any], uid: str = DATASOURCE_UID) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) of every query of the dashboard on datasource ``uid`` (default: the PromQL ones)."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            if datasource_uid(panel, target) == uid:
                yield panel, target


def variable_queries(board: dict[str, Any], uid: str = DATASOURCE_UID) -> Iterator[dict[str, Any]]:
    """The dashboard's template variables queried from datasource ``uid`` (default: Prometheus)."""
    for variable in board.get("templating", {}).get("list", []):
        if datasource_uid(variable) == uid:
            yield variable


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
