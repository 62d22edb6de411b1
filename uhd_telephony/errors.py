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


class InvalidInput(UhdError):
    """A value given by a user or a client is not acceptable (bad role, bad username, too short a password)."""

    status_code = 400
    error_id = "invalid-input"


class InvalidJson(InvalidInput):
    """A request body that is not JSON, or JSON no parser should take (nested too deeply, a number too long)."""

    error_id = "invalid-json"


class NotAuthenticated(UhdError):
    """No valid session or token: log in first."""

    status_code = 401
    error_id = "not-authenticated"


class Forbidden(UhdError):
    """The account may not do this (e.g. an agent acting for a tenant it does not serve)."""

    status_code = 403
    error_id = "forbidden"


class NotFound(UhdError):
    """No such object, or one of another tenant: the two look the same from outside."""

    status_code = 404
    error_id = "not-found"


class Conflict(UhdError):
    """The object is not in a state that allows this (already claimed, already taken name)."""

    status_code = 409
    error_id = "conflict"


class TicketError(InvalidInput):
    """A ticket request with a bad value (unknown category, impact out of range, empty tenant)."""

    error_id = "invalid-ticket"


class CategoryError(InvalidInput):
    """A category tree that cannot be imported; the message names the offending node."""

    error_id = "invalid-category-tree"


class DirectoryError(InvalidInput):
    """A directory entry, number or numbering plan that cannot be stored as given."""

    error_id = "invalid-directory-entry"


class ImportFailed(DirectoryError):
    """An import file with errors: ``details["errors"]`` lists each with its line; nothing was written."""

    error_id = "import-failed"


class DirectorySourceError(UhdError):
    """A tenant's LDAP / Active Directory could not be read (unreachable, bind refused, no such base, a broken
    filter): nothing was written."""

    status_code = 502
    error_id = "directory-source-failed"


class TooManyAttempts(UhdError):
    """Too many failed logins for this username or from this address: wait ``retry_after`` seconds."""

    status_code = 429
    error_id = "too-many-attempts"

    def __init__(self, message: str, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"retry_after_s": retry_after, **(details or {})})
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class Busy(UhdError):
    """Too much of one kind of work at once (logins during a storm): refused at once, try again in ``retry_after``
    seconds. A 429 like a lockout (the login page shows its message), told apart by its ``error_id``."""

    status_code = 429
    error_id = "busy"

    def __init__(self, message: str, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"retry_after_s": retry_after, **(details or {})})
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
