"""The repository's deployment files, read once for the deployment tests."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.asterisk_conf import ConfFile, Dialplan, dialplan, parse

ROOT = Path(__file__).resolve().parents[2]
ASTERISK = ROOT / "asterisk"
DIALPLAN = ROOT / "dialplan"


@functools.cache
def conf(name: str) -> ConfFile:
    """asterisk/<name>, or dialplan/extensions.conf."""
    if name == "extensions.conf":
        return parse(DIALPLAN / name)
    return parse(ASTERISK / name)


@functools.cache
def plan() -> Dialplan:
    return dialplan(conf("extensions.conf"))


@functools.cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@functools.cache
def env_example() -> dict[str, str]:
    """.env.example as docker compose reads it: KEY=value lines, the value taken literally."""
    out: dict[str, str] = {}
    for number, line in enumerate((ROOT / ".env.example").read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example:{number}: {line!r}"
        assert key not in out, f".env.example: {key} twice"
        out[key] = value
    return out


def mapping(value: str) -> dict[str, str]:
    """``a=b,c=d`` (UHD_TENANT_NUMBERS, UHD_TENANT_QUEUES) as the service's settings read it."""
    from uhd_telephony.settings import Settings

    return dict(Settings(tenant_numbers=value).tenant_numbers)


def compose_subnet() -> str:
    (config,) = compose()["networks"]["uhd"]["ipam"]["config"]
    return str(config["subnet"])
