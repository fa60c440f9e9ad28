"""jobs/cleanup.py: rate-limit rows are forgotten once their window has passed."""

from datetime import timedelta

from jobs import cleanup
from models import LoginAttempt, utcnow


def test_only_attempts_older_than_the_window_are_purged(app, db):
    window = app.config["LOGIN_RATE_WINDOW_SECONDS"]
    LoginAttempt.create(ip="10.0.0.1", username="ana", created_at=utcnow() - timedelta(seconds=window + 5))
    recent = LoginAttempt.create(ip="10.0.0.1", username="ana", created_at=utcnow() - timedelta(seconds=window - 5))
    assert cleanup.run(app) == 1
    assert [a.id for a in LoginAttempt.select()] == [recent.id]
