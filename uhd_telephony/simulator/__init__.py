"""The built-in AMI simulator: a TCP server that speaks AMI like Asterisk 22.

- ``AmiSimulator`` (server.py): the simulated PBX on a TCP port, with hooks for tests and the demo;
- ``render_calls`` (render.py): the byte stream and ground truth of N calls, offline and fast;
- ``ReplayServer`` (replay.py): serves a recorded capture to real clients;
- ``Scenario`` / ``LoadGenerator`` (scenario.py): Poisson load; ``PbxConfig`` & co. (config.py): the PBX;
- ``PhoneView`` (softphone.py): a phone a person answers by hand (``PhoneBehaviour(manual=True)``).
"""

from __future__ import annotations

from uhd_telephony.simulator import cli
from uhd_telephony.simulator.config import (
    HotlineConfig,
    MemberConfig,
    PbxConfig,
    PhoneBehaviour,
    QueueConfig,
    default_config,
)
from uhd_telephony.simulator.render import Rendered, render_calls
from uhd_telephony.simulator.replay import ReplayServer, load_capture
from uhd_telephony.simulator.scenario import LoadGenerator, Scenario
from uhd_telephony.simulator.server import AmiSimulator, PlacedCall
from uhd_telephony.simulator.softphone import PhoneView

__all__ = [
    "AmiSimulator",
    "HotlineConfig",
    "LoadGenerator",
    "MemberConfig",
    "PbxConfig",
    "PhoneBehaviour",
    "PhoneView",
    "PlacedCall",
    "QueueConfig",
    "Rendered",
    "ReplayServer",
    "Scenario",
    "cli",
    "default_config",
    "load_capture",
    "render_calls",
]
