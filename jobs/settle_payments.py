"""Finish payments left half-way (the app died between the bank's debit and the order), and
fundings of a master account left the same way (between recording one and its ledger operation)."""

from services.master import settle_stuck_fundings
from services.orders import settle_stuck_payments


def run(app) -> int:
    return settle_stuck_payments() + settle_stuck_fundings()
