"""Deliver e-mail that could not be sent at once (SMTP down), with bounded retries."""

from services.mail import retry_pending


def run(app) -> int:
    return retry_pending(app.config)
