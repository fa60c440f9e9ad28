"""The validation job: claiming, chunked storage, resume after a crash, lost claims."""

import threading
from datetime import timedelta

import pytest

import models
from models import Batch, BatchError, BatchRecord, utcnow
from services import Refused, batches
from tests import batchfiles
from tests.conftest import in_threads
from tests.factories import make_company, make_product, make_user


@pytest.fixture
def setup(app, db):
    company = make_company("JAHC TEST", nit="900291499", branches=("1", "73"))
    product = make_product(company)
    user = make_user("jefe", perms={product: "all"})
    return product, user


def upload(app, product, user, rows, name="lote.xlsx"):
    with app.test_request_context():
        return batches.upload(user, product, "EMI", name, batchfiles.xlsx_bytes("EMI", rows))


def bad_rows(n, every=4):
    rows = batchfiles.emi_rows(n)
    for index in range(0, n, every):
        rows[index]["TIPO ID"] = "XX"
    return rows


def test_claim_is_exclusive(app, setup):
    product, user = setup
    upload(app, product, user, batchfiles.emi_rows(3))
    first = batches.claim_next()
    assert first is not None
    assert batches.claim_next() is None  # claimed and fresh: nobody else takes it


def test_concurrent_claims_take_a_batch_once(app, setup, database_url):
    product, user = setup
    upload(app, product, user, batchfiles.emi_rows(3))
    results = []

    def claim():
        results.append(batches.claim_next())

    in_threads(claim, 6, 30)
    assert sum(r is not None for r in results) == 1


def test_a_stale_claim_is_taken_again(app, setup):
    product, user = setup
    batch = upload(app, product, user, batchfiles.emi_rows(3))
    assert batches.claim_next() is not None
    Batch.update(claimed_at=utcnow() - timedelta(minutes=5)).where(Batch.id == batch.id).execute()
    again = batches.claim_next()
    assert again is not None and again[0].id == batch.id


def test_chunks_store_every_record_once(app, setup, monkeypatch):
    product, user = setup
    monkeypatch.setattr(batches, "CHUNK", 7)
    batch = upload(app, product, user, bad_rows(50))
    with app.app_context():
        assert batches.validate_waiting() == 1
    batch = Batch.get_by_id(batch.id)
    assert (batch.status, batch.processed_records, batch.valid_records, batch.error_records) == (
        "VALIDO_PARCIAL",
        50,
        37,
        13,
    )
    assert BatchRecord.select().where(BatchRecord.batch == batch).count() == 37
    assert BatchError.select().where(BatchError.batch == batch).count() == 13
    lines = sorted([r.line for r in BatchRecord.select()] + [e.line for e in BatchError.select()])
    assert lines == list(range(3, 53))  # title in row 1, header in row 2: data rows 3..52


def test_a_crash_mid_batch_resumes_without_duplicates(app, setup, monkeypatch):
    product, user = setup
    monkeypatch.setattr(batches, "CHUNK", 10)
    batch = upload(app, product, user, bad_rows(45))
    real_store = batches._store_chunk
    calls = {"n": 0}

    def crash_after_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("process killed")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(batches, "_store_chunk", crash_after_two)
    with app.app_context(), pytest.raises(RuntimeError):
        batches.validate_waiting()
    half = Batch.get_by_id(batch.id)
    assert half.status == "VALIDANDO" and half.processed_records == 20
    monkeypatch.setattr(batches, "_store_chunk", real_store)
    with app.app_context():
        assert batches.validate_waiting() == 0  # the claim is still fresh: not taken yet
    Batch.update(claimed_at=utcnow() - timedelta(minutes=5)).where(Batch.id == batch.id).execute()
    with app.app_context():
        assert batches.validate_waiting() == 1
    done = Batch.get_by_id(batch.id)
    assert (done.status, done.processed_records, done.valid_records, done.error_records) == (
        "VALIDO_PARCIAL",
        45,
        33,
        12,
    )
    assert BatchRecord.select().count() == 33 and BatchError.select().count() == 12


def test_a_batch_deleted_while_validating_stops_the_job(app, setup, monkeypatch):
    product, user = setup
    monkeypatch.setattr(batches, "CHUNK", 5)
    batch = upload(app, product, user, batchfiles.emi_rows(20))
    real_store = batches._store_chunk

    def delete_after_first(b, token, *args):
        ok = real_store(b, token, *args)
        Batch.update(status=Batch.DELETED).where(Batch.id == b.id).execute()
        return ok

    monkeypatch.setattr(batches, "_store_chunk", delete_after_first)
    with app.app_context():
        assert batches.validate_waiting() == 0
    assert BatchRecord.select().count() == 5
    assert Batch.get_by_id(batch.id).status == "ELIMINADO"


def test_excel_date_cells_are_read_as_dates_by_the_job(app, setup):
    import datetime as dt
    import json

    product, user = setup
    rows = batchfiles.emi_rows(3)
    rows[0]["FECHA DE NACIMIENTO"] = dt.datetime(1990, 3, 15)
    batch = upload(app, product, user, rows)
    with app.app_context():
        batches.validate_waiting()
    first = BatchRecord.select().order_by(BatchRecord.line).first()
    assert json.loads(first.data)["birth_date"] == "1990-03-15"  # a date cell
    assert Batch.get_by_id(batch.id).status == "VALIDO"


def test_a_date_outside_a_date_column_is_an_error_of_its_line(app, setup):
    import datetime as dt

    product, user = setup
    rows = batchfiles.emi_rows(2)
    rows[1]["NRO ID"] = dt.datetime(2020, 1, 1)
    batch = upload(app, product, user, rows)
    with app.app_context():
        batches.validate_waiting()
    batch = Batch.get_by_id(batch.id)
    assert (batch.valid_records, batch.error_records) == (1, 1)


def test_text_files_are_parsed_by_the_job(app, setup):
    product, user = setup
    with app.test_request_context():
        batch = batches.upload(user, product, "EMI", "lote.csv", batchfiles.csv_bytes("EMI", bad_rows(8)))
    assert Batch.get_by_id(batch.id).total_records == 0  # not counted at upload
    with app.app_context():
        batches.validate_waiting()
    batch = Batch.get_by_id(batch.id)
    assert (batch.total_records, batch.error_records) == (8, 2)


def test_a_batch_that_keeps_failing_ends_no_valido(app, setup, monkeypatch):
    product, user = setup
    batch = upload(app, product, user, batchfiles.emi_rows(3))

    def broken(*args):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(batches, "run_validation", broken)
    for _ in range(batches.MAX_ATTEMPTS):
        with app.app_context(), pytest.raises(RuntimeError):
            batches.validate_waiting()
        Batch.update(claimed_at=utcnow() - timedelta(minutes=5)).where(Batch.id == batch.id).execute()
    with app.app_context():
        assert batches.validate_waiting() == 1
    batch = Batch.get_by_id(batch.id)
    assert batch.status == "NO_VALIDO" and "No fue posible validar el archivo" in batch.file_errors


def test_the_same_file_uploaded_at_once_makes_one_batch(app, setup, database_url):
    product, user = setup
    content = batchfiles.xlsx_bytes("EMI", batchfiles.emi_rows(5))
    outcomes = []

    def send():
        models.db.connect(reuse_if_open=True)
        try:
            with app.test_request_context():
                batches.upload(user, product, "EMI", "lote.xlsx", content)
            outcomes.append("ok")
        except Refused as exc:
            outcomes.append(exc.message)
        finally:
            models.db.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["El lote ya está registrado"] * 3 + ["ok"]
    assert Batch.select().count() == 1


def test_stored_records_keep_commas_quotes_and_empty_text(app, setup):
    """The bulk insert (COPY on PostgreSQL) must not mangle text: quotes, commas, accents."""
    import json

    product, user = setup
    rows = batchfiles.emi_rows(2)
    rows[0]["DIRECCION DE RESIDENCIA"] = 'Calle 5, "Interior" 2 \\ Ñuñoa'
    rows[0]["SEGUNDO NOMBRE"] = ""
    upload(app, product, user, rows)
    with app.app_context():
        batches.validate_waiting()
    record = BatchRecord.select().order_by(BatchRecord.line).first()
    data = json.loads(record.data)
    assert data["address"] == 'Calle 5, "Interior" 2 \\ Ñuñoa' and data["second_name"] == ""
    assert (record.status, record.reason) == ("VALIDO", "")
