"""Reposición (services/replacement.py): a card blocked for loss or theft is replaced by a stock
card at once, or by a new named card through a REP batch; its balance moves once, in one ledger
operation, even when the process is killed halfway."""

import orjson
import pytest

import ledger
from domain.card_states import CardState
from models import AuditEvent, Batch, BatchRecord, Card, CardPurchase, LedgerOperation, Person, ServiceOrder
from services import Refused, authorization, innominate, orders, processing, replacement
from services.authorization import estimates
from tests import batchfiles
from tests.conftest import in_threads
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards

BALANCE = 15_000_000  # $ 150.000,00


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**12)
    named = make_product(company, "Clásica / Visa", replacement_fee=1_200_000, card_price_named=1_000)
    unnamed = make_product(company, "Clásica In / Visa", named=False, card_price_unnamed=800)
    user = make_user("jefe", perms={named: "all", unnamed: "all"})
    issue_cards(named, 2)
    cards = list(Card.select().where(Card.product == named).order_by(Card.id))
    make_stock(unnamed, user, 3, "73")
    credit(cards[0], BALANCE)
    block(cards[0], CardState.BLOCKED_LOSS)
    return {"named": named, "unnamed": unnamed, "user": user, "card": reload(cards[0]), "other": cards[1]}


def make_stock(product, user, n, branch):
    form = {"quantity": str(n), "line1": "JAHC TECHNOLOGIES", "line2": "NIT 900291499", "branch": branch}
    request = innominate.request_cards(user, product, form, PASSWORD)
    through_order(product, request, user)


def through_order(product, batch, user):
    for order in authorization.authorize(product, [batch.id], user):
        orders.pay_without_code(order, user)
    processing.process_paid_orders()


def credit(card, amount):
    """Money on the card (from the company's bank account in our books: the test's own source)."""
    bank = ledger.company_bank_account(Card.get_by_id(card.id).product.company)
    ledger.post(f"prueba:{card.id}:{amount}", "Abono de prueba", [(bank, -amount), (ledger.card_account(card), amount)])


def block(card, state):
    Card.update(status=state).where(Card.id == card.id).execute()


def reload(card):
    return Card.get_by_id(card.id)


def balance(card):
    return ledger.balance(ledger.card_account(reload(card)))


def stock_left(product, branch="73"):
    return {s.branch.code: s.available for s in replacement.stock_by_branch(product)}.get(branch, 0)


def first_stock_card(product):
    return (
        Card.select()
        .where((Card.product == product) & (Card.status == CardState.NOT_AFFILIATED))
        .order_by(Card.id)
        .first()
    )


def replace_from_stock(world, card=None, branch="73", password=PASSWORD):
    card = replacement.card_of(world["named"], (card or world["card"]).id)
    return replacement.from_stock(world["user"], world["named"], card, branch, password)


def operations(card):
    return LedgerOperation.select().where(LedgerOperation.key == replacement.replacement_key(card.id)).count()


# ---------------------------------------------------------------- from stock


def test_a_stock_card_of_the_branch_takes_the_holder_and_the_exact_balance(world):
    old, expected = world["card"], first_stock_card(world["unnamed"])
    assert replacement.stock_by_branch(world["named"])[0].branch.code == "73"
    result = replace_from_stock(world)

    assert result.new.id == expected.id and not result.repeated
    assert (
        result.message
        == f"La tarjeta •••• {old.masked_pan[-4:]} ha sido reemplazada por •••• {expected.masked_pan[-4:]}"
    )
    old, new = reload(old), reload(expected)
    assert (old.status, old.replaced_by_id) == (CardState.REPLACED, new.id) and old.status_changed_at is not None
    assert (new.status, new.person_id, new.branch.code) == (CardState.ACTIVE, old.person_id, "73")
    assert new.affiliated_at is not None
    assert (balance(old), balance(new), result.amount) == (0, BALANCE, BALANCE)
    assert operations(old) == 1
    assert stock_left(world["named"]) == 2
    event = AuditEvent.get(AuditEvent.tag == replacement.REPLACE_EVENT)
    assert event.object_ref == f"tarjeta:{old.id}" and new.masked_pan in event.detail


def test_a_retry_moves_nothing_and_takes_no_second_stock_card(world):
    first = replace_from_stock(world)
    again = replace_from_stock(world)
    assert again.repeated and again.new.id == first.new.id and again.amount == BALANCE
    assert again.message == first.message
    assert operations(world["card"]) == 1 and balance(first.new) == BALANCE
    assert stock_left(world["named"]) == 2
    assert AuditEvent.select().where(AuditEvent.tag == replacement.REPLACE_EVENT).count() == 1


def test_killed_after_the_ledger_post_commits_nothing_and_run_again_moves_once(world, monkeypatch):
    real = replacement._mark_replaced

    def killed(old, new):
        assert ledger.balance(ledger.card_account(new)) == BALANCE  # posted, inside the transaction
        raise RuntimeError("killed")

    monkeypatch.setattr(replacement, "_mark_replaced", killed)
    with pytest.raises(RuntimeError, match="killed"):
        replace_from_stock(world)
    old, stock = reload(world["card"]), first_stock_card(world["unnamed"])
    assert (old.status, old.replaced_by_id, balance(old)) == (CardState.BLOCKED_LOSS, None, BALANCE)
    assert (stock.person_id, balance(stock), operations(old)) == (None, 0, 0)
    assert stock_left(world["named"]) == 3

    monkeypatch.setattr(replacement, "_mark_replaced", real)
    result = replace_from_stock(world)
    assert result.new.id == stock.id and (balance(old), balance(stock)) == (0, BALANCE)
    assert operations(old) == 1 and stock_left(world["named"]) == 2


def test_unsettled_purchases_stay_on_the_old_card_to_be_settled(world):
    CardPurchase.create(card=world["card"].id, amount=4_000_000, merchant="Tienda")
    result = replace_from_stock(world)
    assert result.amount == BALANCE - 4_000_000
    assert (balance(world["card"]), balance(result.new)) == (4_000_000, BALANCE - 4_000_000)


def test_a_card_of_an_innominate_product_is_replaced_from_its_own_stock(world):
    unnamed, user = world["unnamed"], world["user"]
    mine = first_stock_card(unnamed)
    Card.update(person=world["other"].person_id, status=CardState.BLOCKED_THEFT).where(Card.id == mine.id).execute()
    credit(mine, 500_000)
    card = replacement.card_of(unnamed, mine.id)
    result = replacement.from_stock(user, unnamed, card, "73", PASSWORD)
    assert result.new.product_id == unnamed.id and reload(result.new).person_id == world["other"].person_id
    assert (balance(mine), balance(result.new), reload(mine).status) == (0, 500_000, CardState.REPLACED)


@pytest.mark.parametrize("state", [CardState.ACTIVE, CardState.TEMPORARY_BLOCK, CardState.CANCELLED])
def test_only_a_card_blocked_for_loss_or_theft_is_replaced(world, state):
    block(world["card"], state)
    with pytest.raises(Refused, match="bloqueadas por extravío o por robo"):
        replace_from_stock(world)
    with pytest.raises(Refused, match="bloqueadas por extravío o por robo"):
        replacement.with_new_card(world["user"], world["named"], reload(world["card"]), PASSWORD)
    assert balance(world["card"]) == BALANCE and Batch.select().where(Batch.kind == "REP").count() == 0


def test_a_branch_without_stock_or_unknown_is_refused(world):
    with pytest.raises(Refused, match="La sucursal 1 Sucursal 1 no tiene tarjetas innominadas disponibles"):
        replace_from_stock(world, branch="1")
    with pytest.raises(Refused, match="Elige la sucursal"):
        replace_from_stock(world, branch="99")
    assert reload(world["card"]).status == CardState.BLOCKED_LOSS and balance(world["card"]) == BALANCE


def test_a_wrong_password_moves_nothing(world):
    with pytest.raises(Refused, match="La contraseña es incorrecta"):
        replace_from_stock(world, password="Mala*123")
    with pytest.raises(Refused, match="La contraseña es incorrecta"):
        replacement.with_new_card(world["user"], world["named"], world["card"], "Mala*123")
    assert reload(world["card"]).status == CardState.BLOCKED_LOSS and balance(world["card"]) == BALANCE
    assert stock_left(world["named"]) == 3 and Batch.select().where(Batch.kind == "REP").count() == 0


def test_a_holder_with_an_active_card_of_the_stock_product_is_refused(world):
    taken = first_stock_card(world["unnamed"])
    Card.update(person=world["card"].person_id, status=CardState.ACTIVE).where(Card.id == taken.id).execute()
    with pytest.raises(Refused, match="ya tiene una tarjeta activa"):
        replace_from_stock(world)
    assert balance(world["card"]) == BALANCE and stock_left(world["named"]) == 2


# ---------------------------------------------------------------- a new named card (REP)


def request_new(world):
    return replacement.with_new_card(world["user"], world["named"], world["card"], PASSWORD)


def test_a_rep_batch_of_one_record_goes_to_authorization_at_the_replacement_fee(world):
    batch = request_new(world)
    assert (batch.kind, batch.status, batch.total_records, batch.amount) == ("REP", Batch.TO_AUTHORIZE, 1, 0)
    (record,) = BatchRecord.select().where(BatchRecord.batch == batch)
    person = Person.get_by_id(world["card"].person_id)
    assert (record.id_type, record.id_number) == (person.id_type, person.id_number)
    assert orjson.loads(record.data)["card_id"] == world["card"].id
    cost = estimates(world["named"], [batch])[batch.id].cost
    assert (cost.unit_price, cost.card_price_total, cost.distribution) == (1_200_000, 1_200_000, 0)
    assert replacement.replacement_cost(world["named"]) == estimates(world["named"], [batch])[batch.id].total
    # Nothing happens to the card until the batch is processed; meanwhile, no second request.
    assert reload(world["card"]).status == CardState.BLOCKED_LOSS
    with pytest.raises(Refused, match=f"ya está solicitada en el lote {batch.number}"):
        request_new(world)
    with pytest.raises(Refused, match=f"ya está solicitada en el lote {batch.number}"):
        replace_from_stock(world)


def test_processing_the_rep_batch_issues_a_named_card_to_the_same_person_with_the_balance(world):
    batch = request_new(world)
    through_order(world["named"], batch, world["user"])
    assert Batch.get_by_id(batch.id).status == Batch.PROCESSED
    (record,) = BatchRecord.select().where(BatchRecord.batch == batch)
    assert (record.status, record.reason) == (BatchRecord.PROCESSED, "")
    old = reload(world["card"])
    new = Card.get(Card.record == record.id)
    assert (old.status, old.replaced_by_id) == (CardState.REPLACED, new.id)
    assert (new.product_id, new.person_id, new.status) == (world["named"].id, old.person_id, CardState.ACTIVE)
    assert (balance(old), balance(new), operations(old)) == (0, BALANCE, 1)
    # Done: a retry of the dialog answers the replacement, and the job has nothing left.
    again = replace_from_stock(world)
    assert again.repeated and again.new.id == new.id and again.amount == BALANCE
    assert processing.process_paid_orders() == 0 and operations(old) == 1


def test_the_rep_processing_killed_halfway_and_resumed_moves_the_balance_once(world, monkeypatch):
    batch = request_new(world)
    (order,) = authorization.authorize(world["named"], [batch.id], world["user"])
    orders.pay_without_code(order, world["user"])
    real = processing._mark_records

    def killed(*args):
        assert Card.select().where(Card.product == world["named"]).count() == 3  # issued, not committed
        raise RuntimeError("killed")

    monkeypatch.setattr(processing, "_mark_records", killed)
    with pytest.raises(RuntimeError, match="killed"):
        processing.process_paid_orders()
    old = reload(world["card"])
    assert (old.status, balance(old), operations(old)) == (CardState.BLOCKED_LOSS, BALANCE, 0)
    assert Card.select().where(Card.product == world["named"]).count() == 2

    monkeypatch.setattr(processing, "_mark_records", real)
    ServiceOrder.update(claimed_at=None, claim_token=None).where(ServiceOrder.id == order.id).execute()  # lease gone
    assert processing.process_paid_orders() == 1
    new = Card.get(Card.id == reload(old).replaced_by_id)
    assert Card.select().where(Card.product == world["named"]).count() == 3
    assert (balance(old), balance(new), operations(old)) == (0, BALANCE, 1)
    assert processing.process_paid_orders() == 0 and operations(old) == 1


def test_a_rep_record_whose_card_was_replaced_meanwhile_is_rejected(world):
    batch = request_new(world)
    stock = first_stock_card(world["unnamed"])
    Card.update(status=CardState.REPLACED, replaced_by=stock.id).where(Card.id == world["card"].id).execute()
    through_order(world["named"], batch, world["user"])
    (record,) = BatchRecord.select().where(BatchRecord.batch == batch)
    assert (record.status, record.reason) == (BatchRecord.REJECTED, replacement.REPLACED_MEANWHILE)
    assert Card.select().where(Card.record == record.id).count() == 0 and balance(world["card"]) == BALANCE


def test_a_two_signature_company_signs_the_rep_batch_first(world):
    coop = make_company("COOP TEST", nit="9013434540", signatures=2, branches=("73",))
    product = make_product(coop, "Clásica / Visa", replacement_fee=500)
    user = make_user("firma", perms={product: "all"})
    issue_cards(product, 1, start=10)
    card = Card.get(Card.product == product)
    block(card, CardState.BLOCKED_THEFT)
    batch = replacement.with_new_card(user, product, replacement.card_of(product, card.id), PASSWORD)
    assert batch.status == Batch.TO_SIGN


def test_parallel_replacements_move_each_balance_once_and_take_one_stock_card_each(app, world):
    """Threads, each on its own connection: three submits for each of two blocked cards at once.
    Each card is replaced once, by its own stock card, with its exact balance."""
    other = world["other"]
    credit(other, 700_000)
    block(other, CardState.BLOCKED_THEFT)
    targets = iter([world["card"], other] * 3)
    import threading

    lock = threading.Lock()

    def one():
        with lock:
            card = next(targets)
        with app.app_context():
            return replace_from_stock(world, card=card)

    results = in_threads(one, 6)
    assert all(isinstance(r, replacement.Replacement) for r in results), results
    assert sum(not r.repeated for r in results) == 2
    new_of = {r.old.id: r.new.id for r in results}
    assert len(new_of) == 2 and len(set(new_of.values())) == 2
    assert {r.new.id for r in results} == set(new_of.values())
    assert (balance(world["card"]), balance(other)) == (0, 0)
    assert sorted(balance(Card.get_by_id(i)) for i in new_of.values()) == [700_000, BALANCE]
    assert operations(world["card"]) == operations(other) == 1 and stock_left(world["named"]) == 1
