"""Frozen migrations (migrations/): databases of every past version and an empty one upgrade to
the same schema, which is exactly what models.py declares, and keep their rows.

Each case runs on scratch databases of the dialect under test: temporary SQLite files, or, when
DATABASE_URL names PostgreSQL, a database created on that server per case and dropped after.
The past versions are SQL dumps of databases built by the old code
(tests/fixtures/migrations/build_fixtures.py): v1 = commit 0bb7f41, v2 = commit 69a3b63.
"""

import ast
import os
import re
import sqlite3
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from peewee import SqliteDatabase
from playhouse.db_url import connect

import migrations
import models

FIXTURES = Path(__file__).parent / "fixtures" / "migrations"
URL = os.environ.get("DATABASE_URL", "")
POSTGRES = URL.startswith(("postgres://", "postgresql://"))
DIALECT = "postgresql" if POSTGRES else "sqlite"
HEAD = len(migrations.MIGRATIONS)
# Indexes only the migrations declare (models.py can't say "partial"): checked on their own.
MIGRATION_ONLY_INDEXES = {"batch_alive_file"}
DROPPED_TABLES = {"batch_parsed"}  # by migration 12


def _admin(sql):
    connection = psycopg2.connect(URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture
def new_database(tmp_path):
    """new_database(fixture=None) -> an open scratch peewee database, empty or loaded with the
    dump of version `fixture`; all of them are closed (and on PostgreSQL dropped) afterwards."""
    databases, names = [], []

    def make(fixture=None):
        dump = None if fixture is None else (FIXTURES / f"v{fixture}.{DIALECT}.sql").read_text()
        if POSTGRES:
            name = f"scratch_migrations_{uuid.uuid4().hex[:12]}"
            _admin(f'CREATE DATABASE "{name}"')
            names.append(name)
            url = urlsplit(URL)._replace(path=f"/{name}").geturl()
            if dump is not None:
                raw = psycopg2.connect(url)
                try:
                    with raw.cursor() as cursor:
                        cursor.execute(dump)
                    raw.commit()
                finally:
                    raw.close()
            database = connect(url)
        else:
            path = tmp_path / f"scratch{len(databases)}.db"
            if dump is not None:
                raw = sqlite3.connect(path)
                try:
                    raw.executescript(dump)
                finally:
                    raw.close()
            # Opened as models.open_database opens it: foreign keys enforced, write lock up front.
            database = connect(
                f"sqlite:///{path}", pragmas={"journal_mode": "wal", "foreign_keys": 1}, lock_type="IMMEDIATE"
            )
        databases.append(database)
        database.connect()
        return database

    yield make
    for database in databases:
        database.close()
    for name in names:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- introspection


def schema(database) -> dict:
    """Columns (type, NOT NULL, default), indexes (table, columns, unique, partial predicate) and
    foreign keys of every table, as comparable data."""
    if isinstance(database, SqliteDatabase):
        return _sqlite_schema(database)
    return _postgres_schema(database)


def _sqlite_schema(database) -> dict:
    def rows(sql):
        return database.execute_sql(sql).fetchall()

    tables = [t for (t,) in rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    columns, indexes, foreign_keys = {}, {}, set()
    for table in tables:
        for _, name, kind, notnull, default, pk in rows(f'PRAGMA table_info("{table}")'):
            columns[table, name] = (kind.upper(), bool(notnull), default, bool(pk))
        for _, index, unique, _origin, partial in rows(f'PRAGMA index_list("{table}")'):
            names = tuple(column for _, _, column in rows(f'PRAGMA index_info("{index}")'))
            predicate = None
            if partial:
                (sql,) = database.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
                predicate = re.sub(r"\s+", " ", sql.split(" WHERE ", 1)[1]).strip()
            indexes[index] = (table, names, bool(unique), predicate)
        for row in rows(f'PRAGMA foreign_key_list("{table}")'):
            _, _, target, source, target_column, _on_update, on_delete, _ = row
            foreign_keys.add((table, source, target, target_column, on_delete))
    return {"columns": columns, "indexes": indexes, "foreign_keys": foreign_keys}


def _postgres_schema(database) -> dict:
    def rows(sql):
        return database.execute_sql(sql).fetchall()

    columns = {
        (table, name): (kind, notnull, default)
        for table, name, kind, notnull, default in rows(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid)"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped"
        )
    }
    indexes = {
        index: (table, tuple(names), unique, _predicate(predicate))
        for table, index, unique, predicate, names in rows(
            "SELECT t.relname, i.relname, x.indisunique, pg_get_expr(x.indpred, x.indrelid),"
            " array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)"
            "       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)"
            " FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema()"
        )
    }
    foreign_keys = set(
        rows(
            "SELECT s.relname, a.attname, t.relname, b.attname, k.confdeltype, k.conname"
            " FROM pg_constraint k JOIN pg_class s ON s.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid"
            " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]"
            " JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1]"
            " JOIN pg_namespace n ON n.oid = s.relnamespace"
            " WHERE k.contype = 'f' AND n.nspname = current_schema()"
        )
    )
    return {"columns": columns, "indexes": indexes, "foreign_keys": foreign_keys}


def _predicate(text):
    """A partial index's WHERE as PostgreSQL prints it, without its casts and parentheses (the
    same predicate prints with its casts nested differently once a dump has re-parsed it)."""
    if text is None:
        return None
    return re.sub(r"[()\s]", "", re.sub(r"::(?:character varying|[a-z]+)(?:\[\])?", "", text))


def models_schema(database) -> dict:
    """The schema today's models declare, created straight from them in an empty database."""
    declared = [
        *models.SCHEMA_MODELS,
        models.SchemaVersion,
    ]
    with database.bind_ctx(declared):
        database.create_tables(declared)
    return schema(database)


def without_migration_only_indexes(found: dict) -> dict:
    assert MIGRATION_ONLY_INDEXES <= set(found["indexes"])
    indexes = {name: index for name, index in found["indexes"].items() if name not in MIGRATION_ONLY_INDEXES}
    return {**found, "indexes": indexes}


def table_rows(database) -> dict:
    """Every row of every table but schema_version, by column name (to compare across versions)."""
    found = {}
    for table in database.get_tables():
        if table == "schema_version":
            continue
        names = [column.name for column in database.get_columns(table)]
        found[table] = (names, _select(database, table, names))
    return found


def _select(database, table, names):
    columns = ", ".join(f'"{name}"' for name in names)
    return [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        for row in database.execute_sql(f'SELECT {columns} FROM "{table}" ORDER BY "id"').fetchall()
    ]


def versions(database):
    return [v for (v,) in database.execute_sql("SELECT version FROM schema_version ORDER BY version").fetchall()]


# ---------------------------------------------------------------- tests


def test_an_empty_database_upgrades_to_exactly_what_the_models_declare(new_database):
    database = new_database()
    assert models.upgrade(database) == list(range(1, HEAD + 1))
    assert without_migration_only_indexes(schema(database)) == models_schema(new_database())
    assert models.upgrade(database) == []
    assert versions(database) == list(range(1, HEAD + 1))


@pytest.mark.parametrize("version", [1, 2])
def test_the_frozen_migrations_rebuild_exactly_the_schema_of_version(new_database, version):
    """Migrations 1..N on an empty database = the database the code of version N built."""
    database = new_database()
    assert migrations.upgrade(database, target=version) == list(range(1, version + 1))
    assert schema(database) == schema(new_database(fixture=version))


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_of_version_upgrades_to_head_and_keeps_its_rows(new_database, version):
    old = new_database(fixture=version)
    before = table_rows(old)
    assert before["batch_record"][1] and before["batch_file"][1] and before["card"][1]  # the fixture has data

    assert models.upgrade(old) == list(range(version + 1, HEAD + 1))

    fresh = new_database()
    models.upgrade(fresh)
    assert schema(old) == schema(fresh)
    assert without_migration_only_indexes(schema(old)) == models_schema(new_database())
    assert versions(old) == list(range(1, HEAD + 1))
    # Every row survives, column by column (SQLite rebuilds batch and person on the way), but
    # those of the tables a migration dropped (batch_parsed, migration 12).
    assert set(before) - set(old.get_tables()) <= DROPPED_TABLES
    for table, (names, rows) in before.items():
        if table not in DROPPED_TABLES:
            assert _select(old, table, names) == rows, table
    new_person_columns = "postal_code, correspondence_address, correspondence_postal_code"
    assert old.execute_sql(f"SELECT {new_person_columns} FROM person").fetchall() == [("", "", "")]
    if version == 1:
        assert old.execute_sql("SELECT unit_price, deposited, order_id FROM batch").fetchall() == [(0, 0, None)]
    if isinstance(old, SqliteDatabase):
        assert old.pragma("foreign_keys") == 1  # turned back on after the rebuilds
    # Migration 11 counted the cards already there, and its triggers count the next ones.
    count = "SELECT product_id, status, COUNT(*) FROM card GROUP BY product_id, status ORDER BY 1, 2"
    tally = (
        "SELECT product_id, status, SUM(n) FROM card_tally GROUP BY product_id, status HAVING SUM(n) <> 0 ORDER BY 1, 2"
    )
    assert old.execute_sql(count).fetchall()
    old.execute_sql("UPDATE card SET status = 'CANCELADA' WHERE id = (SELECT MIN(id) FROM card)")
    assert [(p, s, int(n)) for p, s, n in old.execute_sql(tally).fetchall()] == old.execute_sql(count).fetchall()


def test_rerunning_the_migrations_on_a_head_database_changes_nothing(new_database):
    """`flask db upgrade` after its version rows were lost: every migration skips what exists."""
    database = new_database(fixture=2)
    models.upgrade(database)
    before_schema, before_rows = schema(database), table_rows(database)
    database.execute_sql("DELETE FROM schema_version")
    assert models.upgrade(database) == list(range(1, HEAD + 1))
    assert schema(database) == before_schema
    assert table_rows(database) == before_rows


def test_migrations_are_numbered_and_never_import_the_models():
    names = [module.__name__.rsplit(".", 1)[1] for module in migrations.MIGRATIONS]
    assert [int(name[1:5]) for name in names] == list(range(1, HEAD + 1))
    for module in migrations.MIGRATIONS:
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "models" not in imported, module.__name__
