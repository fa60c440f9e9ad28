"""Validate uploaded batches (one claimed at a time; resumable after a crash).

A run validates what waits, then keeps watching for new uploads for most of the second until the
next run (one EXISTS query every POLL seconds), so an upload to a separate `python -m jobs`
process starts validating within a fraction of a second, not on the next tick. In-process
(`make run`), the upload also starts a run at once (jobs/wakeup.py)."""

import time

from services.batches import upload_waiting, validate_waiting

# An upload waits for the next look: 0.05 s on average (it was 0.19 s with looks every 0.25 s
# that stopped at 0.5 s of each second). A look is one EXISTS query on the batch table.
POLL = 0.1  # seconds between looks for a new upload
WATCH = 0.9  # seconds a run keeps looking: less than the job's 1-second interval, or the next tick is skipped


def run(app) -> int:
    finished = validate_waiting()
    deadline = time.monotonic() + WATCH
    while time.monotonic() + POLL < deadline:
        time.sleep(POLL)
        if upload_waiting():
            finished += validate_waiting()
    return finished
