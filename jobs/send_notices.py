"""E-mail the notices of waiting work: one message per user and kind every 15 minutes at most."""

from services.notices import send_waiting


def run(app) -> int:
    return send_waiting()
