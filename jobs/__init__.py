"""Background jobs (APScheduler).

Under `make run` the scheduler runs inside the single app process. In a gunicorn deployment
it runs as its own process, `python -m jobs`, never inside the web workers: APScheduler 3
would run every job once per worker. Each job is a module here whose `run(app)` calls one service; the
service claims its rows with a conditional UPDATE, so two job processes never do the same
work twice.
"""

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

import models
from jobs import cleanup, process_orders, send_mail, settle_payments, validate_batches

log = logging.getLogger("jobs")
# One line per run of a 1-second job would drown the log; keep warnings and errors.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


def job_name(module) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _in_app(app, module):
    def run():
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            try:
                module.run(app)
            except Exception:  # a failed run is logged; the next run tries again
                log.exception("job %s failed", job_name(module))
            finally:
                if not models.db.is_closed():
                    models.db.close()

    run.__name__ = run.__qualname__ = job_name(module)
    return run


# (job module, seconds between runs); each module's run(app) calls one service.
JOBS = [
    (validate_batches, 1),
    (process_orders, 2),
    (settle_payments, 60),
    (send_mail, 60),
    (cleanup, 3600),
]


def configure(scheduler, app):
    for module, seconds in JOBS:
        scheduler.add_job(
            _in_app(app, module), "interval", seconds=seconds, id=job_name(module), max_instances=1, coalesce=True
        )
    return scheduler


def start_background_scheduler(app) -> BackgroundScheduler:
    scheduler = configure(BackgroundScheduler(timezone="America/Bogota"), app)
    scheduler.start()
    return scheduler


def run_forever(app) -> None:
    configure(BlockingScheduler(timezone="America/Bogota"), app).start()
