"""E-mail (services/mail.py) and the outbox retry job (jobs/send_mail.py), with a real SMTP server."""

import threading
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

import jobs
import models
from models import OutboxMessage, utcnow
from services import mail
from services.mail import MAX_ATTEMPTS, SENT_BODY, retry_pending, send_mail
from tests.conftest import free_port

MAIL_FROM = "Conexión Empresas <no-responder@conexion-empresas.local>"
SUBJECT = "Conexión Empresas: contraseña temporal"
BODY = "Hola Ana Pérez,\n\nTu contraseña temporal es Ab1*cdef.\nVence en 24 horas.\n"


@contextmanager
def smtp_on(port):
    """A real aiosmtpd server on `port` (for a server that comes up after a failure)."""
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()


def parsed(envelope):
    """The received message, parsed (SMTP carries CRLF line ends; compare with plain newlines)."""
    return message_from_bytes(envelope.content.replace(b"\r\n", b"\n"), policy=policy.default)


def fresh(message) -> OutboxMessage:
    return OutboxMessage.get_by_id(message.id)


@pytest.fixture
def smtp_app(make_app, smtp_server):
    port, received = smtp_server
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port), received


@pytest.fixture
def down_port():
    """A local port where nothing listens: connections are refused."""
    return free_port()


@pytest.fixture
def down_app(make_app, down_port):
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=down_port)


# ---------------------------------------------------------------- immediate delivery


def test_send_mail_delivers_and_records_it(smtp_app):
    app, received = smtp_app
    with app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
    row = fresh(message)
    assert row.status == OutboxMessage.SENT == "ENVIADO"
    assert row.attempts == 1
    assert row.sent_at is not None
    assert row.claimed_at is None
    assert row.last_error == ""
    # the body carried a temporary password: once delivered it is not kept
    assert (row.recipient, row.subject, row.body) == ("ana@example.com", SUBJECT, SENT_BODY)

    assert len(received) == 1
    envelope = received[0]
    assert envelope.rcpt_tos == ["ana@example.com"]
    assert envelope.mail_from == "no-responder@conexion-empresas.local"
    email = parsed(envelope)
    assert email["To"] == "ana@example.com"
    assert email["Subject"] == SUBJECT
    assert email["From"] == MAIL_FROM
    assert email.get_content() == BODY


def test_send_mail_uses_the_configured_sender(make_app, smtp_server):
    port, received = smtp_server
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM="Banco Ejemplo <avisos@banco.example>")
    with app.app_context():
        send_mail("luis@example.com", "Código de verificación", "Tu código es 123456")
    email = parsed(received[0])
    assert email["From"] == "Banco Ejemplo <avisos@banco.example>"
    assert received[0].mail_from == "avisos@banco.example"
    assert email.get_content() == "Tu código es 123456\n"


def test_each_message_goes_to_its_recipient(smtp_app):
    app, received = smtp_app
    with app.app_context():
        for name in ("ana", "luis", "marta"):
            send_mail(f"{name}@example.com", f"Hola {name}", f"Cuerpo para {name}")
    assert [e.rcpt_tos for e in received] == [["ana@example.com"], ["luis@example.com"], ["marta@example.com"]]
    assert [parsed(e)["Subject"] for e in received] == ["Hola ana", "Hola luis", "Hola marta"]
    assert OutboxMessage.select().where(OutboxMessage.status == OutboxMessage.SENT).count() == 3


def test_long_non_ascii_body_arrives_intact(smtp_app):
    app, received = smtp_app
    body = ("Órdenes de servicio: ñandú, camión, pingüino. " * 40).strip() + "\n"
    with app.app_context():
        send_mail("ana@example.com", "Árbol ñ " * 10, body)
    email = parsed(received[0])
    assert email.get_content() == body
    assert email["Subject"] == ("Árbol ñ " * 10)


# ---------------------------------------------------------------- without SMTP


def test_without_smtp_host_the_message_is_only_stored(make_app, smtp_server):
    port, received = smtp_server
    app = make_app(SMTP_HOST="", SMTP_PORT=port)
    with app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
        assert retry_pending(app.config) == 0
        assert jobs.send_mail.run(app) == 0
    row = fresh(message)
    assert row.status == OutboxMessage.STORED == "GUARDADO"
    assert row.attempts == 0
    assert row.sent_at is None
    assert received == []


def test_retry_without_smtp_host_leaves_pending_messages_alone(app):
    message = OutboxMessage.create(recipient="a@example.com", subject="s", body="b", status=OutboxMessage.PENDING)
    with app.app_context():
        assert retry_pending(app.config) == 0
    row = fresh(message)
    assert (row.status, row.attempts, row.claimed_at) == (OutboxMessage.PENDING, 0, None)


# ---------------------------------------------------------------- SMTP down, then retried


def test_smtp_down_leaves_the_message_pending(down_app):
    with down_app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
    row = fresh(message)
    assert row.status == OutboxMessage.PENDING == "PENDIENTE"
    assert row.attempts == 1
    assert row.last_error != ""
    assert row.sent_at is None
    assert row.claimed_at is None


def test_pending_message_is_delivered_once_the_server_is_up(down_app, down_port):
    with down_app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
    assert fresh(message).status == OutboxMessage.PENDING
    with smtp_on(down_port) as received:
        with down_app.app_context():
            assert jobs.send_mail.run(down_app) == 1
            assert jobs.send_mail.run(down_app) == 0  # nothing left: never sent twice
    row = fresh(message)
    assert row.status == OutboxMessage.SENT
    assert row.attempts == 2
    assert row.sent_at is not None and row.claimed_at is None
    assert len(received) == 1
    assert received[0].rcpt_tos == ["ana@example.com"]
    assert parsed(received[0]).get_content() == BODY


def test_retry_pending_through_another_app_pointing_at_a_live_server(down_app, make_app, smtp_server):
    with down_app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
    port, received = smtp_server
    live = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    with live.app_context():
        assert retry_pending(live.config) == 1
    assert fresh(message).status == OutboxMessage.SENT
    assert len(received) == 1


def test_scheduled_job_wrapper_delivers(down_app, down_port):
    with down_app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
    run = jobs._in_app(down_app, jobs.send_mail)
    assert run.__name__ == "send_mail"
    with smtp_on(down_port) as received:
        run()
    assert fresh(message).status == OutboxMessage.SENT
    assert len(received) == 1


def test_scheduled_job_wrapper_survives_a_failing_run(down_app, down_port):
    """With the server still down the job logs and returns; the message waits for the next run."""
    with down_app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)
    jobs._in_app(down_app, jobs.send_mail)()
    row = fresh(message)
    assert (row.status, row.attempts) == (OutboxMessage.PENDING, 2)


def test_retry_pending_honours_the_limit(make_app, smtp_server):
    port, received = smtp_server
    messages = [
        OutboxMessage.create(recipient=f"u{i}@example.com", subject=f"s{i}", body="b", status=OutboxMessage.PENDING)
        for i in range(3)
    ]
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    with app.app_context():
        assert retry_pending(app.config, limit=2) == 2
        assert [fresh(m).status for m in messages] == [OutboxMessage.SENT, OutboxMessage.SENT, OutboxMessage.PENDING]
        assert retry_pending(app.config, limit=2) == 1
    assert sorted(e.rcpt_tos[0] for e in received) == ["u0@example.com", "u1@example.com", "u2@example.com"]


def test_sent_and_stored_messages_are_not_retried(smtp_app):
    app, received = smtp_app
    OutboxMessage.create(recipient="a@example.com", subject="s", body="b", status=OutboxMessage.SENT, attempts=1)
    OutboxMessage.create(recipient="b@example.com", subject="s", body="b", status=OutboxMessage.STORED)
    OutboxMessage.create(recipient="c@example.com", subject="s", body="b", status=OutboxMessage.FAILED, attempts=5)
    with app.app_context():
        assert retry_pending(app.config) == 0
    assert received == []


# ---------------------------------------------------------------- claims


def test_message_claimed_recently_by_another_worker_is_not_taken(smtp_app):
    app, received = smtp_app
    claimed_at = utcnow()
    message = OutboxMessage.create(
        recipient="ana@example.com", subject=SUBJECT, body=BODY, status=OutboxMessage.PENDING, claimed_at=claimed_at
    )
    with app.app_context():
        assert retry_pending(app.config) == 0
        assert jobs.send_mail.run(app) == 0
    row = fresh(message)
    assert row.status == OutboxMessage.PENDING
    assert row.attempts == 0
    assert row.claimed_at is not None
    assert received == []


@pytest.mark.parametrize("minutes_ago, taken", [(1, False), (4, False), (6, True), (60, True)])
def test_a_stale_claim_is_taken_over(smtp_app, minutes_ago, taken):
    """A worker that died holding a claim does not block the message for ever (5 minutes)."""
    app, received = smtp_app
    message = OutboxMessage.create(
        recipient="ana@example.com",
        subject=SUBJECT,
        body=BODY,
        status=OutboxMessage.PENDING,
        claimed_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    with app.app_context():
        assert retry_pending(app.config) == (1 if taken else 0)
    assert fresh(message).status == (OutboxMessage.SENT if taken else OutboxMessage.PENDING)
    assert len(received) == (1 if taken else 0)


def test_claim_taken_between_listing_and_claiming_is_respected(smtp_app, monkeypatch):
    """Another worker claims the message after this one listed it: the conditional UPDATE loses."""
    app, received = smtp_app
    message = OutboxMessage.create(
        recipient="ana@example.com", subject=SUBJECT, body=BODY, status=OutboxMessage.PENDING
    )
    real_update = OutboxMessage.update
    state = {"raced": False}

    def update_after_rival(*args, **kwargs):
        if not state["raced"]:
            state["raced"] = True
            real_update(claimed_at=utcnow()).where(OutboxMessage.id == message.id).execute()
        return real_update(*args, **kwargs)

    monkeypatch.setattr(OutboxMessage, "update", update_after_rival)
    with app.app_context():
        assert retry_pending(app.config) == 0
    monkeypatch.undo()
    assert state["raced"]
    assert fresh(message).status == OutboxMessage.PENDING
    assert received == []


def test_two_workers_at_once_send_each_message_exactly_once(smtp_app):
    app, received = smtp_app
    messages = [
        OutboxMessage.create(recipient=f"u{i}@example.com", subject=f"s{i}", body="b", status=OutboxMessage.PENDING)
        for i in range(20)
    ]
    counts, errors = [], []
    start = threading.Barrier(3)

    def worker():
        try:
            with app.app_context():
                start.wait()
                counts.append(retry_pending(app.config))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            if not models.db.is_closed():
                models.db.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sum(counts) == 20
    assert sorted(e.rcpt_tos[0] for e in received) == sorted(m.recipient for m in messages)
    assert all(fresh(m).status == OutboxMessage.SENT for m in messages)
    assert all(fresh(m).attempts == 1 for m in messages)


# ---------------------------------------------------------------- bounded retries


def test_after_max_attempts_the_message_fails(down_app):
    assert MAX_ATTEMPTS == 5
    with down_app.app_context():
        message = send_mail("ana@example.com", SUBJECT, BODY)  # attempt 1
        for attempt in range(2, MAX_ATTEMPTS + 1):
            assert fresh(message).status == OutboxMessage.PENDING
            assert retry_pending(down_app.config) == 0
            assert fresh(message).attempts == attempt
        row = fresh(message)
        assert row.status == OutboxMessage.FAILED == "FALLIDO"
        assert row.attempts == MAX_ATTEMPTS
        assert row.last_error != ""
        assert row.claimed_at is None
        # A failed message is not retried any more.
        assert retry_pending(down_app.config) == 0
        assert fresh(message).attempts == MAX_ATTEMPTS


def test_failed_message_is_not_sent_when_the_server_comes_back(down_app, down_port):
    message = OutboxMessage.create(
        recipient="ana@example.com", subject=SUBJECT, body=BODY, status=OutboxMessage.PENDING, attempts=MAX_ATTEMPTS - 1
    )
    with down_app.app_context():
        assert retry_pending(down_app.config) == 0
    assert fresh(message).status == OutboxMessage.FAILED
    with smtp_on(down_port) as received:
        with down_app.app_context():
            assert jobs.send_mail.run(down_app) == 0
    assert received == []


def test_smtp_error_reply_counts_as_a_failed_attempt(make_app):
    """The server answers but refuses the message (5xx): pending, error recorded."""
    from aiosmtpd.controller import Controller

    class Refusing:
        async def handle_DATA(self, server, session, envelope):
            return "554 Transaction failed"

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
        with app.app_context():
            message = send_mail("ana@example.com", SUBJECT, BODY)
    finally:
        controller.stop()
    row = fresh(message)
    assert (row.status, row.attempts) == (OutboxMessage.PENDING, 1)
    assert "554" in row.last_error


def test_deliver_returns_outcome(smtp_app, down_app):
    app, received = smtp_app
    ok = OutboxMessage.create(recipient="a@example.com", subject="s", body="b", status=OutboxMessage.PENDING)
    bad = OutboxMessage.create(recipient="b@example.com", subject="s", body="b", status=OutboxMessage.PENDING)
    with app.app_context():
        assert mail.deliver(ok, app.config) is True
    with down_app.app_context():
        assert mail.deliver(bad, down_app.config) is False
    assert (fresh(ok).status, fresh(bad).status) == (OutboxMessage.SENT, OutboxMessage.PENDING)
    assert len(received) == 1
