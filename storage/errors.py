"""What storage refuses, as exceptions the API turns into 404, 409 and 422."""

from __future__ import annotations

__all__ = ["Conflict", "Invalid", "NotFound"]


class NotFound(LookupError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Conflict(Exception):
    """Creating or changing this would contradict what is stored."""


class Invalid(ValueError):
    """A value refers to something that cannot be used here; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
