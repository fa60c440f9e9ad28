"""Waking the validation job on an upload, instead of waiting for its next tick.

With the scheduler in the app's process (`make run`), `install` registers with the app a function
that services.batches.upload calls once the new batch is committed: it adds a one-off run of
the validation to the scheduler, now. (Moving the interval job's next run would be skipped
while a run of it is still ending.) Two runs at once are safe: each batch is claimed by one.
A separate `python -m jobs` process cannot be reached from the web process: there the job
watches for new uploads between its ticks instead (jobs/validate_batches.py)."""

import logging

from apscheduler.schedulers.base import STATE_RUNNING

import models
from services.batches import WAKE_VALIDATION, validate_waiting

log = logging.getLogger("jobs")


def install(scheduler, app) -> None:
    """Let uploads in this process start a validation run of `scheduler` at once."""

    def validate_now() -> None:
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            try:
                validate_waiting()
            except Exception:  # the interval job tries again
                log.exception("validation started by an upload failed")
            finally:
                if not models.db.is_closed():
                    models.db.close()

    def wake() -> None:
        if scheduler.state == STATE_RUNNING:
            scheduler.add_job(validate_now, name="validate_batches (upload)", misfire_grace_time=None)

    app.extensions[WAKE_VALIDATION] = wake
