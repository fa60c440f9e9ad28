"""Claims as leases (services/leases.py): holder identity, expiry, renewal, release of a dead
predecessor's leases (never a live sibling's), SKIP LOCKED on PostgreSQL, and the orders
whose processing keeps failing."""

import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from types import SimpleNamespace

import peewee
import psycopg2
import pytest

import jobs
import models
from models import Batch, JobHeartbeat, OutboxMessage, ServiceOrder, utcnow
from services import batches, leases, processing
from tests import batchfiles
from tests.factories import make_company, make_product, make_user
from tests.jobs.test_process_orders import make_order, validated
from tests.jobs.test_validate_batches import upload


@pytest.fixture
def setup(app, db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES)
    product = make_product(company, card_limit=batchfiles.CARD_LIMIT)
    user = make_user("jefe", perms={product: "all"})
    return product, user


_files = {"n": 0}


def waiting_batch(app, setup, n=3):
    """A batch uploaded and waiting for the validation job (each one a different file)."""
    product, user = setup
    _files["n"] += 1
    return upload(app, product, user, batchfiles.emi_rows(n, start=100 * _files["n"]))


def set_claim(model, row_id, *, at, by=None, token="t"):
    model.update(claimed_at=at, claimed_by=by, claim_token=token).where(model.id == row_id).execute()


def test_a_claim_records_its_holder_identity(app, setup):
    batch = waiting_batch(app, setup)
    claimed, _token = batches.claim_next()
    assert claimed.id == batch.id
    host, pid, start = Batch.get_by_id(batch.id).claimed_by.rsplit(":", 2)
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert int(start) == leases.process_start(os.getpid())
    assert leases.holder() == Batch.get_by_id(batch.id).claimed_by


@pytest.mark.parametrize("kind", ["batch", "order"])
def test_a_lease_is_taken_over_once_expired_not_before(app, setup, kind):
    product, _user = setup
    if kind == "batch":
        row, model, claim = waiting_batch(app, setup), Batch, batches.claim_next
    else:
        row = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1))))
        model, claim = ServiceOrder, processing.claim_next
    first = claim()
    assert first is not None and claim() is None
    set_claim(model, row.id, at=utcnow() - leases.LEASE + timedelta(seconds=3), by="otro-nodo:1:1", token=first[1])
    assert claim() is None  # 12 s without renewal: still its holder's
    set_claim(model, row.id, at=utcnow() - leases.LEASE - timedelta(seconds=1), by="otro-nodo:1:1", token=first[1])
    again = claim()
    assert again is not None and again[0].id == row.id and again[1] != first[1]
    assert model.get_by_id(row.id).claimed_by == leases.holder()
    assert leases.LEASE <= timedelta(seconds=15)  # takeover within 30 s, with the job's interval


def test_held_leases_are_renewed_only_while_held_and_ours(app, setup):
    batch = waiting_batch(app, setup)
    _claimed, token = batches.claim_next()
    old = utcnow() - timedelta(seconds=10)
    set_claim(Batch, batch.id, at=old, by=leases.holder(), token=token)
    with leases.held(Batch, batch.id, token):
        assert leases.renew_held() == 1
        assert Batch.get_by_id(batch.id).claimed_at > old
        set_claim(Batch, batch.id, at=old, by="otro-nodo:1:1", token="theirs")  # taken over meanwhile
        assert leases.renew_held() == 0
    set_claim(Batch, batch.id, at=old, by=leases.holder(), token=token)
    assert leases.renew_held() == 0  # no longer held: left to expire (a run that raised is retried)
    assert Batch.get_by_id(batch.id).claimed_at == old


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_restarted_process_releases_only_its_dead_predecessors_leases(app, setup):
    product, _user = setup
    host = socket.gethostname()
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = f"{host}:{sibling.pid}:{leases.process_start(sibling.pid)}"
        dead = f"{host}:{_dead_pid()}:{leases.process_start(os.getpid())}"
        reused = f"{host}:{sibling.pid}:{leases.process_start(sibling.pid) - 3600}"  # same pid, another process
        elsewhere = f"otro-nodo:{_dead_pid()}:1"
        rows = [waiting_batch(app, setup, n=2) for _ in range(4)]
        now = utcnow()
        for row, holder in zip(rows, [live, dead, reused, elsewhere], strict=True):
            set_claim(Batch, row.id, at=now, by=holder)
        order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1))))
        set_claim(ServiceOrder, order.id, at=now, by=dead)
        assert leases.is_dead(dead) and leases.is_dead(reused)
        assert not leases.is_dead(live) and not leases.is_dead(elsewhere) and not leases.is_dead(leases.holder())

        assert leases.release_dead_predecessors() == 3
        claimed_at = {row.id: Batch.get_by_id(row.id).claimed_at for row in rows}
        assert claimed_at[rows[0].id] == now and claimed_at[rows[3].id] == now  # live sibling, other host
        assert claimed_at[rows[1].id] == claimed_at[rows[2].id] == leases.RELEASED
        # Released leases are taken at once, not LEASE later.
        taken = {batches.claim_next()[0].id, batches.claim_next()[0].id}
        assert taken == {rows[1].id, rows[2].id} and batches.claim_next() is None
        assert processing.claim_next()[0].id == order.id
    finally:
        sibling.kill()
        sibling.wait()


def test_the_job_process_releases_at_start_up(app, setup):
    batch = waiting_batch(app, setup)
    set_claim(Batch, batch.id, at=utcnow(), by=f"{socket.gethostname()}:{_dead_pid()}:1")
    jobs.start_up(app)
    models.db.connect(reuse_if_open=True)
    assert Batch.get_by_id(batch.id).claimed_at == leases.RELEASED


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only")
def test_postgres_claims_skip_rows_locked_by_another_claimer(app, setup, database_url):
    first, second = waiting_batch(app, setup, n=2), waiting_batch(app, setup, n=2)
    other = psycopg2.connect(database_url)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM batch WHERE id = %s FOR UPDATE", (first.id,))  # a claim in flight
            statements = []
            database = models.db.obj
            execute_sql = database.execute_sql

            def spy(sql, *args, **kwargs):
                statements.append(sql)
                return execute_sql(sql, *args, **kwargs)

            database.execute_sql = spy
            try:
                done = []
                thread = threading.Thread(target=lambda: done.append(batches.claim_next()))
                models.db.close()
                thread.start()
                thread.join(5)
            finally:
                del database.execute_sql
            assert not thread.is_alive(), "the claim waited for the locked row"
            assert done[0][0].id == second.id
            assert any("FOR UPDATE SKIP LOCKED" in sql for sql in statements)
        other.rollback()
    finally:
        other.close()
    models.db.connect(reuse_if_open=True)


def test_an_order_that_keeps_failing_is_marked_for_attention_and_mailed_once(app, setup, monkeypatch):
    product, _user = setup
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(2))))
    monkeypatch.setitem(app.config, "OPS_EMAIL", "operaciones@emisor.co")
    monkeypatch.setitem(app.config, "ORDER_MAX_FAILURES", 3)

    def broken(*args):
        raise RuntimeError("el procesador no responde")

    monkeypatch.setitem(processing.HANDLERS, "EMI", broken)
    with app.app_context():
        for run in range(1, 4):
            with pytest.raises(RuntimeError):
                processing.process_paid_orders()
            found = ServiceOrder.get_by_id(order.id)
            assert found.failures == run and "el procesador no responde" in found.last_error
            assert (found.attention_at is None) == (run < 3)
            ServiceOrder.update(claimed_at=utcnow() - timedelta(minutes=5)).where(ServiceOrder.id == order.id).execute()
        assert processing.process_paid_orders() == 0  # no longer retried in silence
        assert processing.claim_next() is None
    found = ServiceOrder.get_by_id(order.id)
    assert found.status == ServiceOrder.IN_PROCESS and found.status_label == "En proceso"
    mails = list(OutboxMessage.select().where(OutboxMessage.recipient == "operaciones@emisor.co"))
    assert len(mails) == 1
    assert f"Orden de servicio {order.id}" in mails[0].subject and "el procesador no responde" in mails[0].body
    assert processing.retry(order.id)
    assert ServiceOrder.get_by_id(order.id).failures == 0 and processing.claim_next() is not None


def test_job_runs_write_their_heartbeat(app, db):
    def broken(app):
        raise ValueError("sin base")

    Fine = SimpleNamespace(__name__="jobs.fine", run=lambda app: 0)
    Broken = SimpleNamespace(__name__="jobs.broken", run=broken)

    jobs._in_app(app, Fine, 2)()
    jobs._in_app(app, Fine, 2)()
    jobs._in_app(app, Broken, 60)()
    models.db.connect(reuse_if_open=True)
    fine, broken = JobHeartbeat.get(name="fine"), JobHeartbeat.get(name="broken")
    assert (fine.runs, fine.failures, fine.interval_seconds, fine.holder) == (2, 0, 2, leases.holder())
    assert fine.last_ok_at == fine.last_run_at and fine.started_at is None and fine.last_error == ""
    assert (broken.runs, broken.failures, broken.last_ok_at) == (1, 1, None)
    assert broken.last_error == "ValueError: sin base" and broken.last_error_at is not None


def test_a_long_run_keeps_its_heartbeat_fresh(app, db):
    JobHeartbeat.create(name="process_orders", interval_seconds=2, beat_at=utcnow() - timedelta(minutes=5))
    with jobs._running_lock:
        jobs._running.add("process_orders")
    try:
        jobs._beat_running()
    finally:
        with jobs._running_lock:
            jobs._running.discard("process_orders")
    assert utcnow() - JobHeartbeat.get(name="process_orders").beat_at < timedelta(seconds=5)


def test_renewal_errors_do_not_stop_the_renewer(monkeypatch):
    calls = []

    def failing():
        calls.append(1)
        raise peewee.OperationalError("database is locked")

    monkeypatch.setattr(leases, "_tick", failing)
    monkeypatch.setattr(leases, "RENEW", 0.01)
    monkeypatch.setattr(leases.time, "sleep", lambda s: None if len(calls) < 3 else (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        leases._renew_forever()
    assert len(calls) == 3
