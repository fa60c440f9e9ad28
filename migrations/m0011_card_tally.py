"""Version 11 (issue 15): each product's count of cards per state, kept by the database itself.

The product page shows how many cards are active and how many are not. Counting them on every
view read the whole card table of the product (a million cards: 190 ms alone, a second under
load). Triggers on `card` now keep `card_tally`, so every writer (processing, affiliation,
blocks, replacements, bulk loads, raw SQL) is counted without the application's help:

- SQLite (one writer at a time): row triggers keep one row per (product, state) up to date.
- PostgreSQL: statement triggers append one signed row per (product, state) that a statement
  changed, read from its transition tables. Appending never waits on another transaction's row
  lock (a shared counter row would serialize every card writer of a product, and could deadlock
  with the ledger's locks); jobs/fold_tallies.py folds the rows of each (product, state) into one.

A product's count of a state is the SUM of its rows. There is no foreign key to product: a
product deleted with its cards (ON DELETE CASCADE) makes its card triggers write rows about it
in the same statement. The counts start from a COUNT of `card`, in the migration's transaction.
"""

from peewee import BigIntegerField, CharField, IntegerField, SqliteDatabase

from migrations._base import FrozenModel, create_tables


class CardTally(FrozenModel):
    product_id = IntegerField()
    status = CharField(max_length=20)
    n = BigIntegerField()

    class Meta:
        table_name = "card_tally"
        indexes = ((("product_id", "status"), False),)


_SQLITE = [
    "DROP TRIGGER IF EXISTS card_tally_insert",
    "DROP TRIGGER IF EXISTS card_tally_update",
    "DROP TRIGGER IF EXISTS card_tally_delete",
    """CREATE TRIGGER card_tally_insert AFTER INSERT ON card BEGIN
        UPDATE card_tally SET n = n + 1 WHERE product_id = NEW.product_id AND status = NEW.status;
        INSERT INTO card_tally (product_id, status, n) SELECT NEW.product_id, NEW.status, 1
        WHERE NOT EXISTS (SELECT 1 FROM card_tally WHERE product_id = NEW.product_id AND status = NEW.status);
    END""",
    """CREATE TRIGGER card_tally_update AFTER UPDATE OF status, product_id ON card
    WHEN OLD.status IS NOT NEW.status OR OLD.product_id IS NOT NEW.product_id BEGIN
        UPDATE card_tally SET n = n - 1 WHERE product_id = OLD.product_id AND status = OLD.status;
        UPDATE card_tally SET n = n + 1 WHERE product_id = NEW.product_id AND status = NEW.status;
        INSERT INTO card_tally (product_id, status, n) SELECT NEW.product_id, NEW.status, 1
        WHERE NOT EXISTS (SELECT 1 FROM card_tally WHERE product_id = NEW.product_id AND status = NEW.status);
    END""",
    """CREATE TRIGGER card_tally_delete AFTER DELETE ON card BEGIN
        UPDATE card_tally SET n = n - 1 WHERE product_id = OLD.product_id AND status = OLD.status;
    END""",
]

# (trigger, event, transition tables, the signed rows it appends)
_PG_TRIGGERS = [
    ("card_tally_insert", "INSERT", "NEW TABLE AS new_rows", "SELECT product_id, status, 1 AS d FROM new_rows"),
    (
        "card_tally_update",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT product_id, status, -1 AS d FROM old_rows UNION ALL SELECT product_id, status, 1 FROM new_rows",
    ),
    ("card_tally_delete", "DELETE", "OLD TABLE AS old_rows", "SELECT product_id, status, -1 AS d FROM old_rows"),
]


def _postgresql() -> list[str]:
    statements = []
    for name, event, tables, rows in _PG_TRIGGERS:
        statements += [
            f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO card_tally (product_id, status, n)
                SELECT product_id, status, SUM(d) FROM ({rows}) AS changed
                GROUP BY product_id, status HAVING SUM(d) <> 0;
                RETURN NULL;
            END $$""",
            f"DROP TRIGGER IF EXISTS {name} ON card",
            f"CREATE TRIGGER {name} AFTER {event} ON card REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements


def up(database):
    counted = database.table_exists("card_tally")  # a run again: the triggers have kept it
    create_tables(database, [CardTally])
    for statement in _SQLITE if isinstance(database, SqliteDatabase) else _postgresql():
        database.execute_sql(statement)
    if counted:
        return
    database.execute_sql(
        "INSERT INTO card_tally (product_id, status, n) SELECT product_id, status, COUNT(*) FROM card GROUP BY product_id, status"
    )
