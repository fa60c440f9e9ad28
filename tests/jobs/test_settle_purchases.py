"""Card purchases: the simulated processor authorizes them against the live balance
(SimulatedProcessor.purchase, `flask demo purchases`) and the settle_purchases job posts them
(services/purchases.py): card → purchases account, once, never below zero."""

import peewee
import pytest

import jobs
import ledger
import models
from adapters.processor import SimulatedProcessor, product_terms
from jobs import settle_purchases as settle_job
from models import Card, CardPurchase, LedgerOperation, LedgerPosting
from services import ledger_check, purchases
from tests.conftest import in_threads
from tests.factories import make_company, make_product
from tests.services.test_ledger_check import fund_master, make_card

processor = SimulatedProcessor()


@pytest.fixture
def world(db):
    company = make_company("COMPRAS SAS", balance=100_000_000)
    product = make_product(company)
    fund_master(company, product, "inicial", 10_000_000)
    return company, product


def credit(product, card, amount, key):
    ledger.post(key, "Abono", [(ledger.master_account(product), -amount), (ledger.card_account(card), amount)])


def card_with(product, n, amount):
    card = make_card(product, n)
    if amount:
        credit(product, card, amount, f"abono:{n}")
    return card


def live(product, card):
    return processor.live_balances(product_terms(product), [card.id])[card.id]


def book(card):
    return ledger.balance(ledger.card_account(card))


# ---------------------------------------------------------------- authorizing


def test_a_purchase_lowers_the_live_balance_not_the_ledger(world):
    _company, product = world
    card = card_with(product, 1, 10_000)
    assert processor.purchase(product_terms(product), card.id, 3_000, "Tienda")
    assert processor.purchase(product_terms(product), card.id, 7_000, "Tienda")  # exactly what is left
    assert (live(product, card), book(card)) == (0, 10_000)
    assert [(p.amount, p.merchant, p.settled_at) for p in CardPurchase.select().order_by(CardPurchase.id)] == [
        (3_000, "Tienda", None),
        (7_000, "Tienda", None),
    ]


@pytest.mark.parametrize(
    "status, amount, other_product",
    [
        ("ACTIVA", 10_001, False),  # more than the live balance
        ("ACTIVA", 0, False),
        ("ACTIVA", -5, False),
        ("BLOQUEO_TEMPORAL", 100, False),
        ("BLOQUEADA_ROBO", 100, False),
        ("ACTIVA", 100, True),  # a card of another product
    ],
)
def test_purchases_the_processor_refuses(world, status, amount, other_product):
    company, product = world
    card = card_with(product, 1, 10_000)
    Card.update(status=status).where(Card.id == card.id).execute()
    terms = product_terms(make_product(company, name="Otro") if other_product else product)
    assert processor.purchase(terms, card.id, amount, "Tienda") is False
    assert CardPurchase.select().count() == 0 and live(product, card) == 10_000


def test_concurrent_purchases_never_spend_more_than_the_live_balance(world, database_url):
    _company, product = world
    card = card_with(product, 1, 10_000)
    terms = product_terms(product)
    models.db.close()
    results = in_threads(lambda: processor.purchase(terms, card.id, 3_000, "Tienda"), 6, 60)
    models.db.connect(reuse_if_open=True)
    assert sorted(results, key=str) == [False, False, False, True, True, True], results
    assert live(product, card) == 1_000


# ---------------------------------------------------------------- settling


def test_settlement_posts_each_purchase_once_card_to_purchases(world):
    _company, product = world
    card, other = card_with(product, 1, 10_000), card_with(product, 2, 5_000)
    for target, amount in ((card, 2_500), (other, 5_000), (card, 500)):
        assert processor.purchase(product_terms(product), target.id, amount, "Droguería")
    assert purchases.settle_purchases() == 3
    assert (book(card), live(product, card), book(other), live(product, other)) == (7_000, 7_000, 0, 0)
    assert ledger.balance(ledger.purchases_account(product)) == 8_000
    first = CardPurchase.select().order_by(CardPurchase.id).first()
    operation = LedgerOperation.get(LedgerOperation.key == f"compra:{first.id}")
    assert operation.description == "Compra en Droguería con tarjeta 450714******0001"
    assert sorted((p.account_id, p.amount) for p in operation.postings) == sorted(
        [(card.account_id, -2_500), (ledger.purchases_account(product).id, 2_500)]
    )
    assert CardPurchase.select().where(CardPurchase.settled_at.is_null()).count() == 0
    before = LedgerPosting.select().count()
    assert purchases.settle_purchases() == 0
    assert LedgerPosting.select().count() == before
    assert ledger_check.check() == []


def test_a_purchase_posted_before_a_crash_is_only_marked(world):
    """An earlier run posted the key and died before marking the row: not posted again."""
    _company, product = world
    card = card_with(product, 1, 10_000)
    assert processor.purchase(product_terms(product), card.id, 4_000, "Tienda")
    purchase = CardPurchase.get()
    ledger.post(
        f"compra:{purchase.id}",
        "Compra",
        [(ledger.card_account(card), -4_000), (ledger.purchases_account(product), 4_000)],
    )
    assert purchases.settle_purchases() == 0
    assert CardPurchase.get_by_id(purchase.id).settled_at is not None
    assert book(card) == 6_000 and ledger.balance(ledger.purchases_account(product)) == 4_000


def test_a_crash_in_a_chunk_posts_nothing_of_it(world, monkeypatch):
    _company, product = world
    card = card_with(product, 1, 10_000)
    for _ in range(3):
        assert processor.purchase(product_terms(product), card.id, 1_000, "Tienda")

    def crash(*args):
        raise RuntimeError("killed")

    monkeypatch.setattr(purchases, "_mark", crash)
    with pytest.raises(RuntimeError):
        purchases.settle_purchases()
    assert book(card) == 10_000 and not LedgerOperation.select().where(LedgerOperation.key.startswith("compra:"))
    monkeypatch.undo()
    assert purchases.settle_purchases() == 3
    assert book(card) == 7_000


def test_chunks_and_the_limit(world, monkeypatch):
    monkeypatch.setattr(purchases, "CHUNK", 3)
    _company, product = world
    card = card_with(product, 1, 100_000)
    for _ in range(10):
        assert processor.purchase(product_terms(product), card.id, 100, "Tienda")
    assert purchases.settle_purchases(limit=4) == 4
    assert CardPurchase.select().where(CardPurchase.settled_at.is_null()).count() == 6
    assert purchases.settle_purchases() == 6
    assert book(card) == 99_000 and ledger_check.check() == []


def test_a_purchase_larger_than_the_ledger_balance_settles_what_it_can(world, monkeypatch):
    """The ledger dropped after the purchase (a debit that didn't read the live balance): the
    job takes what the card has, keeps the rest waiting, and settles it once money comes in."""
    monkeypatch.setattr(purchases, "CHUNK", 2)
    _company, product = world
    card = card_with(product, 1, 10_000)
    assert processor.purchase(product_terms(product), card.id, 8_000, "Tienda")
    assert processor.purchase(product_terms(product), card.id, 2_000, "Tienda")
    ledger.post("cargo:x", "Cargo", [(ledger.card_account(card), -5_000), (ledger.master_account(product), 5_000)])
    assert purchases.settle_purchases() == 1
    assert book(card) == 0 and live(product, card) == -5_000
    rows = [(p.amount, p.settled_at is not None) for p in CardPurchase.select().order_by(CardPurchase.id)]
    assert rows == [(5_000, True), (2_000, False), (3_000, False)]
    assert purchases.settle_purchases() == 0  # nothing on the card: both wait
    credit(product, card, 4_000, "abono:mas")
    assert purchases.settle_purchases() == 2  # the 2,000 whole, then 2,000 of the 3,000
    assert book(card) == 0 and live(product, card) == -1_000
    assert ledger.balance(ledger.purchases_account(product)) == 9_000
    assert CardPurchase.select(peewee.fn.SUM(CardPurchase.amount)).scalar() == 10_000
    assert ledger_check.check() == []


def test_two_job_processes_settle_each_purchase_once(world, database_url, monkeypatch):
    monkeypatch.setattr(purchases, "CHUNK", 7)
    _company, product = world
    cards = [card_with(product, n, 50_000) for n in range(1, 6)]
    for i in range(60):
        assert processor.purchase(product_terms(product), cards[i % 5].id, 500 + i, "Tienda")
    models.db.close()
    results = in_threads(purchases.settle_purchases, 4, 120)
    models.db.connect(reuse_if_open=True)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 60
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("compra:")).count() == 60
    assert ledger.balance(ledger.purchases_account(product)) == sum(500 + i for i in range(60))
    assert CardPurchase.select().where(CardPurchase.settled_at.is_null()).count() == 0
    assert ledger_check.check() == []


def test_the_job_runs_every_minute(world):
    assert (settle_job, 60) in jobs.JOBS
    _company, product = world
    card = card_with(product, 1, 1_000)
    assert processor.purchase(product_terms(product), card.id, 1_000, "Tienda")
    assert settle_job.run(None) == 1 and book(card) == 0


# ---------------------------------------------------------------- flask demo purchases


def test_demo_purchases_spend_at_most_each_live_balance(world, runner):
    company, product = world
    cards = [card_with(product, n, 20_000 + 1_000 * n) for n in range(1, 5)]
    empty = card_with(product, 9, 0)
    blocked = card_with(product, 10, 50_000)
    Card.update(status="BLOQUEO_TEMPORAL").where(Card.id == blocked.id).execute()
    result = runner.invoke(args=["demo", "purchases", "--count", "25"])
    assert result.exit_code == 0, result.output
    made = CardPurchase.select().count()
    assert 0 < made <= 25
    assert f"Compras autorizadas: {made} de 25" in result.output
    spent = {c.id: 0 for c in cards}
    for purchase in CardPurchase.select():
        assert purchase.card_id in spent and purchase.amount > 0 and purchase.merchant
        spent[purchase.card_id] += purchase.amount
    for card in cards:
        assert live(product, card) == book(card) - spent[card.id] >= 0
    assert live(product, empty) == 0 and live(product, blocked) == 50_000
    assert purchases.settle_purchases() == made and ledger_check.check() == []


def test_demo_purchases_of_one_product(world, runner):
    company, product = world
    other = make_product(company, name="Otro")
    fund_master(company, other, "otro", 1_000_000)
    mine, theirs = card_with(product, 1, 10_000), card_with(other, 2, 10_000)
    result = runner.invoke(args=["demo", "purchases", "--count", "5", "--product-id", other.id])
    assert result.exit_code == 0, result.output
    assert {p.card_id for p in CardPurchase.select()} == {theirs.id}
    assert live(product, mine) == 10_000


def test_demo_purchases_without_cards_with_money(world, runner):
    _company, product = world
    card_with(product, 1, 0)
    result = runner.invoke(args=["demo", "purchases"])
    assert result.exit_code == 1 and "No hay tarjetas activas con saldo disponible." in result.output
    result = runner.invoke(args=["demo", "purchases", "--product-id", "999"])
    assert result.exit_code == 1 and "No existe el producto 999." in result.output
