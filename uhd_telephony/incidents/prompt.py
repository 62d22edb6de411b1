"""The announcement callers hear during a major incident: the incident's message spoken to a WAV Asterisk plays.

``speak()`` runs Debian's ``espeak-ng`` (German voice; English for the locale ``en``) on the message and writes
``<directory>/<name>.wav`` as Asterisk plays it best: 8 kHz, mono, 16-bit PCM (slin). espeak-ng writes 22.05 kHz
only, so the samples are resampled here, band-limited (a windowed-sinc polyphase filter: plain linear interpolation
would fold the voice's 4–11 kHz hiss into the telephone band), in the standard library: ``audioop`` is deprecated
and gone in Python 3.13, and sox is not on every machine.

The text never reaches a shell or the command line: it goes to espeak-ng's stdin (a message beginning with "-" is
no option), cleaned of control characters and cut at ``MAX_SPOKEN_CHARS`` (a ten-minute announcement helps no
caller). The process has a timeout and is killed when it passes; the WAV is written to a temporary file in the
same directory and renamed into place, so Asterisk never plays half a file. Whatever fails, ``speak()`` returns
False and the incident keeps the recorded generic announcement (``GENERIC_PROMPT``).

The recorded prompts in ``asterisk/sounds`` (the generic announcement, the key prompt, the confirmation) were made
with ``python -m uhd_telephony.incidents.prompt asterisk/sounds`` from ``RECORDED`` (asterisk/sounds/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import re
import sys
import tempfile
import wave
from array import array
from collections.abc import Sequence
from fractions import Fraction
from operator import mul
from pathlib import Path

# the names the contract gives this module (the dialplan's prompts live in incidents/announcement.py, which the AGI
# imports without this module's wave, tempfile and fractions)
from uhd_telephony.incidents.announcement import GENERIC_PROMPT, KEY_PROMPT, RECORDED, SUBSCRIBED_PROMPT

__all__ = ["GENERIC_PROMPT", "KEY_PROMPT", "RECORDED", "SUBSCRIBED_PROMPT", "resample", "speak", "write_wav"]

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
VOICES = {"de": "de", "en": "en"}  # locale -> espeak-ng voice
WORDS_PER_MINUTE = 150  # a little slower than espeak-ng's 175: a phone line and a caller in a hurry
SPEAK_TIMEOUT_S = 30.0
MAX_SPOKEN_CHARS = 1500  # about a minute and a half of speech
SAMPLE_RATE = 8000  # what Asterisk plays without transcoding (slin)
SAMPLE_WIDTH = 2
# the resampler: taps on each side of an output sample, and the pass band as a share of the output's Nyquist
HALF_WIDTH = 24
PASS_BAND = 0.875  # 3.5 kHz at 8 kHz: the telephone band (300-3400 Hz) passes whole

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_UNSPEAKABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def spoken_text(text: str, limit: int = MAX_SPOKEN_CHARS) -> str:
    """``text`` as espeak-ng gets it: control characters and line breaks become spaces, at most ``limit``
    characters, cut after the last whole word."""
    cleaned = " ".join(_UNSPEAKABLE.sub(" ", text).split())
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip()


async def speak(
    text: str,
    *,
    name: str,
    directory: Path,
    locale: str = "de",
    timeout_s: float = SPEAK_TIMEOUT_S,
    binary: str = ESPEAK,
) -> bool:
    """Speak ``text`` to ``directory/<name>.wav`` (8 kHz mono 16-bit); False when espeak-ng is missing, fails or
    takes longer than ``timeout_s`` (the caller then plays the generic announcement). ``name`` is a plain file name
    (letters, digits, ``.``, ``_``, ``-``): anything else is a ValueError, as is a locale without a voice."""
    if not _SAFE_NAME.fullmatch(name) or name.startswith(".."):
        raise ValueError(f"not a plain file name: {name!r}")
    voice = VOICES.get(locale)
    if voice is None:
        raise ValueError(f"no voice for the locale {locale!r} (one of {', '.join(VOICES)})")
    words = spoken_text(text)
    if not words:
        log.warning("announcement %s: nothing to speak", name)
        return False
    raw = await _espeak(words, voice, timeout_s, binary, name)
    if raw is None:
        return False
    try:
        await asyncio.to_thread(_write_prompt, raw, directory, f"{name}.wav")
    except (OSError, ValueError, EOFError, wave.Error) as exc:
        log.warning("announcement %s: no WAV written: %s", name, exc)
        return False
    return True


async def _espeak(words: str, voice: str, timeout_s: float, binary: str, name: str) -> bytes | None:
    """espeak-ng's WAV of ``words`` (its own rate, 22.05 kHz), or None when it cannot be had."""
    with tempfile.TemporaryDirectory(prefix="uhd-speak-") as scratch:
        out = Path(scratch) / "raw.wav"
        command = [binary, "-v", voice, "-s", str(WORDS_PER_MINUTE), "-b", "1", "-w", str(out), "--stdin"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # not installed (FileNotFoundError), not executable
            log.warning("announcement %s: cannot run %s: %s", name, binary, exc)
            return None
        try:
            async with asyncio.timeout(timeout_s):
                _, err = await proc.communicate(words.encode("utf-8"))
        except TimeoutError:
            log.warning("announcement %s: %s took longer than %.0f s: stopped", name, binary, timeout_s)
            await _stop(proc)
            return None
        except BaseException:
            await _stop(proc)  # cancelled: no orphan process
            raise
        if proc.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()[:200]
            log.warning("announcement %s: %s exited with %s: %s", name, binary, proc.returncode, detail)
            return None
        try:
            return await asyncio.to_thread(out.read_bytes)
        except OSError as exc:
            log.warning("announcement %s: %s wrote no file: %s", name, binary, exc)
            return None


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


def _write_prompt(raw_wav: bytes, directory: Path, filename: str) -> None:
    """Resample espeak-ng's WAV to 8 kHz and put it in place atomically (a temporary file, then a rename)."""
    with wave.open(io.BytesIO(raw_wav), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != SAMPLE_WIDTH:
            raise ValueError(f"espeak-ng wrote {source.getnchannels()} channels of {source.getsampwidth()} bytes")
        rate = source.getframerate()
        samples = array("h", source.readframes(source.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    if not samples:
        raise ValueError("espeak-ng wrote no audio")
    write_wav(directory / filename, resample(samples, rate, SAMPLE_RATE))


def write_wav(path: Path, samples: array[int], rate: int = SAMPLE_RATE) -> None:
    """A mono 16-bit WAV at ``path``, written whole to a temporary file beside it and renamed into place;
    readable by everyone (Asterisk reads it as another user through a read-only mount)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            with wave.open(handle, "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(SAMPLE_WIDTH)
                out.setframerate(rate)
                out.writeframes(data.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def resample(samples: Sequence[int], rate_in: int, rate_out: int = SAMPLE_RATE) -> array[int]:
    """16-bit samples from ``rate_in`` to ``rate_out`` Hz: a polyphase windowed-sinc (Hann) low-pass at
    ``PASS_BAND`` of the lower Nyquist, evaluated only at the output instants (22.05 → 8 kHz: 160 phases)."""
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive: {rate_in} -> {rate_out}")
    if rate_in == rate_out:
        return array("h", samples)
    step = Fraction(rate_in, rate_out)  # input samples per output sample
    up, down = step.denominator, step.numerator
    cutoff = PASS_BAND * min(rate_in, rate_out) / 2 / rate_in  # cycles per input sample
    kernels = [_kernel(phase / up, cutoff) for phase in range(up)]
    padded = [0] * HALF_WIDTH + list(samples) + [0] * HALF_WIDTH
    count = len(samples) * up // down
    out = array("h", bytes(2 * count))
    for k in range(count):
        start, phase = divmod(k * down, up)  # the output instant: input sample ``start`` plus phase/up
        value = round(sum(map(mul, kernels[phase], padded[start + 1 : start + 1 + 2 * HALF_WIDTH])))
        out[k] = -32768 if value < -32768 else 32767 if value > 32767 else value
    return out


def _kernel(frac: float, cutoff: float) -> list[float]:
    """The filter taps for an output instant ``frac`` (0 <= frac < 1) past an input sample, over the input samples
    from ``-HALF_WIDTH + 1`` to ``HALF_WIDTH`` around it; normalised to a gain of 1 (silence stays silence, DC
    stays DC)."""
    taps = []
    for j in range(-HALF_WIDTH + 1, HALF_WIDTH + 1):
        x = j - frac
        sinc = 2 * cutoff if x == 0 else math.sin(2 * math.pi * cutoff * x) / (math.pi * x)
        window = 0.5 + 0.5 * math.cos(math.pi * x / HALF_WIDTH) if abs(x) < HALF_WIDTH else 0.0
        taps.append(sinc * window)
    total = sum(taps)
    return [t / total for t in taps]


async def _record(directory: Path) -> int:
    """Write the recorded prompts (``RECORDED``) into ``directory``: ``python -m uhd_telephony.incidents.prompt``."""
    for prompt, text in RECORDED.items():
        name = prompt.rsplit("/", 1)[1]
        if not await speak(text, name=name, directory=directory):
            print(f"{name}: espeak-ng failed", file=sys.stderr)
            return 1
        print(directory / f"{name}.wav")
    return 0


if __name__ == "__main__":  # pragma: no cover - the one-off that made asterisk/sounds' prompts
    logging.basicConfig(level=logging.INFO)
    sys.exit(asyncio.run(_record(Path(sys.argv[1] if len(sys.argv) > 1 else "asterisk/sounds"))))
