"""Backups of the embedded database (issue 15): `flask db backup PATH` and `flask db restore PATH`.

A backup is SQLite's online backup API (sqlite3.Connection.backup): the pages are copied in one
read transaction, so the copy is the database as it was at one instant (every transaction
committed before it, none half), while the portal and its jobs go on writing (WAL mode lets the
writers continue meanwhile). It is written next to PATH and renamed over it at the end, so a
failed backup never leaves half a file under the name.

A restore writes the copy over the live database, through the same API (the live file's WAL is
honoured: no stale -wal file can come back). It refuses while a job process or a request is
using the database, as told by the jobs' heartbeats and the leases on claimed rows, unless
forced; stop the web servers too, since they hold no lease.

PostgreSQL is backed up with its own tools (README: pg_dump / pg_restore).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bulk import is_sqlite
from models import Batch, ExportJob, JobHeartbeat, OutboxMessage, ServiceOrder, db, utcnow
from services import Refused
from services.leases import LEASE

ALIVE = timedelta(minutes=2)  # a job process beats every few seconds; silent this long, it is gone
NOT_SQLITE = "La base de datos es PostgreSQL: usa pg_dump y pg_restore (ver README)."
IN_USE = "La base de datos está en uso ({who}). Detén los servidores y el proceso de trabajos, o usa --force."
NOT_A_BACKUP = "{path} no es una copia de la base de datos del portal."


@dataclass(frozen=True)
class Copied:
    path: Path
    bytes: int
    tables: int


def live_path() -> Path:
    """The SQLite file the portal uses (Refused on PostgreSQL)."""
    if not is_sqlite():
        raise Refused(NOT_SQLITE)
    return Path(db.obj.database)


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def backup(destination: Path) -> Copied:
    """A consistent copy of the live database at `destination` (replaced if it exists)."""
    source_path = live_path()
    destination = Path(destination)
    if destination.resolve() == source_path.resolve():
        raise Refused("La copia no puede ir sobre la misma base de datos.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".parcial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)  # all pages in one step: one read transaction, one instant
        target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        tables = len(_tables(target))
    finally:
        target.close()
        source.close()
    os.replace(partial, destination)
    return Copied(destination, destination.stat().st_size, tables)


def users_of_the_database() -> list[str]:
    """Who is using the database now: job processes that beat recently, rows claimed under a
    live lease (a validation, an order being processed, an e-mail, an export)."""
    now = utcnow()
    found = [
        f"trabajo {name} (latido {beat:%H:%M:%S} UTC)"
        for name, beat in JobHeartbeat.select(JobHeartbeat.name, JobHeartbeat.beat_at)
        .where(JobHeartbeat.beat_at > now - ALIVE)
        .tuples()
    ]
    for model, label in (
        (Batch, "lote"),
        (ServiceOrder, "orden"),
        (OutboxMessage, "correo"),
        (ExportJob, "exportación"),
    ):
        claimed = (
            model.select(model.id)
            .where(model.claimed_at.is_null(False) & (model.claimed_at > now - LEASE) & model.claimed_by.is_null(False))
            .tuples()
        )
        found += [f"{label} {row_id} en proceso" for (row_id,) in claimed]
    return found


def restore(source: Path, *, force: bool = False) -> Copied:
    """Write the backup `source` over the live database; refused while it is in use (unless
    `force`) and when `source` is not a portal database."""
    target_path = live_path()
    source = Path(source)
    if not source.is_file():
        raise Refused(f"No existe el archivo {source}.")
    try:
        check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            valid = "schema_version" in _tables(check)
        finally:
            check.close()
    except sqlite3.DatabaseError:
        valid = False
    if not valid:
        raise Refused(NOT_A_BACKUP.format(path=source))
    users = users_of_the_database()
    if users and not force:
        raise Refused(IN_USE.format(who="; ".join(users[:5])))
    if hasattr(db.obj, "close_all"):  # this process's pooled connections: none open on the old file
        db.close_all()
    else:
        db.close()
    backup_connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    live = sqlite3.connect(target_path)
    try:
        backup_connection.backup(live)
        tables = len(_tables(live))
    finally:
        live.close()
        backup_connection.close()
    return Copied(target_path, target_path.stat().st_size, tables)
