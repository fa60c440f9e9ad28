"""The notices job (jobs/send_notices.py, services/notices.send_waiting): at most one e-mail per
user and kind every 15 minutes, grouping everything recorded meanwhile, through the outbox and a
real local SMTP server; several job processes at once send each notice once."""

import time
from datetime import timedelta

import pytest

import jobs
from models import Batch, Notice, OutboxMessage, User, UserNotice, utcnow
from services import batches, notices
from tests.conftest import in_threads
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_mail import parsed
from tests.services.test_notices import a_batch


@pytest.fixture
def smtp_app(make_app, smtp_server):
    port, received = smtp_server
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    with app.app_context():
        yield app, received


@pytest.fixture
def world(db):
    company = make_company("EMPRESA UNO", signatures=2)
    product = make_product(company, card_price_named=1_000)
    payer = make_user("pagador", perms={product: "order.pay,batch.authorize"})
    return product, payer


T = utcnow().replace(microsecond=0) + timedelta(hours=1)  # the job's clock in these tests


def pay(product, text, url="/productos/1/ordenes/1"):
    return notices.notify(notices.PAGO, product, "order.pay", text, url)


def mails(received):
    """(recipient, subject, body) of each message the SMTP server received."""
    return [(e.rcpt_tos[0], parsed(e)["Subject"], parsed(e).get_content()) for e in received]


def unsent():
    return Notice.select().where(Notice.sent_at.is_null()).count()


# ---------------------------------------------------------------- grouping


def test_notices_within_15_minutes_go_in_one_e_mail_then_the_next_waits(smtp_app, world):
    app, received = smtp_app
    product, payer = world
    for n in (1, 2, 3):
        pay(product, f"Orden de servicio {n} por pagar", f"/productos/{product.id}/ordenes/{n}")
    assert notices.send_waiting(now=T) == 1
    ((to, subject, body),) = mails(received)
    assert (to, subject) == ("pagador@example.com", "Conexión Empresas: Órdenes de servicio por pagar (3)")
    assert body == (
        "Hola Nombre Apellido,\n\nEstas órdenes de servicio esperan el pago:\n\n"
        f"- Orden de servicio 1 por pagar\n  En el portal: /productos/{product.id}/ordenes/1\n"
        f"- Orden de servicio 2 por pagar\n  En el portal: /productos/{product.id}/ordenes/2\n"
        f"- Orden de servicio 3 por pagar\n  En el portal: /productos/{product.id}/ordenes/3\n\n"
        "Recibes este correo porque tienes activa la notificación «Órdenes de servicio por pagar». "
        "Puedes desactivarla en Configuración > Usuario > Notificaciones.\n"
    )
    assert unsent() == 0
    assert notices.send_waiting(now=T + timedelta(minutes=1)) == 0  # nothing new

    pay(product, "Orden de servicio 4 por pagar")
    pay(product, "Orden de servicio 5 por pagar")
    assert notices.send_waiting(now=T + timedelta(minutes=5)) == 0  # the last e-mail is 5 minutes old
    assert notices.send_waiting(now=T + timedelta(minutes=14, seconds=59)) == 0
    assert len(received) == 1 and unsent() == 2
    assert notices.send_waiting(now=T + timedelta(minutes=15)) == 1
    assert len(received) == 2
    _to, subject, body = mails(received)[1]
    assert subject == "Conexión Empresas: Órdenes de servicio por pagar (2)"
    assert "Orden de servicio 4" in body and "Orden de servicio 5" in body and "Orden de servicio 1" not in body
    # and the 15 minutes count from this second e-mail
    pay(product, "Orden de servicio 6 por pagar")
    assert notices.send_waiting(now=T + timedelta(minutes=29)) == 0
    assert notices.send_waiting(now=T + timedelta(minutes=30)) == 1
    assert mails(received)[2][1] == "Conexión Empresas: Órdenes de servicio por pagar"  # one: no count


def test_each_kind_and_each_user_has_its_own_e_mail_and_its_own_15_minutes(smtp_app, world):
    app, received = smtp_app
    product, payer = world
    make_user("otro", perms={product: "order.pay"})
    pay(product, "Orden 1")
    notices.notify(notices.AUTORIZACION, product, "batch.authorize", "Lote 1", "/a")
    assert notices.send_waiting(now=T) == 3
    assert sorted((to, subject) for to, subject, _body in mails(received)) == [
        ("otro@example.com", "Conexión Empresas: Órdenes de servicio por pagar"),
        ("pagador@example.com", "Conexión Empresas: Lotes por autorizar"),
        ("pagador@example.com", "Conexión Empresas: Órdenes de servicio por pagar"),
    ]
    # a new kind for pagador, minutes later: its own slot, sent at once
    notices.notify(notices.SALDO, product, [payer], "Saldo bajo", "/m")
    assert notices.send_waiting(now=T + timedelta(minutes=2)) == 1
    assert mails(received)[-1][1] == "Conexión Empresas: Saldo bajo de la cuenta maestra"


def test_the_whole_way_from_a_confirmed_batch_to_the_signers_inbox(smtp_app, db):
    app, received = smtp_app
    product = make_product(make_company("DOS FIRMAS", signatures=2))
    uploader = make_user("cargador", perms={product: "batch.upload,batch.confirm"})
    make_user("firmante", perms={product: "batch.sign"})
    batch = a_batch(product, Batch.VALID, uploader=uploader, records=4)
    with app.test_request_context():
        batches.confirm(Batch.get_by_id(batch.id), uploader, PASSWORD)
    assert jobs.send_notices.run(app) == 1  # the job itself, on the real clock
    ((to, subject, body),) = mails(received)
    assert (to, subject) == ("firmante@example.com", "Conexión Empresas: Lotes por firmar")
    assert f"- Lote {batch.number} (Emisión nominada (Id persona)) de Clásica / Visa, DOS FIRMAS: 4 registro(s)" in body
    assert f"En el portal: /productos/{product.id}/autorizacion" in body
    message = OutboxMessage.get()
    assert (message.recipient, message.status) == ("firmante@example.com", OutboxMessage.SENT)


def test_links_are_absolute_with_a_base_url(make_app, smtp_server, world):
    port, received = smtp_server
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, BASE_URL="https://portal.example.com/")
    product, _payer = world
    with app.app_context():
        pay(product, "Orden 1", "/productos/1/ordenes/1")
        assert notices.send_waiting(now=T) == 1
    assert "En el portal: https://portal.example.com/productos/1/ordenes/1\n" in mails(received)[0][2]


def test_without_smtp_the_e_mail_waits_in_the_outbox(app, world):
    product, _payer = world
    with app.app_context():
        pay(product, "Orden 1")
        assert notices.send_waiting(now=T) == 1
    message = OutboxMessage.get()
    assert (message.status, message.subject) == (
        OutboxMessage.STORED,
        "Conexión Empresas: Órdenes de servicio por pagar",
    )
    assert "- Orden 1" in message.body


def test_a_long_group_lists_the_first_ones_and_counts_the_rest(smtp_app, world):
    app, received = smtp_app
    product, _payer = world
    for n in range(notices.MAX_LISTED + 3):
        pay(product, f"Orden {n}")
    assert notices.send_waiting(now=T) == 1
    body = mails(received)[0][2]
    assert body.count("\n- Orden ") == notices.MAX_LISTED and "- … y 3 más." in body


# ---------------------------------------------------------------- who is not e-mailed


def test_a_kind_turned_off_after_its_notices_were_recorded_is_not_sent(smtp_app, world):
    app, received = smtp_app
    product, payer = world
    pay(product, "Orden 1")
    UserNotice.create(user=payer, kind=notices.PAGO, enabled=False)  # as another tab would, racing the hook
    assert notices.send_waiting(now=T) == 0
    assert received == [] and Notice.select().count() == 0


def test_a_user_blocked_meanwhile_gets_nothing(smtp_app, world):
    app, received = smtp_app
    product, payer = world
    pay(product, "Orden 1")
    User.update(status=User.BLOCKED).where(User.id == payer.id).execute()
    assert notices.send_waiting(now=T) == 0
    assert received == [] and unsent() == 0
    # the slot went back: unblocked, the next notice is not held for 15 minutes
    User.update(status=User.ACTIVE).where(User.id == payer.id).execute()
    pay(product, "Orden 2")
    assert notices.send_waiting(now=T + timedelta(minutes=1)) == 1


# ---------------------------------------------------------------- several job processes


@pytest.mark.parametrize("threads", [2, 4])
def test_job_runs_at_once_send_each_notice_once(smtp_app, world, threads, monkeypatch):
    app, received = smtp_app
    product, _payer = world
    real_send = notices.send_mail

    def slow_send(*args):  # a slow SMTP server: the runs overlap while each one is sending
        time.sleep(0.05)
        return real_send(*args)

    monkeypatch.setattr(notices, "send_mail", slow_send)
    for n in range(8):
        make_user(f"pagador{n}", perms={product: "order.pay"})
    pay(product, "Orden 1")
    pay(product, "Orden 2")
    notices.notify(notices.AUTORIZACION, product, "batch.authorize", "Lote 1", "/a")

    def run():
        with app.app_context():
            return notices.send_waiting(now=T)

    results = in_threads(run, threads)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 10  # 9 payers, one e-mail each; pagador's authorization another
    recipients = sorted((e.rcpt_tos[0], parsed(e)["Subject"]) for e in received)
    assert len(recipients) == len(set(recipients)) == 10
    assert all("- Orden 1\n" in body and "- Orden 2\n" in body for _to, s, body in mails(received) if "pagar" in s)
    assert unsent() == 0
    assert OutboxMessage.select().count() == 10


def test_a_slot_won_by_another_process_is_left_alone(smtp_app, world):
    app, received = smtp_app
    product, payer = world
    pay(product, "Orden 1")
    UserNotice.create(user=payer, kind=notices.PAGO, last_sent_at=T)  # another process just sent one
    assert notices.send_waiting(now=T + timedelta(seconds=30)) == 0
    assert received == [] and unsent() == 1


def test_the_slot_is_compared_and_set(smtp_app, world, monkeypatch):
    """Between reading the slot and taking it, another process takes it: the UPDATE loses."""
    app, received = smtp_app
    product, payer = world
    pay(product, "Orden 1")
    UserNotice.create(user=payer, kind=notices.PAGO, last_sent_at=T - timedelta(hours=1))
    real_get = UserNotice.get_or_none

    def read_then_lose(*args, **kwargs):
        row = real_get(*args, **kwargs)
        UserNotice.update(last_sent_at=T).where(UserNotice.id == row.id).execute()  # the rival wins
        return row

    monkeypatch.setattr(UserNotice, "get_or_none", read_then_lose)
    assert notices.send_waiting(now=T) == 0
    assert received == [] and unsent() == 1


def test_notices_claimed_by_a_process_that_died_are_sent_by_the_next_slot(smtp_app, world):
    app, received = smtp_app
    product, payer = world
    pay(product, "Orden 1")
    # a process won the slot at T and claimed the notice, then was killed before sending
    UserNotice.create(user=payer, kind=notices.PAGO, last_sent_at=T)
    Notice.update(claim_token="dead-process").execute()
    assert notices.send_waiting(now=T + timedelta(minutes=10)) == 0
    assert notices.send_waiting(now=T + timedelta(minutes=15)) == 1
    assert "- Orden 1\n" in mails(received)[0][2]
    assert unsent() == 0


def test_a_pair_with_nothing_left_gives_its_slot_back(smtp_app, world, monkeypatch):
    app, received = smtp_app
    product, payer = world
    monkeypatch.setattr(notices, "_due_pairs", lambda now: [(payer.id, notices.PAGO)])  # listed, sent meanwhile
    assert notices.send_waiting(now=T) == 0
    assert UserNotice.get(UserNotice.user == payer).last_sent_at is None
    monkeypatch.undo()
    pay(product, "Orden 1")
    assert notices.send_waiting(now=T + timedelta(minutes=1)) == 1


def test_a_failed_send_leaves_the_notices_for_the_next_slot(smtp_app, world, monkeypatch):
    app, received = smtp_app
    product, _payer = world
    pay(product, "Orden 1")

    def broken(*args):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(notices, "send_mail", broken)
    assert notices.send_waiting(now=T) == 0
    monkeypatch.undo()
    assert unsent() == 1
    assert notices.send_waiting(now=T + timedelta(minutes=5)) == 0
    assert notices.send_waiting(now=T + timedelta(minutes=15)) == 1


# ---------------------------------------------------------------- the job


def test_the_job_runs_every_minute_through_the_scheduler_wrapper(smtp_app, world):
    app, received = smtp_app
    product, _payer = world
    assert (jobs.send_notices, 60) in jobs.JOBS
    pay(product, "Orden 1")
    run = jobs._in_app(app, jobs.send_notices, 60)
    assert run.__name__ == "send_notices"
    run()
    assert len(received) == 1 and unsent() == 0
