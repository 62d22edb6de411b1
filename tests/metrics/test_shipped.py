"""The dashboards and alert rules as files: well-formed, on the provisioned datasource, only exported metrics;
``promtool check rules`` and ``promtool test rules``."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.metrics.shipped import (
    DATASOURCE_UID,
    HISTORY_UID,
    LABEL_VALUES,
    RULE_TESTS,
    RULES,
    dashboards,
    datasource_uid,
    panel_queries,
    panels,
    rules,
    substitute,
    variable_queries,
)
from uhd_telephony.metrics.live import METRIC_NAMES

HISTOGRAMS = {"uhd_call_wait_seconds", "uhd_call_talk_seconds", "uhd_ticket_escalation_seconds"}
EXPORTED = set(METRIC_NAMES) | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
METRIC = re.compile(r"\buhd_[a-z_]+\b")
BOARDS = dashboards()
# the Prometheus dashboards; history.json queries PostgreSQL (tests/metrics/test_history.py runs its SQL)
PROMQL_BOARDS = sorted(name for name, board in BOARDS.items() if any(panel_queries(board)))
promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing: apt-get install prometheus (CI installs it)"
)


def test_there_are_the_dashboards() -> None:
    assert sorted(BOARDS) == ["history.json", "hotline-live.json", "sla.json", "tickets.json"]
    assert PROMQL_BOARDS == ["hotline-live.json", "sla.json", "tickets.json"]
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids)


def test_every_query_runs_on_a_provisioned_datasource() -> None:
    """The per-datasource filters skip nothing by a typo: every query is on Prometheus or on the history."""
    for name, board in BOARDS.items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                assert datasource_uid(panel, target) in {DATASOURCE_UID, HISTORY_UID}, (name, panel["title"])
        for variable in board.get("templating", {}).get("list", []):
            assert datasource_uid(variable) in {DATASOURCE_UID, HISTORY_UID}, (name, variable["name"])


@pytest.mark.parametrize("name", PROMQL_BOARDS)
def test_dashboard_queries_use_the_provisioned_datasource_and_exported_metrics(name: str) -> None:
    board = BOARDS[name]
    assert board["timezone"] == "Europe/Berlin" and board["id"] is None
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    queries = list(panel_queries(board))
    assert queries
    for panel, target in queries:
        assert panel["datasource"]["uid"] == DATASOURCE_UID and target["datasource"]["uid"] == DATASOURCE_UID
        expr = substitute(target["expr"])
        used = set(METRIC.findall(expr))
        assert used and used <= EXPORTED, (panel["title"], used - EXPORTED)
    for variable in variable_queries(board):
        assert variable["datasource"]["uid"] == DATASOURCE_UID
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match is not None and set(METRIC.findall(match["selector"] or "")) <= EXPORTED


def test_rules_use_exported_metrics_only() -> None:
    found = list(rules())
    assert {rule["alert"] for _, rule in found} == {
        "HotlineReachabilityLow", "CallerWaitingTooLong", "AmiDisconnected", "NoActiveTracker", "TwoActiveTrackers"
    }  # fmt: skip
    for _, rule in found:
        used = set(METRIC.findall(rule["expr"]))
        assert used and used <= EXPORTED, used - EXPORTED


@pytest.mark.slow
@promtool
def test_promtool_check_rules() -> None:
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    result = subprocess.run(["promtool", "check", "rules", *files], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@promtool
def test_promtool_test_rules() -> None:
    files = sorted(str(p) for p in RULE_TESTS.glob("*.yml"))
    assert files
    result = subprocess.run(["promtool", "test", "rules", *files], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
