"""Fixtures for the AMI client: the fake manager port, short-interval settings, a client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from pydantic import SecretStr

from tests.ami.fake_ami import FakeAmi
from uhd_telephony.ami.client import AmiClient
from uhd_telephony.settings import Settings

SECRET = "s3cret-Zebra-42"


@dataclass
class Recorder:
    """What the owner's callbacks saw."""

    events: list[tuple[dict[str, str], float]] = field(default_factory=list)
    connects: int = 0
    disconnects: list[str] = field(default_factory=list)

    def on_event(self, fields: dict[str, str], received_at: float) -> None:
        self.events.append((fields, received_at))

    async def on_connect(self, client: AmiClient) -> None:
        self.connects += 1

    async def on_disconnect(self, client: AmiClient, reason: str) -> None:
        self.disconnects.append(reason)

    def named(self, name: str) -> list[dict[str, str]]:
        return [fields for fields, _ in self.events if fields.get("Event") == name]


class MakeClient(Protocol):
    def __call__(
        self, settings: Settings | None = None, recorder: Recorder | None = None, **kwargs: Any
    ) -> tuple[AmiClient, Recorder]: ...


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(username="uhd", secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def ami_settings(fake_ami: FakeAmi) -> Settings:
    """Settings pointing at the fake, with intervals short enough for a quick suite."""
    return Settings(
        ami_host="127.0.0.1",
        ami_port=fake_ami.port,
        ami_username="uhd",
        ami_secret=SecretStr(SECRET),
        ami_connect_timeout_s=1.0,
        ami_ping_interval_s=0.2,
        ami_ping_timeout_s=0.2,
        ami_action_timeout_s=0.5,
        ami_reconnect_min_s=0.05,
        ami_reconnect_max_s=0.4,
    )


@pytest.fixture
async def make_client(ami_settings: Settings) -> AsyncIterator[MakeClient]:
    """Builds clients wired to a Recorder; every one is closed at the end of the test."""
    clients: list[AmiClient] = []

    def make(
        settings: Settings | None = None, recorder: Recorder | None = None, **kwargs: Any
    ) -> tuple[AmiClient, Recorder]:
        rec = recorder or Recorder()
        kwargs.setdefault("on_event", rec.on_event)
        kwargs.setdefault("on_connect", rec.on_connect)
        kwargs.setdefault("on_disconnect", rec.on_disconnect)
        client = AmiClient(settings or ami_settings, **kwargs)
        clients.append(client)
        return client, rec

    yield make
    for client in clients:
        await client.close()
