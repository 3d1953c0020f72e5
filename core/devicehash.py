"""A device's broker password as Mosquitto stores it: PBKDF2-SHA512 with a 12-byte salt
(the ``$7$`` lines of ``mosquitto_passwd`` and the clients of its dynamic-security plugin).
Whistle keeps only this; the broker's configuration can be written from it alone."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

SALT_BYTES = 12  # Mosquitto's
ITERATIONS = 1000  # checked once per device connection; Mosquitto's own default is 101


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = ITERATIONS) -> tuple[bytes, bytes]:
    """(salt, PBKDF2-SHA512 of the password)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return salt, hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


@dataclass(frozen=True)
class DeviceHash:
    """One login as the broker stores it."""

    username: str
    salt: bytes
    password_hash: bytes
    iterations: int

    @classmethod
    def of(cls, username: str, password: str) -> DeviceHash:
        """The hash of a clear password (a fresh salt)."""
        salt, digest = hash_password(password)
        return cls(username, salt, digest, ITERATIONS)

    def passwd_line(self) -> str:
        """The line of a Mosquitto password file."""
        return (f"{self.username}:$7${self.iterations}${_b64(self.salt)}"
                f"${_b64(self.password_hash)}")

    def dynsec_client(self) -> dict[str, Any]:
        """The login fields of a client in the dynamic-security plugin's file."""
        return {"username": self.username, "password": _b64(self.password_hash),
                "salt": _b64(self.salt), "iterations": self.iterations}


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()
