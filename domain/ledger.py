"""Double-entry ledger rules, without a database: postings, balanced operations, running balances.

Money is signed integer centavos: + into an account, - out of it. Every operation is balanced
(its postings add up to zero), so money is only ever moved, never created or lost; and no
account goes below zero unless it is one the caller allows to (the outside world: a company's
bank account as seen from our books). ledger.py (beside models.py) stores what `apply` computes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KEY_MAX = 120


class LedgerError(Exception):
    """A refused operation, with a Spanish message for whoever reads it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidOperation(LedgerError):
    """A malformed operation or posting (empty key, a float or zero amount, a single posting)."""


class Unbalanced(LedgerError):
    def __init__(self, total: int):
        super().__init__(f"La operación no está balanceada: sus movimientos suman {total} centavos")
        self.total = total


class NegativeBalance(LedgerError):
    def __init__(self, account_id: int):
        super().__init__(f"Saldo insuficiente en la cuenta {account_id}")
        self.account_id = account_id


class UnknownAccount(LedgerError):
    def __init__(self, account_id: int):
        super().__init__(f"La cuenta {account_id} no existe")
        self.account_id = account_id


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of an operation: `amount` centavos into (+) or out of (-) an account."""

    account_id: int
    amount: int

    def __post_init__(self):
        # `type(...) is int`: a bool is an int to isinstance, and money never travels as float.
        if type(self.amount) is not int:
            raise InvalidOperation("El monto de un movimiento debe ser un número entero de centavos")
        if self.amount == 0:
            raise InvalidOperation("Un movimiento no puede ser de cero")
        if type(self.account_id) is not int:
            raise InvalidOperation("Cuenta inválida en un movimiento")


@dataclass(frozen=True, slots=True)
class Operation:
    """A balanced set of postings; `key` names its source (e.g. "rec:123") so it posts only once."""

    key: str
    description: str
    postings: tuple[Posting, ...]

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key.strip():
            raise InvalidOperation("La operación necesita una clave")
        if len(self.key) > KEY_MAX:
            raise InvalidOperation(f"La clave de la operación supera los {KEY_MAX} caracteres")
        if not isinstance(self.postings, tuple):
            object.__setattr__(self, "postings", tuple(self.postings))
        if len(self.postings) < 2:
            raise InvalidOperation("La operación necesita al menos dos movimientos")
        total = 0
        for posting in self.postings:
            if not isinstance(posting, Posting):
                raise InvalidOperation("Movimiento inválido")
            total += posting.amount
        if total != 0:
            raise Unbalanced(total)

    @classmethod
    def transfer(cls, key: str, description: str, source: int, target: int, amount: int) -> Operation:
        """The common two-posting operation: `amount` from `source` to `target`."""
        return cls(key, description, (Posting(source, -amount), Posting(target, amount)))


Line = tuple[int, int, int]  # (account_id, amount, balance_after)


def apply(
    balances: dict[int, int], may_go_negative: set[int] | frozenset[int], operations: Iterable[Operation]
) -> list[tuple[Operation, list[Line]]]:
    """Run the operations in order over `balances` (account id → centavos) and return each
    operation with its postings' running balances.

    All or nothing: if a posting would take an account not in `may_go_negative` below zero,
    NegativeBalance is raised and `balances` is left as it was; otherwise `balances` is
    updated in place to the final balances."""
    running = dict(balances)
    results = []
    for operation in operations:
        lines = []
        for posting in operation.postings:
            account = posting.account_id
            before = running.get(account)
            if before is None:
                raise UnknownAccount(account)
            after = before + posting.amount
            if after < 0 and account not in may_go_negative:
                raise NegativeBalance(account)
            running[account] = after
            lines.append((account, posting.amount, after))
        results.append((operation, lines))
    balances.update(running)
    return results
