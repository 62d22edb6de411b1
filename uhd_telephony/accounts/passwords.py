"""Password hashing with scrypt (stdlib, memory-hard): ``scrypt$n$r$p$salt$hash``, constant-time verify.

stdlib rather than argon2-cffi: scrypt is memory-hard too, needs no compiled dependency, and the encoded
form carries its parameters, so ``needs_rehash`` can move old hashes to stronger settings at the next login.
Hashing takes tens of milliseconds: the service hashes through ``accounts.hashing.PasswordHasher`` (a bounded
pool of its own, off the event loop); ``hash_password_async`` / ``verify_password_async`` run one in the
default executor.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

SCHEME = "scrypt"
N = 2**14  # CPU/memory cost: 128 * r * n bytes = 16 MiB per hash
R = 8
P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# refuse parameters (from a tampered or foreign row) that would make one verify take seconds or gigabytes
MAX_N = 2**20
MAX_R = 32
MAX_P = 16
# long enough for any passphrase, short enough that hashing a hostile megabyte is not a thing
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """The cost parameters of one encoded hash."""

    n: int
    r: int
    p: int

    @property
    def maxmem(self) -> int:
        # hashlib refuses above 32 MiB by default; allow what the parameters need plus slack
        return 128 * self.r * self.n * 2 + 1024 * 1024


CURRENT = ScryptParams(N, R, P)


def _normalise(password: str) -> bytes:
    # the same "ü" typed as one code point or as u + combining diaeresis must give the same hash
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"password longer than {MAX_PASSWORD_CHARS} characters")
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: bytes, salt: bytes, params: ScryptParams, length: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=params.n, r=params.r, p=params.p, maxmem=params.maxmem, dklen=length)


def hash_password(password: str, *, params: ScryptParams = CURRENT) -> str:
    """The encoded scrypt hash of ``password`` with a fresh random salt (blocking: tens of ms)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(_normalise(password), salt, params, KEY_BYTES)
    return f"{SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


@dataclass(frozen=True, slots=True)
class _Decoded:
    params: ScryptParams
    salt: bytes
    key: bytes


def _decode(encoded: str) -> _Decoded | None:
    """The parts of an encoded hash, or None when it is not one this module wrote (or its costs are absurd)."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if not (1 < n <= MAX_N and n & (n - 1) == 0 and 0 < r <= MAX_R and 0 < p <= MAX_P) or not salt or not key:
        return None
    return _Decoded(ScryptParams(n, r, p), salt, key)


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``; False for a malformed hash (blocking: tens of ms)."""
    decoded = _decode(encoded)
    if decoded is None:
        return False
    try:
        candidate = _derive(_normalise(password), decoded.salt, decoded.params, len(decoded.key))
    except ValueError:  # too long a password, or scrypt refusing the parameters: not a match either way
        return False
    # compare_digest: the time taken says nothing about how many leading bytes matched
    return hmac.compare_digest(candidate, decoded.key)


def needs_rehash(encoded: str) -> bool:
    """True when ``encoded`` was made with other parameters (or another scheme) than today's."""
    decoded = _decode(encoded)
    return decoded is None or decoded.params != CURRENT or len(decoded.salt) < SALT_BYTES


async def hash_password_async(password: str) -> str:
    """``hash_password`` in the default executor, so the event loop keeps serving calls meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


async def verify_password_async(password: str, encoded: str) -> bool:
    """``verify_password`` in the default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, verify_password, password, encoded)
