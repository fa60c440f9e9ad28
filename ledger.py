"""The one ledger, in the database: accounts, append-only operations and postings (domain/ledger.py rules).

Every posting stores the account's balance right after it, and LedgerAccount.balance is the
current balance. An operation's key is unique: posting the same key again (a retried payment,
a job resumed after a crash) posts nothing.

Balances never go negative, also with two posts at once: the touched accounts are read with
SELECT … FOR UPDATE on PostgreSQL (rows locked in id order, so two posts can't deadlock);
SQLite transactions here begin IMMEDIATE, so writers are serialized anyway. With the rows
locked, the new balances are computed in Python (domain.ledger.apply) and written once per
account.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import peewee
from peewee import IntegrityError

from bulk import allocate_ids, copy_to_temp, insert_rows, is_sqlite, select_in
from domain import ledger as rules
from domain.ledger import (  # noqa: F401 (re-exported for callers)
    InvalidOperation,
    LedgerError,
    NegativeBalance,
    Operation,
    Posting,
    Unbalanced,
    UnknownAccount,
)
from models import Card, LedgerAccount, LedgerOperation, LedgerPosting, Product, db, utcnow

# ---------------------------------------------------------------- accounts


def account(code: str, name: str, kind: str, *, company=None, product=None, allow_negative=False) -> LedgerAccount:
    """The account with this code, created on first use (two callers at once get the same one)."""
    found = LedgerAccount.get_or_none(LedgerAccount.code == code)
    if found is not None:
        return found
    try:
        with db.atomic():
            return LedgerAccount.create(
                code=code,
                name=name[:160],
                kind=kind,
                company=company,
                product=product,
                allow_negative=allow_negative,
            )
    except IntegrityError:  # created meanwhile by someone else
        found = LedgerAccount.get_or_none(LedgerAccount.code == code)
        if found is None:
            raise
        return found


def company_bank_account(company) -> LedgerAccount:
    """The company's bank account as seen from our books: minus what we have taken from it."""
    return account(
        f"bank:{company.id}",
        f"Cuenta bancaria de {company.name}",
        LedgerAccount.EXTERNAL,
        company=company,
        allow_negative=True,
    )


def revenue_account() -> LedgerAccount:
    return account("revenue", "Ingresos por comisiones", LedgerAccount.REVENUE)


def tax_account() -> LedgerAccount:
    return account("tax", "Impuestos recaudados (IVA y GMF)", LedgerAccount.TAX)


def funding_account(product) -> LedgerAccount:
    """Money paid for a product's recharges and not yet on its cards."""
    return account(
        f"funding:{product.id}",
        f"Fondeo de {product.name}",
        LedgerAccount.FUNDING,
        company=product.company_id,
        product=product.id,
    )


def master_account(product) -> LedgerAccount:
    """The company's cuenta maestra of a product (SPEC §9): funded from the company's bank
    account, it credits and debits the product's cards and pays their commissions. Distinct
    from the funding account, which backs the recharges of paid service orders."""
    return account(
        f"master:{product.id}",
        f"Cuenta maestra de {product.name}",
        LedgerAccount.MASTER,
        company=product.company_id,
        product=product.id,
    )


def purchases_account(product) -> LedgerAccount:
    """What the product's cards paid at merchants (card → here, when the settlement job runs)."""
    return account(
        f"purchases:{product.id}",
        f"Compras con tarjetas de {product.name}",
        LedgerAccount.PURCHASES,
        company=product.company_id,
        product=product.id,
    )


def card_account_code(card_id: int) -> str:
    return f"card:{card_id}"


def card_account(card) -> LedgerAccount:
    """The card's own account (normally created with the card by the processor)."""
    if card.account_id is not None:
        return LedgerAccount.get_by_id(card.account_id)
    company_id = Product.select(Product.company).where(Product.id == card.product_id).scalar()
    created = account(
        card_account_code(card.id),
        f"Tarjeta {card.masked_pan}",
        LedgerAccount.CARD,
        company=company_id,
        product=card.product_id,
    )
    Card.update(account=created.id).where((Card.id == card.id) & Card.account.is_null()).execute()
    card.account = created.id
    return created


# ---------------------------------------------------------------- posting


def post(key: str, description: str, postings: Sequence[tuple[LedgerAccount | int, int]]) -> bool:
    """Post one balanced operation. True if posted; False if the key was posted before (also by
    a concurrent retry) or every amount is zero. Zero amounts are dropped. Raises LedgerError
    (Unbalanced, NegativeBalance, …) and posts nothing. Inside a caller's db.atomic() it runs
    in a savepoint."""
    lines = [(_account_id(target), amount) for target, amount in postings if amount != 0]
    if not lines:
        return False
    operation = Operation(key, description[:200], tuple(Posting(a, amount) for a, amount in lines))
    if _key_exists(key):
        return False
    try:
        with db.atomic():
            return _post([operation]) == 1
    except IntegrityError:  # the same key, posted by a concurrent retry that committed first
        if _key_exists(key):
            return False
        raise


def post_many(
    operations: Iterable[Operation],
    *,
    locked: tuple[dict[int, int], set[int]] | None = None,
    keys_checked: bool = False,
) -> int:
    """Post many operations at once (the processing job's chunks): keys already posted (or
    repeated in the list) are skipped, the touched accounts are locked and read once, running
    balances are computed in Python, rows are inserted in bulk and each balance updated once.
    All or nothing: a LedgerError posts none. Returns how many operations were posted.

    A caller that has already, in this same transaction, locked the accounts with
    lock_balances may pass what it returned as `locked` (unchanged: the balances as read),
    and, if it has looked the keys up in this transaction, `keys_checked` (a key posted
    meanwhile by someone else still fails on the unique index: IntegrityError, nothing
    posted): the processing job's chunks, which would otherwise read both twice."""
    operations = list(operations)
    if not operations:
        return 0
    with db.atomic():
        return _post(operations, locked, keys_checked)


def _post(operations: list[Operation], locked=None, keys_checked: bool = False) -> int:
    existing = set() if keys_checked else _existing_keys([op.key for op in operations])
    fresh, seen = [], set()
    for op in operations:
        if op.key in existing or op.key in seen:
            continue
        seen.add(op.key)
        fresh.append(op)
    if not fresh:
        return 0
    touched = sorted({p.account_id for op in fresh for p in op.postings})
    if locked is not None and all(a in locked[0] for a in touched):
        balances = {a: locked[0][a] for a in touched}
        may_go_negative = {a for a in touched if a in locked[1]}
    else:
        balances, may_go_negative = lock_balances(touched)
    before = dict(balances)
    applied = rules.apply(balances, may_go_negative, fresh)
    now = str(utcnow())
    ids = allocate_ids(LedgerOperation, len(fresh))
    insert_rows(
        "ledger_operation",
        ("id", "key", "description", "created_at"),
        [(op_id, op.key, op.description[:200], now) for op_id, op in zip(ids, fresh, strict=True)],
    )
    insert_rows(
        "ledger_posting",
        ("operation_id", "account_id", "amount", "balance_after", "created_at"),
        [
            (op_id, account_id, amount, after, now)
            for op_id, (_op, lines) in zip(ids, applied, strict=True)
            for account_id, amount, after in lines
        ],
    )
    _add_to_balances([(balances[a] - before[a], a) for a in touched if balances[a] != before[a]])
    return len(fresh)


def _account_id(target) -> int:
    return target if type(target) is int else target.id


def _key_exists(key: str) -> bool:
    return LedgerOperation.select().where(LedgerOperation.key == key).exists()


def _existing_keys(keys: list[str]) -> set[str]:
    return {key for (key,) in select_in("SELECT key FROM ledger_operation WHERE key IN {in}", keys)}


def lock_balances(account_ids: Sequence[int]) -> tuple[dict[int, int], set[int]]:
    """({account id: balance}, ids that may go negative) of these accounts, locked until the
    transaction ends (FOR UPDATE on PostgreSQL; SQLite's write lock is already held)."""
    sql = "SELECT id, balance, allow_negative FROM ledger_account WHERE id IN {in} ORDER BY id"
    if not is_sqlite():
        sql += " FOR UPDATE"
    balances, may_go_negative = {}, set()
    for account_id, amount, negative_ok in select_in(sql, sorted(account_ids)):
        balances[account_id] = amount
        if negative_ok:
            may_go_negative.add(account_id)
    for account_id in account_ids:
        if account_id not in balances:
            raise UnknownAccount(account_id)
    return balances, may_go_negative


def _add_to_balances(deltas: list[tuple[int, int]]) -> None:
    """(delta, account id) pairs: one UPDATE per account (executemany on SQLite; on PostgreSQL
    one UPDATE … FROM a temporary table filled by COPY)."""
    if not deltas:
        return
    if is_sqlite():
        with peewee.__exception_wrapper__:
            db.connection().executemany("UPDATE ledger_account SET balance = balance + ? WHERE id = ?", deltas)
        return
    copy_to_temp("incoming_delta", "SELECT balance AS delta, id FROM ledger_account", ("delta", "id"), deltas)
    db.execute_sql(
        "UPDATE ledger_account AS a SET balance = a.balance + d.delta FROM incoming_delta AS d WHERE a.id = d.id"
    )


# ---------------------------------------------------------------- reading


def balance(target: LedgerAccount | int) -> int:
    """The account's current balance, read now."""
    return LedgerAccount.select(LedgerAccount.balance).where(LedgerAccount.id == _account_id(target)).scalar()


def history(target: LedgerAccount | int):
    """The account's postings, newest first (each with its operation and balance after)."""
    return (
        LedgerPosting.select(LedgerPosting, LedgerOperation)
        .join(LedgerOperation)
        .where(LedgerPosting.account == _account_id(target))
        .order_by(LedgerPosting.id.desc())
    )
