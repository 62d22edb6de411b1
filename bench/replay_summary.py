"""``uhd-telephony replay FILE --summary`` against a plain Python frame splitter over the same file.

    python bench/replay_summary.py [--calls 2000 | --traces-mb 260] [--rounds 3] [--keep FILE]

The capture is rendered by the simulator (``--calls`` simulated queue calls, about 80 kB of AMI each: 2,000 make
160 MB) or made by repeating the real Asterisk captures of tests/data/ami-traces (``--traces-mb``). Each figure is a
whole process, start included, with its peak resident memory (``wait4``'s ``ru_maxrss``):

- splitter: the file read 64 kB at a time, split into frames on CRLF CRLF and each frame into its header dict (what
  a plain AMI reader does before it can look at a frame);
- bare split: the same without the header dicts (frames counted, never looked at), for reference;
- replay: ``uhd-telephony replay FILE --summary`` (frames, typed events, the call tracker, the summary).

Rounds alternate between them so machine noise hits all; ratios are of the best runs (and of the medians).
Targets: replay at least as fast as the splitter (ratio >= 1.0), its memory flat in the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "tests" / "data" / "ami-traces"

SPLITTER = r"""
import sys
frames = 0
rest = b""
with open(sys.argv[1], "rb") as capture:
    while chunk := capture.read(65536):
        parts = (rest + chunk).split(b"\r\n\r\n")
        rest = parts.pop()
        for frame in parts:
            fields = dict(
                line.split(": ", 1) for line in frame.decode("utf-8", "replace").split("\r\n") if ": " in line
            )
            frames += 1
print(frames + (1 if rest.strip() else 0))
"""

BARE_SPLIT = r"""
import sys
frames = 0
rest = b""
with open(sys.argv[1], "rb") as capture:
    while chunk := capture.read(65536):
        parts = (rest + chunk).split(b"\r\n\r\n")
        rest = parts.pop()
        frames += len(parts)
print(frames + (1 if rest.strip() else 0))
"""


def make_capture(path: Path, calls: int, traces_mb: float) -> str:
    if traces_mb:
        one = b"".join(p.read_bytes() for p in sorted(TRACES.glob("*.ami")))
        copies = max(1, round(traces_mb * 1e6 / len(one)))
        with path.open("wb") as out:
            for _ in range(copies):
                out.write(one)
        return f"the {len(list(TRACES.glob('*.ami')))} real captures of tests/data/ami-traces, {copies} times"
    from uhd_telephony.simulator.render import render_calls

    rendered = render_calls(calls, seed=1, concurrency=20)
    path.write_bytes(rendered.data)
    return f"{calls} simulated calls ({rendered.frames} frames)"


def run_one(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, the child's own peak RSS in MB (``wait4``, not the maximum over every child) and stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, out.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="simulated calls to render (default 2000)")
    parser.add_argument("--traces-mb", type=float, default=0.0, help="repeat the real captures to this size instead")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--keep", type=Path, help="use this capture file (made when missing) instead of a new one")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    capture = args.keep or Path(tmp.name) / "capture.ami"
    source = f"the file {capture}"
    if not capture.exists():
        source = make_capture(capture, args.calls, args.traces_mb)
    size_mb = capture.stat().st_size / 1e6
    # as installed: bytecode compiled once, into a cache of this run's own (not into the source tree)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = f"{tmp.name}/pycache"
    script = Path(sys.executable).with_name("uhd-telephony")
    uhd = [str(script)] if script.exists() else [sys.executable, "-m", "uhd_telephony"]
    cases = {
        "splitter (frames + header dicts)": [sys.executable, "-c", SPLITTER, str(capture)],
        "bare split (frames counted)": [sys.executable, "-c", BARE_SPLIT, str(capture)],
        "uhd-telephony replay --summary": [*uhd, "replay", str(capture), "--summary"],
    }
    print(f"capture: {size_mb:.1f} MB, {source}")
    for argv in cases.values():  # warm-up: the page cache, compiled bytecode
        run_one(argv, env)
    times: dict[str, list[float]] = {name: [] for name in cases}
    rss: dict[str, float] = dict.fromkeys(cases, 0.0)
    outputs: dict[str, str] = {}
    for _ in range(args.rounds):
        for name, argv in cases.items():
            elapsed, peak, out = run_one(argv, env)
            times[name].append(elapsed)
            rss[name] = max(rss[name], peak)
            outputs[name] = out
    summary = json.loads(outputs["uhd-telephony replay --summary"])["summary"]
    split_frames = int(outputs["bare split (frames counted)"])
    print(
        f"replay summary: {summary['calls']} calls, {summary['frames']} frames ({split_frames} by the splitter), "
        f"{summary['events_decoded']} decoded"
    )
    print(f"{args.rounds} rounds after one warm-up, alternating; {os.cpu_count()} CPUs; process start included")
    replay_name = "uhd-telephony replay --summary"
    best_replay, median_replay = min(times[replay_name]), statistics.median(times[replay_name])
    for name, samples in times.items():
        best, median = min(samples), statistics.median(samples)
        line = f"{name:<34} best {best:6.2f} s  median {median:6.2f} s  peak RSS {rss[name]:6.1f} MB"
        if name != replay_name:
            line += f"   replay speed vs this: {best / best_replay:.2f}x (medians {median / median_replay:.2f}x)"
        print(line)
    ratio = min(times["splitter (frames + header dicts)"]) / best_replay
    verdict = "met" if ratio >= 1.0 else "NOT met"
    print(f"target: replay --summary at least as fast as the splitter: {verdict} ({ratio:.2f}x); peak RSS of the "
          f"replay {rss[replay_name]:.0f} MB for a {size_mb:.0f} MB capture")  # fmt: skip
    tmp.cleanup()


if __name__ == "__main__":
    main()
