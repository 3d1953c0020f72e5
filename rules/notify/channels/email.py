"""E-mail through SMTP (``WHISTLE_SMTP_*``): STARTTLS (with the system's CAs, or
``WHISTLE_SMTP_CA_FILE``), login when a user is set, and a message with a plain-text and
an HTML part in the recipient's language (``Content-Language``)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from core.settings import Settings
from rules.notify.channels import DeliveryError, Message

__all__ = ["Email", "build"]


def build(*, sender: str, to: str, message: Message) -> EmailMessage:
    """The e-mail of a message."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    mail["Content-Language"] = message.lang  # after: Content-* move into the first part
    return mail


class Email:
    """The SMTP adapter."""

    kind = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, *, target: str, secret: str | None, message: Message, now: float) -> None:
        """Send the e-mail; DeliveryError for anything the server or network refuses."""
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError("no SMTP server is configured (WHISTLE_SMTP_HOST)")
        mail = build(sender=s.smtp_from, to=target, message=message)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                smtp.ehlo()
                if s.smtp_starttls:
                    context = ssl.create_default_context(
                        cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}") from None
