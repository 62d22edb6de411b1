"""scrypt password hashes: format, verify, rehash, hostile input; no database involved."""

from __future__ import annotations

import threading

import pytest

from uhd_telephony.accounts import passwords
from uhd_telephony.accounts.passwords import (
    ScryptParams,
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)


def test_hash_carries_scheme_parameters_salt_and_key() -> None:
    encoded = hash_password("Korrekt-Pferd-42")
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert "Korrekt-Pferd-42" not in encoded
    assert len(salt) == 24 and len(key) == 44  # base64 of 16 and 32 bytes


def test_verify_accepts_the_password_and_nothing_else() -> None:
    encoded = hash_password("Korrekt-Pferd-42")
    assert verify_password("Korrekt-Pferd-42", encoded)
    assert not verify_password("korrekt-Pferd-42", encoded)
    assert not verify_password("", encoded)
    assert not verify_password("Korrekt-Pferd-42 ", encoded)


def test_the_same_password_gets_a_different_salt_each_time() -> None:
    first, second = hash_password("Schwester-Oberin"), hash_password("Schwester-Oberin")
    assert first != second
    assert verify_password("Schwester-Oberin", first) and verify_password("Schwester-Oberin", second)


def test_composed_and_decomposed_umlauts_are_the_same_password() -> None:
    composed, decomposed = "Müller-Lüdenscheid", "Mu\u0308ller-Lu\u0308denscheid"
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed))


def test_needs_rehash_for_older_parameters_or_foreign_hashes() -> None:
    assert not needs_rehash(hash_password("aktuell-genug"))
    assert needs_rehash(hash_password("zu-billig", params=ScryptParams(2**12, 8, 1)))
    assert needs_rehash("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
    assert needs_rehash("")


def test_an_old_hash_still_verifies_until_it_is_replaced() -> None:
    old = hash_password("alt-aber-gut", params=ScryptParams(2**12, 8, 1))
    assert verify_password("alt-aber-gut", old)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plaintext",
        "scrypt$16384$8$1$notbase64!$AAAA",
        "scrypt$16384$8$1$$",
        "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # n not a power of two
        f"scrypt${2**30}$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # a gigabyte per verify: refused, not attempted
        "bcrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
    ],
)
def test_a_malformed_or_hostile_hash_never_verifies(encoded: str) -> None:
    assert not verify_password("whatever", encoded)


def test_an_oversized_password_is_refused_when_hashing_and_never_matches() -> None:
    huge = "x" * (passwords.MAX_PASSWORD_CHARS + 1)
    with pytest.raises(ValueError):
        hash_password(huge)
    assert not verify_password(huge, hash_password("x" * 10))


async def test_async_variants_hash_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = passwords._derive

    def spy(*args: object, **kwargs: object) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords, "_derive", spy)
    encoded = await hash_password_async("im-Executor")
    assert await verify_password_async("im-Executor", encoded)
    assert not await verify_password_async("falsch", encoded)
    assert len(threads) == 3 and threading.main_thread().name not in threads
