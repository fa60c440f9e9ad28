"""Version 6 (issue 9, PostgreSQL as fast as SQLite): three indexes that only cost.

Each one's column already leads a composite index, which answers every query it did:
batch_record (batch_id) and batch_error (batch_id) under the unique (batch_id, line), and
ledger_posting (account_id) under (account_id, id). Every bulk insert (validation's 100,000
records, a recharge's postings) and every status change of a record maintained them; and on
PostgreSQL, without statistics on a table just filled, the planner read a chunk's records
through batch_record (batch_id) and sorted them, instead of walking (batch_id, line).

On PostgreSQL, ledger_account also leaves half of each page free (fillfactor 50, a storage
parameter: no column or index changes). A recharge rewrites the balance of every card it
credits; with room on the page the new row version stays there (a HOT update) and none of
the table's four indexes is touched, which halves the UPDATE of a 100,000-card recharge.
"""

from peewee import SqliteDatabase


def up(database):
    for index in ("batch_record_batch_id", "batch_error_batch_id", "ledger_posting_account_id"):
        database.execute_sql(f"DROP INDEX IF EXISTS {index}")
    if not isinstance(database, SqliteDatabase):
        database.execute_sql("ALTER TABLE ledger_account SET (fillfactor = 50)")
