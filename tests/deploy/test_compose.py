"""docker-compose.yml, the Dockerfiles, .env.example, Prometheus and Grafana provisioning: read, not run (there
is no Docker engine here). Health checks, start order, mounts, ports and URLs against the service's settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.repo import ROOT, compose, env_example
from uhd_telephony.settings import Settings

SERVICE = "service"


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def test_the_production_shape_is_there() -> None:
    assert set(services()) == {
        "postgres", "redis", "migrate", "asterisk", SERVICE, "web", "proxy", "prometheus", "grafana"
    }  # fmt: skip
    assert services()["postgres"]["image"].startswith("postgres:16")
    assert services()["redis"]["image"].startswith("redis:7")
    assert services()["prometheus"]["image"].startswith("prom/prometheus:")
    assert services()["grafana"]["image"].startswith("grafana/grafana:")


def test_every_service_has_a_health_check_or_says_why_not() -> None:
    for name, spec in services().items():
        check = spec.get("healthcheck", {})
        if check.get("disable"):
            assert spec.get("labels", {}).get("uhd.healthcheck"), f"{name}: no health check and no reason"
            continue
        assert check.get("test"), f"{name}: no health check"


def test_start_order_waits_for_health() -> None:
    conditions = {"service_healthy", "service_completed_successfully", "service_started"}
    for name, spec in services().items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on with conditions"
        for other, how in depends.items():
            assert other in services(), f"{name} depends on unknown {other}"
            assert how.get("condition") in conditions, f"{name} -> {other}"
    service = services()[SERVICE]["depends_on"]
    assert service["postgres"]["condition"] == "service_healthy"
    assert service["redis"]["condition"] == "service_healthy"
    assert service["migrate"]["condition"] == "service_completed_successfully"
    assert services()["migrate"]["command"] == ["uhd-telephony", "migrate"]


def test_every_mounted_file_or_folder_is_in_the_repository() -> None:
    mounts = 0
    for name, spec in services().items():
        for volume in spec.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                mounts += 1
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"
                assert str(volume).endswith(":ro"), f"{name}: {volume} should be read-only"
            else:
                assert source in compose()["volumes"], f"{name}: unknown volume {source}"
    assert mounts >= 15


def test_the_service_reaches_its_peers_on_the_settings_ports() -> None:
    env = environment(SERVICE)
    assert env["UHD_AMI_HOST"] in services() and env["UHD_AMI_HOST"] == "asterisk"
    assert int(env["UHD_AMI_PORT"]) == default("ami_port") == 5038
    assert env["UHD_AMI_USERNAME"] == default("ami_username")
    assert int(env["UHD_HTTP_PORT"]) == default("http_port") == 8080
    assert env["UHD_HTTP_HOST"] == "0.0.0.0"
    assert env["UHD_REDIS_URL"] == "redis://redis:6379/0"
    url = env["UHD_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    # the AGI lookup inside Asterisk reads the same database
    assert environment("asterisk")["UHD_DATABASE_URL"] == url
    assert environment("migrate")["UHD_DATABASE_URL"] == url
    assert "ports" not in services()[SERVICE]  # a tracker serves /healthz and /metrics inside the network only
    assert f"{default('http_port')}:{default('http_port')}" in services()["proxy"]["ports"]


def test_a_tracker_with_a_standby_and_web_replicas_behind_a_load_balancer() -> None:
    """Issue 17: exactly one process follows the PBX (the lease in PostgreSQL decides; the other stands by), the
    web processes are stateless behind the proxy and get their pops through Redis."""
    tracker, web = services()[SERVICE], services()["web"]
    assert environment(SERVICE)["UHD_ROLE"] == "tracker" and tracker["deploy"]["replicas"] == 2
    assert environment("web")["UHD_ROLE"] == "web" and web["deploy"]["replicas"] >= 2
    roles = Settings.model_fields["role"].annotation.__args__  # type: ignore[union-attr]
    assert {"tracker", "web"} <= set(roles) and default("role") == "all"
    for name in (SERVICE, "web"):
        env = environment(name)
        assert env["UHD_REDIS_URL"] == "redis://redis:6379/0"  # pops, sessions and rate limits shared
        assert env["UHD_DATABASE_URL"].startswith("postgresql+asyncpg://")  # the lease needs PostgreSQL
        assert "ports" not in services()[name]
    env = environment("web")
    assert "UHD_AMI_HOST" not in env and "UHD_QUEUE_LOG" not in env
    assert web["volumes"] == [f"incident-sounds:{env['UHD_INCIDENT_SOUNDS_DIR']}"]  # the announcements, nothing else
    assert int(env["UHD_HTTP_PORT"]) == default("http_port") and env["UHD_HTTP_HOST"] == "0.0.0.0"
    proxy = services()["proxy"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    conf = (ROOT / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(rf"server web:{default('http_port')} resolve;", conf)
    assert f"listen {default('http_port')};" in conf
    websocket = conf[conf.index("location /ws/") :]
    assert "proxy_set_header Upgrade $http_upgrade;" in websocket and "proxy_http_version 1.1;" in websocket
    assert "resolver 127.0.0.11" in conf  # Docker's DNS: replicas found again when they restart


def test_ami_and_the_databases_are_not_published() -> None:
    for name, spec in services().items():
        for port in spec.get("ports", []):
            assert not str(port).endswith(":5038"), f"{name} publishes AMI"
            assert "5432" not in str(port) and "6379" not in str(port)
    assert "ports" not in services()["postgres"] and "ports" not in services()["redis"]
    for port in services()["prometheus"]["ports"]:
        assert str(port).startswith("127.0.0.1:")


def test_the_rtp_range_published_is_the_one_asterisk_uses() -> None:
    from tests.deploy.repo import conf

    rtp = conf("rtp.conf").section("general")
    assert (
        f"{rtp.get('rtpstart')}-{rtp.get('rtpend')}:{rtp.get('rtpstart')}-{rtp.get('rtpend')}/udp"
        in services()["asterisk"]["ports"]
    )
    assert "5060:5060/udp" in services()["asterisk"]["ports"]


def _references() -> set[str]:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    text = text.replace("$$", "")  # escaped: the container's own variable
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))


def test_every_variable_compose_uses_is_in_env_example() -> None:
    refs = _references()
    assert {"POSTGRES_PASSWORD", "UHD_AMI_SECRET", "GRAFANA_ADMIN_PASSWORD"} <= refs
    assert refs <= set(env_example()), f"missing in .env.example: {refs - set(env_example())}"


def test_secrets_come_only_from_env() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for secret in ("POSTGRES_PASSWORD", "UHD_AMI_SECRET", "GRAFANA_ADMIN_PASSWORD", "ASTERISK_AGENT_PASSWORDS"):
        assert re.search(rf"\$\{{{secret}(:\?[^}}]*)?\}}", text), f"{secret} is not taken from .env"
    assert "change-me" not in text
    assert services()[SERVICE]["env_file"] == ".env"
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in gitignore and ".env" in dockerignore
    for key, value in env_example().items():
        if any(word in key for word in ("PASSWORD", "SECRET")) and value:
            assert "change-me" in value, f"{key}: .env.example must not ship a usable secret"


def test_env_example_settings_are_valid_for_the_service() -> None:
    env = {k.removeprefix("UHD_").lower(): v for k, v in env_example().items() if k.startswith("UHD_")}
    settings = Settings(**{k: v for k, v in env.items() if k in Settings.model_fields})
    assert settings.tenant_numbers and settings.tenant_queues


def test_the_service_image_installs_the_package_as_the_readme_does_and_runs_it() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install ." in dockerfile and "pip install" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^USER uhd$", dockerfile, re.M), "runs as a non-root user"
    assert 'CMD ["uhd-telephony", "run"]' in dockerfile
    assert f"EXPOSE {default('http_port')}" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert services()[SERVICE]["build"]["dockerfile"] == "Dockerfile"


def test_the_asterisk_image_is_the_public_one_plus_python_and_the_agi() -> None:
    dockerfile = (ROOT / "asterisk" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM andrius/asterisk:22$", dockerfile, re.M)
    for script in ("uhd-lookup.agi", "uhd-subscribe.agi"):
        assert f"dialplan/agi/{script} /var/lib/asterisk/agi-bin/{script}" in dockerfile
        assert f"./dialplan/agi/{script}:/var/lib/asterisk/agi-bin/{script}:ro" in services()["asterisk"]["volumes"]
    assert "pip install" in dockerfile and "tzdata" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/uhd-asterisk-entrypoint.sh"]' in dockerfile
    assert services()["asterisk"]["build"] == {"context": ".", "dockerfile": "asterisk/Dockerfile"}
    # the image's COPY sources are in the build context, and .dockerignore keeps them in
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for source in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
            assert path.split("/")[0] not in ignored, f"{path} is excluded from the build context"


def test_prometheus_loads_the_rules_and_scrapes_the_service() -> None:
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "uhd-telephony"]
    assert job["metrics_path"] == "/metrics"
    # every tracker replica, found through Docker's DNS (a standby exports only uhd_tracker_active 0)
    assert job["dns_sd_configs"] == [
        {"names": [SERVICE], "type": "A", "port": default("http_port"), "refresh_interval": "15s"}
    ]
    volumes = services()["prometheus"]["volumes"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in volumes
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed")
def test_promtool_accepts_the_prometheus_config() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", str(ROOT / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards_folder() -> None:
    provisioning = ROOT / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus" and source["isDefault"] is True
    prometheus_port = services()["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert source["url"] == f"http://prometheus:{prometheus_port}"

    dashboards = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text(encoding="utf-8"))
    (provider,) = dashboards["providers"]
    mounts = dict(str(v).rsplit(":ro", 1)[0].split(":", 1) for v in services()["grafana"]["volumes"] if ":ro" in v)
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert provider["type"] == "file"


def test_the_dashboards_use_the_provisioned_data_source() -> None:
    import json

    provisioned = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"][0]["uid"]

    def uids(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["uid"]] if node.get("type") == "prometheus" and isinstance(node.get("uid"), str) else []
            return found + [u for value in node.values() for u in uids(value)]
        if isinstance(node, list):
            return [u for value in node for u in uids(value)]
        return []

    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        used = set(uids(json.loads(path.read_text(encoding="utf-8"))))
        assert used <= {provisioned, "${datasource}", "$datasource"}, f"{path.name}: data source {used}"


def test_the_service_reads_the_queue_log_asterisk_writes_read_only() -> None:
    """issue 13: calls Asterisk logged while the service could not see it are backfilled from its queue_log."""
    from tests.deploy.repo import conf

    logdir = conf("asterisk.conf").section("directories").get("astlogdir")
    name = conf("logger.conf").section("general").get("queue_log_name")
    (logs,) = [v for v in services()["asterisk"]["volumes"] if str(v).split(":")[1] == logdir]
    volume = str(logs).split(":")[0]
    assert volume in compose()["volumes"]
    assert f"{volume}:{logdir}:ro" in services()[SERVICE]["volumes"]
    assert environment(SERVICE)["UHD_QUEUE_LOG"] == f"{logdir}/{name}"
    assert Settings.model_fields["queue_log"].default is None  # off unless set


def test_the_major_incidents_announcements_go_from_the_web_service_to_asterisk() -> None:
    """Issue 18: the web service speaks a declared incident's announcement into a volume (espeak-ng, in its image)
    that Asterisk mounts read-only where the dialplan plays it (``uhd-incidents/<name>``, incidents.phone)."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "espeak-ng" in dockerfile
    folder = environment("web")["UHD_INCIDENT_SOUNDS_DIR"]
    assert re.search(rf"^RUN mkdir -p {re.escape(folder)}$", dockerfile, re.M), "owned by uhd, not root"
    assert dockerfile.index("USER uhd") < dockerfile.index(f"mkdir -p {folder}")
    assert "incident-sounds:/var/lib/asterisk/sounds/uhd-incidents:ro" in services()["asterisk"]["volumes"]
    assert "incident-sounds" in compose()["volumes"]
    from uhd_telephony.incidents.announcement import GENERIC_PROMPT, KEY_PROMPT, SUBSCRIBED_PROMPT

    custom = {str(v).split(":")[1] for v in services()["asterisk"]["volumes"] if str(v).startswith("./asterisk/sounds")}
    assert custom == {"/var/lib/asterisk/sounds/custom"}
    for prompt in (GENERIC_PROMPT, KEY_PROMPT, SUBSCRIBED_PROMPT):
        assert prompt.startswith("custom/") and (ROOT / "asterisk" / "sounds" / f"{prompt[7:]}.wav").is_file()
