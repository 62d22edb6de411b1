"""No secrets in logs: every log record is masked as it is made, whichever logger or handler it goes to.

Masked: the configured secrets themselves (AMI secret, SMTP password, session key, the database password),
API tokens (``uhd_<id>_…``), ``Authorization`` headers, the session cookie's value, the token of a caller's
status link (``/status/…``, in every access log line), and passwords or secrets
written as ``password=…``, ``"password": "…"`` or an AMI ``Secret: …`` header. The CLI's ``setup_logging``
installs it; ``install`` returns a function that takes it out again (tests).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

MASK = "***"
# what may look like an API token (security.tokens) in text: defined here, where it is masked, so that every
# command can install the masking without importing the accounts and the tokens' tables
TOKEN_LIKE = re.compile(r"uhd_[0-9]+_[A-Za-z0-9_-]+")
SESSION_COOKIE = "uhd_session"
MIN_SECRET = 4  # shorter configured "secrets" would mask ordinary words

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (TOKEN_LIKE, "uhd_" + MASK),
    # Authorization: Bearer …/Basic …, as a header line, a repr'd dict entry or a key=value pair
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer|basic|token)?\s*[^\s'\",;}]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    # the cookie's value, bare or quoted (aiohttp quotes a Fernet token: it ends in "=")
    (re.compile(SESSION_COOKIE + r"=(?:\"[^\"]*\"|[^\s;,'\"]+)"), SESSION_COOKIE + "=" + MASK),
    # "password": "…", 'secret': '…' (JSON, repr of dicts)
    (
        re.compile(
            r"(?i)(['\"](?:password|passwd|secret|ami_secret|smtp_password|session_key|token)['\"]\s*:\s*)"
            r"(['\"])(?:\\.|(?!\2).)*\2"
        ),
        r"\1\2" + MASK + r"\2",
    ),
    # password=…, secret=…, an AMI "Secret: …" header line
    (
        re.compile(r"(?i)\b(password|passwd|secret|pwd)(\s*[=:]\s*)(?!\*\*\*)[^\s,;&'\"]+"),
        r"\1\2" + MASK,
    ),
    # a caller's status link is the key to the ticket (the access log writes every request line)
    (re.compile(r"(/status/)[A-Za-z0-9_-]{16,}"), r"\1" + MASK),
    # a URL's user:password@
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1" + MASK + "@"),
]


class Redactor:
    """Masks secrets in text: the configured values first, then the patterns."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Mask the record in place: its message with the arguments filled in, and its exception text."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: mask what there is
        message = f"{record.msg} {record.args!r}"
    record.msg = redactor(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)


class RedactingFilter(logging.Filter):
    """The same masking as a handler filter (for handlers made outside ``install``'s reach)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


def settings_secrets(settings: Any) -> list[str]:
    """The secret values of a Settings object: what must never appear in a log line."""
    found: list[str] = []
    for name in ("ami_secret", "smtp_password", "session_key"):
        value = getattr(settings, name, None)
        if value is not None:
            found.append(value.get_secret_value() if hasattr(value, "get_secret_value") else str(value))
    for name in ("database_url", "redis_url"):
        url = getattr(settings, name, None)
        if url:
            match = re.match(r"^[a-z][a-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@", url, re.IGNORECASE)
            if match:
                found.append(match.group(1))
    return found


_current: list[Callable[[], None]] = []  # the uninstall of the install in force (at most one)


def install(secrets: Iterable[str] = ()) -> Callable[[], None]:
    """Mask every log record from now on (a record factory); returns the function that undoes it.

    Installing again replaces the earlier install (with the new secrets) instead of masking twice.
    """
    while _current:
        _current.pop()()
    redactor = Redactor(secrets)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record, redactor)
        return record

    logging.setLogRecordFactory(factory)

    def uninstall() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)
        if uninstall in _current:
            _current.remove(uninstall)

    _current.append(uninstall)
    return uninstall
