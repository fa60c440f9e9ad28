"""Two production nodes on one PostgreSQL (issue 15): each a gunicorn with 2 workers and a
`python -m jobs` process. 16 clients send a burst of cuenta maestra credits, service-order
payments (with the e-mailed code) and batch authorizations, half of them to each node; one node
(its gunicorn and its job process) is killed with SIGKILL in the middle. The clients of the dead
node fail over to the surviving one and send the same operation again (the same dialog key, the
same code, the same batch). At the end each operation took effect exactly once: one master
operation and one ledger operation per key, one bank debit per paid order, each batch in one
order, every paid order processed with each record once, and `flask ledger check` passes."""

import os
import re
import threading
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request

import orjson
import pytest

import ledger
import models
from models import (
    BankMovement,
    Batch,
    BatchRecord,
    Card,
    LedgerOperation,
    MasterOperation,
    OutboxMessage,
    ServiceOrder,
    User,
)
from services import authorization, ledger_check, master
from tests import batchfiles
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards, validated
from tests.server import HttpClient, gunicorn_node, jobs_node

pytestmark = [
    pytest.mark.long,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") or "").startswith("postgres"), reason="two nodes share one PostgreSQL"
    ),
]

MASTER_CLIENTS, PAYING_CLIENTS, AUTHORIZING_CLIENTS = 6, 5, 5  # 16 clients
CREDITS_EACH, ORDERS_EACH, BATCHES_EACH = 10, 2, 2
CREDIT = 1_000_000  # $ 10.000,00 each
RECORDS = 5  # EMI records per batch


@pytest.fixture
def world(app, db, database_url):
    company = make_company("DOS NODOS SAS", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**13)
    product = make_product(company, transfer_fee=5_500, daily_count_max=100_000, card_price_named=1_000)
    user = make_user("operador", perms={product: "all"})
    issue_cards(product, MASTER_CLIENTS)
    cards = list(Card.select().where(Card.product == product).order_by(Card.id))
    with app.test_request_context():
        master.fund_without_code(user, product, 1_000_000_000, "Fondeo")
    waiting = [
        _batch(product, 100 + 10 * i) for i in range(PAYING_CLIENTS * ORDERS_EACH + AUTHORIZING_CLIENTS * BATCHES_EACH)
    ]
    to_pay = waiting[: PAYING_CLIENTS * ORDERS_EACH]
    with app.test_request_context():
        orders = [authorization.authorize(product, [b.id], user, "lote")[0] for b in to_pay]
    to_authorize = waiting[PAYING_CLIENTS * ORDERS_EACH :]
    before = ServiceOrder.select().where(ServiceOrder.product == product.id).count()
    models.db.close()
    return {"product": product, "cards": cards, "orders": orders, "batches": to_authorize, "orders_before": before}


def _batch(product, start):
    records = validated("EMI", batchfiles.emi_rows(RECORDS, start=start))
    batch = Batch.create(
        company=product.company_id, product=product, number=f"261202{start:02d}"[:8], kind="EMI",
        status=Batch.TO_AUTHORIZE, total_records=RECORDS, valid_records=RECORDS,
    )  # fmt: skip
    BatchRecord.insert_many(
        [
            {
                "batch": batch,
                "line": line,
                "id_type": r["id_type"],
                "id_number": r["id_number"],
                "amount": 0,
                "data": orjson.dumps(r, default=str).decode(),
            }
            for line, r in records
        ]  # fmt: skip
    ).execute()
    return batch


class Client:
    """One user's browser: its session cookie works on either node (one SECRET_KEY); when its
    node stops answering it moves to the other and sends the same request again."""

    def __init__(self, nodes, first):
        self.nodes, self.current = nodes, first
        self.http = HttpClient(nodes[first].url)
        self.failovers = 0

    def _send(self, method, path, data=None, htmx=False):
        body = urlencode(data, doseq=True).encode() if data is not None else None
        headers = {"HX-Request": "true"} if htmx else {}
        request = Request(f"{self.nodes[self.current].url}{path}", data=body, method=method, headers=headers)
        try:
            with self.http.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except HTTPError as error:
            return error.code, error.read().decode()

    def send(self, method, path, data=None, htmx=False):
        for _attempt in range(20):
            try:
                return self._send(method, path, data, htmx)
            except (URLError, HTTPException, ConnectionError, TimeoutError, OSError):
                self.current = 1 - self.current  # the node is gone: the other one
                self.failovers += 1
                time.sleep(0.2)
        raise RuntimeError("no node answered")

    def token(self, path):
        _status, html = self.send("GET", path)
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def _code(order_id):
    """The last code e-mailed to pay this order (a code asked again retires the previous one)."""
    subject = f"Código para pagar la orden de servicio {order_id}"
    for _ in range(100):
        models.db.connect(reuse_if_open=True)
        mail = OutboxMessage.select().where(OutboxMessage.subject == subject).order_by(OutboxMessage.id.desc()).first()
        models.db.close()
        if mail is not None:
            return re.search(r"es: (\d{6})", mail.body).group(1)
        time.sleep(0.1)
    raise AssertionError(f"no code for order {order_id}")


def test_a_node_killed_during_a_burst_loses_and_doubles_nothing(world, database_url):
    product = world["product"]
    base = f"/productos/{product.id}"
    keys = {i: [master.new_key() for _ in range(CREDITS_EACH)] for i in range(MASTER_CLIENTS)}
    answers = []
    with (
        gunicorn_node(database_url) as a,
        gunicorn_node(database_url) as b,
        jobs_node(database_url) as jobs_a,
        jobs_node(database_url),
    ):
        nodes = [a, b]
        clients = [Client(nodes, i % 2) for i in range(MASTER_CLIENTS + PAYING_CLIENTS + AUTHORIZING_CLIENTS)]
        for client in clients:
            assert client.http.login("operador", PASSWORD) == 302
        start = threading.Barrier(len(clients) + 1)

        def credits(client, i):
            card = world["cards"][i]
            token = client.token(f"{base}/cuenta-maestra")
            for key in keys[i]:
                form = {"csrf_token": token, "monto": "10.000", "password": PASSWORD, "clave": key}
                answers.append(client.send("POST", f"{base}/cuenta-maestra/tarjetas/{card.id}/abonar", form, htmx=True))

        def payments(client, i):
            token = client.token(f"{base}/ordenes")
            for order in world["orders"][i * ORDERS_EACH : (i + 1) * ORDERS_EACH]:
                client.send("POST", f"{base}/ordenes/{order.id}/pagar/codigo", {"csrf_token": token}, htmx=True)
                code = _code(order.id)
                answers.append(
                    client.send(
                        "POST", f"{base}/ordenes/{order.id}/pagar", {"csrf_token": token, "code": code}, htmx=True
                    )
                )

        def authorizations(client, i):
            token = client.token(f"{base}/autorizacion")
            for batch in world["batches"][i * BATCHES_EACH : (i + 1) * BATCHES_EACH]:
                form = {
                    "csrf_token": token,
                    "accion": "autorizar",
                    "lote": str(batch.id),
                    "password": PASSWORD,
                    "agrupacion": "lote",
                }
                client.send("POST", f"{base}/autorizacion", form)
                client.send("GET", f"{base}/autorizacion/calcular")
                answers.append(
                    client.send("POST", f"{base}/autorizacion/calcular", {"csrf_token": token, "accion": "autorizar"})
                )

        work = [(credits, i) for i in range(MASTER_CLIENTS)]
        work += [(payments, i) for i in range(PAYING_CLIENTS)]
        work += [(authorizations, i) for i in range(AUTHORIZING_CLIENTS)]

        def run(client, job):
            start.wait(60)
            job[0](client, job[1])

        threads = [threading.Thread(target=run, args=(c, w)) for c, w in zip(clients, work, strict=True)]
        for thread in threads:
            thread.start()
        start.wait(60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill node A once a fifth of the credits are done
            models.db.connect(reuse_if_open=True)
            done = MasterOperation.select().where(MasterOperation.kind == MasterOperation.CREDIT).count()
            models.db.close()
            if done >= MASTER_CLIENTS * CREDITS_EACH // 5:
                break
            time.sleep(0.02)
        a.kill()
        jobs_a.kill()
        for thread in threads:
            thread.join(300)
        assert not any(t.is_alive() for t in threads)
        failovers = sum(c.failovers for c in clients)

        # The surviving job process processes every paid order (it takes over the dead one's leases).
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            models.db.connect(reuse_if_open=True)
            paid = ServiceOrder.select().where(ServiceOrder.id.in_([o.id for o in world["orders"]]))
            statuses = {o.status for o in paid}
            models.db.close()
            if statuses == {ServiceOrder.PROCESSED}:
                break
            time.sleep(1)

    models.db.connect(reuse_if_open=True)
    assert failovers > 0, "no client had to fail over: the node died too late"
    # Cuenta maestra: one operation per key, money moved once.
    for i, card_keys in keys.items():
        for key in card_keys:
            assert MasterOperation.select().where(MasterOperation.key == f"{key}:{world['cards'][i].id}").count() <= 1
            operations = MasterOperation.select().where(MasterOperation.key.startswith(key))
            assert operations.count() == 1 and operations.get().status == MasterOperation.OK, key
            assert (
                LedgerOperation.select().where(LedgerOperation.key.startswith(f"maestra:{key}")).count() == 2
            )  # + fee
        assert ledger.balance(ledger.card_account(Card.get_by_id(world["cards"][i].id))) == CREDITS_EACH * CREDIT
    # Payments: one bank debit per order, every order processed with each record once.
    for order in world["orders"]:
        order = ServiceOrder.get_by_id(order.id)
        assert order.status == ServiceOrder.PROCESSED, (
            order.id, order.status, order.claimed_by, order.claimed_at, order.attempts, order.failures, order.last_error,
        )  # fmt: skip
        assert BankMovement.select().where(BankMovement.key == f"orden-servicio:{order.id}").count() == 1
        records = BatchRecord.select().join(Batch).where(Batch.order == order.id)
        assert records.count() == RECORDS and {r.status for r in records} == {BatchRecord.PROCESSED}
        assert (
            Card.select()
            .join(BatchRecord, on=(Card.record == BatchRecord.id))
            .join(Batch)
            .where(Batch.order == order.id)
            .count()
            == RECORDS
        )
    debits = BankMovement.select().where(BankMovement.amount < 0)
    assert debits.count() == len({m.key for m in debits})
    # Authorizations: each batch in exactly one order.
    for batch in world["batches"]:
        batch = Batch.get_by_id(batch.id)
        assert batch.status == Batch.IN_ORDER and batch.order_id is not None
        assert (
            ServiceOrder.select().join(Batch, on=(Batch.order == ServiceOrder.id)).where(Batch.id == batch.id).count()
            == 1
        )
    created = ServiceOrder.select().where(ServiceOrder.product == product.id).count()
    assert created == world["orders_before"] + len(world["batches"])  # one order per authorized batch, no more
    assert ledger_check.check() == []
    assert User.get(User.username == "operador").status == User.ACTIVE
    print(f"\ntwo nodes: {len(answers)} answers, {failovers} failovers, {created} orders")
