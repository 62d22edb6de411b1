"""The project's exceptions: one base, each with the HTTP status and error id the web layer maps it to."""

from __future__ import annotations

from typing import Any


class UhdError(Exception):
    """Base of every error this package raises on purpose."""

    status_code = 500
    error_id = "internal-error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class ConfigError(UhdError):
    """A setting is missing or invalid."""

    status_code = 500
    error_id = "config-error"


class AmiError(UhdError):
    """The Asterisk Manager Interface refused or failed an action."""

    status_code = 502
    error_id = "ami-error"


class AmiAuthError(AmiError):
    """Asterisk rejected the AMI username or secret."""

    error_id = "ami-authentication-failed"


class AmiNotConnected(AmiError):
    """No authenticated AMI connection right now."""

    status_code = 503
    error_id = "ami-not-connected"


class StoreError(UhdError):
    """The database failed in a way a retry will not fix."""

    error_id = "store-error"


class CaptureError(UhdError):
    """An AMI capture file cannot be read."""

    status_code = 400
    error_id = "capture-error"
