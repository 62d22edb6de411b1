"""The dashboards and alert rules as files: well-formed, on the provisioned datasource, only exported metrics,
tenants and categories by their names (issue 16); ``promtool check rules`` and ``promtool test rules``, and
promtool evaluating the dashboards' name joins."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.metrics.shipped import (
    CATEGORY_JOIN,
    DATASOURCE_UID,
    HISTORY_UID,
    LABEL_VALUES,
    QUERY_RESULT,
    RULE_TESTS,
    RULES,
    TENANT_JOIN,
    choices,
    dashboards,
    datasource_uid,
    panel_queries,
    panels,
    rules,
    substitute,
    variable_queries,
    variable_query,
)
from uhd_telephony.metrics.exposition import INFO_NAMES
from uhd_telephony.metrics.live import METRIC_NAMES

HISTOGRAMS = {"uhd_call_wait_seconds", "uhd_call_talk_seconds", "uhd_ticket_escalation_seconds"}
EXPORTED = (
    set(METRIC_NAMES) | set(INFO_NAMES) | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
)
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
        query = variable_query(variable)
        match = LABEL_VALUES.match(query) or QUERY_RESULT.match(query)
        assert match is not None, query
        promql = match["selector"] if match.re is LABEL_VALUES else match["expr"]
        assert set(METRIC.findall(promql or "")) <= EXPORTED


# Grafana's own variables, which a dashboard need not define
BUILTIN = {"__range", "__interval", "__rate_interval", "__all", "__timeFilter", "__timeFrom", "__timeTo"}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_variable_a_query_uses_is_defined_on_its_dashboard(name: str) -> None:
    """An undefined ``$queue`` stays in the query as it is: ``queue=~"$queue"`` then matches no series at all."""
    board = BOARDS[name]
    defined = {v["name"] for v in board.get("templating", {}).get("list", [])} | BUILTIN
    for panel in panels(board):
        for target in panel.get("targets", []):
            used = set(re.findall(r"\$\{?(\w+)", target.get("expr") or target.get("rawSql") or ""))
            assert used <= defined, (panel["title"], used - defined)


_BY = re.compile(r"\bby\s*\(([^)]*)\)")


def _grouped_by(expr: str) -> set[str]:
    return {label.strip() for found in _BY.findall(expr) for label in found.split(",")}


@pytest.mark.parametrize("name", PROMQL_BOARDS)
def test_tenants_and_categories_show_by_their_names(name: str) -> None:
    """Issue 16: no slug and no category code in a legend or a table; the name joined after the aggregation."""
    for panel, target in panel_queries(BOARDS[name]):
        expr, legend = target["expr"], target.get("legendFormat", "")
        where = (panel["title"], target["refId"])
        assert "{{tenant}}" not in legend and "{{category}}" not in legend, where
        by = _grouped_by(expr.replace(TENANT_JOIN, "").replace(CATEGORY_JOIN, ""))
        table = target.get("format") == "table"
        if "tenant" in by and ("{{" in legend or table):  # a series per tenant that people tell apart
            assert expr.endswith(TENANT_JOIN) and ("{{name}}" in legend or table), where
        if "{{title}}" in legend:  # per category title, summed over the tenants' categories of that title
            assert "by (title)" in expr and CATEGORY_JOIN in expr, where
        if "category" in by:
            assert table and CATEGORY_JOIN in expr, where
        if table:
            organize = [t for t in panel.get("transformations", []) if t["id"] == "organize"]
            assert organize, where
            hidden = organize[0]["options"]["excludeByName"]
            assert hidden.get("tenant") and (hidden.get("category") or "category" not in by), where
            renamed = organize[0]["options"]["renameByName"]
            assert renamed["name"] == "Mandant" and renamed.get("title", "Kategorie") == "Kategorie", where
    for variable in variable_queries(BOARDS[name]):
        if variable["name"] == "tenant":  # the choices show names, their values stay the slugs
            query = QUERY_RESULT.match(variable_query(variable))
            assert query is not None and "uhd_tenant_info" in query["expr"], name


HOSTILE_NAME = 'Klinikum "Nord", Haus 2 – Geriatrie {a=b}'


@pytest.mark.parametrize("name", PROMQL_BOARDS)
def test_the_tenant_choice_regex_takes_the_name_as_text_and_the_slug_as_value(name: str) -> None:
    """The lines of Grafana's ``query_result``: labels sorted by name (``name`` before ``tenant``), values not
    escaped; with two processes exporting, and through ``max by`` without ``instance``."""
    (variable,) = [v for v in variable_queries(BOARDS[name]) if v["name"] == "tenant"]
    lines = [
        f'{{name="{HOSTILE_NAME}",tenant="klinikum-nord"}} 1 1780000000000',
        '{name="Klinikum Süd",tenant="klinikum-sued"} 1 1780000000000',
        'uhd_tenant_info{instance="svc:8080",job="uhd-telephony",name="Ost",tenant="klinikum-ost"} 1 1780000000000',
    ]
    assert choices(variable, lines) == {
        "klinikum-nord": HOSTILE_NAME,
        "klinikum-sued": "Klinikum Süd",
        "klinikum-ost": "Ost",
    }


def test_rules_use_exported_metrics_only() -> None:
    found = list(rules())
    assert {rule["alert"] for _, rule in found} == {
        "HotlineReachabilityLow", "CallerWaitingTooLong", "AmiDisconnected", "NoActiveTracker", "TwoActiveTrackers",
        "MetricsFromDatabaseStale",
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


def _labels(**labels: str) -> str:
    return (
        "{"
        + ", ".join(
            f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels.items()
        )
        + "}"
    )


def _target(board: str, title: str, ref: str = "A") -> str:
    for panel, target in panel_queries(BOARDS[board]):
        if panel["title"] == title and target["refId"] == ref:
            return substitute(target["expr"])
    raise AssertionError(f"no query {ref} in {board} / {title}")


def _tenant_choices(board: str) -> str:
    (variable,) = [v for v in variable_queries(BOARDS[board]) if v["name"] == "tenant"]
    found = QUERY_RESULT.match(variable_query(variable))
    assert found is not None
    return found["expr"]


@pytest.mark.slow
@promtool
def test_promtool_evaluates_the_dashboards_joins_to_the_names(tmp_path: Path) -> None:
    """The shipped queries themselves, evaluated by promtool over series as /metrics exports them: two processes
    (a takeover) exporting the same names, a name with quotes and a comma, two tenants' categories of one title."""
    nord, sued = "klinikum-nord", "klinikum-sued"
    procs = (
        {"instance": "tracker-1:8080", "job": "uhd-telephony"},
        {"instance": "tracker-2:8080", "job": "uhd-telephony"},
    )
    me = procs[0]
    series: list[dict[str, str]] = []

    def add(metric: str, values: str, **labels: str) -> None:
        series.append({"series": metric + _labels(**labels), "values": values})

    for tenant, offered, answered in ((nord, "0+2x120", "0+1x120"), (sued, "0+1x120", "0+1x120")):
        add("uhd_calls_offered_total", offered, tenant=tenant, queue="hotline", **me)
        add("uhd_calls_answered_total", answered, tenant=tenant, queue="hotline", **me)
        add("uhd_calls_short_abandoned_total", "0x120", tenant=tenant, queue="hotline", **me)
        add("uhd_calls_excluded_from_base_total", "0x120", tenant=tenant, queue="hotline", **me)
        add("uhd_callers_waiting", "3x120", tenant=tenant, queue="hotline", **me)
    for proc in procs:
        add("uhd_tenant_info", "1x120", tenant=nord, name=HOSTILE_NAME, **proc)
        add("uhd_tenant_info", "1x120", tenant=sued, name="Klinikum Süd", **proc)
        for tenant in (nord, sued):
            add("uhd_category_info", "1x120", tenant=tenant, category="kis", title="KIS", **proc)
            add("uhd_category_info", "1x120", tenant=tenant, category="none", title="nicht klassifiziert", **proc)
    add("uhd_tickets_created", "4x120", tenant=nord, category="kis", **me)
    add("uhd_tickets_created", "2x120", tenant=nord, category="none", **me)
    add("uhd_tickets_created", "5x120", tenant=sued, category="kis", **me)
    cases = [
        (_target("sla.json", "Erreichbarkeit je Mandant"),
         [(_labels(name=HOSTILE_NAME, tenant=nord), 0.5), (_labels(name="Klinikum Süd", tenant=sued), 1)]),
        (_target("hotline-live.json", "Wartende Anrufer und längste Wartezeit"),
         [(_labels(name=HOSTILE_NAME, queue="hotline", tenant=nord), 3),
          (_labels(name="Klinikum Süd", queue="hotline", tenant=sued), 3)]),
        (_target("tickets.json", "Gespeicherte Tickets je Kategorie"),
         [(_labels(title="KIS"), 9), (_labels(title="nicht klassifiziert"), 2)]),
        (_target("tickets.json", "Tickets je Kategorie"),
         [(_labels(category="kis", name=HOSTILE_NAME, tenant=nord, title="KIS"), 4),
          (_labels(category="none", name=HOSTILE_NAME, tenant=nord, title="nicht klassifiziert"), 2),
          (_labels(category="kis", name="Klinikum Süd", tenant=sued, title="KIS"), 5)]),
        (substitute(_tenant_choices("sla.json")),
         [(_labels(name=HOSTILE_NAME, tenant=nord), 1), (_labels(name="Klinikum Süd", tenant=sued), 1)]),
    ]  # fmt: skip
    test = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "70m", "exp_samples": [{"labels": lb, "value": v} for lb, v in exp]}
                    for expr, exp in cases
                ],
            }
        ],
    }
    path = tmp_path / "joins_test.yml"
    path.write_text(yaml.safe_dump(test, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
