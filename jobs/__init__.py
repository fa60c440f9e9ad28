"""Background jobs (APScheduler).

Under `make run` the scheduler runs inside the single app process. In a gunicorn deployment
it runs as its own process, `python -m jobs`, never inside the web workers: APScheduler 3
would run every job once per worker. Each job claims its rows with a conditional UPDATE, so
two job processes never do the same work twice.
"""

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

import models
from services.batches import validate_waiting
from services.mail import retry_pending
from services.orders import settle_stuck_payments
from services.processing import process_orders

log = logging.getLogger("jobs")
# One line per run of a 1-second job would drown the log; keep warnings and errors.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


def _in_app(app, func):
    def run():
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            try:
                func(app)
            except Exception:  # a failed run is logged; the next run tries again
                log.exception("job %s failed", func.__name__)
            finally:
                if not models.db.is_closed():
                    models.db.close()

    run.__name__ = run.__qualname__ = func.__name__
    return run


def send_outbox(app) -> int:
    """Deliver e-mail that could not be sent at once (SMTP down), with bounded retries."""
    return retry_pending(app.config)


def purge_login_attempts(app) -> int:
    """Forget rate-limit rows older than the window."""
    cutoff = models.utcnow() - timedelta(seconds=app.config["LOGIN_RATE_WINDOW_SECONDS"])
    return models.LoginAttempt.delete().where(models.LoginAttempt.created_at < cutoff).execute()


def validate_batches(app) -> int:
    """Validate uploaded batches (claimed one at a time; resumable after a crash)."""
    return validate_waiting()


def settle_payments(app) -> int:
    """Finish payments left half-way (the app died between the bank's debit and the order)."""
    return settle_stuck_payments()


JOBS = [
    (validate_batches, 1),
    (process_orders, 2),
    (settle_payments, 60),
    (send_outbox, 60),
    (purge_login_attempts, 3600),
]


def configure(scheduler, app):
    for func, seconds in JOBS:
        scheduler.add_job(
            _in_app(app, func), "interval", seconds=seconds, id=func.__name__, max_instances=1, coalesce=True
        )
    return scheduler


def start_background_scheduler(app) -> BackgroundScheduler:
    scheduler = configure(BackgroundScheduler(timezone="America/Bogota"), app)
    scheduler.start()
    return scheduler


def run_forever(app) -> None:
    configure(BlockingScheduler(timezone="America/Bogota"), app).start()
