"""What the frozen migrations share: a model base for frozen copies and two schema steps.

A frozen copy is a peewee model declared inside a migration module with the columns its table
had at that version. It has no database of its own: the steps below bind it to the database
being upgraded only while they run. Keep these helpers backward compatible: applied
migrations call them.
"""

from datetime import UTC, datetime

from peewee import Model
from playhouse.migrate import SchemaMigrator, migrate


def utcnow() -> datetime:
    """The value existing rows get for a new NOT NULL timestamp column (naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


class FrozenModel(Model):
    class Meta:
        legacy_table_names = False  # table names as models.py derives them: ServiceOrder -> service_order


def create_tables(database, models) -> None:
    """Create the tables (and their indexes) of frozen `models`; tables that exist are left alone."""
    with database.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        database.create_tables(models, safe=True)


def add_columns(database, model) -> None:
    """Add to `model`'s table each column of `model` it lacks, with its index and foreign key.

    `model` is a frozen copy that declares only the columns a migration adds (its implicit id
    is skipped). Rows already there get the field's default, then NOT NULL is set (on SQLite
    peewee rebuilds the table for that: the runner turns foreign keys off meanwhile, so the
    rebuild's DROP TABLE cascades nothing)."""
    table = model._meta.table_name
    present = {column.name for column in database.get_columns(table)}
    migrator = SchemaMigrator.from_database(database)
    operations = [
        migrator.add_column(table, field.column_name, field)
        for field in model._meta.sorted_fields
        if not field.primary_key and field.column_name not in present
    ]
    migrate(*operations)
