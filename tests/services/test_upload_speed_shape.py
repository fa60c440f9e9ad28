"""The upload answers at once (issue 9): the request checks the file and reads its header from the
first rows only; every row is read, counted and validated by the job, which ends a file it cannot
read No válido with the message the upload would have given; an upload wakes the in-process job."""

import io
import time
import zipfile

import pytest

import jobs
from domain.batch_files import MSG_DAMAGED, first_rows
from jobs import validate_batches, wakeup
from models import Batch, BatchError, BatchFile, BatchRecord
from services import Refused, batches
from tests import batchfiles as b
from tests.factories import make_company, make_product, make_user


@pytest.fixture
def setup(app, db):
    company = make_company("JAHC TEST", nit=b.COMPANY_NIT, branches=b.BRANCHES)
    product = make_product(company)
    user = make_user("jefe", perms={product: "all"})
    return product, user


def upload(app, product, user, filename, content):
    with app.test_request_context():
        return batches.upload(user, product, "EMI", filename, content)


def damaged_after(rows: int, at: int) -> bytes:
    """An .xlsx whose sheet XML breaks at row `at` (a mismatched end tag): its first rows read well."""
    source = zipfile.ZipFile(io.BytesIO(b.xlsx_bytes("EMI", b.emi_rows(rows))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                mark = f'<row r="{at}"'.encode()
                data = data.replace(mark, b'<row r="%d"><c r="A%d"><v>1</v></x></c></row>' % (at, at) + mark, 1)
            archive.writestr(info, data)
    return out.getvalue()


def test_the_upload_does_not_read_every_row(app, setup, monkeypatch):
    product, user = setup

    def whole_file(*_args, **_kwargs):
        raise AssertionError("the upload read the whole file")

    monkeypatch.setattr(first_rows, "read_batch", whole_file)
    seen_lines = []
    real_delimited = first_rows.read_delimited

    def delimited(text, *args):
        seen_lines.append(text.count("\n"))
        return real_delimited(text, *args)

    monkeypatch.setattr(first_rows, "read_delimited", delimited)
    rows = b.emi_rows(500)
    xlsx = upload(app, product, user, "lote.xlsx", b.xlsx_bytes("EMI", rows))
    csv = upload(app, product, user, "lote.csv", b.csv_bytes("EMI", rows))
    assert seen_lines and max(seen_lines) <= 20  # the CSV's first lines only, not its 501
    for batch in (xlsx, csv):
        stored = Batch.get_by_id(batch.id)
        assert (stored.status, stored.total_records) == (Batch.VALIDATING, 0)
        assert "NRO ID" in batches.header_of(stored)


def test_the_job_counts_and_validates_what_the_upload_did_not_read(app, setup):
    product, user = setup
    batch = upload(app, product, user, "lote.xlsx", b.xlsx_bytes("EMI", b.emi_rows(25)))
    with app.app_context():
        assert batches.validate_waiting() == 1
    batch = Batch.get_by_id(batch.id)
    assert (batch.status, batch.total_records, batch.processed_records, batch.valid_records) == ("VALIDO", 25, 25, 25)


def test_a_file_unreadable_past_its_first_rows_ends_no_valido_with_nothing_stored(app, setup):
    product, user = setup
    content = damaged_after(rows=40, at=35)
    batch = upload(app, product, user, "lote.xlsx", content)  # the first rows read well
    assert bytes(BatchFile.get(BatchFile.batch == batch).content) == content
    with app.app_context():
        assert batches.validate_waiting() == 1
    batch = Batch.get_by_id(batch.id)
    assert (batch.status, batch.file_errors, batch.total_records) == (Batch.INVALID, MSG_DAMAGED, 0)
    assert BatchRecord.select().count() == 0 and BatchError.select().count() == 0


def test_a_file_broken_in_its_first_rows_is_still_refused_at_upload(app, setup):
    product, user = setup
    with pytest.raises(Refused) as refused:
        upload(app, product, user, "lote.xlsx", damaged_after(rows=40, at=3))
    assert refused.value.message == MSG_DAMAGED
    assert Batch.select().count() == 0


def test_a_header_without_records_is_still_refused_at_upload(app, setup):
    product, user = setup
    for name, content in (("lote.xlsx", b.xlsx_bytes("EMI", [])), ("lote.csv", b.csv_bytes("EMI", []))):
        with pytest.raises(Refused) as refused:
            upload(app, product, user, name, content)
        assert refused.value.message.startswith("El archivo")
    assert Batch.select().count() == 0


def test_an_upload_wakes_the_in_process_validation_job(app, setup, monkeypatch):
    """The scheduler of `make run` with the validation job every hour: the upload itself starts it."""
    product, user = setup
    monkeypatch.setattr(jobs, "JOBS", [(validate_batches, 3600)])
    monkeypatch.setattr(validate_batches, "WATCH", 0)  # no polling: only the wake-up can start it
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = jobs.configure(BackgroundScheduler(timezone="America/Bogota"), app)
    wakeup.install(scheduler, app)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while scheduler.get_job("validate_batches").next_run_time.timestamp() < time.time() + 60:
            assert time.monotonic() < deadline, "the first run did not happen"
            time.sleep(0.05)  # the run at start-up is done: the next one is an hour away
        batch = upload(app, product, user, "lote.csv", b.csv_bytes("EMI", b.emi_rows(20)))
        deadline = time.monotonic() + 10
        while Batch.get_by_id(batch.id).status == Batch.VALIDATING:
            assert time.monotonic() < deadline, "the upload did not wake the validation job"
            time.sleep(0.05)
        assert Batch.get_by_id(batch.id).status == Batch.VALID
    finally:
        scheduler.shutdown(wait=True)
        app.extensions.pop(batches.WAKE_VALIDATION, None)


def test_without_a_scheduler_in_process_the_job_polls_for_uploads(app, setup, monkeypatch):
    """`python -m jobs`: a run keeps looking for new uploads between its ticks."""
    import threading

    product, user = setup
    monkeypatch.setattr(validate_batches, "POLL", 0.05)
    monkeypatch.setattr(validate_batches, "WATCH", 3)
    done = []

    def run():
        import models

        with app.app_context():
            models.db.connect(reuse_if_open=True)
            try:
                done.append(validate_batches.run(app))
            finally:
                models.db.close()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)  # the run found nothing and is watching
    batch = upload(app, product, user, "lote.csv", b.csv_bytes("EMI", b.emi_rows(5)))
    thread.join(10)
    assert done == [1]
    assert Batch.get_by_id(batch.id).status == Batch.VALID
