"""The simulated bank that pays service orders (adapters/bank.py)."""

import os
import threading

import pytest
from peewee import IntegrityError

import models
from adapters.bank import DebitResult, SimulatedBank
from models import BankAccount, BankMovement

IS_SQLITE = not os.environ.get("DATABASE_URL", "").startswith("postgres")


INSUFFICIENT = "Fondos insuficientes en la cuenta bancaria"
INACTIVE = "La cuenta bancaria está inactiva"
UNKNOWN = "La cuenta bancaria no existe"


@pytest.fixture
def bank(db):
    return SimulatedBank()


@pytest.fixture
def account(bank):
    """Account CTA-1 with $ 1.000,00 (100,000 centavos)."""
    return bank.open_account("CTA-1", "900123456", "ACME SAS", initial=100_000)


def movements(number="CTA-1"):
    return list(BankMovement.select().join(BankAccount).where(BankAccount.number == number).order_by(BankMovement.id))


# ---------------------------------------------------------------- open_account


def test_open_account_with_initial_balance(bank):
    account = bank.open_account("CTA-1", "900123456", "ACME SAS", initial=10_000_000_000)
    assert isinstance(account, BankAccount)
    assert (account.number, account.holder_nit, account.holder_name) == ("CTA-1", "900123456", "ACME SAS")
    assert account.active is True
    assert account.balance == 10_000_000_000
    assert bank.balance("CTA-1") == 10_000_000_000
    [opening] = movements()
    assert (opening.key, opening.amount, opening.balance_after, opening.description) == (
        "apertura:CTA-1",
        10_000_000_000,
        10_000_000_000,
        "Saldo inicial",
    )


def test_open_account_without_initial_balance(bank):
    account = bank.open_account("CTA-0", "900123456", "ACME SAS")
    assert account.balance == 0
    assert bank.balance("CTA-0") == 0
    assert movements("CTA-0") == []


def test_open_account_twice_fails_and_keeps_the_first(bank, account):
    with pytest.raises(IntegrityError):
        bank.open_account("CTA-1", "900999999", "OTRA", initial=5)
    assert BankAccount.select().count() == 1
    assert BankAccount.get().holder_name == "ACME SAS"
    assert bank.balance("CTA-1") == 100_000


def test_accounts_are_independent(bank, account):
    bank.open_account("CTA-2", "900999999", "OTRA", initial=500)
    bank.debit("CTA-1", 40_000, key="d1", description="Pago")
    bank.credit("CTA-2", 100, key="c1", description="Abono")
    assert bank.balance("CTA-1") == 60_000
    assert bank.balance("CTA-2") == 600


def test_balance_of_unknown_account(bank):
    with pytest.raises(BankAccount.DoesNotExist):
        bank.balance("NO-EXISTE")


# ---------------------------------------------------------------- credit


def test_credit(bank, account):
    assert bank.credit("CTA-1", 25_050, key="abono:1", description="Abono") == 125_050
    assert bank.balance("CTA-1") == 125_050
    movement = movements()[-1]
    assert (movement.key, movement.amount, movement.balance_after, movement.description) == (
        "abono:1",
        25_050,
        125_050,
        "Abono",
    )


def test_credit_retry_with_the_same_key_moves_nothing(bank, account):
    first = bank.credit("CTA-1", 25_000, key="abono:1", description="Abono")
    again = bank.credit("CTA-1", 25_000, key="abono:1", description="Abono")
    different_amount = bank.credit("CTA-1", 99_999, key="abono:1", description="Abono")
    assert first == again == different_amount == 125_000
    assert bank.balance("CTA-1") == 125_000
    assert len(movements()) == 2  # opening + one credit


def test_credits_with_different_keys_add_up(bank, account):
    for i in range(5):
        bank.credit("CTA-1", 1_000, key=f"abono:{i}", description="Abono")
    assert bank.balance("CTA-1") == 105_000
    assert [m.balance_after for m in movements()] == [100_000, 101_000, 102_000, 103_000, 104_000, 105_000]


@pytest.mark.parametrize("amount", [0, -1, -100_000])
def test_credit_amount_must_be_positive(bank, account, amount):
    with pytest.raises(ValueError):
        bank.credit("CTA-1", amount, key="k", description="x")
    assert bank.balance("CTA-1") == 100_000
    assert len(movements()) == 1


def test_credit_to_unknown_account(bank, account):
    with pytest.raises(BankAccount.DoesNotExist):
        bank.credit("NO-EXISTE", 100, key="k", description="x")
    assert BankMovement.select().count() == 1


def test_credit_racing_a_retry_with_the_same_key_answers_without_error(bank, account, monkeypatch):
    bank.credit("CTA-1", 1_000, key="abono:1", description="Abono")
    # The other transaction's movement is not visible yet when this one looks the key up.
    monkeypatch.setattr(BankMovement, "get_or_none", classmethod(lambda cls, *a, **k: None))
    result = bank.credit("CTA-1", 1_000, key="abono:1", description="Abono")
    monkeypatch.undo()
    assert result == 101_000
    assert bank.balance("CTA-1") == 101_000


# ---------------------------------------------------------------- debit


def test_debit(bank, account):
    result = bank.debit("CTA-1", 30_000, key="orden:1", description="Pago orden 1")
    assert result == DebitResult(True, "Débito aplicado", 70_000)
    assert bank.balance("CTA-1") == 70_000
    movement = movements()[-1]
    assert (movement.key, movement.amount, movement.balance_after, movement.description) == (
        "orden:1",
        -30_000,
        70_000,
        "Pago orden 1",
    )


def test_debit_of_the_whole_balance(bank, account):
    result = bank.debit("CTA-1", 100_000, key="orden:1", description="Pago")
    assert result.ok and result.balance_after == 0
    assert bank.balance("CTA-1") == 0


def test_debit_retry_with_the_same_key_moves_nothing(bank, account):
    first = bank.debit("CTA-1", 30_000, key="orden:1", description="Pago")
    bank.credit("CTA-1", 5_000, key="abono:1", description="Abono")
    again = bank.debit("CTA-1", 30_000, key="orden:1", description="Pago")
    assert first == DebitResult(True, "Débito aplicado", 70_000)
    assert again == DebitResult(True, "Débito ya aplicado", 70_000)  # the balance right after that debit
    assert bank.balance("CTA-1") == 75_000
    assert [m.amount for m in movements()] == [100_000, -30_000, 5_000]


def test_debit_retry_is_idempotent_even_when_funds_ran_out(bank, account):
    bank.debit("CTA-1", 80_000, key="orden:1", description="Pago")
    bank.debit("CTA-1", 20_000, key="orden:2", description="Pago")
    assert bank.balance("CTA-1") == 0
    assert bank.debit("CTA-1", 80_000, key="orden:1", description="Pago") == DebitResult(
        True, "Débito ya aplicado", 20_000
    )
    assert bank.balance("CTA-1") == 0


@pytest.mark.parametrize("amount", [100_001, 10_000_000])
def test_insufficient_funds_are_refused(bank, account, amount):
    result = bank.debit("CTA-1", amount, key="orden:1", description="Pago")
    assert result == DebitResult(False, "Fondos insuficientes en la cuenta bancaria", None)
    assert result.message == INSUFFICIENT
    assert bank.balance("CTA-1") == 100_000
    assert len(movements()) == 1
    assert BankMovement.get_or_none(BankMovement.key == "orden:1") is None


def test_a_refused_debit_can_be_retried_after_funding(bank, account):
    assert not bank.debit("CTA-1", 150_000, key="orden:1", description="Pago").ok
    bank.credit("CTA-1", 50_000, key="abono:1", description="Abono")
    result = bank.debit("CTA-1", 150_000, key="orden:1", description="Pago")
    assert result == DebitResult(True, "Débito aplicado", 0)
    assert bank.balance("CTA-1") == 0


def test_inactive_account_is_refused(bank, account):
    BankAccount.update(active=False).where(BankAccount.number == "CTA-1").execute()
    result = bank.debit("CTA-1", 1_000, key="orden:1", description="Pago")
    assert result == DebitResult(False, "La cuenta bancaria está inactiva", None)
    assert result.message == INACTIVE
    assert bank.balance("CTA-1") == 100_000
    assert len(movements()) == 1


def test_inactive_account_is_refused_even_for_an_applied_key(bank, account):
    bank.debit("CTA-1", 1_000, key="orden:1", description="Pago")
    BankAccount.update(active=False).where(BankAccount.number == "CTA-1").execute()
    assert bank.debit("CTA-1", 1_000, key="orden:2", description="Pago").message == INACTIVE
    assert bank.balance("CTA-1") == 99_000


def test_unknown_account_is_refused(bank, account):
    result = bank.debit("NO-EXISTE", 1_000, key="orden:1", description="Pago")
    assert result == DebitResult(False, "La cuenta bancaria no existe", None)
    assert result.message == UNKNOWN
    assert BankMovement.select().count() == 1


@pytest.mark.parametrize("amount", [0, -1, -50_000])
def test_debit_amount_must_be_positive(bank, account, amount):
    with pytest.raises(ValueError):
        bank.debit("CTA-1", amount, key="orden:1", description="Pago")
    assert bank.balance("CTA-1") == 100_000


def test_debit_racing_a_retry_with_the_same_key(bank, account, monkeypatch):
    """The key lookup misses a movement a concurrent transaction inserts: the unique key saves us."""
    bank.debit("CTA-1", 30_000, key="orden:1", description="Pago")
    monkeypatch.setattr(BankMovement, "get_or_none", classmethod(lambda cls, *a, **k: None))
    result = bank.debit("CTA-1", 30_000, key="orden:1", description="Pago")
    monkeypatch.undo()
    assert result == DebitResult(True, "Débito ya aplicado", 70_000)
    assert bank.balance("CTA-1") == 70_000


# ---------------------------------------------------------------- concurrency


def _run_in_threads(count, target):
    results, errors = [], []
    start = threading.Barrier(count)

    def run(i):
        try:
            start.wait()
            results.append(target(i))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            if not models.db.is_closed():
                models.db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_debit_while_another_connection_commits_a_write(bank, account, monkeypatch):
    """Two payments at once, made deterministic: another connection starts a write between
    this debit's key lookup and its balance update. Both must succeed (on SQLite the rival
    waits for the write lock the debit took up front; on PostgreSQL it touches another row)."""
    bank.open_account("CTA-2", "900999999", "OTRA", initial=1_000)
    real_lookup = BankMovement.get_or_none
    rivals = []

    def lookup_then_rival_write(*args, **kwargs):
        found = real_lookup(*args, **kwargs)
        rival = threading.Thread(
            target=lambda: (
                BankAccount.update(balance=BankAccount.balance + 1).where(BankAccount.number == "CTA-2").execute(),
                models.db.close(),
            )
        )
        rival.start()
        rivals.append(rival)
        return found

    monkeypatch.setattr(BankMovement, "get_or_none", lookup_then_rival_write)
    result = bank.debit("CTA-1", 30_000, key="orden:1", description="Pago")
    monkeypatch.undo()
    for rival in rivals:
        rival.join(timeout=30)
    assert result == DebitResult(True, "Débito aplicado", 70_000)
    assert bank.balance("CTA-2") == 1_001


def test_concurrent_debits_never_overdraw(bank, account):
    results, errors = _run_in_threads(10, lambda i: bank.debit("CTA-1", 30_000, key=f"orden:{i}", description="Pago"))
    assert errors == []
    assert sum(r.ok for r in results) == 3
    assert sorted(r.message for r in results if not r.ok) == [INSUFFICIENT] * 7
    assert bank.balance("CTA-1") == 10_000
    assert sorted(m.balance_after for m in movements()[1:]) == [10_000, 40_000, 70_000]


def test_concurrent_retries_of_one_debit_apply_it_once(bank, account):
    results, errors = _run_in_threads(8, lambda i: bank.debit("CTA-1", 30_000, key="orden:1", description="Pago"))
    assert errors == []
    assert all(r.ok for r in results)
    assert sorted(r.message for r in results) == ["Débito aplicado"] + ["Débito ya aplicado"] * 7
    assert {r.balance_after for r in results} == {70_000}
    assert bank.balance("CTA-1") == 70_000


def test_a_retried_debit_is_answered_even_after_the_account_is_deactivated(bank, account):
    first = bank.debit("CTA-1", 30_000, key="orden:9", description="Pago")
    BankAccount.update(active=False).where(BankAccount.number == "CTA-1").execute()
    again = bank.debit("CTA-1", 30_000, key="orden:9", description="Pago")
    assert first.ok and again.ok and again.balance_after == first.balance_after
    assert not bank.debit("CTA-1", 30_000, key="orden:10", description="Pago").ok  # a new one is refused
