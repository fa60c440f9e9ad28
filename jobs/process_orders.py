"""Process paid service orders: cards, balances and affiliations, resumable after a crash."""

from services.processing import process_paid_orders


def run(app) -> int:
    return process_paid_orders()
