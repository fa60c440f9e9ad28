"""card_tally (migration 11): the database keeps each product's count of cards per state, for
every kind of write, and folding PostgreSQL's appended rows changes no count."""

import os
import random
import threading

import pytest
from peewee import fn

import models
from models import Card, CardTally
from services import companies
from tests import factories

STATES = [Card.ACTIVE, Card.NOT_AFFILIATED, "BLOQUEO_TEMPORAL", "CANCELADA"]


def counted() -> dict:
    """{(product, state): n} by counting the cards."""
    rows = Card.select(Card.product, Card.status, fn.COUNT(Card.id)).group_by(Card.product, Card.status)
    return {(product, status): n for product, status, n in rows.tuples()}


def tallied() -> dict:
    """{(product, state): n} from card_tally's sums, the zeros left out."""
    rows = CardTally.select(CardTally.product_id, CardTally.status, fn.SUM(CardTally.n)).group_by(
        CardTally.product_id, CardTally.status
    )
    return {(product, status): int(n) for product, status, n in rows.tuples() if int(n)}


@pytest.fixture
def products(db):
    company = factories.make_company()
    return [factories.make_product(company, name=f"Producto {n}") for n in range(3)]


def _card_row(product, n: int, status: str) -> dict:
    return {"product": product, "masked_pan": f"450714******{n:04d}", "last4": f"{n:04d}", "status": status}


def test_every_kind_of_write_keeps_the_count(products):
    """200 random writes, each checked: one INSERT, many rows in one INSERT, UPDATEs of the state
    of one or many cards, of another column, a card moved to another product, DELETEs."""
    rng = random.Random(15)
    serial = 0
    for step in range(200):
        ids = [card_id for (card_id,) in Card.select(Card.id).tuples()]
        kind = rng.choice(["one", "many", "state", "states", "other", "move", "delete"] if ids else ["many"])
        if kind == "one":
            serial += 1
            Card.create(**_card_row(rng.choice(products), serial, rng.choice(STATES)))
        elif kind == "many":
            rows = []
            for _ in range(rng.randint(1, 40)):
                serial += 1
                rows.append(_card_row(rng.choice(products), serial, rng.choice(STATES)))
            Card.insert_many(rows).execute()
        elif kind == "state":
            Card.update(status=rng.choice(STATES)).where(Card.id == rng.choice(ids)).execute()
        elif kind == "states":
            chosen = rng.sample(ids, min(len(ids), rng.randint(1, 30)))
            Card.update(status=rng.choice(STATES)).where(Card.id.in_(chosen)).execute()
        elif kind == "other":
            Card.update(plastic_status="ENVIADA_EMPRESA").where(Card.id.in_(ids[:10])).execute()
        elif kind == "move":
            Card.update(product=rng.choice(products)).where(Card.id == rng.choice(ids)).execute()
        else:
            Card.delete().where(Card.id.in_(rng.sample(ids, min(len(ids), rng.randint(1, 5))))).execute()
        assert tallied() == counted(), (step, kind)
    assert sum(counted().values()) > 100  # the walk did build a real population


def test_folding_changes_no_count_and_leaves_one_row_per_state(products):
    for n in range(30):
        Card.create(**_card_row(products[n % 3], n, STATES[n % 4]))
    Card.update(status="CANCELADA").where(Card.id <= 10).execute()
    before = tallied()
    removed = companies.fold_card_tallies()
    assert tallied() == before == counted()
    rows = list(CardTally.select(CardTally.product_id, CardTally.status).tuples())
    if models._is_sqlite(models.db):
        assert removed == 0  # the triggers keep one row per (product, state) already
    else:
        assert removed > 0
    assert len(rows) == len(set(rows)) == len(before)
    assert companies.fold_card_tallies() == 0  # nothing more to fold


def test_the_product_page_counters_read_the_tally(products):
    product = products[0]
    Card.insert_many([_card_row(product, n, Card.ACTIVE if n % 3 else "BLOQUEO_TEMPORAL") for n in range(30)]).execute()
    assert companies.product_counts(product.id, False, False, True) == {"card": [20, 10, 0]}
    CardTally.delete().execute()  # the counters come from the tally, not from counting the cards
    assert companies.product_counts(product.id, False, False, True) == {"card": [0, 0, 0]}


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only")
def test_two_writers_of_one_product_never_wait_for_each_other(products, app):
    """On PostgreSQL the triggers append rows: a transaction that creates cards of a product and
    stays open does not hold back another one creating cards of the same product (a shared
    counter row would, until the first commits). SQLite has one writer at a time anyway."""
    product = products[0]
    first_in = threading.Event()
    release = threading.Event()
    second_done = threading.Event()

    def first():
        with app.app_context(), models.db.connection_context(), models.db.atomic():
            Card.create(**_card_row(product, 9001, Card.ACTIVE))
            first_in.set()
            release.wait(20)

    def second():
        first_in.wait(20)
        with app.app_context(), models.db.connection_context(), models.db.atomic():
            Card.create(**_card_row(product, 9002, Card.ACTIVE))
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    try:
        assert second_done.wait(10), "the second writer waited for the first one's commit"
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert tallied() == counted() == {(product.id, Card.ACTIVE): 2}
