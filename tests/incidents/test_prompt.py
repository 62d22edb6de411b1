"""The incident announcement: espeak-ng (Debian's, installed by .ci/run) speaks it, 8 kHz mono 16-bit for Asterisk."""

from __future__ import annotations

import array
import asyncio
import math
import os
import shutil
import stat
import time
import wave
from pathlib import Path

import pytest

from uhd_telephony.incidents import prompt
from uhd_telephony.incidents.announcement import announcement, playlist
from uhd_telephony.incidents.prompt import GENERIC_PROMPT, RECORDED, resample, speak, spoken_text, write_wav

SOUNDS = Path(__file__).resolve().parents[2] / "asterisk" / "sounds"
MESSAGE = "Das KIS ist gestört. Wir arbeiten an der Behebung. Bitte nutzen Sie bis dahin die Papierformulare."

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian) is not installed")


def read_wav(path: Path) -> tuple[int, int, int, array.array[int]]:
    with wave.open(str(path), "rb") as w:
        samples = array.array("h", w.readframes(w.getnframes()))
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), samples


def listing(folder: Path) -> list[str]:
    """The names in ``folder``, sorted (what a failed or finished speak() left there)."""
    return sorted(p.name for p in folder.iterdir())


def rms(samples: array.array[int] | list[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


def sine(freq: float, rate: int, seconds: float, amplitude: int = 16000) -> list[int]:
    return [round(amplitude * math.sin(2 * math.pi * freq * n / rate)) for n in range(int(rate * seconds))]


# --- espeak-ng for real ---------------------------------------------------------------------------------------


@needs_espeak
@pytest.mark.slow
async def test_a_message_is_spoken_to_an_8khz_mono_wav_of_plausible_length(tmp_path: Path) -> None:
    assert await speak(MESSAGE, name="uhd-incident-klinikum-nord-7", directory=tmp_path / "new-folder")

    wav = tmp_path / "new-folder" / "uhd-incident-klinikum-nord-7.wav"
    channels, width, rate, samples = read_wav(wav)
    assert (channels, width, rate) == (1, 2, 8000)
    seconds = len(samples) / rate
    # 16 words at 150 words a minute, with the sentence pauses: a few seconds, not a click and not a minute
    assert 4.0 < seconds < 15.0, seconds
    assert rms(samples) > 500  # speech, not silence
    assert stat.S_IMODE(wav.stat().st_mode) == 0o644  # Asterisk reads it as another user
    assert listing(wav.parent) == [wav.name]  # no temporary file left


@needs_espeak
@pytest.mark.slow
async def test_english_for_the_locale_en_and_a_voice_for_no_other(tmp_path: Path) -> None:
    assert await speak("The hospital information system is down.", name="en", directory=tmp_path, locale="en")
    assert read_wav(tmp_path / "en.wav")[2] == 8000
    with pytest.raises(ValueError, match="no voice"):
        await speak(MESSAGE, name="fr", directory=tmp_path, locale="fr")


@needs_espeak
@pytest.mark.slow
async def test_hostile_text_reaches_no_shell_and_no_option(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    text = f'--version; touch {canary} && echo $(id) `id` | cat > {canary} "\x00\x1b[31m\r\n\t\u2028 Ende'
    assert await speak(text, name="hostile", directory=tmp_path)

    assert not canary.exists()
    assert read_wav(tmp_path / "hostile.wav")[2] == 8000
    assert listing(tmp_path) == ["hostile.wav"]


@needs_espeak
@pytest.mark.slow
async def test_ten_thousand_characters_are_cut_to_a_minute_and_a_half(tmp_path: Path) -> None:
    started = time.monotonic()
    assert await speak("Störung im Rechenzentrum. " * 400, name="long", directory=tmp_path)

    samples = read_wav(tmp_path / "long.wav")[3]
    assert len(samples) / 8000 < 180  # MAX_SPOKEN_CHARS of speech, not ten minutes
    assert time.monotonic() - started < 20


@needs_espeak
@pytest.mark.slow
async def test_a_second_announcement_replaces_the_first_whole(tmp_path: Path) -> None:
    assert await speak("Erste Fassung.", name="x", directory=tmp_path)
    first = (tmp_path / "x.wav").read_bytes()
    assert await speak(MESSAGE, name="x", directory=tmp_path)
    assert (tmp_path / "x.wav").read_bytes() != first
    assert read_wav(tmp_path / "x.wav")[2] == 8000


async def test_unspeakable_names_are_refused_before_anything_runs(tmp_path: Path) -> None:
    for name in ("../escape", "a/b", "", ".hidden", "x" * 201, "a b", "a\x00b", "..", "ä"):
        with pytest.raises(ValueError, match="file name"):
            await speak(MESSAGE, name=name, directory=tmp_path)
    assert listing(tmp_path) == []


# --- espeak-ng missing, failing, hanging ------------------------------------------------------------------------


async def test_a_missing_espeak_ng_is_false(tmp_path: Path) -> None:
    assert not await speak(MESSAGE, name="m", directory=tmp_path, binary=str(tmp_path / "no-espeak-ng"))
    assert listing(tmp_path) == []


def _fake(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-espeak"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


async def test_espeak_ng_failing_is_false(tmp_path: Path) -> None:
    out = tmp_path / "out"
    binary = _fake(tmp_path, "echo 'voice not found' >&2; exit 1")
    assert not await speak(MESSAGE, name="f", directory=out, binary=binary)
    assert not out.exists()


async def test_espeak_ng_writing_no_wav_is_false(tmp_path: Path) -> None:
    # exit 0, but what it wrote is not a WAV
    binary = _fake(tmp_path, 'while [ "$1" != "-w" ]; do shift; done; echo garbage > "$2"; cat > /dev/null')
    assert not await speak(MESSAGE, name="g", directory=tmp_path / "out", binary=binary)
    assert not (tmp_path / "out" / "g.wav").exists()


async def test_espeak_ng_hanging_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    binary = _fake(tmp_path, f"echo $$ > {pid_file}; exec sleep 30")
    started = time.monotonic()
    assert not await speak(MESSAGE, name="h", directory=tmp_path / "out", binary=binary, timeout_s=0.5)
    assert time.monotonic() - started < 5
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped: no orphan left behind
        os.kill(pid, 0)


async def test_a_cancelled_speak_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    binary = _fake(tmp_path, f"echo $$ > {pid_file}; exec sleep 30")
    task = asyncio.create_task(speak(MESSAGE, name="c", directory=tmp_path, binary=binary))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_nothing_to_speak_is_false(tmp_path: Path) -> None:
    assert not await speak(" \x00\r\n\t ", name="e", directory=tmp_path, binary=str(tmp_path / "never-run"))


# --- the text, the resampling, the file -------------------------------------------------------------------------


def test_the_spoken_text_is_one_line_without_control_characters_cut_after_a_word() -> None:
    assert spoken_text("KIS\x00 ist\r\n\tgestört\x1b[0m\u2028.") == "KIS ist gestört [0m ."
    cut = spoken_text("Wort " * 1000, limit=100)
    assert len(cut) <= 100 and cut.endswith("Wort") and "  " not in cut
    assert spoken_text("x" * 500, limit=100) == "x" * 100  # one long word: cut inside it


def test_resampling_keeps_the_telephone_band_and_removes_what_would_fold_into_it() -> None:
    voice = resample(sine(1000, 22050, 1.0), 22050)
    hiss = resample(sine(6000, 22050, 1.0), 22050)  # would alias to 2 kHz with plain linear interpolation
    assert len(voice) == 8000 and len(hiss) == 8000
    assert rms(voice[100:-100]) == pytest.approx(16000 / math.sqrt(2), rel=0.02)
    assert rms(hiss[100:-100]) < 0.01 * rms(voice[100:-100])  # -40 dB


def test_resampling_keeps_silence_and_dc_and_clips_instead_of_wrapping() -> None:
    assert set(resample([0] * 2205, 22050)) == {0}
    assert set(resample([1000] * 2205, 22050)[50:-50]) == {1000}
    loud = resample([32767, -32768] * 2000 + [32767] * 2000, 22050)
    assert max(loud) <= 32767 and min(loud) >= -32768
    assert resample([5, 6, 7], 8000) == array.array("h", [5, 6, 7])  # already 8 kHz
    with pytest.raises(ValueError):
        resample([1], 0)


def test_write_wav_is_atomic_and_cleans_up_after_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.wav"
    write_wav(target, array.array("h", [1, 2, 3]))
    before = target.read_bytes()

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prompt.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_wav(target, array.array("h", [9] * 100))
    assert target.read_bytes() == before  # the old file whole, as Asterisk may be playing it
    assert listing(tmp_path) == ["a.wav"]


# --- what the dialplan plays -----------------------------------------------------------------------------------


def test_the_playlist_names_each_prompt_once_and_the_generic_one_where_there_is_none() -> None:
    assert playlist(["uhd-incidents/a", None, "uhd-incidents/a", None]) == f"uhd-incidents/a&{GENERIC_PROMPT}"
    assert announcement([(7, "uhd-incidents/x-7"), (3, None)]) == ("7,3", f"uhd-incidents/x-7&{GENERIC_PROMPT}")
    assert announcement([]) == ("", "")


@pytest.mark.parametrize(
    "hostile", ["a,b", "a&b", "a)b", "../etc/passwd", "/abs", "a//b", "a/../b", "x" * 300, "a b", "ä", "a/", ""]
)
def test_a_prompt_the_dialplan_cannot_name_safely_plays_the_generic_one(hostile: str) -> None:
    assert playlist([hostile]) == GENERIC_PROMPT


def test_the_recorded_prompts_are_shipped_as_8khz_mono_wavs() -> None:
    for prompt_name, text in RECORDED.items():
        folder, name = prompt_name.split("/")
        assert folder == "custom"  # asterisk/sounds is mounted at sounds/custom
        channels, width, rate, samples = read_wav(SOUNDS / f"{name}.wav")
        assert (channels, width, rate) == (1, 2, 8000)
        assert 2.0 < len(samples) / rate < 20.0 and rms(samples) > 500, name
        assert (SOUNDS / f"{name}.wav").stat().st_size < 400_000  # small enough for the repository
        assert name in (SOUNDS / "README.md").read_text(encoding="utf-8") and text
