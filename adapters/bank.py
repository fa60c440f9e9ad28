"""The bank that pays service orders: an interface and the built-in simulated bank.

The simulated bank keeps real balances in our database (BankAccount, BankMovement); a real
bank adapter only has to offer the same three methods.
"""

from dataclasses import dataclass
from typing import Protocol

from peewee import IntegrityError

from models import BankAccount, BankMovement, db


@dataclass(frozen=True)
class DebitResult:
    ok: bool
    message: str
    balance_after: int | None = None


class Bank(Protocol):
    def balance(self, account_number: str) -> int: ...

    def debit(self, account_number: str, amount: int, key: str, description: str) -> DebitResult: ...

    def credit(self, account_number: str, amount: int, key: str, description: str) -> int: ...


class SimulatedBank:
    """Balances in centavos; every movement carries a unique key, so a retry moves nothing twice."""

    def open_account(self, number: str, holder_nit: str, holder_name: str, initial: int = 0) -> BankAccount:
        with db.atomic():
            account = BankAccount.create(number=number, holder_nit=holder_nit, holder_name=holder_name)
            if initial:
                self.credit(number, initial, key=f"apertura:{number}", description="Saldo inicial")
        return BankAccount.get_by_id(account.id)

    def balance(self, account_number: str) -> int:
        return BankAccount.get(BankAccount.number == account_number).balance

    def credit(self, account_number: str, amount: int, key: str, description: str) -> int:
        if amount <= 0:
            raise ValueError("amount must be positive")
        try:
            with db.atomic():
                if BankMovement.get_or_none(BankMovement.key == key):
                    return self.balance(account_number)
                account = BankAccount.get(BankAccount.number == account_number)
                BankAccount.update(balance=BankAccount.balance + amount).where(BankAccount.id == account.id).execute()
                after = BankAccount.get_by_id(account.id).balance
                BankMovement.create(
                    account=account, key=key, amount=amount, balance_after=after, description=description
                )
        except IntegrityError:  # a concurrent retry with the same key won the race
            return self.balance(account_number)
        return after

    def debit(self, account_number: str, amount: int, key: str, description: str) -> DebitResult:
        if amount <= 0:
            raise ValueError("amount must be positive")
        # A retry of a debit already made answers with that debit, whatever happened to the
        # account since (deactivated, renamed): the money already left.
        previous = BankMovement.select().where(BankMovement.key == key).first()
        if previous:
            return _retry_result(previous, amount)
        account = BankAccount.get_or_none(BankAccount.number == account_number)
        if account is None:
            return DebitResult(False, "La cuenta bancaria no existe")
        if not account.active:
            return DebitResult(False, "La cuenta bancaria está inactiva")
        try:
            with db.atomic():
                previous = BankMovement.get_or_none(BankMovement.key == key)
                if previous:
                    return _retry_result(previous, amount)
                # Conditional update: never below zero, even with two debits at once.
                changed = (
                    BankAccount.update(balance=BankAccount.balance - amount)
                    .where((BankAccount.id == account.id) & (BankAccount.balance >= amount))
                    .execute()
                )
                if not changed:
                    return DebitResult(False, "Fondos insuficientes en la cuenta bancaria")
                after = BankAccount.get_by_id(account.id).balance
                BankMovement.create(
                    account=account, key=key, amount=-amount, balance_after=after, description=description
                )
        except IntegrityError:
            return _retry_result(BankMovement.get(BankMovement.key == key), amount)
        return DebitResult(True, "Débito aplicado", after)


def _retry_result(previous: BankMovement, amount: int) -> DebitResult:
    """A debit retried with a key already used: the same debit again, or a different one."""
    if previous.amount != -amount:
        return DebitResult(False, "La operación ya fue registrada con otro monto")
    return DebitResult(True, "Débito ya aplicado", previous.balance_after)


def default_bank() -> Bank:
    """The bank that pays service orders: the built-in simulated bank (a real one plugs in here)."""
    return SimulatedBank()
