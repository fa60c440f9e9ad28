"""jobs/run_exports.py: a queued export is built as a lease, with its progress, stored LISTO; a
failing one is retried and then marked ERROR; a dead process's export is taken over."""

import io
import socket
import subprocess
import sys
from datetime import timedelta

import openpyxl
import pytest

import jobs
from jobs import cleanup, run_exports
from models import ExportJob, utcnow
from services import exports, leases
from tests.factories import make_company, make_product, make_user


@pytest.fixture
def world(db):
    product = make_product(make_company("EXPORTA SA", nit="900123456"))
    return {"product": product, "user": make_user("exportador", perms={product: "order.view"})}


class Rows:
    """A test list of `count` rows whose iterator can look at its job's progress or fail."""

    def __init__(self, count, fail_times=0, during=None):
        self.count, self.fail_times, self.during, self.calls = count, fail_times, during, 0

    def __call__(self, product, params):
        self.calls += 1
        return self.count, self._rows()

    def _rows(self):
        for n in range(1, self.count + 1):
            if self.during:
                self.during(n)
            if n == 3 and self.calls <= self.fail_times:
                raise RuntimeError("el disco se llenó")
            yield (f"Persona {n}", n * 100)


@pytest.fixture
def listed(monkeypatch):
    def install(rows):
        export = exports.Export(
            "prueba", "Prueba", (exports.Column("Nombre", 20), exports.Column("Saldo", 12, exports.MONEY)),
            rows, "order.view",
        )  # fmt: skip
        monkeypatch.setitem(exports.EXPORTS, "prueba", export)
        return rows

    return install


def queue(world, total=0):
    return ExportJob.create(
        user=world["user"], company=world["product"].company_id, product=world["product"], kind="prueba",
        total=total, filename="prueba.xlsx",
    )  # fmt: skip


def test_the_job_builds_the_file_with_its_progress(app, world, listed, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    seen = []
    job = queue(world, total=7)
    listed(Rows(7, during=lambda n: seen.append((n, ExportJob.get_by_id(job.id).done))))
    assert run_exports.run(app) == 1
    job = ExportJob.get_by_id(job.id)
    assert job.status == ExportJob.READY and job.done == job.total == 7 and job.claim_token is None
    # before row n the job had written the rows done in steps of PROGRESS_EVERY, while EN_PROCESO
    assert seen == [(1, 0), (2, 0), (3, 2), (4, 2), (5, 4), (6, 4), (7, 6)]
    sheet = openpyxl.load_workbook(io.BytesIO(bytes(job.content))).active
    rows = list(sheet.iter_rows(min_row=8, values_only=True))
    assert rows[0] == ("Persona 1", 1) and rows[-1] == ("Persona 7", 7) and len(rows) == 7
    assert run_exports.run(app) == 0  # nothing left


def test_a_failed_run_is_retried_then_marked_error(app, world, listed):
    flaky = listed(Rows(5, fail_times=1))
    job = queue(world)
    assert run_exports.run(app) == 1  # the first attempt raised, the same run's next claim built it
    job = ExportJob.get_by_id(job.id)
    assert job.status == ExportJob.READY and job.attempts == 2 and flaky.calls == 2

    broken = listed(Rows(5, fail_times=99))
    job = queue(world)
    assert run_exports.run(app) == 0
    job = ExportJob.get_by_id(job.id)
    assert job.status == ExportJob.FAILED and job.attempts == exports.MAX_ATTEMPTS
    assert job.error == exports.GAVE_UP and broken.calls == exports.MAX_ATTEMPTS
    assert job.content is None


def _dead_identity() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:1"


@pytest.mark.parametrize(
    ("holder", "age", "taken"),
    [
        ("dead", timedelta(0), True),  # killed on this host: taken over at once
        ("otro-nodo:4242:1", leases.LEASE + timedelta(seconds=1), True),  # lease expired
        ("otro-nodo:4242:1", timedelta(0), False),  # a live lease elsewhere: left alone
    ],
    ids=["dead-process", "expired-lease", "live-lease"],
)
def test_a_killed_jobs_export_is_taken_over(app, world, listed, holder, age, taken):
    listed(Rows(4))
    job = queue(world)
    identity = _dead_identity() if holder == "dead" else holder
    ExportJob.update(
        status=ExportJob.RUNNING, claim_token="viejo", claimed_by=identity, claimed_at=utcnow() - age, attempts=1,
        done=2,
    ).where(ExportJob.id == job.id).execute()  # fmt: skip
    assert run_exports.run(app) == (1 if taken else 0)
    job = ExportJob.get_by_id(job.id)
    if taken:
        assert job.status == ExportJob.READY and job.attempts == 2 and job.done == 4
    else:
        assert job.status == ExportJob.RUNNING and job.claim_token == "viejo" and job.done == 2


def test_a_taken_over_export_is_not_finished_by_its_old_holder(app, world, listed, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 1)
    job = queue(world)

    def steal(n):
        if n == 3:  # another process took the lease meanwhile
            ExportJob.update(claim_token="otro").where(ExportJob.id == job.id).execute()

    listed(Rows(5, during=steal))
    assert run_exports.run(app) == 0
    job = ExportJob.get_by_id(job.id)
    assert job.status == ExportJob.RUNNING and job.claim_token == "otro" and job.content is None


def test_an_export_of_a_list_no_longer_registered_fails_with_a_message(app, world):
    job = queue(world)
    ExportJob.update(kind="desconocida").where(ExportJob.id == job.id).execute()
    run_exports.run(app)
    job = ExportJob.get_by_id(job.id)
    assert job.status == ExportJob.FAILED and job.error == exports.UNKNOWN


def test_the_job_runs_every_2_seconds_and_cleanup_forgets_old_exports(app, world):
    assert (run_exports, 2) in jobs.JOBS
    old = queue(world)
    ExportJob.update(created_at=utcnow() - exports.KEEP - timedelta(seconds=1)).where(ExportJob.id == old.id).execute()
    fresh = queue(world)
    assert cleanup.run(app) == 1
    assert [j.id for j in ExportJob.select()] == [fresh.id]
