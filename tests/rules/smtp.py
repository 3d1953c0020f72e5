"""A real SMTP server for the tests (aiosmtpd): STARTTLS with a certificate of a test CA
(trustme), LOGIN/PLAIN authentication, and every message kept."""

from __future__ import annotations

import socket
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "whistle", "smtp-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), mail))  # type: ignore[arg-type]
        return "250 OK"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and \
        data.password == PASSWORD.encode()
    return AuthResult(success=ok)


class SmtpServer:
    """``with SmtpServer(tmp_path) as smtp:`` -- smtp.port, smtp.ca_file, smtp.messages."""

    def __init__(self, folder: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = folder / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.handler = _Handler()
        self.port = _free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, tls_context=context,
            require_starttls=True, authenticator=_auth, auth_required=True)

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return self.handler.messages

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.controller.stop()
