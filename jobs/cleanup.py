"""Forget what is kept only for a while: rate-limit rows older than their window."""

from services import accounts


def run(app) -> int:
    return accounts.purge_login_attempts(app.config["LOGIN_RATE_WINDOW_SECONDS"])
