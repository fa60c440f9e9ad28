"""Forget what is kept only for a while: rate-limit rows older than their window, and exports
(«Exportar Excel» files) older than services.exports.KEEP."""

from services import accounts, exports


def run(app) -> int:
    return accounts.purge_login_attempts(app.config["LOGIN_RATE_WINDOW_SECONDS"]) + exports.purge_expired()
