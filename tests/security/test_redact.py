"""No secrets in logs: the CLI's logging masks passwords, tokens, cookies, Authorization headers and the AMI
secret in every record, also when someone logs a whole request or turns a library's DEBUG on."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from tests.ami.fake_ami import FakeAmi as FakeAsterisk
from tests.security.conftest import World, bearer
from tests.support.helpers import eventually
from tests.support.webapp import PASSWORD, TENANT_A
from uhd_telephony.ami.client import AmiClient
from uhd_telephony.app.cli import setup_logging
from uhd_telephony.security import redact
from uhd_telephony.security.redact import Redactor, settings_secrets
from uhd_telephony.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

AMI_SECRET = "s3cret-Zebra-42"
WRONG_SECRET = "wrong-Secret-99"
careless = logging.getLogger("uhd_telephony.careless")  # a debug line someone might add one day


@pytest.fixture
def masked_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The CLI's logging set-up, everything at DEBUG (the libraries' loggers too); taken out afterwards."""
    settings = Settings(ami_secret=SecretStr(AMI_SECRET), database_url="postgresql+asyncpg://uhd:db-Pass-77@h/db")
    setup_logging("DEBUG", settings_secrets(settings))
    loud = ("panoramisk", "aiohttp", "uhd_telephony")
    saved = {name: logging.getLogger(name).level for name in loud}
    for name in loud:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        for uninstall in list(redact._current):
            uninstall()


def _all_text(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer uhd_12_" + "a" * 43, "a" * 43),
        ("{'Authorization': 'Bearer abcdefghijklmnop'}", "abcdefghijklmnop"),
        ("Authorization: Basic YW5uYTpzZWNyZXQ=", "YW5uYTpzZWNyZXQ="),
        ("token uhd_7_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXhxdXV4cXV1", "Zm9vYmFy"),
        ('Set-Cookie: uhd_session="gAAAAABk-x_y=="; HttpOnly', "gAAAAABk"),
        ("Cookie: uhd_session=gAAAAABkQWxyz; other=1", "gAAAAABkQWxyz"),
        ('{"username": "anna", "password": "correct horse battery"}', "correct horse"),
        ("{'password': 'it\\'s secret'}", "it\\'s"),
        ("login with password=hunter2hunter2&next=/", "hunter2hunter2"),
        ("Action: Login\r\nUsername: uhd\r\nSecret: topsecret-1\r\n", "topsecret-1"),
        ("postgresql+asyncpg://uhd:db-Pass-77@db.example/uhd", "db-Pass-77"),
        ('"GET /status/q0XsTj2pJ8c9vYhK1mN4bR6wE3uI5oA7zL HTTP/1.1" 200', "q0XsTj2pJ8c9vYhK1mN4bR6wE3uI5oA7zL"),
    ],
)
def test_the_redactor_masks_each_kind_of_secret(line: str, secret: str) -> None:
    masked = Redactor()(line)
    assert secret not in masked and "***" in masked


def test_configured_secrets_are_masked_wherever_they_appear() -> None:
    settings = Settings(ami_secret=SecretStr(AMI_SECRET), smtp_password=SecretStr("mail-Pass-55"))
    masked = Redactor(settings_secrets(settings))(f"tried {AMI_SECRET} and then mail-Pass-55 in a sentence")
    assert AMI_SECRET not in masked and "mail-Pass-55" not in masked
    assert "tried *** and then *** in a sentence" == masked


async def test_login_and_token_use_leave_no_secret_in_any_log_record(
    client: TestClient, world: World, masked_logging: pytest.LogCaptureFixture
) -> None:
    body = {"username": "anna", "password": PASSWORD}
    response = await client.post("/api/login", json=body)
    assert response.status == 200
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["uhd_session"].value
    token = world.tokens["token"]
    used = await client.get(f"/api/tenants/{TENANT_A}/tickets", headers=bearer(token))
    assert used.status == 200
    wrong = await client.post("/api/login", json={"username": "anna", "password": "Falsch-Geheim-1"})
    assert wrong.status == 401
    # what a careless debug line would write: whole headers and bodies
    careless.debug("login body %s", json.dumps(body))
    careless.debug("login answer headers %s", dict(response.headers))
    careless.debug("request headers %r", dict(used.request_info.headers))
    careless.info("token in a sentence: %s, cookie uhd_session=%s", token, cookie)
    try:
        raise ValueError(f"failed with Authorization: Bearer {token}")
    except ValueError:
        careless.exception("request failed")

    text = _all_text(masked_logging)
    assert "login of anna" in text and "***" in text  # the lines are there, masked
    secret_part = token.split("_", 2)[2]
    for secret in (PASSWORD, "Falsch-Geheim-1", token, secret_part, cookie):
        assert secret not in text, secret
    for record in masked_logging.records:
        assert record.args is None or record.args == ()


async def test_an_ami_login_with_a_wrong_secret_logs_neither_secret(masked_logging: pytest.LogCaptureFixture) -> None:
    asterisk = FakeAsterisk(username="uhd", secret=AMI_SECRET)
    await asterisk.start()
    settings = Settings(
        ami_host="127.0.0.1",
        ami_port=asterisk.port,
        ami_secret=SecretStr(WRONG_SECRET),
        ami_connect_timeout_s=1.0,
        ami_reconnect_min_s=0.05,
        ami_reconnect_max_s=0.2,
    )
    redact.install([*settings_secrets(settings), AMI_SECRET])  # run's setup_logging with this run's settings
    client = AmiClient(settings, on_event=lambda *_: None)
    try:
        await client.start()
        await eventually(lambda: client.status.auth_failures >= 2, 5)
        careless.debug("sent %s", f"Action: Login\r\nUsername: uhd\r\nSecret: {WRONG_SECRET}\r\n")
        careless.debug("settings %s", settings.model_dump_json())
        careless.debug("the secret is %s", settings.ami_secret.get_secret_value())
    finally:
        await client.close()
        await asterisk.close()
    await asyncio.sleep(0)
    text = _all_text(masked_logging)
    assert "authentication failed" in text
    assert WRONG_SECRET not in text and AMI_SECRET not in text
