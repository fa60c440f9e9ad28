"""adapters/mail.py: the transport the settings ask for; the outbox-only one delivers nothing."""

import pytest

from adapters.mail import MailError, OutboxTransport, SmtpTransport, transport_for


def test_without_smtp_host_messages_stay_in_the_outbox():
    transport = transport_for({"SMTP_HOST": ""})
    assert isinstance(transport, OutboxTransport) and not transport.delivers
    with pytest.raises(MailError):
        transport.send("ana@example.com", "Asunto", "Cuerpo")


def test_with_smtp_host_messages_go_by_smtp(smtp_server):
    port, received = smtp_server
    config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "MAIL_FROM": "portal@example.com"}
    transport = transport_for(config)
    assert isinstance(transport, SmtpTransport) and transport.delivers
    transport.send("ana@example.com", "Asunto", "Cuerpo")
    assert [m.rcpt_tos for m in received] == [["ana@example.com"]]


def test_an_unreachable_server_is_a_mail_error():
    from tests.server import free_port

    transport = SmtpTransport({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(), "MAIL_FROM": "p@example.com"})
    with pytest.raises(MailError):
        transport.send("ana@example.com", "Asunto", "Cuerpo")
