"""The history side of Grafana in docker-compose.yml: the PostgreSQL datasource, its read-only login and the
init script that creates it, read (not run); tests/metrics/test_history.py runs the script and the SQL."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import yaml

from tests.deploy.repo import ROOT, compose, env_example

INITDB = ROOT / "postgres" / "initdb"
SCRIPT = INITDB / "10-grafana-reader.sh"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources"
HISTORY_UID = "postgres-history"


def service(name: str) -> dict[str, Any]:
    spec = compose()["services"][name]
    assert isinstance(spec, dict)
    return spec


def datasource() -> dict[str, Any]:
    (source,) = yaml.safe_load((DATASOURCES / "postgres.yml").read_text(encoding="utf-8"))["datasources"]
    assert isinstance(source, dict)
    return source


def test_postgres_runs_the_reader_script_from_a_read_only_mount_with_the_password() -> None:
    postgres = service("postgres")
    assert "./postgres/initdb:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert SCRIPT.is_file() and SCRIPT.stat().st_mode & 0o111, "executable: the entrypoint runs it, not sources it"
    assert sorted(p.name for p in INITDB.iterdir()) == [SCRIPT.name]
    assert postgres["environment"]["GRAFANA_DB_PASSWORD"] == "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD in .env}"
    script = SCRIPT.read_text(encoding="utf-8")
    for variable in ("POSTGRES_USER", "POSTGRES_DB", "GRAFANA_DB_PASSWORD"):
        assert f"${variable}" in script or f"${{{variable}" in script or f"getenv password {variable}" in script
    done = subprocess.run(["sh", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr


def test_grafana_gets_the_database_name_and_the_reader_password_from_env() -> None:
    grafana = service("grafana")
    env = grafana["environment"]
    assert env["GRAFANA_DB_PASSWORD"] == "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD in .env}"
    assert env["POSTGRES_DB"] == service("postgres")["environment"]["POSTGRES_DB"]
    assert grafana["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert grafana["image"].startswith("grafana/grafana:11.")  # the grafana-postgresql-datasource type name
    assert env_example()["GRAFANA_DB_PASSWORD"].startswith("change-me")
    assert "env_file" not in grafana, "Grafana sees only the secrets it needs"


def test_the_datasource_logs_in_as_the_scripts_reader_on_the_compose_postgres() -> None:
    source = datasource()
    assert source["uid"] == HISTORY_UID and source["type"] == "grafana-postgresql-datasource"
    assert source["url"] == "postgres:5432" and source.get("isDefault") is not True  # Prometheus stays the default
    assert "@postgres:5432/" in service("service")["environment"]["UHD_DATABASE_URL"]
    default_user = re.search(r"GRAFANA_DB_USER:-(\w+)", SCRIPT.read_text(encoding="utf-8"))
    assert default_user is not None and source["user"] == default_user[1] == "grafana_reader"
    # Grafana expands $VARIABLES of provisioning files from its environment: the two compose passes it
    assert source["jsonData"]["database"] == "$POSTGRES_DB"
    assert source["secureJsonData"]["password"] == "$GRAFANA_DB_PASSWORD"
    assert "password" not in source and "password" not in source["jsonData"]


def test_every_history_query_uses_the_datasource_and_only_tables_the_reader_may_read() -> None:
    board = json.loads((ROOT / "grafana" / "dashboards" / "history.json").read_text(encoding="utf-8"))
    readable = re.search(r"tables='\{([^}]*)\}'", SCRIPT.read_text(encoding="utf-8"))
    assert readable is not None
    tables = {t.removeprefix("public.") for t in readable[1].split(",")}
    assert tables == {"kpi_daily"}
    # of the tenants table the reader may read the slug and the name (the tenant choice shows names, issue 16)
    named = re.search(r"named='\{([^}]*)\}'", SCRIPT.read_text(encoding="utf-8"))
    assert named is not None and {t.removeprefix("public.") for t in named[1].split(",")} == {"tenants"}
    queries = 0
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == HISTORY_UID, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == HISTORY_UID, panel["title"]
            assert set(re.findall(r"\bFROM\s+(\w+)", target["rawSql"], re.I)) <= tables, panel["title"]
            queries += 1
    assert queries >= 6
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == HISTORY_UID
        assert set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", variable["query"], re.I)) <= tables | {"tenants"}
        joined = re.search(r"\bJOIN\s+tenants\s+AS\s+(\w+)", variable["query"], re.I)
        if joined is not None:  # only its slug and name
            assert set(re.findall(rf"\b{joined[1]}\.(\w+)", variable["query"])) <= {"tenant", "name"}
