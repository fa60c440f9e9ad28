"""Servicios > Cuenta maestra (services/master.py): funding with the e-mailed code, and credits,
debits and balance inquiries of cards with their commissions, limits, refusals and keys."""

from datetime import timedelta

import pytest

import ledger
from adapters.bank import SimulatedBank
from models import BankAccount, Card, CardPurchase, LedgerOperation, MasterOperation
from services import Refused, master
from tests import batchfiles
from tests.conftest import in_threads
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards
from tests.web.test_orders import last_code

FEES = {"transfer_fee": 5_500, "inquiry_fee": 6_000, "card_limit": 500_000_000, "operation_min": 100}


@pytest.fixture(autouse=True)
def context(app):
    """The codes are e-mailed (the outbox) through the app's settings."""
    with app.app_context():
        yield


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**12)
    product = make_product(company, **FEES)
    user = make_user("tesorero", perms={product: "all"})
    issue_cards(product, 3)
    cards = list(Card.select().where(Card.product == product).order_by(Card.id))
    return {"company": company, "product": product, "user": user, "cards": cards}


def funded(world, amount=100_000_000):
    """The master account funded (as «Recarga cuenta maestra» does) with `amount` centavos."""
    key = master.new_key()
    master.send_funding_code(world["user"], world["product"], key, amount)
    master.fund(world["user"], world["product"], key, amount, "Fondeo", last_code("tesorero"))
    return key


def master_balance(world):
    return ledger.balance(ledger.master_account(world["product"]))


def card_balance(card):
    return ledger.balance(ledger.card_account(Card.get_by_id(card.id)))


def run(world, kind, items, key=None, password=PASSWORD):
    return master.run(world["user"], world["product"], kind, items, key or master.new_key(), password)


# ---------------------------------------------------------------- funding


def test_funding_debits_the_bank_and_credits_the_master_account_once(world):
    bank_before = SimulatedBank().balance(world["company"].bank_account)
    key = funded(world, 100_000_000)
    assert master_balance(world) == 100_000_000
    assert SimulatedBank().balance(world["company"].bank_account) == bank_before - 100_000_000
    operation = MasterOperation.get(MasterOperation.key == key)
    assert (operation.kind, operation.status, operation.amount) == (
        MasterOperation.FUND,
        MasterOperation.OK,
        100_000_000,
    )
    again = master.fund(world["user"], world["product"], key, 100_000_000, "Fondeo", "000000")  # a retried request
    assert again.id == operation.id and master_balance(world) == 100_000_000


def test_the_code_confirms_that_amount_and_no_other(world):
    key = master.new_key()
    master.send_funding_code(world["user"], world["product"], key, 100_000)
    code = last_code("tesorero")
    with pytest.raises(Refused):
        master.fund(world["user"], world["product"], key, 900_000_000, "", code)  # the amount changed
    with pytest.raises(Refused, match="no es correcto"):
        master.fund(world["user"], world["product"], key, 100_000, "", "000000" if code != "000000" else "111111")
    assert master_balance(world) == 0


@pytest.mark.parametrize(
    "field, value, amount, message",
    [
        ("fund_max", 1_000_000, 1_000_001, "máximo por recarga"),
        ("fund_daily_max", 1_500_000, 1_000_000, "límite diario"),
        ("fund_monthly_max", 1_500_000, 1_000_000, "límite mensual"),
    ],
)
def test_funding_limits(world, field, value, amount, message):
    product = world["product"]
    setattr(product, field, value)
    product.save()
    if field != "fund_max":
        funded(world, 1_000_000)
    with pytest.raises(Refused, match=message):
        master.send_funding_code(world["user"], product, master.new_key(), amount)


def assert_refused_by_the_bank(world, key):
    """Nothing moved; the funding is kept, refused with the bank's answer, which a retry of the
    same dialog repeats (moving nothing either)."""
    assert master_balance(world) == 0
    refused = MasterOperation.get(MasterOperation.key == key)
    assert refused.status == MasterOperation.REFUSED and refused.message.startswith("El banco rechazó")
    with pytest.raises(Refused, match="El banco rechazó"):
        master.fund(world["user"], world["product"], key, 100_000, "", "000000")
    assert master_balance(world) == 0


def test_the_bank_refuses_an_inactive_account_and_nothing_moves(world):
    BankAccount.update(active=False).where(BankAccount.number == world["company"].bank_account).execute()
    key = master.new_key()
    master.send_funding_code(world["user"], world["product"], key, 100_000)
    with pytest.raises(Refused, match="El banco rechazó la transferencia"):
        master.fund(world["user"], world["product"], key, 100_000, "", last_code("tesorero"))
    assert_refused_by_the_bank(world, key)


# ---------------------------------------------------------------- card operations


def test_a_credit_moves_the_amount_and_charges_the_commission_as_its_own_line(world):
    funded(world, 100_000_000)
    card = world["cards"][0]
    (result,) = run(world, MasterOperation.CREDIT, [(card, 5_000_000)])
    assert (result.message, result.amount, result.fee, result.balance) == (master.OK, 5_000_000, 5_500, 5_000_000)
    assert card_balance(card) == 5_000_000
    assert master_balance(world) == 100_000_000 - 5_000_000 - 5_500
    assert ledger.balance(ledger.revenue_account()) >= 5_500
    descriptions = [o.description for o in LedgerOperation.select().where(LedgerOperation.key.startswith("maestra:"))]
    assert descriptions == [
        f"Abono a tarjeta •••• {card.masked_pan[-4:]}",
        f"Débito por comisión de servicio: abono a la tarjeta •••• {card.masked_pan[-4:]}",
    ]


def test_a_debit_takes_from_the_card_never_more_than_its_live_balance(world):
    funded(world, 100_000_000)
    card = world["cards"][0]
    run(world, MasterOperation.CREDIT, [(card, 1_000_000)])
    CardPurchase.create(card=card, amount=400_000, merchant="Tienda")  # not settled yet: the live balance is lower
    (refused,) = run(world, MasterOperation.DEBIT, [(card, 700_000)])
    assert refused.message == master.INSUFFICIENT and card_balance(card) == 1_000_000
    (done,) = run(world, MasterOperation.DEBIT, [(card, 600_000)])
    assert (done.message, done.balance) == (master.OK, 400_000)
    assert master_balance(world) == 100_000_000 - 1_000_000 - 5_500 + 600_000 - 5_500


def test_an_inquiry_shows_the_live_balance_and_charges_its_commission(world):
    funded(world, 100_000_000)
    card = world["cards"][1]
    run(world, MasterOperation.CREDIT, [(card, 2_000_000)])
    CardPurchase.create(card=card, amount=150_000)
    (result,) = run(world, MasterOperation.INQUIRY, [(card, 0)])
    assert (result.message, result.balance, result.fee) == (master.OK, 1_850_000, 6_000)
    assert master_balance(world) == 100_000_000 - 2_000_000 - 5_500 - 6_000


def test_refusals_move_nothing(world):
    card = world["cards"][0]
    (poor,) = run(world, MasterOperation.CREDIT, [(card, 1_000)])
    assert poor.message == master.INSUFFICIENT  # the master account is empty
    funded(world, 100_000_000)
    product = world["product"]
    (over,) = run(world, MasterOperation.CREDIT, [(card, product.card_limit + 100)])
    assert over.message == master.LIMIT  # the card's maximum balance
    (small,) = run(world, MasterOperation.CREDIT, [(card, 50)])
    assert small.message == master.LIMIT  # under the minimum per operation
    Card.update(status="BLOQUEO_TEMPORAL").where(Card.id == card.id).execute()
    results = [run(world, kind, [(card, 1_000)])[0] for kind in master.KINDS]
    assert [r.message for r in results] == [master.BLOCKED] * 3
    assert card_balance(card) == 0 and master_balance(world) == 100_000_000
    assert MasterOperation.select().where(MasterOperation.status == MasterOperation.REFUSED).count() == 6


@pytest.mark.parametrize("field, value, operations", [("daily_count_max", 2, 3), ("daily_amount_max", 25_000, 3)])
def test_daily_limits_of_the_master_account(world, field, value, operations):
    funded(world, 100_000_000)
    product = world["product"]
    setattr(product, field, value)
    product.save()
    results = [run(world, MasterOperation.CREDIT, [(world["cards"][0], 10_000)])[0] for _ in range(operations)]
    assert [r.message for r in results] == [master.OK, master.OK, master.LIMIT]


def test_the_weekly_amount_counts_credits_and_debits(world):
    funded(world, 100_000_000)
    product = world["product"]
    product.weekly_amount_max = 30_000
    product.save()
    card = world["cards"][0]
    assert run(world, MasterOperation.CREDIT, [(card, 20_000)])[0].ok
    assert run(world, MasterOperation.DEBIT, [(card, 20_000)])[0].message == master.LIMIT


def test_the_same_key_moves_money_once(world):
    funded(world, 100_000_000)
    card = world["cards"][0]
    key = master.new_key()
    first = run(world, MasterOperation.CREDIT, [(card, 10_000)], key=key)[0]
    again = run(world, MasterOperation.CREDIT, [(card, 10_000)], key=key)[0]
    assert first.ok and again.ok and again.repeated and not first.repeated
    assert card_balance(card) == 10_000


def test_many_cards_at_once_each_get_their_outcome(world):
    funded(world, 100_000_000)
    a, b, c = world["cards"]
    Card.update(status="BLOQUEADA_ROBO").where(Card.id == b.id).execute()
    results = run(world, MasterOperation.CREDIT, [(a, 10_000), (b, 20_000), (c, 30_000)])
    assert [r.message for r in results] == [master.OK, master.BLOCKED, master.OK]
    assert (card_balance(a), card_balance(b), card_balance(c)) == (10_000, 0, 30_000)


def test_the_password_and_the_amounts_are_checked_before_anything_moves(world):
    funded(world, 100_000_000)
    card = world["cards"][0]
    with pytest.raises(Refused, match="contraseña"):
        run(world, MasterOperation.CREDIT, [(card, 10_000)], password="mala")
    with pytest.raises(Refused, match="Escribe el monto"):
        run(world, MasterOperation.CREDIT, [(card, 0)])
    assert card_balance(card) == 0 and not MasterOperation.select().where(MasterOperation.card.is_null(False)).exists()


def test_parallel_operations_on_one_card_and_master_account_keep_the_ledger_exact(app, world):
    """Threads, each on its own connection, credit and debit the same card from the same master
    account at once: every one is done or refused whole, and the balances add up."""
    funded(world, 500_000)
    card = world["cards"][0]
    run(world, MasterOperation.CREDIT, [(card, 100_000)])
    start_master = master_balance(world)
    kinds = iter([MasterOperation.CREDIT, MasterOperation.DEBIT] * 4)
    import threading

    lock = threading.Lock()

    def one():
        with lock:
            kind = next(kinds)
        with app.app_context():
            return run(world, kind, [(Card.get_by_id(card.id), 60_000)])[0]

    results = in_threads(one, 8)
    assert all(isinstance(r, master.Result) for r in results), results
    credits = sum(r.ok and r.kind == MasterOperation.CREDIT for r in results)
    debits = sum(r.ok and r.kind == MasterOperation.DEBIT for r in results)
    fees = 5_500 * (credits + debits)
    assert card_balance(card) == 100_000 + 60_000 * (credits - debits)
    assert master_balance(world) == start_master - 60_000 * (credits - debits) - fees
    assert master_balance(world) >= 0 and card_balance(card) >= 0


def test_parallel_requests_with_the_same_key_move_money_once(app, world):
    funded(world, 500_000)
    card = world["cards"][0]
    key = master.new_key()

    def credit():
        with app.app_context():
            return run(world, MasterOperation.CREDIT, [(Card.get_by_id(card.id), 10_000)], key=key)[0]

    results = in_threads(credit, 6)
    assert all(isinstance(r, master.Result) and r.ok for r in results), results
    assert card_balance(card) == 10_000 and sum(not r.repeated for r in results) == 1


def test_a_processor_that_fails_is_said_as_such_and_moves_nothing(world, monkeypatch):
    from adapters.processor import SimulatedProcessor

    funded(world, 100_000_000)
    card = world["cards"][0]
    run(world, MasterOperation.CREDIT, [(card, 50_000)])
    before = (master_balance(world), card_balance(card))

    def down(self, product, card_ids):
        raise ConnectionError("processor unreachable")

    monkeypatch.setattr(SimulatedProcessor, "live_balances", down)
    results = run(world, MasterOperation.INQUIRY, [(card, 0)]) + run(world, MasterOperation.DEBIT, [(card, 10_000)])
    assert [r.message for r in results] == [master.FAILED, master.FAILED]
    assert (master_balance(world), card_balance(card)) == before


def test_the_bank_refuses_insufficient_funds_and_nothing_moves(world):
    BankAccount.update(balance=50_000).where(BankAccount.number == world["company"].bank_account).execute()
    key = master.new_key()
    master.send_funding_code(world["user"], world["product"], key, 100_000)
    with pytest.raises(Refused, match="Fondos insuficientes"):
        master.fund(world["user"], world["product"], key, 100_000, "", last_code("tesorero"))
    assert_refused_by_the_bank(world, key)
    assert SimulatedBank().balance(world["company"].bank_account) == 50_000


@pytest.mark.parametrize(
    "field, value, kind, amount",
    [
        ("operation_max", 200_000, MasterOperation.CREDIT, 200_100),  # over the maximum per operation
        ("operation_max", 200_000, MasterOperation.DEBIT, 200_100),
        ("card_limit", 1_500_000, MasterOperation.CREDIT, 500_100),  # the card would hold 1.500.100
    ],
)
def test_each_limit_of_an_operation_on_its_own(world, field, value, kind, amount):
    funded(world, 100_000_000)
    card = world["cards"][0]
    assert run(world, MasterOperation.CREDIT, [(card, 1_000_000)])[0].ok
    product = world["product"]
    setattr(product, field, value)
    product.save()
    before = (master_balance(world), card_balance(card))
    (result,) = run(world, kind, [(card, amount)])
    assert result.message == master.LIMIT and (master_balance(world), card_balance(card)) == before
    assert run(world, kind, [(card, amount - 200)])[0].ok  # just under the limit it goes through


# ---------------------------------------------------------------- a funding cut short


def _cut_short(world, monkeypatch, target, name) -> tuple[str, str]:
    """Confirm a funding of $ 1.000,00 whose request dies in `target.name` (nothing after it
    runs, as in a killed process); returns its dialog key and code."""
    key = master.new_key()
    master.send_funding_code(world["user"], world["product"], key, 100_000)
    code = last_code("tesorero")

    def crash(*args, **kwargs):
        raise SystemExit("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(target, name, crash)
        with pytest.raises(SystemExit):
            master.fund(world["user"], world["product"], key, 100_000, "Cierre de mes", code)
    return key, code


def _stale(key):
    """The funding as the job finds it once STALE_FUNDING has passed."""
    operation = MasterOperation.get(MasterOperation.key == key)
    operation.created_at -= master.STALE_FUNDING + timedelta(seconds=1)
    operation.save()


@pytest.mark.parametrize("where", ["after the bank's debit", "before the bank was asked"])
def test_a_funding_cut_short_is_finished_once_by_the_job(world, monkeypatch, where):
    from services import ledger_check

    account = world["company"].bank_account
    bank_before = SimulatedBank().balance(account)
    if where == "after the bank's debit":
        key, _code = _cut_short(world, monkeypatch, ledger, "post")
    else:
        key, _code = _cut_short(world, monkeypatch, SimulatedBank, "debit")
    operation = MasterOperation.get(MasterOperation.key == key)
    assert operation.status == MasterOperation.IN_PROGRESS and master_balance(world) == 0
    assert master.settle_stuck_fundings() == 0  # not stale yet: the request may still be at it
    _stale(key)
    assert master.settle_stuck_fundings() == 1
    assert master.settle_stuck_fundings() == 0
    operation = MasterOperation.get(MasterOperation.key == key)
    assert operation.status == MasterOperation.OK and operation.balance == 100_000
    assert master_balance(world) == 100_000 and SimulatedBank().balance(account) == bank_before - 100_000
    assert LedgerOperation.select().where(LedgerOperation.key == f"fondeo:{key}").count() == 1
    assert not ledger_check.check()  # every account reconciles, the bank's movements included


def test_the_users_retry_finishes_a_funding_cut_short_and_moves_the_money_once(world, monkeypatch):
    user, product, account = world["user"], world["product"], world["company"].bank_account
    bank_before = SimulatedBank().balance(account)
    key, code = _cut_short(world, monkeypatch, ledger, "post")
    # «Aceptar» again, the same dialog (its key), its code already spent: it ends the funding.
    assert master.fund(user, product, key, 100_000, "", code).status == MasterOperation.OK
    assert master.fund(user, product, key, 100_000, "", code).status == MasterOperation.OK
    _stale(key)
    assert master.settle_stuck_fundings() == 0
    assert master_balance(world) == 100_000 and SimulatedBank().balance(account) == bank_before - 100_000


def test_two_fundings_at_once_cannot_pass_the_daily_limit_together(world):
    product = world["product"]
    product.fund_daily_max = 150_000
    product.save()
    user = world["user"]

    def fund():
        try:
            return master.fund_without_code(user, product, 100_000, "").status
        except Refused as exc:
            return exc.message

    outcomes = in_threads(fund, count=2)
    assert sorted(outcomes)[0] == MasterOperation.OK and "límite diario" in sorted(outcomes)[1], outcomes
    assert master_balance(world) == 100_000


def test_a_funding_refused_by_the_limits_after_its_code_says_so_again_on_a_retry(world):
    """Another funding took the rest of the day's limit between «Transferir» and «Aceptar»: the
    refusal is kept, so pressing «Aceptar» again (the code already spent) repeats it."""
    user, product = world["user"], world["product"]
    product.fund_daily_max = 150_000
    product.save()
    key = master.new_key()
    master.send_funding_code(user, product, key, 100_000)
    code = last_code("tesorero")
    master.fund_without_code(user, product, 100_000, "Otra recarga")
    for _attempt in range(2):
        with pytest.raises(Refused, match="límite diario"):
            master.fund(user, product, key, 100_000, "", code)
    assert MasterOperation.get(MasterOperation.key == key).status == MasterOperation.REFUSED
    assert master_balance(world) == 100_000
