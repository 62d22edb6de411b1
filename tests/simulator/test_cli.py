"""``simulate``: the argparse hooks the top-level CLI wires in, and ``python -m uhd_telephony.simulator``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import TRACES
from uhd_telephony.simulator.cli import add_arguments, main


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="uhd-telephony simulate")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse()
    assert (args.port, args.username, args.agents, args.rate, args.speed, args.seed) == (5038, "uhd", 6, 120.0, 1.0, 0)
    assert args.replay is None and not args.realtime


async def test_render_writes_the_stream_and_its_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "load.ami"
    assert await main(parse("--render", "20", "--seed", "3", "--output", str(out))) == 0
    assert out.read_bytes().startswith(b"Asterisk Call Manager/11.0.0\r\n")
    truth = json.loads((tmp_path / "load.truth.json").read_text(encoding="utf-8"))
    assert len(truth) >= 20
    assert "20 calls" in capsys.readouterr().out


@pytest.mark.slow
async def test_simulate_serves_on_the_port_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    run = asyncio.create_task(main(parse("--port", "0", "--speed", "50", "--rate", "3600", "--duration", "1.5")))
    try:
        printed = ""
        for _ in range(250):  # the server prints its port once it listens
            printed += capsys.readouterr().out
            if "AMI simulator on" in printed:
                break
            await asyncio.sleep(0.02)
        port = int(printed.split("AMI simulator on 127.0.0.1:", 1)[1].split(":", 1)[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
        writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: uhd\r\nSecret: uhdsecret\r\n\r\n")
        assert b"Authentication accepted" in await reader.readuntil(b"\r\n\r\n")
        writer.close()
        await writer.wait_closed()
    finally:
        assert await run == 0


async def test_replay_mode(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--port", "0", "--replay", str(TRACES / "a_answered.ami"), "--duration", "0.2")
    assert await main(args) == 0
    assert "replaying" in capsys.readouterr().out


@pytest.mark.slow
def test_module_entry_point_has_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "uhd_telephony.simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0 and "--replay" in result.stdout and "--rate" in result.stdout


async def test_ctrl_c_is_the_loops_again_after_a_run() -> None:
    loop = asyncio.get_running_loop()
    assert await main(parse("--port", "0", "--replay", str(TRACES / "a_answered.ami"), "--duration", "0.1")) == 0
    assert not loop.remove_signal_handler(signal.SIGINT) and not loop.remove_signal_handler(signal.SIGTERM)
