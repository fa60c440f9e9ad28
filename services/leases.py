"""Claims as leases: who holds a claimed row, for how long, and who may take it over.

A job claims a row (a batch to validate, a paid order to process, a payment to settle, an
e-mail to send) by writing a fresh `claim_token`, `claimed_at` and `claimed_by` = this
process's identity, "host:pid:start" (start = the process's start time in clock ticks since
boot, so a new process that reuses a pid is a different holder, and a clock adjustment changes
nothing). The claim is a lease of LEASE: while the work goes on, `claimed_at` is renewed with
each chunk and every RENEW seconds by a daemon thread (long chunks, parsing a file), so a row
whose `claimed_at` is older than LEASE belongs to a dead or hung process and any other process
takes it over. At start-up a job process also releases at once the leases of its own dead
predecessors: same host, pid gone or started at another time; a live sibling's leases on the
same host are left alone.

On PostgreSQL a claim reads its candidate with `SELECT … FOR UPDATE SKIP LOCKED` (a row
another process is claiming right now is skipped, not waited for); SQLite has one writer and
keeps the conditional UPDATE.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

import peewee

from bulk import is_sqlite
from models import Batch, ExportJob, OutboxMessage, ServiceOrder, db, utcnow

log = logging.getLogger("jobs.leases")

LEASE = timedelta(seconds=15)  # a claim not renewed for this long is free
RENEW = 5.0  # seconds between renewals of the leases this process holds
RELEASED = datetime(2000, 1, 1)  # claimed_at of a released lease: older than any staleness limit

_identity: dict[int, str] = {}


def process_start(pid: int) -> int | None:
    """The start time of process `pid` as the kernel keeps it (clock ticks since boot, field 22
    of /proc/PID/stat), or None if it is not running (or this system has no /proc). Ticks, not
    epoch seconds: the epoch figure derives from the boot time, which moves when the clock is
    adjusted (a VM's clock stepped by NTP), and a live sibling would then look like another
    process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[19])


def holder() -> str:
    """This process's identity, "host:pid:start" (computed again after a fork)."""
    pid = os.getpid()
    if pid not in _identity:
        start = process_start(pid) or round(time.time())
        _identity[pid] = f"{socket.gethostname()}:{pid}:{start}"
    return _identity[pid]


def _parse(identity: str) -> tuple[str, int, int] | None:
    try:
        host, pid, start = identity.rsplit(":", 2)
        return host, int(pid), int(start)
    except ValueError:
        return None


def is_dead(identity: str) -> bool:
    """True when `identity` names a process of this host that is no longer running: its pid is
    gone, or the pid now belongs to a process started at another time. A holder of another
    host is never judged from here (its lease expires instead)."""
    parsed = _parse(identity)
    if parsed is None or parsed[0] != socket.gethostname():
        return False
    _host, pid, start = parsed
    if pid == os.getpid():
        return identity != holder()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    found = process_start(pid)
    return found is not None and found != start


def expired_before() -> datetime:
    return utcnow() - LEASE


# The claimable rows of each table, with their holder column: what start-up release looks at.
def _claimed_tables():
    return [
        (Batch, Batch.status == Batch.VALIDATING),
        (ServiceOrder, ServiceOrder.status.in_((ServiceOrder.IN_PROCESS, ServiceOrder.PAYING))),
        (OutboxMessage, OutboxMessage.status == OutboxMessage.PENDING),
        (ExportJob, ExportJob.status == ExportJob.RUNNING),
    ]


def release_dead_predecessors() -> int:
    """Release at once the leases held by dead processes of this host (a job process restarted
    after a crash calls it at start-up); returns how many rows were released."""
    return sum(release_dead(model, claimable) for model, claimable in _claimed_tables())


def release_dead(model, claimable) -> int:
    """Release the leases of `model`'s rows matching `claimable` held by dead processes of this
    host (a job may call it on each run for its own table); returns how many were released."""
    released = 0
    holders = (
        model.select(model.claimed_by)
        .where(claimable & model.claimed_by.is_null(False) & (model.claimed_at > RELEASED))
        .distinct()
        .tuples()
    )
    for (identity,) in list(holders):
        if is_dead(identity):
            released += model.update(claimed_at=RELEASED).where(claimable & (model.claimed_by == identity)).execute()
            log.warning("released the leases of %s (no longer running) in %s", identity, model._meta.table_name)
    return released


def claim_one(model, free, updates: dict, limit: int = 5):
    """Claim one row of `model` matching `free` (a claimable-and-unclaimed condition) by
    writing `updates` (+ claimed_at, claimed_by); returns its id or None.

    PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED of one candidate, then its UPDATE, in one
    transaction. SQLite: the conditional UPDATE of each candidate in turn."""
    values = {**updates, "claimed_at": utcnow(), "claimed_by": holder()}
    if not is_sqlite():
        with db.atomic():
            row = (
                model.select(model.id)
                .where(free)
                .order_by(model.id)
                .limit(1)
                .for_update(skip_locked=True)
                .tuples()
                .first()
            )
            if row is None:
                return None
            claimed = model.update(values).where((model.id == row[0]) & free).execute()
            return row[0] if claimed else None
    for (candidate,) in list(model.select(model.id).where(free).order_by(model.id).limit(limit).tuples()):
        if model.update(values).where((model.id == candidate) & free).execute():
            return candidate
    return None


# ---------------------------------------------------------------- renewal while working

_held: dict[tuple[str, int, str], type] = {}
_held_lock = threading.Lock()
_renewer: list[threading.Thread] = []
_beats: list = []  # callables run on each renewal tick (jobs/__init__.py: the jobs' heartbeats)


def on_tick(callback) -> None:
    """Run `callback()` on every renewal tick of the daemon thread (errors are logged)."""
    if callback not in _beats:
        _beats.append(callback)
    _ensure_renewer()


@contextmanager
def held(model, row_id: int, token: str):
    """While the block runs, the daemon thread renews this lease every RENEW seconds (only
    while it is still ours: same token)."""
    key = (model._meta.table_name, row_id, token)
    with _held_lock:
        _held[key] = model
    _ensure_renewer()
    try:
        yield
    finally:
        with _held_lock:
            _held.pop(key, None)


def renew_held() -> int:
    """Renew every lease this process holds now; returns how many rows were renewed."""
    with _held_lock:
        leases = list(_held.items())
    renewed = 0
    for (_table, row_id, token), model in leases:
        renewed += (
            model.update(claimed_at=utcnow())
            .where((model.id == row_id) & (model.claim_token == token) & (model.claimed_by == holder()))
            .execute()
        )
    return renewed


def _tick() -> None:
    db.connect(reuse_if_open=True)
    try:
        renew_held()
        for beat in list(_beats):
            beat()
    finally:
        db.close()


def _renew_forever() -> None:
    while True:
        time.sleep(RENEW)
        try:
            _tick()
        except peewee.PeeweeException:  # database busy or gone for a moment: next tick
            log.warning("renewing leases failed", exc_info=True)
        except Exception:
            log.exception("renewing leases failed")


def _ensure_renewer() -> None:
    with _held_lock:
        if _renewer and _renewer[0].is_alive():
            return
        thread = threading.Thread(target=_renew_forever, name="lease-renewer", daemon=True)
        _renewer[:] = [thread]
        thread.start()
