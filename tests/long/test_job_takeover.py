"""Three job processes at once on 20 uploaded batches and 5 paid orders; one is killed
(SIGKILL) halfway and restarted. Every record is done exactly once, every card exists once,
the ledger balances, and the dead process's claims are taken over within 30 s
(services/leases.py: the restarted process releases its dead predecessor's leases at once;
any other process would take them when they expire, LEASE = 15 s)."""

import signal
import socket
import subprocess
import sys
import time

import pytest
from peewee import fn

import ledger
import models
from models import Batch, BatchError, BatchRecord, Card, LedgerOperation, LedgerPosting, ServiceOrder
from services import leases
from tests import batchfiles
from tests.factories import make_company, make_product, make_user
from tests.jobs.test_process_orders import card_of, issue_cards, make_order, pay, rec_records, validated
from tests.jobs.test_validate_batches import upload
from tests.server import ROOT

BATCHES, ROWS = 20, 60
ORDERS, ORDER_ROWS = 5, 100

# One job process: the job loops of `python -m jobs` (start-up release, then validation and
# processing), with small slow chunks so that the kill lands mid-work.
JOB_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from app import create_app
import jobs
from services import batches, processing
batches.CHUNK = processing.CHUNK = 20
for module, name in ((batches, "_store_chunk"), (processing, "_process_chunk")):
    real = getattr(module, name)
    def slow(*args, _real=real):
        outcome = _real(*args)
        time.sleep(0.25)
        return outcome
    setattr(module, name, slow)
app = create_app({{"DATABASE_URL": {url!r}, "SECRET_KEY": "x", "SMTP_HOST": ""}})
jobs.start_up(app)
idle_since = time.monotonic()
with app.app_context():
    while time.monotonic() - idle_since < 20:
        import models
        models.db.connect(reuse_if_open=True)
        worked = batches.validate_waiting(limit=1) + processing.process_paid_orders(limit=1)
        models.db.close()
        if worked:
            idle_since = time.monotonic()
        time.sleep(0.2)
"""


@pytest.fixture
def work(app, db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES)
    product = make_product(company, card_limit=batchfiles.CARD_LIMIT)
    user = make_user("jefe", perms={product: "all"})
    for i in range(BATCHES):
        upload(app, product, user, batchfiles.emi_rows(ROWS, start=10_000 + 100 * i))
    issue_cards(product, ORDER_ROWS)  # the people the REC order credits
    pay(product, ORDER_ROWS * 2_000)
    orders = [
        make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(ORDER_ROWS, start=1_000 + 200 * i))))
        for i in range(ORDERS - 1)
    ]
    orders.append(make_order(product, ("REC", rec_records(ORDER_ROWS, amount="20.00"))))
    return product, orders


def _start(url):
    return subprocess.Popen([sys.executable, "-c", JOB_SCRIPT.format(root=str(ROOT), url=url)], cwd=ROOT)


def _progress():
    models.db.connect(reuse_if_open=True)
    try:
        done = Batch.select(fn.SUM(Batch.processed_records)).where(Batch.order.is_null()).scalar() or 0
        done += ServiceOrder.select(fn.SUM(ServiceOrder.done_records)).scalar() or 0
        return done
    finally:
        models.db.close()


def _claims_of(identity):
    models.db.connect(reuse_if_open=True)
    try:
        return (
            Batch.select().where((Batch.status == Batch.VALIDATING) & (Batch.claimed_by == identity)).count()
            + ServiceOrder.select()
            .where((ServiceOrder.status == ServiceOrder.IN_PROCESS) & (ServiceOrder.claimed_by == identity))
            .count()
        )
    finally:
        models.db.close()


def test_three_job_processes_one_killed_and_restarted(work, database_url):
    product, orders = work
    total = BATCHES * ROWS + ORDERS * ORDER_ROWS
    models.db.close()
    processes = [_start(database_url) for _ in range(3)]
    try:
        deadline = time.monotonic() + 120
        while _progress() < total // 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        victim = processes[0]
        identity = f"{socket.gethostname()}:{victim.pid}:{leases.process_start(victim.pid)}"
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(10)
        held = _claims_of(identity)
        assert held >= 1, "the killed process held no claim: the kill did not land mid-work"
        processes.append(_start(database_url))  # the restart
        while _claims_of(identity) and time.monotonic() - killed_at < 60:
            time.sleep(0.05)
        takeover = time.monotonic() - killed_at
        print(f"\ntakeover of {held} claim(s) of the killed process: {takeover:.2f} s")
        assert takeover < 30
        while time.monotonic() < deadline + 120:
            models.db.connect(reuse_if_open=True)
            busy = (
                Batch.select().where(Batch.status.in_((Batch.VALIDATING, Batch.IN_PROCESS))).exists()
                or ServiceOrder.select().where(ServiceOrder.status == ServiceOrder.IN_PROCESS).exists()
            )
            models.db.close()
            if not busy:
                break
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)

    models.db.connect(reuse_if_open=True)
    uploaded = Batch.select().where(Batch.order.is_null())
    assert {(b.status, b.processed_records, b.valid_records) for b in uploaded} == {("VALIDO", ROWS, ROWS)}
    assert BatchError.select().count() == 0
    # Every validated record stored exactly once.
    stored = BatchRecord.select().join(Batch).where(Batch.order.is_null())
    assert stored.count() == BATCHES * ROWS
    assert stored.select(BatchRecord.batch, BatchRecord.line).distinct().count() == BATCHES * ROWS
    # Every order processed, every record once, one card per EMI record, each recharge once.
    for order in orders:
        done = ServiceOrder.get_by_id(order.id)
        assert (done.status, done.done_records) == ("PROCESADO", ORDER_ROWS)
    in_orders = BatchRecord.select().join(Batch).where(Batch.order.in_([o.id for o in orders]))
    assert {r.status for r in in_orders} == {"PROCESADO"}
    emi_records = (ORDERS - 1) * ORDER_ROWS + ORDER_ROWS  # the orders' and issue_cards' ones
    assert Card.select().count() == Card.select(Card.record).distinct().count() == emi_records
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("rec:")).count() == ORDER_ROWS
    assert {ledger.balance(card_of(i).account_id) for i in range(1, ORDER_ROWS + 1)} == {2_000}
    assert ledger.balance(ledger.funding_account(product)) == 0
    unbalanced = (
        LedgerPosting.select(LedgerPosting.operation)
        .group_by(LedgerPosting.operation)
        .having(fn.SUM(LedgerPosting.amount) != 0)
    )
    assert not unbalanced.exists()
