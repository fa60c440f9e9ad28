"""The ledger in the database (ledger.py): balanced, append-only, idempotent, never negative."""

import threading

import pytest

import ledger
import models
from domain.ledger import Operation, Posting
from models import LedgerAccount, LedgerOperation, LedgerPosting
from tests.conftest import in_threads
from tests.factories import make_company, make_product


@pytest.fixture
def world(db):
    company = make_company("LIBRO SAS")
    product = make_product(company)
    return company, product


def paid(world, amount, key="pago:1"):
    """The company pays `amount` into the product's funding account."""
    company, product = world
    bank, funding = ledger.company_bank_account(company), ledger.funding_account(product)
    assert ledger.post(key, "Pago orden", [(bank, -amount), (funding, amount)])
    return bank, funding


def test_accounts_are_created_once_by_code(world):
    company, product = world
    first = ledger.funding_account(product)
    assert ledger.funding_account(product).id == first.id
    assert (first.kind, first.product_id, first.company_id, first.allow_negative) == (
        "FONDEO",
        product.id,
        company.id,
        False,
    )
    bank = ledger.company_bank_account(company)
    assert (bank.kind, bank.allow_negative, bank.company_id) == ("EXTERNA", True, company.id)
    assert ledger.revenue_account().kind == "INGRESO" and ledger.tax_account().kind == "IMPUESTO"
    master = ledger.account(f"master:{product.id}", "Cuenta maestra", LedgerAccount.MASTER, product=product)
    assert master.kind == "MAESTRA"
    assert LedgerAccount.select().count() == 5


def test_two_threads_creating_the_same_account_get_one(world, database_url):
    company, _product = world
    models.db.close()
    ids = []

    def create():
        ids.append(ledger.account("shared", "Compartida", LedgerAccount.REVENUE).id)

    in_threads(create, 6, 30)
    models.db.connect(reuse_if_open=True)
    assert len(ids) == 6 and len(set(ids)) == 1
    assert LedgerAccount.select().where(LedgerAccount.code == "shared").count() == 1


def test_post_moves_money_and_keeps_running_balances(world):
    company, product = world
    bank, funding = paid(world, 100_000)
    revenue = ledger.revenue_account()
    assert ledger.post("fee:1", "Comisión", [(funding, -2_500), (revenue.id, 2_500)])
    assert ledger.post("fee:2", "Comisión", [(funding, -500), (revenue, 500)])
    assert (ledger.balance(bank), ledger.balance(funding), ledger.balance(revenue)) == (-100_000, 97_000, 3_000)
    history = list(ledger.history(funding))
    assert [(p.operation.key, p.amount, p.balance_after) for p in history] == [
        ("fee:2", -500, 97_000),
        ("fee:1", -2_500, 97_500),
        ("pago:1", 100_000, 100_000),
    ]
    assert [p.balance_after for p in ledger.history(bank)] == [-100_000]
    # Σ postings of every account is its balance.
    for account in LedgerAccount.select():
        total = sum(p.amount for p in LedgerPosting.select().where(LedgerPosting.account == account))
        assert total == account.balance


def test_the_same_key_posts_once(world):
    bank, funding = paid(world, 10_000)
    assert not ledger.post("pago:1", "Pago orden", [(bank, -10_000), (funding, 10_000)])
    assert not ledger.post("pago:1", "otro monto", [(bank, -1), (funding, 1)])
    assert LedgerOperation.select().count() == 1 and LedgerPosting.select().count() == 2
    assert ledger.balance(funding) == 10_000


def test_zero_amounts_are_dropped(world):
    company, product = world
    bank, funding = ledger.company_bank_account(company), ledger.funding_account(product)
    tax = ledger.tax_account()
    assert ledger.post("pago:z", "Pago", [(bank, -700), (funding, 700), (tax, 0)])
    assert LedgerPosting.select().count() == 2
    assert not ledger.post("pago:nada", "Pago de cero", [(bank, 0), (funding, 0)])
    assert not LedgerOperation.select().where(LedgerOperation.key == "pago:nada").exists()


def test_unbalanced_is_refused_and_nothing_is_written(world):
    company, product = world
    bank, funding = ledger.company_bank_account(company), ledger.funding_account(product)
    with pytest.raises(ledger.LedgerError) as error:
        ledger.post("malo", "Descuadrado", [(bank, -1_000), (funding, 999)])
    assert isinstance(error.value, ledger.Unbalanced) and "balanceada" in error.value.message
    assert LedgerOperation.select().count() == 0 and LedgerPosting.select().count() == 0


def test_negative_is_refused_and_nothing_is_written(world):
    bank, funding = paid(world, 5_000)
    revenue = ledger.revenue_account()
    with pytest.raises(ledger.NegativeBalance) as error:
        ledger.post("fee:big", "Comisión", [(funding, -5_001), (revenue, 5_001)])
    assert error.value.account_id == funding.id
    assert not LedgerOperation.select().where(LedgerOperation.key == "fee:big").exists()
    assert LedgerPosting.select().count() == 2
    assert (ledger.balance(funding), ledger.balance(revenue), ledger.balance(bank)) == (5_000, 0, -5_000)
    assert ledger.post("fee:all", "Comisión", [(funding, -5_000), (revenue, 5_000)])  # down to zero is fine
    assert ledger.balance(funding) == 0


def test_post_inside_a_callers_transaction_rolls_back_with_it(world):
    company, product = world
    bank, funding = ledger.company_bank_account(company), ledger.funding_account(product)
    with pytest.raises(RuntimeError), models.db.atomic():
        assert ledger.post("pago:x", "Pago", [(bank, -300), (funding, 300)])
        raise RuntimeError("the caller's work failed")
    assert LedgerOperation.select().count() == 0 and ledger.balance(funding) == 0
    with models.db.atomic():
        with pytest.raises(ledger.NegativeBalance):
            ledger.post("fee:x", "Comisión", [(funding, -1), (bank, 1)])
        assert ledger.post("pago:y", "Pago", [(bank, -300), (funding, 300)])  # the caller goes on
    assert ledger.balance(funding) == 300


def test_post_many_skips_posted_keys_and_keeps_running_balances(world):
    company, product = world
    bank, funding = paid(world, 10_000)
    cards = [ledger.account(f"t:{i}", f"Tarjeta {i}", LedgerAccount.CARD, product=product) for i in range(3)]
    ledger.post("rec:0", "Recarga", [(funding, -1_000), (cards[0], 1_000)])
    operations = [
        Operation.transfer("rec:0", "Recarga", funding.id, cards[0].id, 1_000),  # posted already
        Operation.transfer("rec:1", "Recarga", funding.id, cards[1].id, 2_000),
        Operation.transfer("rec:2", "Recarga", funding.id, cards[2].id, 3_000),
        Operation.transfer("rec:3", "Recarga", funding.id, cards[1].id, 500),
        Operation.transfer("rec:3", "Recarga", funding.id, cards[1].id, 500),  # twice in the list
    ]
    assert ledger.post_many(operations) == 3
    assert [ledger.balance(c) for c in cards] == [1_000, 2_500, 3_000]
    assert ledger.balance(funding) == 10_000 - 1_000 - 2_000 - 3_000 - 500
    assert [(p.operation.key, p.balance_after) for p in ledger.history(funding)] == [
        ("rec:3", 3_500),
        ("rec:2", 4_000),
        ("rec:1", 7_000),
        ("rec:0", 9_000),
        ("pago:1", 10_000),
    ]
    assert [p.balance_after for p in ledger.history(cards[1])] == [2_500, 2_000]
    assert ledger.post_many(operations) == 0
    assert LedgerOperation.select().count() == 5


def test_post_many_is_all_or_nothing(world):
    company, product = world
    _bank, funding = paid(world, 1_000)
    card = ledger.account("t:1", "Tarjeta", LedgerAccount.CARD, product=product)
    operations = [
        Operation.transfer("rec:1", "Recarga", funding.id, card.id, 600),
        Operation.transfer("rec:2", "Recarga", funding.id, card.id, 600),  # funding would go to -200
    ]
    with pytest.raises(ledger.NegativeBalance):
        ledger.post_many(operations)
    assert LedgerOperation.select().count() == 1 and ledger.balance(funding) == 1_000 and ledger.balance(card) == 0
    with pytest.raises(ledger.UnknownAccount):
        ledger.post_many([Operation("x", "", (Posting(funding.id, -1), Posting(999_999, 1)))])


def test_post_many_with_many_operations(world):
    """Enough rows to cross the bulk helpers' chunking and the COPY path on PostgreSQL."""
    company, product = world
    _bank, funding = paid(world, 10**9)
    cards = [ledger.account(f"t:{i}", "Tarjeta", LedgerAccount.CARD, product=product) for i in range(50)]
    operations = [
        Operation.transfer(f"rec:{i}", f'Recarga "{i}", ñ', funding.id, cards[i % 50].id, 100 + i)
        for i in range(12_000)
    ]
    assert ledger.post_many(operations) == 12_000
    expected = {c.id: 0 for c in cards}
    for i in range(12_000):
        expected[cards[i % 50].id] += 100 + i
    assert {c.id: ledger.balance(c) for c in cards} == expected
    assert ledger.balance(funding) == 10**9 - sum(expected.values())
    assert LedgerPosting.select().count() == 2 + 24_000
    last = ledger.history(cards[7]).first()
    assert last.balance_after == expected[cards[7].id] and last.operation.description == 'Recarga "11957", ñ'


def test_two_threads_posting_the_same_key_post_once(world, database_url):
    bank, funding = paid(world, 50_000)
    revenue = ledger.revenue_account()
    models.db.close()
    outcomes, barrier = [], threading.Barrier(4)

    def send():
        barrier.wait(10)
        outcomes.append(ledger.post("fee:same", "Comisión", [(funding, -20_000), (revenue, 20_000)]))

    in_threads(send, 4, 60)
    models.db.connect(reuse_if_open=True)
    assert sorted(outcomes) == [False, False, False, True]
    assert LedgerOperation.select().where(LedgerOperation.key == "fee:same").count() == 1
    assert (ledger.balance(funding), ledger.balance(revenue)) == (30_000, 20_000)


def test_two_threads_draining_one_account_never_take_it_below_zero(world, database_url):
    bank, funding = paid(world, 50_000)
    revenue = ledger.revenue_account()
    models.db.close()
    outcomes, barrier = [], threading.Barrier(4)

    def send(i):
        models.db.connect(reuse_if_open=True)
        try:
            barrier.wait(10)
            try:
                outcomes.append(ledger.post(f"fee:{i}", "Comisión", [(funding, -20_000), (revenue, 20_000)]))
            except ledger.NegativeBalance:
                outcomes.append("refused")
        finally:
            models.db.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    models.db.connect(reuse_if_open=True)
    assert sorted(map(str, outcomes)) == ["True", "True", "refused", "refused"]
    assert (ledger.balance(funding), ledger.balance(revenue)) == (10_000, 40_000)
    assert [p.balance_after for p in ledger.history(funding)] == [10_000, 30_000, 50_000]
