"""Fold the rows that PostgreSQL's card triggers append to card_tally (migration 11), so that the
product page sums a handful of rows per product however many cards change state."""

from services import companies


def run(app) -> int:
    return companies.fold_card_tallies()
