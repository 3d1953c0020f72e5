"""Where the broker is and how to log in: WHISTLE_MQTT_URL and its TLS files, parsed once.

``mqtt://user:password@host:port`` (plaintext, port 1883 by default) and
``mqtts://user:password@host:port`` (TLS, port 8883 by default); user and password are
percent-decoded. :meth:`BrokerAddress.display` is the form that may be logged: it never
carries the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")


class BrokerURLError(ValueError):
    """WHISTLE_MQTT_URL (or a --mqtt option) is not a broker URL; the message says why."""


@dataclass(frozen=True)
class BrokerAddress:
    """A broker's host and port, the credentials to log in with, and whether to use TLS."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def display(self) -> str:
        """The URL without the password, for logs and messages."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"

    def __repr__(self) -> str:  # never print the password, even by accident
        return f"BrokerAddress({self.display()!r})"


def parse_broker_url(url: str, *, ca_file: Path | None = None,
                     client_cert: Path | None = None,
                     client_key: Path | None = None) -> BrokerAddress:
    """Parse mqtt:// or mqtts:// with optional user and password (see the module doc)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerURLError(f"not a broker URL ({exc}); expected mqtt://host:port "
                             "or mqtts://user:password@host:port") from None
    scheme = parts.scheme.lower()
    if scheme not in PLAIN_SCHEMES + TLS_SCHEMES or not parts.hostname:
        raise BrokerURLError("a broker URL looks like mqtt://host:port or "
                             f"mqtts://user:password@host:port, not {scheme or '(none)'}://…")
    tls = scheme in TLS_SCHEMES
    if (client_cert is None) != (client_key is None):
        raise BrokerURLError("a client certificate needs its key, and a key its certificate "
                             "(WHISTLE_MQTT_CLIENT_CERT and WHISTLE_MQTT_CLIENT_KEY)")
    if not tls and (ca_file or client_cert):
        raise BrokerURLError("a CA file or client certificate is set but the URL is "
                             "mqtt://, which does not use TLS: use mqtts://")
    for label, path in (("CA file", ca_file), ("client certificate", client_cert),
                        ("client key", client_key)):
        if path is not None and not path.is_file():
            raise BrokerURLError(f"the broker's {label} {path} does not exist")
    return BrokerAddress(
        host=parts.hostname, port=port or (8883 if tls else 1883), tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        ca_file=ca_file, client_cert=client_cert, client_key=client_key)


def redact(url: str) -> str:
    """A broker URL with its password replaced, for logs (unparseable: only the scheme)."""
    try:
        return parse_broker_url(url).display()
    except BrokerURLError:
        return url.split("://", 1)[0] + "://…"
