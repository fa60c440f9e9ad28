"""Pagar clicked several times at once with the right code, through real HTTP to a running
server (issue 8, C): the company is debited once, and every losing click is told that the
order is paid (or being paid), never that the code expired."""

import re
import threading

import orjson
import pytest

from models import BankMovement, Batch, BatchRecord, OutboxMessage, ServiceOrder, User
from services import authorization
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.server import HttpClient, serving

CLICKS = 4


@pytest.fixture
def order(app, db):
    product = make_product(make_company("PAGOS SAS", balance=10**10), card_price_named=1_000)
    make_user("pagador", perms={product: "order.view,order.pay,batch.authorize"})
    batch = Batch.create(
        company=product.company, product=product, number="26120100", kind="EMI", status=Batch.TO_AUTHORIZE,
        valid_records=1, total_records=1,
    )  # fmt: skip
    BatchRecord.create(batch=batch, line=2, id_type="CC", id_number="123", data=orjson.dumps({}).decode())
    with app.test_request_context():
        (created,) = authorization.authorize(product, [batch.id], User.get(User.username == "pagador"))
    return created


def test_parallel_clicks_on_pagar_debit_once_and_the_losers_hear_it_is_paid(app, order):
    base = f"/productos/{order.product_id}/ordenes"
    with serving(app) as url:
        client = HttpClient(url)
        assert client.login("pagador", PASSWORD) == 302
        token = client.csrf_token(base)
        assert client.request("POST", f"{base}/{order.id}/pagar/codigo", {"csrf_token": token})[0] == 200
        body = OutboxMessage.select().order_by(OutboxMessage.id.desc()).first().body
        code = re.search(r"\b(\d{6})\b", body).group(1)
        answers, barrier = [], threading.Barrier(CLICKS)

        def click():
            barrier.wait(30)
            answers.append(client.htmx(f"{base}/{order.id}/pagar", {"csrf_token": token, "code": code}))

        threads = [threading.Thread(target=click) for _ in range(CLICKS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    texts = [html for _status, html in answers]
    assert len(texts) == CLICKS
    assert sum("Pago exitoso" in t for t in texts) == 1, [t[:200] for t in texts]
    losers = [t for t in texts if "Pago exitoso" not in t]
    assert all("ya fue pagada" in t or "se está pagando" in t for t in losers), [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", t))[:300] for t in losers
    ]
    assert not any("venció" in t for t in texts)
    assert BankMovement.select().where(BankMovement.amount < 0).count() == 1
    assert ServiceOrder.get_by_id(order.id).status == ServiceOrder.IN_PROCESS
