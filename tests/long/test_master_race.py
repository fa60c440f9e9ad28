"""Cuenta maestra under real HTTP (issue 11): parallel submits of one dialog move money once,
parallel operations on one card keep the ledger exact, and a server killed in the middle of a
500-card credit leaves each card credited once or not at all; the retry of the same dialog says
which cards were already done."""

import threading
import time

import pytest

import ledger
import models
from models import Card, MasterOperation
from services import ledger_check, master
from tests import batchfiles
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards
from tests.server import HttpClient, server_process, serving


def _world(app, cards):
    company = make_company("MAESTRA SAS", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**13)
    product = make_product(company, transfer_fee=5_500, inquiry_fee=6_000, daily_count_max=100_000)
    user = make_user("tesorero", perms={product: "all"})
    issue_cards(product, cards)
    with app.app_context():
        master.fund_without_code(user, product, 1_000_000_000, "Fondeo")
    return product, list(Card.select().where(Card.product == product).order_by(Card.id))


def _at_once(count, func):
    answers, barrier = [], threading.Barrier(count)

    def run(i):
        barrier.wait(30)
        answers.append(func(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


def _balance(card):
    return ledger.balance(ledger.card_account(Card.get_by_id(card.id)))


def test_one_dialog_sent_six_times_at_once_credits_once(app, db):
    product, cards = _world(app, 1)
    base = f"/productos/{product.id}/cuenta-maestra"
    key = master.new_key()
    with serving(app) as url:
        client = HttpClient(url)
        assert client.login("tesorero", PASSWORD) == 302
        token = client.csrf_token(base)
        form = {"csrf_token": token, "monto": "10.000", "password": PASSWORD, "clave": key}
        answers = _at_once(6, lambda _i: client.htmx(f"{base}/tarjetas/{cards[0].id}/abonar", form))
    assert [status for status, _html in answers] == [200] * 6
    assert all("Transacción exitosa" in html for _status, html in answers)
    assert sum("ya se había hecho" in html for _status, html in answers) == 5
    assert _balance(cards[0]) == 1_000_000
    assert ledger_check.check() == []


def test_parallel_credits_and_debits_of_one_card_keep_the_ledger_exact(app, db):
    product, cards = _world(app, 1)
    card = cards[0]
    base = f"/productos/{product.id}/cuenta-maestra"
    with serving(app) as url:
        clients = []
        for _ in range(8):
            client = HttpClient(url)
            assert client.login("tesorero", PASSWORD) == 302
            clients.append((client, client.csrf_token(base)))

        def operate(i):
            client, token = clients[i]
            action = "abonar" if i % 2 == 0 else "cargar"
            form = {"csrf_token": token, "monto": "60.000", "password": PASSWORD, "clave": master.new_key()}
            return action, client.htmx(f"{base}/tarjetas/{card.id}/{action}", form)

        answers = _at_once(8, operate)
    credited = sum(a == "abonar" and "Transacción exitosa" in html for a, (_s, html) in answers)
    debited = sum(a == "cargar" and "Transacción exitosa" in html for a, (_s, html) in answers)
    assert credited == 4  # the master account has plenty
    assert _balance(card) == 6_000_000 * (credited - debited) >= 0
    done = MasterOperation.select().where((MasterOperation.card == card.id) & (MasterOperation.status == "EXITOSA"))
    assert done.count() == credited + debited
    expected = 1_000_000_000 - 6_000_000 * (credited - debited) - 5_500 * (credited + debited)
    assert ledger.balance(ledger.master_account(product)) == expected
    assert ledger_check.check() == []


@pytest.mark.parametrize("cards", [500])
def test_a_server_killed_during_a_bulk_credit_credits_each_card_once_or_not_at_all(app, db, database_url, cards):
    product, rows = _world(app, cards)
    base = f"/productos/{product.id}/cuenta-maestra"
    key = master.new_key()
    form = {"marcada": [str(c.id) for c in rows], "monto_todas": "1.000", "password": PASSWORD, "clave": key}
    models.db.close()
    with server_process(database_url) as victim:
        client = HttpClient(victim.url)
        assert client.login("tesorero", PASSWORD) == 302
        form["csrf_token"] = client.csrf_token(base)

        def send():
            try:
                client.htmx(f"{base}/operacion/abonar", form)
            except OSError:  # the server dies under it: that is the test
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            models.db.connect(reuse_if_open=True)
            done = MasterOperation.select().where(MasterOperation.key.startswith(f"{key}:")).count()
            models.db.close()
            if done >= 50:
                break
            time.sleep(0.05)
        victim.kill()
    models.db.connect(reuse_if_open=True)
    before = MasterOperation.select().where(MasterOperation.key.startswith(f"{key}:")).count()
    assert 50 <= before < cards, before
    assert {_balance(c) for c in rows} <= {0, 100_000}  # each card whole or untouched
    credited_before = sum(_balance(c) == 100_000 for c in rows)
    assert credited_before == before
    models.db.close()
    with server_process(database_url) as survivor:
        client = HttpClient(survivor.url)
        assert client.login("tesorero", PASSWORD) == 302
        form["csrf_token"] = client.csrf_token(base)
        status, html = client.htmx(f"{base}/operacion/abonar", form)
    models.db.connect(reuse_if_open=True)
    assert status == 200 and f"{cards} de {cards} operaciones exitosas" in html
    assert html.count("ya se había hecho") == before  # the retry says which were done before
    assert {_balance(c) for c in rows} == {100_000}
    assert ledger_check.check() == []
