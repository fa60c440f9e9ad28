"""Finish payments left half-way (the app died between the bank's debit and the order)."""

from services.orders import settle_stuck_payments


def run(app) -> int:
    return settle_stuck_payments()
