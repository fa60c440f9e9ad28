"""A GET never writes to the database, generated from `app.url_map` (like test_route_security.py):
every GET route, called by a user holding every permission over a populated world, runs no
INSERT, UPDATE or DELETE. The one thing a GET records, the views of cardholders' personal data
(batch records, rejected lines), goes to services.audit's in-process buffer, written in batches
by the process's audit thread, never in the request."""

import re

import orjson
import peewee
import pytest

import models
from models import AuditEvent, Batch, BatchError, BatchRecord, Card, Person
from services import audit
from tests.conftest import login
from tests.factories import make_user
from tests.web.test_route_security import ROUTES, _company_objects, _rule
from tests.web.test_route_security import url as object_url

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|UPSERT|MERGE|TRUNCATE)\b", re.IGNORECASE)
GETS = [r for r in ROUTES if r[1] == "GET"]

# The pages that show cardholders' personal data, whose views are audited (buffered).
PERSONAL_DATA_PAGES = {"orders.batch_records", "authorization.records", "batches.detail", "batches.errors_download"}


def url(app, endpoint, rule, values):
    """The path of the rule: its object ids from `values` (test_route_security's builder), a
    help chapter's slug for /ayuda/<slug>, the style sheet for /static/."""
    found = _rule(app, endpoint, rule)
    if "filename" in found.arguments:
        return found.build({"filename": "app.css"}, append_unknown=False)[1]
    if "slug" in found.arguments and endpoint.startswith("help."):
        from blueprints.help import CHAPTERS

        return found.build({"slug": CHAPTERS[0].slug}, append_unknown=False)[1]
    return object_url(app, endpoint, rule, values)


@pytest.fixture
def world(db):
    """Company A with a batch of records (some rejected lines), an order, a card; "ana" holds
    every permission."""
    mine = _company_objects("EMPRESA A", "900000001")
    batch = Batch.get_by_id(mine["batch_id"])
    rows = []
    for line in range(2, 14):
        number = f"10{line:06d}"
        Person.create(id_type="CC", id_number=number, first_name="LUIS", first_surname=f"ROJAS{line}")
        data = {"id_type": "CC", "id_number": number, "amount": 1_000}
        rows.append({"batch": batch, "line": line, "id_type": "CC", "id_number": number, "amount": 1_000,
                     "data": orjson.dumps(data).decode()})  # fmt: skip
    BatchRecord.insert_many(rows).execute()
    BatchError.create(batch=batch, line=20, messages='["Tipo de documento no válido"]', raw='["XX", "1"]')
    Card.create(product=mine["product_id"], masked_pan="4000 00** **** 0001", status=Card.ACTIVE)
    make_user("ana", perms={models.Product.get_by_id(mine["product_id"]): "all"})
    audit.views.rows.clear()  # views other tests left unwritten (under TESTING only flush() writes)
    return mine


def test_every_get_route_is_called(app):
    assert {endpoint for endpoint, _m, _r in GETS} >= PERSONAL_DATA_PAGES


@pytest.mark.parametrize(("endpoint", "method", "rule"), GETS, ids=[f"{e} {m}" for e, m, _ in GETS])
def test_a_get_writes_nothing(app, client, world, assert_query_count, endpoint, method, rule):
    login(client, "ana")
    target = url(app, endpoint, rule, world)
    client.get(target).close()  # a first visit (selects the product, as a user arriving there would)
    for headers in ({}, {"HX-Request": "true"}):
        with assert_query_count(10_000) as statements:
            response = client.get(target, headers=headers)
        response.close()  # a file (static) is streamed
        assert response.status_code != 500, (target, response.status_code)  # /salud may answer 503
        writes = [s for s in statements if WRITE.match(s)]
        assert not writes, f"GET {target} wrote: {writes}"


def test_views_of_personal_data_are_buffered_then_written_together(app, client, world, assert_query_count):
    login(client, "ana")
    targets = [url(app, e, r, world) for e, _m, r in GETS if e in PERSONAL_DATA_PAGES]
    assert len(targets) == len(PERSONAL_DATA_PAGES)
    before = AuditEvent.select().count()
    with assert_query_count(10_000) as statements:
        for target in targets:
            assert client.get(target).status_code == 200, target
    assert not [s for s in statements if WRITE.match(s)]
    assert AuditEvent.select().count() == before  # nothing written yet
    assert audit.views.pending() == len(targets)

    with assert_query_count(10_000) as statements:
        assert audit.flush_views() == len(targets)
    assert len([s for s in statements if WRITE.match(s)]) == 1  # one INSERT of every row
    seen = AuditEvent.select().where(AuditEvent.tag == str(audit.Event.PERSONAL_DATA_VIEWED))
    assert {e.username for e in seen} == {"ana"} and seen.count() == len(targets)
    assert {e.object_ref for e in seen} == {f"lote:{world['batch_id']}"}
    assert all(e.company_id == world["company_id"] for e in seen)
    assert audit.views.pending() == 0


def test_a_view_without_rejected_lines_is_not_personal_data(app, client, world):
    """Detalle del lote shows figures only when no line was rejected: nothing to audit."""
    login(client, "ana")
    BatchError.delete().execute()
    assert client.get(f"/productos/{world['product_id']}/lotes/{world['batch_id']}").status_code == 200
    assert audit.views.pending() == 0


def _row(username="ana"):
    return {"tag": str(audit.Event.PERSONAL_DATA_VIEWED), "user": None, "username": username, "company": None,
            "object_ref": "lote:1", "ip": "", "detail": "", "created_at": models.utcnow()}  # fmt: skip


def _wait_for(condition, seconds=10):
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the audit thread did not write in time"
        time.sleep(0.05)


@pytest.mark.parametrize("trigger", ["time", "size"])
def test_the_audit_thread_writes_the_buffer(db, monkeypatch, trigger):
    """Outside TESTING (a server process) the buffer has its thread: it writes every
    FLUSH_SECONDS, or as soon as FLUSH_SIZE views wait."""
    if trigger == "time":
        monkeypatch.setattr(audit, "FLUSH_SECONDS", 0.1)
    else:
        monkeypatch.setattr(audit, "FLUSH_SECONDS", 3600)
        monkeypatch.setattr(audit, "FLUSH_SIZE", 3)
    buffer = audit.ViewBuffer()  # no app context here: like a gunicorn worker, it starts its thread
    try:
        for _ in range(3):
            buffer.add(_row())
        assert buffer.background
        _wait_for(lambda: AuditEvent.select().count() == 3)
        assert buffer.pending() == 0
    finally:
        buffer.pid = None  # the thread ends after its next wake-up
        buffer.wake.set()


def test_a_failed_write_keeps_the_views_for_the_next_try(db, monkeypatch):
    buffer = audit.ViewBuffer()
    buffer.background = False
    buffer.rows = [_row(), _row()]

    def refuse(*_args, **_kwargs):
        raise peewee.OperationalError("database is locked")

    with monkeypatch.context() as patch:
        patch.setattr(AuditEvent, "insert_many", refuse)
        assert buffer.flush() == 0
    assert buffer.pending() == 2
    assert buffer.flush() == 2 and AuditEvent.select().count() == 2
