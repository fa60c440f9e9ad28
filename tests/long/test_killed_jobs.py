"""Background jobs killed for real (SIGKILL) mid-run, then resumed by the next run.

Moved from tests/jobs/test_validate_batches.py and tests/jobs/test_process_orders.py (whose
helpers they use): a real child process per test.
"""

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

import ledger
import models
from models import Batch, BatchError, BatchRecord, Card, LedgerOperation, Person, ServiceOrder, utcnow
from services import batches, processing
from tests import batchfiles
from tests.factories import make_company, make_product, make_user
from tests.jobs.test_process_orders import (
    card_of,
    issue_cards,
    make_order,
    make_stale,
    pay,
    rec_records,
    statuses,
    validated,
)
from tests.jobs.test_validate_batches import bad_rows, upload
from tests.server import ROOT as REPO_ROOT

ROOT = str(REPO_ROOT)


@pytest.fixture
def setup(app, db):
    """As in tests/jobs/test_validate_batches.py."""
    company = make_company("JAHC TEST", nit="900291499", branches=("1", "73"))
    product = make_product(company)
    user = make_user("jefe", perms={product: "all"})
    return product, user


@pytest.fixture
def product(db):
    """As in tests/jobs/test_process_orders.py."""
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES)
    return make_product(company, card_limit=batchfiles.CARD_LIMIT)


# ---------------------------------------------------------------- batch validation


VALIDATION_KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from app import create_app
import services.batches as batches
batches.CHUNK = 20
real = batches._store_chunk
def slow(*args):
    ok = real(*args)
    time.sleep(0.3)
    return ok
batches._store_chunk = slow
app = create_app({{"DATABASE_URL": {url!r}, "SECRET_KEY": "x"}})
with app.app_context():
    batches.validate_waiting()
"""


def test_a_killed_validation_process_is_resumed_by_the_next_run(app, setup, database_url):
    """A real process is killed (SIGKILL) mid-batch; the next run finishes it, nothing twice."""
    product, user = setup
    batch = upload(app, product, user, bad_rows(200, every=5))
    models.db.close()
    script = VALIDATION_KILL_SCRIPT.format(root=ROOT, url=database_url)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            models.db.connect(reuse_if_open=True)
            progress = Batch.get_by_id(batch.id).processed_records
            models.db.close()
            if progress >= 40:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    models.db.connect(reuse_if_open=True)
    killed = Batch.get_by_id(batch.id)
    assert killed.status == "VALIDANDO" and 40 <= killed.processed_records < 200
    Batch.update(claimed_at=utcnow() - timedelta(minutes=5)).where(Batch.id == batch.id).execute()
    with app.app_context():
        assert batches.validate_waiting() == 1
    done = Batch.get_by_id(batch.id)
    assert (done.status, done.processed_records, done.valid_records, done.error_records) == (
        "VALIDO_PARCIAL",
        200,
        160,
        40,
    )
    assert BatchRecord.select().count() == 160 and BatchError.select().count() == 40


# ---------------------------------------------------------------- order processing


PROCESSING_KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
import models
from services import processing
models.open_database({url!r})
processing.CHUNK = 10
real = processing._process_chunk
def slow(*args):
    outcome = real(*args)
    time.sleep(0.15)
    return outcome
processing._process_chunk = slow
models.db.connect()
processing.process_paid_orders()
"""


def test_a_killed_processing_process_is_resumed_by_the_next_run(product, database_url):
    """A real process is killed (SIGKILL) mid-order; the next run finishes it: one card per
    record, each recharge credited once."""
    issue_cards(product, 100)
    pay(product, 100 * 2_000)
    order = make_order(
        product,
        ("EMI", validated("EMI", batchfiles.emi_rows(120, start=1000))),
        ("REC", rec_records(100, amount="20.00")),
    )
    models.db.close()
    process = subprocess.Popen(
        [sys.executable, "-c", PROCESSING_KILL_SCRIPT.format(root=ROOT, url=database_url)], cwd=ROOT
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            models.db.connect(reuse_if_open=True)
            done = ServiceOrder.get_by_id(order.id).done_records
            models.db.close()
            if done >= 150:  # in the REC batch, after the EMI one
                break
            time.sleep(0.03)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    models.db.connect(reuse_if_open=True)
    killed = ServiceOrder.get_by_id(order.id)
    assert killed.status == "EN_PROCESO" and 150 <= killed.done_records < 220, killed.done_records
    assert killed.done_records % 10 == 0  # whole chunks only
    make_stale(order)
    assert processing.process_paid_orders() == 1
    done = ServiceOrder.get_by_id(order.id)
    assert (done.status, done.done_records) == ("PROCESADO", 220)
    assert Card.select().count() == 220
    assert Card.select(Card.record).distinct().count() == 220
    assert Person.select().count() == 220
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("rec:")).count() == 100
    assert {ledger.balance(card_of(i).account_id) for i in range(1, 101)} == {2_000}
    assert ledger.balance(ledger.funding_account(product)) == 0
    assert all(status == "PROCESADO" for _l, status, _r in statuses(order))
    assert [b.deposited for b in Batch.select().where(Batch.order == order).order_by(Batch.id)] == [0, 200_000]
