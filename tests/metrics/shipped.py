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
QUERY_RESULT = re.compile(r"^query_result\((?P<expr>.+)\)$", re.S)
# the info series the dashboards join for names (uhd_telephony/metrics/exposition.py)
TENANT_NAMES = "max by (tenant, name) (uhd_tenant_info)"
CATEGORY_TITLES = "max by (tenant, category, title) (uhd_category_info)"
TENANT_JOIN = f"* on(tenant) group_left(name) {TENANT_NAMES}"
CATEGORY_JOIN = f"* on(tenant, category) group_left(title) {CATEGORY_TITLES}"


def variable_query(variable: dict[str, Any]) -> str:
    """A Prometheus variable's query as Grafana runs it (``label_values(…)`` or ``query_result(…)``)."""
    query = variable["query"]
    return query["query"] if isinstance(query, dict) else str(query)


def choice_regex(variable: dict[str, Any]) -> re.Pattern[str] | None:
    """A variable's ``regex`` (Grafana's ``/…/`` JavaScript form) as Python's, named groups ``text``/``value``."""
    found = re.fullmatch(r"/(?P<body>.*)/(?P<flags>[a-z]*)", variable.get("regex") or "", re.S)
    if found is None:
        return None
    return re.compile(found["body"].replace("(?<", "(?P<"), re.I if "i" in found["flags"] else 0)


def query_result_lines(result: list[dict[str, Any]]) -> list[str]:
    """The lines Grafana makes of a ``query_result`` answer (metric_find_query.ts ``queryResultQuery``): the
    metric's name, its labels as the API orders them (sorted by name) unescaped, the value and the time in ms."""
    lines = []
    for sample in result:
        labels = dict(sample["metric"])
        text = labels.pop("__name__", "")
        text += "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
        lines.append(f"{text} {sample['value'][1]} {int(float(sample['value'][0]) * 1000)}")
    return lines


def choices(variable: dict[str, Any], lines: list[str]) -> dict[str, str]:
    """value -> text of a variable's options made of ``lines`` by its regex (Grafana's named groups)."""
    regex = choice_regex(variable)
    assert regex is not None, variable["name"]
    out = {}
    for line in lines:
        found = regex.search(line)
        if found is not None:
            out[found["value"]] = found["text"]
    return out
