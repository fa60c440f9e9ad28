"""`flask db backup` / `flask db restore` (services/backup.py): a consistent copy of the SQLite
database taken while a batch validation writes its records, restored into a fresh directory with
every record committed before the copy; a restore refused while the database is in use."""

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from bulk import is_sqlite
from models import Batch, BatchRecord, JobHeartbeat, utcnow
from services import Refused, backup, batches
from tests import batchfiles
from tests.factories import make_company, make_product, make_user

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    (os.environ.get("DATABASE_URL") or "sqlite").startswith("postgres"),
    reason="SQLite only: PostgreSQL is backed up with pg_dump / pg_restore",
)


def flask(database: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "FLASK_APP": "app"}
    return subprocess.run(
        [sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_backup_during_a_validation_restores_every_committed_record(app, db, runner, tmp_path, monkeypatch):
    assert is_sqlite()
    monkeypatch.setattr(batches, "CHUNK", 500)  # many small commits: the copy falls between two of them
    product = make_product(make_company(branches=batchfiles.BRANCHES, nit=batchfiles.COMPANY_NIT))
    user = make_user("carga", perms={product: "all"})
    with app.test_request_context():
        batch = batches.upload(
            user, product, "EMI", "grande.csv", batchfiles.csv_bytes("EMI", batchfiles.emi_rows(20_000))
        )
    validating = threading.Thread(target=lambda: _validate(app))
    validating.start()
    try:
        deadline = utcnow() + timedelta(seconds=60)
        while BatchRecord.select().where(BatchRecord.batch == batch.id).count() == 0 and utcnow() < deadline:
            threading.Event().wait(0.02)
        committed = {r for (r,) in BatchRecord.select(BatchRecord.line).where(BatchRecord.batch == batch.id).tuples()}
        assert committed, "the validation wrote nothing in a minute"
        copy = tmp_path / "copias" / "portal.db"
        result = runner.invoke(args=["db", "backup", str(copy)])
        assert result.exit_code == 0, result.output
        assert "Copia guardada en" in result.output
    finally:
        validating.join(timeout=120)
    assert Batch.get_by_id(batch.id).status == Batch.VALID  # the validation went on and finished

    with sqlite3.connect(copy) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        lines = {r for (r,) in check.execute("SELECT line FROM batch_record WHERE batch_id = ?", (batch.id,))}
    assert committed <= lines  # every record committed before the copy is in it
    assert not (copy.parent / "portal.db.parcial").exists()

    fresh = tmp_path / "nuevo" / "conexion.db"
    fresh.parent.mkdir()
    assert flask(fresh, "db", "upgrade").returncode == 0
    restored = flask(fresh, "db", "restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert "Base de datos restaurada" in restored.stdout
    with sqlite3.connect(fresh) as check:
        found = {r for (r,) in check.execute("SELECT line FROM batch_record WHERE batch_id = ?", (batch.id,))}
        users = {u for (u,) in check.execute("SELECT username FROM user")}
    assert found == lines and "carga" in users


def _validate(app):
    with app.app_context():
        batches.validate_waiting()
    from models import db

    db.close()


def test_a_restore_is_refused_while_the_database_is_in_use(app, db, runner, tmp_path):
    copy = tmp_path / "copia.db"
    assert runner.invoke(args=["db", "backup", str(copy)]).exit_code == 0
    JobHeartbeat.create(name="validate_batches", interval_seconds=1, beat_at=utcnow())
    with pytest.raises(Refused, match="está en uso .*trabajo validate_batches"):
        backup.restore(copy)
    result = runner.invoke(args=["db", "restore", str(copy)])
    assert result.exit_code == 1 and "Detén los servidores" in result.output and "--force" in result.output


def test_a_file_that_is_not_a_backup_is_refused(app, db, tmp_path):
    junk = tmp_path / "notas.db"
    junk.write_bytes(b"esto no es una base de datos" * 100)
    with pytest.raises(Refused, match="no es una copia de la base de datos del portal"):
        backup.restore(junk, force=True)
    with pytest.raises(Refused, match="misma base de datos"):
        backup.backup(backup.live_path())
