"""Signed JSON webhooks (Standard Webhooks): ``webhook-id`` is the outbox row's dedupe key, the same on every
attempt, so a receiver that saw it already drops the copy a retry after a crash may bring.

Headers: ``webhook-id``, ``webhook-timestamp`` (the send time, checked by the receiver's tolerance) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` with the group's ``whsec_`` key).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from standardwebhooks.webhooks import Webhook

from uhd_telephony import __version__
from uhd_telephony.outbox.transport import SendError

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
# a receiver that answers these may well take the same request later; any other 4xx will not
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


def valid_secret(secret: object) -> bool:
    """A Standard Webhooks key: ``whsec_`` and base64 of at least 24 random bytes."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= MIN_SECRET_BYTES


def encode_body(body: Any) -> str:
    """The exact text that is signed and sent."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signed_headers(secret: str, msg_id: str, payload: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``payload`` sent at ``at``."""
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at.astimezone(UTC), data=payload)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


class WebhookSender:
    """POSTs signed JSON with one owned ``aiohttp.ClientSession``; ``start()`` before, ``close()`` after."""

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers={"User-Agent": f"uhd-telephony/{__version__}"}
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, *, url: str, body: Any, msg_id: str, secret: str) -> None:
        """One signed POST; SendError unless the receiver answers 2xx (permanent for most 4xx)."""
        if self._session is None:
            raise RuntimeError("WebhookSender.start() was not called")
        payload = encode_body(body)
        headers = {"Content-Type": "application/json", **signed_headers(secret, msg_id, payload, datetime.now(UTC))}
        try:
            # no redirects: a signed request goes only where the group's configuration says
            async with self._session.post(
                url, data=payload.encode(), headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return
                permanent = 400 <= response.status < 500 and response.status not in _RETRYABLE_4XX
                raise SendError(f"webhook {url} answered {response.status} {response.reason}", permanent=permanent)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(f"webhook {url} unreachable: {exc!r}") from exc
