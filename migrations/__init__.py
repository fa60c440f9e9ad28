"""Schema migrations: one frozen module per version, applied in order by `upgrade()`.

`mNNNN_<name>.py` (NNNN = its version, 1, 2, 3... without gaps) defines `up(database)`, which
adds the tables, columns and indexes of that version as they were then: frozen model copies
declared in the module (see _base.py) or SQL, never the classes of models.py, which keep
changing. `up` may run again on a database that already has its changes (the tests of
`flask db upgrade` forget applied versions), so it skips what exists. Never edit an applied
migration: add the next one.
"""

import importlib
import pkgutil
import re
from contextlib import contextmanager

from peewee import DateTimeField, IntegerField, SqliteDatabase

from migrations._base import FrozenModel, utcnow


class SchemaVersion(FrozenModel):
    """One row per applied migration (models.SchemaVersion is the same table)."""

    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)


def _discover() -> list:
    found = sorted(
        (int(match.group(1)), info.name)
        for info in pkgutil.iter_modules(__path__)
        if (match := re.fullmatch(r"m(\d{4})_\w+", info.name))
    )
    versions = [version for version, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3... without gaps or repeats: {versions}")
    return [importlib.import_module(f"{__name__}.{name}") for _, name in found]


# The migration modules in order: MIGRATIONS[0] is version 1.
MIGRATIONS = _discover()


def upgrade(database, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to `target` (all by default) to `database` (a peewee
    Database, not a proxy), each in its own transaction with its version row; returns the
    versions applied."""
    target = len(MIGRATIONS) if target is None else target
    with database.bind_ctx([SchemaVersion]):
        database.create_tables([SchemaVersion])
        done = {version for (version,) in SchemaVersion.select(SchemaVersion.version).tuples()}
        applied = []
        for version, module in enumerate(MIGRATIONS[:target], start=1):
            if version in done:
                continue
            with _foreign_keys_off(database), database.atomic():
                module.up(database)
                _check_foreign_keys(database)
                SchemaVersion.create(version=version)
            applied.append(version)
    return applied


@contextmanager
def _foreign_keys_off(database):
    """On SQLite, foreign keys off while a migration runs, as SQLite's own recipe for schema
    changes says: peewee changes a column by rebuilding its table, and with foreign keys on,
    dropping the old table would cascade to (delete) the rows of every table referencing it.
    The pragma is a no-op inside a transaction, so an upgrade can't start inside one."""
    if not isinstance(database, SqliteDatabase) or not database.pragma("foreign_keys"):
        yield
        return
    if database.in_transaction():
        raise RuntimeError("a SQLite upgrade must not run inside a transaction (foreign keys can't be turned off)")
    database.pragma("foreign_keys", 0)
    try:
        yield
    finally:
        database.pragma("foreign_keys", 1)


def _check_foreign_keys(database):
    """The check SQLite skipped while foreign keys were off: any violation rolls the migration back."""
    if isinstance(database, SqliteDatabase):
        violations = database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if violations:
            raise RuntimeError(f"the migration leaves rows with broken foreign keys: {violations[:5]}")
