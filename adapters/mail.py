"""The mail transport: how a stored outbox message leaves the building.

`SmtpTransport` sends through the SMTP server of the settings (SMTP_HOST, …). Without
SMTP_HOST the built-in `OutboxTransport` sends nothing: every message stays in the outbox
stored in the database, where an operator reads it (`flask outbox`, and /demo/correos in demo
mode). services/mail.py stores every message first and asks the transport to deliver it.
"""

import smtplib
from email.message import EmailMessage
from typing import Protocol


class MailError(Exception):
    """The transport could not deliver the message now (the retry job tries again)."""


class MailTransport(Protocol):
    #: False for a transport that keeps messages in the outbox instead of delivering them.
    delivers: bool

    def send(self, recipient: str, subject: str, body: str) -> None:
        """Deliver one message, or raise MailError."""
        ...


class OutboxTransport:
    """The built-in transport: messages are kept in the outbox, nothing is sent."""

    delivers = False

    def send(self, recipient: str, subject: str, body: str) -> None:
        raise MailError("sin servidor SMTP configurado: el mensaje queda en el buzón de salida")


class SmtpTransport:
    """Delivery by SMTP, with STARTTLS and login when configured."""

    delivers = True

    def __init__(self, config):
        self.config = config

    def send(self, recipient: str, subject: str, body: str) -> None:
        config = self.config
        email = EmailMessage()
        email["From"] = config["MAIL_FROM"]
        email["To"] = recipient
        email["Subject"] = subject
        email.set_content(body)
        try:
            with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as server:
                if config.get("SMTP_STARTTLS"):
                    server.starttls()
                if config.get("SMTP_USER"):
                    server.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
                server.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(str(exc)) from exc


def transport_for(config) -> MailTransport:
    """The transport the settings ask for: SMTP when SMTP_HOST is set, else the outbox only."""
    return SmtpTransport(config) if config.get("SMTP_HOST") else OutboxTransport()
