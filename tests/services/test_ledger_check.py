"""`flask ledger check` (services/ledger_check.py): balances, operations, negatives, and the
bank reconciliation movement by movement."""

import pytest

import ledger
from adapters.bank import SimulatedBank
from models import BankAccount, BankMovement, Card, LedgerAccount, LedgerOperation, LedgerPosting, Person, db
from services import ledger_check
from services.ledger_check import BankRule
from tests.factories import make_company, make_product


def make_card(product, n=1, status=Card.ACTIVE):
    person = Person.create(id_type="CC", id_number=str(70_000_000 + n), first_name="ANA")
    card = Card.create(product=product, person=person, masked_pan=f"450714******{n:04d}", status=status)
    ledger.card_account(card)
    return Card.get_by_id(card.id)


def pay_order(company, product, order_id, amount):
    """What services/orders.py does when an order is paid: the bank's debit, then the ledger."""
    assert SimulatedBank().debit(company.bank_account, amount, f"orden-servicio:{order_id}", "Pago orden").ok
    fee = amount // 10
    assert ledger.post(
        f"pago-orden:{order_id}",
        f"Pago orden de servicio {order_id}",
        [
            (ledger.company_bank_account(company), -amount),
            (ledger.revenue_account(), fee),
            (ledger.funding_account(product), amount - fee),
        ],
    )


def fund_master(company, product, key, amount):
    """The cuenta maestra's funding (services/master.py): bank "fondeo:<key>", ledger the same."""
    assert SimulatedBank().debit(company.bank_account, amount, f"fondeo:{key}", "Recarga cuenta maestra").ok
    assert ledger.post(
        f"fondeo:{key}",
        "Recarga cuenta maestra",
        [(ledger.company_bank_account(company), -amount), (ledger.master_account(product), amount)],
    )


@pytest.fixture
def world(db):
    """Two companies with money moved every way the program moves it, all consistent."""
    company = make_company("LIBRO SAS", balance=10_000_000)
    other = make_company("OTRA SAS", balance=5_000_000)
    product, other_product = make_product(company), make_product(other)
    pay_order(company, product, 1, 300_000)
    pay_order(other, other_product, 2, 100_000)
    fund_master(company, product, "abc-1", 500_000)
    card = make_card(product)
    ledger.post("abono:1", "Abono", [(ledger.master_account(product), -200_000), (ledger.card_account(card), 200_000)])
    ledger.post("cargo:1", "Cargo", [(ledger.card_account(card), -50_000), (ledger.master_account(product), 50_000)])
    return company, product, card


def only(problems, text):
    """The problem lines that mention `text`."""
    return [line for line in problems if text in line]


def test_a_consistent_ledger_has_no_problems_and_the_command_says_so(world, runner):
    assert ledger_check.check() == []
    accounts, operations = LedgerAccount.select().count(), LedgerOperation.select().count()
    assert (accounts, operations) == (7, 5)  # 2 banks, revenue, 2 fundings, master, card
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Libro contable correcto: {accounts} cuentas, {operations} operaciones"


def test_a_balance_that_is_not_the_sum_of_its_postings_is_named(world, runner):
    _company, _product, card = world
    LedgerAccount.update(balance=LedgerAccount.balance + 1).where(LedgerAccount.id == card.account_id).execute()
    problems = ledger_check.check()
    assert problems == [
        f"Cuenta card:{card.id} (Tarjeta 450714******0001): su saldo es $ 1.500,01 y sus movimientos suman $ 1.500,00",
        f"Cuenta card:{card.id} (Tarjeta 450714******0001): su saldo es $ 1.500,01 y su último movimiento "
        "dejó $ 1.500,00",
    ]
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert f"Cuenta card:{card.id}" in result.output and "problema" in result.output


def test_an_unbalanced_operation_is_named(world):
    _company, product, _card = world
    master = ledger.master_account(product)
    last = LedgerPosting.select().where(LedgerPosting.account == master.id).order_by(LedgerPosting.id.desc()).get()
    # The account itself stays consistent (its last posting and balance move together) …
    LedgerPosting.update(amount=LedgerPosting.amount + 5, balance_after=LedgerPosting.balance_after + 5).where(
        LedgerPosting.id == last.id
    ).execute()
    LedgerAccount.update(balance=LedgerAccount.balance + 5).where(LedgerAccount.id == master.id).execute()
    # … but the operation no longer balances.
    assert ledger_check.check() == ["Operación cargo:1: sus movimientos suman $ 0,05, no $ 0,00"]


def test_an_operation_without_postings_is_named(world):
    LedgerOperation.create(key="vacia:1", description="Nada")
    assert ledger_check.check() == ["Operación vacia:1: no tiene movimientos"]


def test_a_wrong_running_balance_is_named(world):
    _company, product, _card = world
    master = ledger.master_account(product)
    first = LedgerPosting.select().where(LedgerPosting.account == master.id).order_by(LedgerPosting.id).first()
    LedgerPosting.update(balance_after=1).where(LedgerPosting.id == first.id).execute()
    problems = ledger_check.check()
    assert problems == [
        f"Cuenta master:{product.id} (Cuenta maestra de {product.name}): el movimiento {first.id} dice saldo "
        "$ 0,01 y la suma hasta él es $ 5.000,00"
    ]


def test_a_negative_account_is_named_but_not_an_external_one(world):
    company, product, card = world
    # Written behind the ledger's back (ledger.post refuses it): the card pays out more than it has.
    operation = LedgerOperation.create(key="robo:1", description="Robo")
    card_account, revenue = ledger.card_account(card), ledger.revenue_account()
    for account, amount in ((card_account, -200_000), (revenue, 200_000)):
        after = ledger.balance(account) + amount
        LedgerPosting.create(operation=operation, account=account, amount=amount, balance_after=after)
        LedgerAccount.update(balance=after).where(LedgerAccount.id == account.id).execute()
    problems = ledger_check.check()
    assert only(problems, f"card:{card.id}") == [
        f"Cuenta card:{card.id} (Tarjeta 450714******0001): saldo negativo -$ 500,00",
        f"Cuenta card:{card.id} (Tarjeta 450714******0001): un movimiento la dejó en -$ 500,00",
    ]
    assert ledger.balance(ledger.company_bank_account(company)) < 0
    assert not only(problems, f"bank:{company.id}")


def test_a_bank_debit_without_its_ledger_operation_is_named(world):
    company, _product, _card = world
    assert SimulatedBank().debit(company.bank_account, 12_345, "orden-servicio:7", "Pago orden de servicio 7").ok
    assert ledger_check.check() == [
        f"Banco de LIBRO SAS (empresa {company.id}): el movimiento orden-servicio:7 (pago de orden de servicio, "
        "-$ 123,45) no tiene su operación pago-orden:7 en el libro"
    ]


def test_a_funding_without_its_bank_debit_is_named(world):
    company, product, _card = world
    ledger.post(
        "fondeo:sin-banco",
        "Recarga cuenta maestra",
        [(ledger.company_bank_account(company), -1_000), (ledger.master_account(product), 1_000)],
    )
    assert ledger_check.check() == [
        f"Cuenta bancaria de LIBRO SAS (empresa {company.id}) en el libro: la operación fondeo:sin-banco "
        "(-$ 10,00) no tiene su movimiento fondeo:sin-banco en el banco"
    ]


def test_amounts_that_disagree_are_named(world):
    company, _product, _card = world
    BankMovement.update(amount=-300_001).where(BankMovement.key == "orden-servicio:1").execute()
    BankAccount.update(balance=BankAccount.balance - 1).where(BankAccount.number == company.bank_account).execute()
    assert ledger_check.check() == [
        f"Banco de LIBRO SAS (empresa {company.id}): el movimiento orden-servicio:1 es de -$ 3.000,01 "
        "y la operación pago-orden:1 registra -$ 3.000,00"
    ]


def test_a_movement_of_another_company_does_not_reconcile_this_one(world):
    company, product, _card = world
    other = make_company("TERCERA SAS", balance=1_000_000)
    # The bank debited the third company, our books took it from LIBRO SAS.
    assert SimulatedBank().debit(other.bank_account, 2_000, "fondeo:cruzado", "Recarga cuenta maestra").ok
    ledger.post(
        "fondeo:cruzado",
        "Recarga cuenta maestra",
        [(ledger.company_bank_account(company), -2_000), (ledger.master_account(product), 2_000)],
    )
    problems = ledger_check.check()
    assert len(problems) == 2
    assert "LIBRO SAS" in problems[0] and "no tiene su movimiento fondeo:cruzado en el banco" in problems[0]
    assert "TERCERA SAS" in problems[1] and "no tiene su operación fondeo:cruzado" in problems[1]


def test_movements_no_rule_knows_are_named(world):
    company, product, _card = world
    SimulatedBank().credit(company.bank_account, 700, "regalo:1", "Abono de alguien")
    ledger.post(
        "pago:9", "Pago", [(ledger.company_bank_account(company), -900), (ledger.funding_account(product), 900)]
    )
    problems = ledger_check.check()
    assert problems == [
        f"Banco de LIBRO SAS (empresa {company.id}): el movimiento regalo:1 (Abono de alguien, $ 7,00) "
        "no tiene regla de conciliación",
        f"Cuenta bancaria de LIBRO SAS (empresa {company.id}) en el libro: la operación pago:9 (-$ 9,00) "
        "no tiene regla de conciliación",
    ]


def test_a_new_kind_of_movement_is_one_rule(world, monkeypatch):
    company, product, _card = world
    # A withdrawal from the master account back to the bank: a bank credit and its operation.
    SimulatedBank().credit(company.bank_account, 4_000, "retiro-banco:1", "Retiro cuenta maestra")
    ledger.post(
        "retiro:1",
        "Retiro cuenta maestra",
        [(ledger.master_account(product), -4_000), (ledger.company_bank_account(company), 4_000)],
    )
    assert len(ledger_check.check()) == 2
    monkeypatch.setattr(
        ledger_check, "BANK_RULES", (*ledger_check.BANK_RULES, BankRule("retiro-banco:", "retiro:", "retiro"))
    )
    assert ledger_check.check() == []
    assert ledger_check.ledger_key_of("retiro-banco:1") == "retiro:1"
    assert ledger_check.bank_key_of("retiro:1") == "retiro-banco:1"


def test_the_key_conventions(db):
    assert ledger_check.ledger_key_of("orden-servicio:12") == "pago-orden:12"
    assert ledger_check.bank_key_of("pago-orden:12") == "orden-servicio:12"
    assert (
        ledger_check.ledger_key_of("fondeo:u7-3f2a") == ledger_check.bank_key_of("fondeo:u7-3f2a") == "fondeo:u7-3f2a"
    )
    assert ledger_check.ledger_key_of("apertura:SIM-1") is None  # not the program's: no operation
    assert ledger_check.ledger_key_of("otra:1") is None and ledger_check.bank_key_of("rec:1") is None


def test_many_problems_of_a_kind_are_cut_short(world, monkeypatch):
    monkeypatch.setattr(ledger_check, "MAX_LINES", 2)
    for i in range(5):
        LedgerOperation.create(key=f"vacia:{i}", description="Nada")
    problems = ledger_check.check()
    assert problems == [
        "Operación vacia:0: no tiene movimientos",
        "Operación vacia:1: no tiene movimientos",
        "… y 3 problemas más de este tipo",
    ]


def test_it_reads_nothing_but_the_database(world):
    """The check writes nothing (it is safe on a live system)."""
    counts = [m.select().count() for m in (LedgerAccount, LedgerOperation, LedgerPosting, BankMovement)]
    with db.atomic():
        ledger_check.check()
    assert [m.select().count() for m in (LedgerAccount, LedgerOperation, LedgerPosting, BankMovement)] == counts
