"""Settle card purchases: what the processor authorized reaches the ledger (card → purchases)."""

from services.purchases import settle_purchases


def run(app) -> int:
    return settle_purchases()
