"""Version 9 (issue 13, Reportes): an export's format (Excel or PDF), why a replaced card was
blocked (loss or theft, for the Reposiciones report), and the indexes the reports read by: a
ledger account's postings by date (Cuenta maestra, Saldo al cierre) and a user's audit events
(Actividad por usuario)."""

from peewee import CharField

from migrations._base import FrozenModel, add_columns


class ExportJob(FrozenModel):
    """The column this version adds to export_job."""

    format = CharField(max_length=4, default="xlsx")


class Card(FrozenModel):
    """The column this version adds to card."""

    replaced_reason = CharField(max_length=20, default="")


def up(database):
    add_columns(database, ExportJob)
    add_columns(database, Card)
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS ledger_posting_account_id_created_at ON ledger_posting (account_id, created_at)"
    )
    database.execute_sql("CREATE INDEX IF NOT EXISTS audit_event_user_id_id ON audit_event (user_id, id)")
