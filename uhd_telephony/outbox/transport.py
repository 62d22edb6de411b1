"""What the senders share: the one error a send can end with, transient (retry later) or permanent."""

from __future__ import annotations


class SendError(Exception):
    """A message did not go out; ``permanent`` when retrying cannot help (a 5xx reply, a refused recipient)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
