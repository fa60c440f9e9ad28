"""The jobs' heartbeats and what the operator looks at: GET /salud and `flask jobs status`.

The job process (jobs/__init__.py) writes one job_heartbeat row per job: when a run starts,
every few seconds while it runs (the lease thread of services/leases.py), and when it ends,
with the outcome. A job's heartbeat is stale when it is older than max(60 s, 3 × its
interval): its process is dead, hung, or was never started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from models import Batch, JobHeartbeat, ServiceOrder, db, utcnow
from services import leases

log = logging.getLogger("jobs.health")

MIN_STALE = 60  # seconds


def stale_after(interval_seconds: int) -> timedelta:
    return timedelta(seconds=max(MIN_STALE, 3 * interval_seconds))


# ---------------------------------------------------------------- written by the job process


def _upsert(name: str, interval: int, **values) -> None:
    values = {"holder": leases.holder(), "beat_at": utcnow(), "interval_seconds": interval, **values}
    if JobHeartbeat.update(values).where(JobHeartbeat.name == name).execute():
        return
    try:
        with db.atomic():
            JobHeartbeat.insert(name=name, **values).execute()
    except peewee.IntegrityError:  # another process inserted it meanwhile
        JobHeartbeat.update(values).where(JobHeartbeat.name == name).execute()


def run_started(name: str, interval: int) -> None:
    _upsert(name, interval, started_at=utcnow())


def run_ended(name: str, interval: int, error: BaseException | None = None) -> None:
    now = utcnow()
    values = {"started_at": None, "last_run_at": now, "runs": JobHeartbeat.runs + 1}
    if error is None:
        values["last_ok_at"] = now
    else:
        values.update(
            last_error=f"{type(error).__name__}: {error}"[:2000], last_error_at=now, failures=JobHeartbeat.failures + 1
        )
    _upsert(name, interval, **values)


def still_running(names: list[str]) -> None:
    """The heartbeat of the runs in progress in this process (called from the lease thread)."""
    if names:
        JobHeartbeat.update(beat_at=utcnow(), holder=leases.holder()).where(JobHeartbeat.name.in_(names)).execute()


# ---------------------------------------------------------------- read: /salud, flask jobs status


@dataclass
class Beat:
    name: str
    interval: int
    holder: str
    age: float  # seconds since the last heartbeat
    stale: bool
    running_since: datetime | None
    last_run_at: datetime | None
    last_ok_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    runs: int
    failures: int


def beats(now: datetime | None = None) -> list[Beat]:
    now = now or utcnow()
    found = []
    for row in JobHeartbeat.select().order_by(JobHeartbeat.name):
        age = (now - row.beat_at).total_seconds()
        found.append(
            Beat(
                name=row.name,
                interval=row.interval_seconds,
                holder=row.holder,
                age=round(max(age, 0.0), 1),
                stale=age > stale_after(row.interval_seconds).total_seconds(),
                running_since=row.started_at,
                last_run_at=row.last_run_at,
                last_ok_at=row.last_ok_at,
                last_error=row.last_error,
                last_error_at=row.last_error_at,
                runs=row.runs,
                failures=row.failures,
            )
        )
    return found


def health() -> tuple[bool, dict]:
    """(healthy, report) for a load balancer: the database answers, and every job has a fresh
    heartbeat (at least one job must have written one)."""
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1").fetchone()
        found = beats()
    except peewee.PeeweeException as exc:
        log.warning("health check: database unreachable: %s", exc)
        return False, {"database": "unreachable", "jobs": {}}
    jobs = {
        beat.name: {"age_seconds": beat.age, "stale": beat.stale, "interval_seconds": beat.interval} for beat in found
    }
    healthy = bool(found) and not any(beat.stale for beat in found)
    return healthy, {"database": "ok", "jobs": jobs}


@dataclass
class Claim:
    what: str  # "lote", "orden", "pago"
    id: int
    label: str  # e.g. the batch number and progress
    holder: str
    lease_age: float | None  # seconds since the holder last renewed it


def claims_in_progress(now: datetime | None = None) -> list[Claim]:
    """Batches validating, orders in process and payments being settled, with their holder."""
    now = now or utcnow()

    def age(at):
        return None if at is None else round((now - at).total_seconds(), 1)

    found = []
    for b in Batch.select().where(Batch.status == Batch.VALIDATING).order_by(Batch.id):
        label = f"lote {b.number} ({b.kind}): {b.processed_records} / {b.total_records or '?'}"
        found.append(Claim("lote", b.id, label, b.claimed_by or "", age(b.claimed_at)))
    orders = ServiceOrder.select().where(
        ServiceOrder.status.in_((ServiceOrder.IN_PROCESS, ServiceOrder.PAYING)) & ServiceOrder.attention_at.is_null()
    )  # those marked for attention are listed apart (orders_needing_attention)
    for o in orders.order_by(ServiceOrder.id):
        if o.status == ServiceOrder.PAYING:
            found.append(Claim("pago", o.id, f"orden {o.id}: pago en curso", o.claimed_by or "", age(o.claimed_at)))
        else:
            label = f"orden {o.id}: {o.done_records} / {o.records}"
            found.append(Claim("orden", o.id, label, o.claimed_by or "", age(o.claimed_at)))
    return found


def orders_needing_attention():
    return list(
        ServiceOrder.select()
        .where(ServiceOrder.attention_at.is_null(False) & (ServiceOrder.status == ServiceOrder.IN_PROCESS))
        .order_by(ServiceOrder.id)
    )
