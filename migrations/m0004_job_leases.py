"""Version 4 (issue 9): claims become leases with their holder's identity ("host:pid:start"),
service orders that keep failing are marked for attention, and each background job records
its heartbeat (job_heartbeat)."""

from peewee import CharField, DateTimeField, IntegerField, TextField

from migrations._base import FrozenModel, add_columns, create_tables, utcnow


class Batch(FrozenModel):
    """The columns this version adds to batch."""

    claimed_by = CharField(max_length=120, null=True)


class ServiceOrder(FrozenModel):
    """The columns this version adds to service_order."""

    claimed_by = CharField(max_length=120, null=True)
    failures = IntegerField(default=0)
    last_error = TextField(default="")
    attention_at = DateTimeField(null=True)


class OutboxMessage(FrozenModel):
    """The columns this version adds to outbox_message."""

    claimed_by = CharField(max_length=120, null=True)


class JobHeartbeat(FrozenModel):
    """One row per background job: written by the job process after each run and while it runs."""

    name = CharField(max_length=40, unique=True)
    interval_seconds = IntegerField(default=0)
    holder = CharField(max_length=120, default="")
    beat_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(null=True)
    last_run_at = DateTimeField(null=True)
    last_ok_at = DateTimeField(null=True)
    last_error = TextField(default="")
    last_error_at = DateTimeField(null=True)
    runs = IntegerField(default=0)
    failures = IntegerField(default=0)


def up(database):
    add_columns(database, Batch)
    add_columns(database, ServiceOrder)
    add_columns(database, OutboxMessage)
    create_tables(database, [JobHeartbeat])
