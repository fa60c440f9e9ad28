"""E-mail: every message is stored in the outbox first, then handed to the mail transport
(adapters/mail.py: SMTP when SMTP_HOST is set, else it stays in the outbox)."""

from datetime import timedelta

from flask import current_app

from adapters.mail import MailError, transport_for
from models import OutboxMessage, utcnow
from services import leases

MAX_ATTEMPTS = 5
SENT_BODY = "(enviado por SMTP; el contenido no se conserva)"


def send_mail(recipient: str, subject: str, body: str) -> OutboxMessage:
    """Store the message and try to deliver it now; a failure leaves it for the retry job."""
    smtp = transport_for(current_app.config).delivers
    message = OutboxMessage.create(
        recipient=recipient,
        subject=subject,
        body=body,
        status=OutboxMessage.PENDING if smtp else OutboxMessage.STORED,
        claimed_at=utcnow() if smtp else None,  # ours to send now: the retry job leaves it alone
    )
    if smtp:
        deliver(message, current_app.config)
    return message


def deliver(message: OutboxMessage, config) -> bool:
    """Hand one stored message to the transport and record the outcome on its row."""
    try:
        transport_for(config).send(message.recipient, message.subject, message.body)
    except MailError as exc:
        attempts = message.attempts + 1
        OutboxMessage.update(
            attempts=attempts,
            last_error=str(exc)[:500],
            claimed_at=None,
            status=OutboxMessage.FAILED if attempts >= MAX_ATTEMPTS else OutboxMessage.PENDING,
        ).where(OutboxMessage.id == message.id).execute()
        current_app.logger.warning("SMTP delivery failed for outbox message %s", message.id)
        return False
    OutboxMessage.update(
        # A delivered body may hold a temporary password or a payment code: not kept.
        status=OutboxMessage.SENT,
        sent_at=utcnow(),
        attempts=message.attempts + 1,
        claimed_at=None,
        body=SENT_BODY,
    ).where(OutboxMessage.id == message.id).execute()
    # What an operator may read in the log: which message went where, never its body.
    current_app.logger.debug("outbox message %s delivered by SMTP: %r", message.id, message.subject)
    return True


def retry_pending(config, limit: int = 50) -> int:
    """Claim pending messages one by one (conditional UPDATE) and deliver them; returns sent count."""
    if not transport_for(config).delivers:
        return 0
    stale = utcnow() - timedelta(minutes=5)  # an SMTP conversation may take its timeouts
    free = (OutboxMessage.status == OutboxMessage.PENDING) & (
        OutboxMessage.claimed_at.is_null() | (OutboxMessage.claimed_at < stale)
    )
    sent, tried = 0, []
    for _ in range(limit):
        # A lease of this process (SKIP LOCKED on PostgreSQL), released at once by a restarted
        # successor if this process dies (services/leases.py). One try per message and run.
        untried = free & OutboxMessage.id.not_in(tried) if tried else free
        claimed = leases.claim_one(OutboxMessage, untried, {})
        if claimed is None:
            break
        tried.append(claimed)
        if deliver(OutboxMessage.get_by_id(claimed), config):
            sent += 1
    return sent
