"""Background jobs (APScheduler).

Under `make run` the scheduler runs inside the single app process. In a gunicorn deployment
it runs as its own process, `python -m jobs`, never inside the web workers: APScheduler 3
would run every job once per worker. Each job is a module here whose `run(app)` calls one service; the
service claims its rows as leases (services/leases.py: holder "host:pid:start", renewed while
working, taken over by any process once expired), so any number of job processes, on any
number of nodes, never do the same work twice. Each run writes its job's heartbeat
(services/health.py: GET /salud, `flask jobs status`).
"""

import logging
import threading
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

import models
from jobs import (
    cleanup,
    fold_tallies,
    process_orders,
    run_exports,
    send_mail,
    send_notices,
    settle_payments,
    settle_purchases,
    validate_batches,
    wakeup,
)
from services import health, leases

log = logging.getLogger("jobs")
# One line per run of a 1-second job would drown the log; keep warnings and errors.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


def job_name(module) -> str:
    return module.__name__.rsplit(".", 1)[-1]


_running: set[str] = set()  # the jobs running now in this process (their heartbeat is renewed meanwhile)
_running_lock = threading.Lock()


def _beat_running() -> None:
    with _running_lock:
        names = sorted(_running)
    health.still_running(names)


def _in_app(app, module, seconds: int = 0):
    name = job_name(module)

    def run():
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            with _running_lock:
                _running.add(name)
            error = None
            try:
                health.run_started(name, seconds)
                module.run(app)
            except Exception as exc:  # a failed run is logged; the next run tries again
                error = exc
                log.exception("job %s failed", name)
            finally:
                with _running_lock:
                    _running.discard(name)
                try:
                    health.run_ended(name, seconds, error)
                except Exception:
                    log.exception("job %s: writing its heartbeat failed", name)
                if not models.db.is_closed():
                    models.db.close()

    run.__name__ = run.__qualname__ = name
    return run


# (job module, seconds between runs); each module's run(app) calls one service.
JOBS = [
    (validate_batches, 1),
    (process_orders, 2),
    (settle_payments, 60),
    (settle_purchases, 60),
    (send_mail, 60),
    (send_notices, 60),
    (run_exports, 2),
    (fold_tallies, 30),
    (cleanup, 3600),
]


def configure(scheduler, app):
    # Each job runs once right away (its heartbeat appears at start-up), then every `seconds`.
    now = datetime.now(scheduler.timezone)
    for module, seconds in JOBS:
        scheduler.add_job(
            _in_app(app, module, seconds),
            "interval",
            seconds=seconds,
            id=job_name(module),
            max_instances=1,
            coalesce=True,
            next_run_time=now,
        )
    return scheduler


def start_up(app) -> None:
    """Before the first run: release the leases of this host's dead job processes (a restart
    after a crash takes their work over at once, not when the leases expire), and renew the
    heartbeats of running jobs from the lease thread."""
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        try:
            released = leases.release_dead_predecessors()
            if released:
                log.warning("took over %s claim(s) of a dead job process of this host", released)
        finally:
            models.db.close()
    leases.on_tick(_beat_running)


def start_background_scheduler(app) -> BackgroundScheduler:
    start_up(app)
    scheduler = configure(BackgroundScheduler(timezone="America/Bogota"), app)
    wakeup.install(scheduler, app)  # an upload starts its validation at once, not on the next tick
    scheduler.start()
    return scheduler


def run_forever(app) -> None:
    start_up(app)
    log.info("job process %s started", leases.holder())
    configure(BlockingScheduler(timezone="America/Bogota"), app).start()
