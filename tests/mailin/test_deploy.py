"""The mail endpoint in docker-compose.yml and the README: on the web processes (the role that serves), on the port
they expose to the compose network, reachable by the relay the README's Postfix example names."""

from __future__ import annotations

import re

from tests.deploy.repo import ROOT, compose
from uhd_telephony.settings import Settings, listen_address


def test_the_web_processes_listen_for_mail_inside_the_network() -> None:
    web = compose()["services"]["web"]
    env = {k: str(v) for k, v in web["environment"].items()}
    settings = Settings(mail_in_listen=env["UHD_MAIL_IN_LISTEN"], mail_in_clients=env["UHD_MAIL_IN_CLIENTS"])
    host, port = listen_address(str(settings.mail_in_listen))
    assert host == "0.0.0.0" and str(port) in [str(p) for p in web["expose"]]
    assert "ports" not in web  # not published: the relay reaches it on the compose network
    subnet = compose()["networks"]["uhd"]["ipam"]["config"][0]["subnet"]
    assert [str(n) for n in settings.mail_in_clients] == [subnet]
    assert settings.mail_in_protocol == "lmtp"
    tracker = compose()["services"]["service"]
    assert "UHD_MAIL_IN_LISTEN" not in tracker["environment"]  # a tracker serves no listener anyway


def test_the_readme_shows_the_transport_and_every_mail_in_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Requests by mail") :]
    assert re.search(r"helpdesk\.example\s+lmtp:inet:\S+:2525", section)
    for name in Settings.model_fields:
        if name.startswith("mail_in_"):
            assert f"`UHD_{name.upper()}`" in readme, name
    assert "uhd-telephony mail-address" in readme
