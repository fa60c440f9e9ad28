"""Servicios > Cuenta maestra (SPEC §9, manual chapter 5): fund the master account from the
company's bank account, and move money between it and the product's cards in real time.

Every operation a user asks for has a key, carried by its dialog, and becomes one
MasterOperation row, unique by that key, written in the same transaction as its ledger
operations: a double submit, a retried request or a second tab finds the first row and moves
nothing again. A card operation runs in one transaction that locks the master account's and
the card's ledger rows in id order (PostgreSQL; SQLite has one writer), then checks the card's
state, the product's limits and the balances, then posts: the transfer and, as its own
operation, the commission ("Débito por comisión de servicio"). A refused operation moves
nothing and keeps its message.

Many cards at once run the same operation card by card (each its own transaction and key,
"<dialog key>:<card id>"): one card's refusal does not stop the others, and a retry after a
crash skips the cards already done and says so.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import IntegrityError, fn

import ledger
from adapters.bank import default_bank
from adapters.processor import default_processor, product_terms
from domain.card_states import takes_money
from domain.clock import local_today
from domain.money import format_cop
from models import Card, Company, MasterOperation, Person, Product, User, db, utcnow
from services import Refused, codes, notices
from services import cards as cards_service
from services.accounts import require_password
from services.audit import Event, record_event
from services.orders import utc_bound

log = logging.getLogger(__name__)

OK = "Transacción exitosa"
INSUFFICIENT = "Saldo insuficiente"
LIMIT = "Límite excedido"
BLOCKED = "Tarjeta bloqueada"
FAILED = "No fue posible realizar la transacción"

KINDS = {
    MasterOperation.INQUIRY: "Consultar saldo",
    MasterOperation.CREDIT: "Abonar a tarjeta",
    MasterOperation.DEBIT: "Cargo a tarjeta",
}
PERMISSION = {
    MasterOperation.INQUIRY: "master.balance",
    MasterOperation.CREDIT: "master.credit",
    MasterOperation.DEBIT: "master.debit",
    MasterOperation.FUND: "master.fund",
}
MAX_BULK = 500  # cards in one operation of many


def new_key() -> str:
    """The key a dialog carries for the operation it will ask for."""
    return uuid.uuid4().hex


def _valid_key(key: str) -> str:
    key = (key or "").strip()
    if not (8 <= len(key) <= 40 and key.isascii() and key.isalnum()):
        raise Refused("La operación no es válida; vuelve a abrir el diálogo")
    return key


# ---------------------------------------------------------------- header and search


@dataclass(frozen=True)
class Header:
    balance: int
    transfer_fee: int
    inquiry_fee: int


def header(product: Product) -> Header:
    return Header(ledger.balance(ledger.master_account(product)), product.transfer_fee, product.inquiry_fee)


Criteria, criteria_from = cards_service.Criteria, cards_service.criteria_from  # the same search as Consulta de tarjetas


def cards(product: Product, criteria: Criteria):
    """The product's cards that have a holder (the ones this screen moves money for)."""
    return cards_service.search(product, criteria, holders_only=True)


def card_of(product: Product, card_id: int) -> Card | None:
    """A card of the product that has a holder (the ones this screen moves money for)."""
    return (
        Card.select(Card, Person)
        .join(Person, on=(Card.person == Person.id))
        .where((Card.id == card_id) & (Card.product == product))
        .first()
    )


# ---------------------------------------------------------------- card operations


@dataclass(frozen=True)
class Result:
    card: Card
    kind: str
    amount: int
    fee: int
    message: str
    balance: int | None  # the card's balance after it (the live balance for an inquiry)
    repeated: bool = False  # found done by an earlier request with the same key
    created_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.message == OK


def run(
    user: User, product: Product, kind: str, items: Sequence[tuple[Card, int]], key: str, password: str
) -> list[Result]:
    """Consultar saldo / Abonar / Cargar for one or many cards (card, amount in centavos; 0 for
    an inquiry), after one password. The key is the dialog's: each card's operation is keyed
    "<key>:<card id>", so a retry does only what was not done."""
    if kind not in KINDS:
        raise Refused("Operación desconocida")
    key = _valid_key(key)
    if not items:
        raise Refused("Selecciona al menos una tarjeta")
    if len(items) > MAX_BULK:
        raise Refused(f"Selecciona como máximo {MAX_BULK} tarjetas por operación")
    if kind != MasterOperation.INQUIRY:
        missing = [card.masked_pan for card, amount in items if amount is None or amount <= 0]
        if missing:
            raise Refused(f"Escribe el monto de la tarjeta {missing[0]}")
    require_password(user, password)
    with notices.balance_watch(product, user):  # the treasurers told if it fell below the alert
        results = [_one(user, product, kind, card, amount or 0, f"{key}:{card.id}") for card, amount in items]
    record_event(
        Event.MASTER_OPERATION, user, product.company, obj=f"maestra:{key}",
        detail=f"{KINDS[kind]}: {sum(r.ok for r in results)} de {len(results)} exitosas",
    )  # fmt: skip
    return results


def _one(user: User, product: Product, kind: str, card: Card, amount: int, key: str) -> Result:
    done = MasterOperation.get_or_none(MasterOperation.key == key)
    if done is not None:
        return _result(done, card, repeated=True)
    try:
        with db.atomic():
            operation = _attempt(user, product, kind, card, amount, key)
    except IntegrityError:  # the same key, committed meanwhile by a parallel request
        done = MasterOperation.get_or_none(MasterOperation.key == key)
        if done is None:
            raise
        return _result(done, card, repeated=True)
    except Exception:  # e.g. the processor failed: nothing moved; said as such
        operation = _record(user, product, kind, card, amount, 0, key, FAILED, None)
    return _result(operation, card)


def _attempt(user, product, kind, card, amount, key) -> MasterOperation:
    """Inside the transaction: lock, check, post, record. A refusal is recorded, not raised."""
    master = ledger.master_account(product)
    account = ledger.card_account(card)
    if kind == MasterOperation.INQUIRY:
        # Nothing is posted to the card: only the master account (its commission) is locked,
        # and the processor is asked before, so parallel inquiries hold that lock briefly.
        live = default_processor().live_balances(product_terms(product), [card.id]).get(card.id)
        balances, _ = ledger.lock_balances([master.id])
    else:
        balances, _ = ledger.lock_balances(sorted({master.id, account.id}))
    card = Card.get_by_id(card.id)  # its state as of now, under the lock
    fee = product.inquiry_fee if kind == MasterOperation.INQUIRY else product.transfer_fee

    def refuse(message):
        return _record(user, product, kind, card, amount, 0, key, message, None)

    if not takes_money(card.status):
        return refuse(BLOCKED)
    if kind != MasterOperation.INQUIRY:
        problem = _limits(product, kind, amount)
        if problem:
            return refuse(problem)
    master_balance, card_balance = balances[master.id], balances.get(account.id, 0)
    label = card.masked_pan[-4:]
    if kind == MasterOperation.INQUIRY:
        if master_balance < fee:
            return refuse(INSUFFICIENT)
        if live is None:
            return refuse(FAILED)
        _commission(key, product, master, fee, f"consulta de saldo de la tarjeta •••• {label}")
        return _record(user, product, kind, card, 0, fee, key, OK, live)
    if kind == MasterOperation.CREDIT:
        if master_balance < amount + fee:
            return refuse(INSUFFICIENT)
        if card_balance + amount > product.card_limit:
            return refuse(LIMIT)
        ledger.post(f"maestra:{key}", f"Abono a tarjeta •••• {label}", [(master, -amount), (account, amount)])
        _commission(key, product, master, fee, f"abono a la tarjeta •••• {label}")
        return _record(user, product, kind, card, amount, fee, key, OK, card_balance + amount)
    # DEBIT: never more than the processor says the card has right now.
    live = default_processor().live_balances(product_terms(product), [card.id]).get(card.id)
    if live is None:
        return refuse(FAILED)
    if amount > min(live, card_balance):
        return refuse(INSUFFICIENT)
    if master_balance + amount < fee:
        return refuse(INSUFFICIENT)
    ledger.post(f"maestra:{key}", f"Cargo a tarjeta •••• {label}", [(account, -amount), (master, amount)])
    _commission(key, product, master, fee, f"cargo a la tarjeta •••• {label}")
    return _record(user, product, kind, card, amount, fee, key, OK, card_balance - amount)


def _commission(key, product, master, fee, what) -> None:
    if fee > 0:
        ledger.post(
            f"maestra:{key}:comision", f"Débito por comisión de servicio: {what}",
            [(master, -fee), (ledger.revenue_account(), fee)],
        )  # fmt: skip


def _record(user, product, kind, card, amount, fee, key, message, balance) -> MasterOperation:
    return MasterOperation.create(
        key=key, product=product.id, user=user.id if user else None, kind=kind, card=card.id if card else None,
        amount=amount, fee=fee, status=MasterOperation.OK if message == OK else MasterOperation.REFUSED,
        message=message, balance=balance,
    )  # fmt: skip


def _result(operation: MasterOperation, card: Card, repeated: bool = False) -> Result:
    return Result(
        card, operation.kind, operation.amount, operation.fee, operation.message, operation.balance, repeated,
        operation.created_at,
    )  # fmt: skip


def _done_since(product: Product, kinds, since: datetime, statuses=(MasterOperation.OK,)):
    """(count, amount) of the successful operations of these kinds since `since` (and of the
    other `statuses` given: a funding in progress counts towards the funding limits)."""
    row = (
        MasterOperation.select(fn.COUNT(MasterOperation.id), fn.COALESCE(fn.SUM(MasterOperation.amount), 0))
        .where(
            (MasterOperation.product == product)
            & MasterOperation.kind.in_(kinds)
            & MasterOperation.status.in_(statuses)
            & (MasterOperation.created_at >= since)
        )
        .tuples()
        .first()
    )
    return int(row[0]), int(row[1])


def _limits(product: Product, kind: str, amount: int) -> str | None:
    """The product's limits on card operations: per operation, per day (amount and count) and
    per week (amount), over the master account's credits and debits together."""
    if amount < product.operation_min or amount > product.operation_max:
        return LIMIT
    today = local_today()
    count, total = _done_since(product, (MasterOperation.CREDIT, MasterOperation.DEBIT), utc_bound(today))
    if count + 1 > product.daily_count_max or total + amount > product.daily_amount_max:
        return LIMIT
    monday = today - timedelta(days=today.weekday())
    _count, week = _done_since(product, (MasterOperation.CREDIT, MasterOperation.DEBIT), utc_bound(monday))
    if week + amount > product.weekly_amount_max:
        return LIMIT
    return None


def totals(product: Product, kind: str, items: Sequence[tuple[Card, int]]) -> dict:
    """What an operation of many would move and cost, for its confirmation dialog."""
    fee = product.inquiry_fee if kind == MasterOperation.INQUIRY else product.transfer_fee
    amount = 0 if kind == MasterOperation.INQUIRY else sum(a or 0 for _c, a in items)
    return {"cards": len(items), "amount": amount, "fees": fee * len(items)}


# ---------------------------------------------------------------- funding the master account


def _fund_purpose(key: str, amount: int) -> str:
    return f"fondeo:{key}:{amount}"  # the amount is part of what the code confirms


def check_funding(product: Product, amount: int | None) -> None:
    """Refuse a funding amount outside the product's limits (per deposit, day and month)."""
    if amount is None or amount <= 0:
        raise Refused("Escribe un monto mayor que cero")
    if amount > product.fund_max:
        raise Refused(f"El monto supera el máximo por recarga de la cuenta maestra ({format_cop(product.fund_max)})")
    today = local_today()
    counted = (MasterOperation.OK, MasterOperation.IN_PROGRESS)
    _count, day = _done_since(product, (MasterOperation.FUND,), utc_bound(today), counted)
    if day + amount > product.fund_daily_max:
        raise Refused(f"El monto supera el límite diario de recargas ({format_cop(product.fund_daily_max)})")
    _count, month = _done_since(product, (MasterOperation.FUND,), utc_bound(today.replace(day=1)), counted)
    if month + amount > product.fund_monthly_max:
        raise Refused(f"El monto supera el límite mensual de recargas ({format_cop(product.fund_monthly_max)})")


def bank_balance(company: Company) -> int:
    """Saldo disponible of the company's bank account (the simulated bank)."""
    return default_bank().balance(company.bank_account)


def send_funding_code(user: User, product: Product, key: str, amount: int | None) -> str:
    """Transferir: check the amount, then e-mail the code that confirms this funding."""
    key = _valid_key(key)
    if MasterOperation.get_or_none(MasterOperation.key == key) is not None:
        raise Refused("Esta recarga ya se procesó; abre de nuevo «Recarga cuenta maestra»")
    check_funding(product, amount)
    try:
        codes.issue(
            user, _fund_purpose(key, amount), "Código para recargar la cuenta maestra",
            f"recargar la cuenta maestra de {product.name} con {format_cop(amount)}",
        )  # fmt: skip
    except codes.CodeRefused as exc:
        if exc.message == codes.TOO_MANY:
            raise Refused(exc.message) from exc
        return exc.message
    return f"Enviamos un código de verificación a tu correo {_masked_email(user.email)}."


def _masked_email(email: str) -> str:
    name, _at, domain = (email or "").partition("@")
    return f"{name[:2]}•••@{domain}" if domain else "registrado"


def fund(user: User, product: Product, key: str, amount: int | None, description: str, code: str) -> MasterOperation:
    """Aceptar: the code, then the bank debit (idempotent by key) and the ledger operation bank →
    master account, recorded once under the dialog's key. Refused: nothing moved."""
    key = _valid_key(key)
    done = MasterOperation.get_or_none(MasterOperation.key == key)
    if done is not None:
        return _outcome(done)  # a retry: what the first request did, finished if it was cut short
    if amount is None or amount <= 0:
        raise Refused("Escribe un monto mayor que cero")
    # The code first: a duplicate «Aceptar» that missed the row above finds it used (and is told
    # the funding is under way), never its own funding counted against the limits. The limits
    # are checked by _transfer, under the master account's lock.
    problem = codes.check(user, _fund_purpose(key, amount), code)
    if problem == codes.USED:  # a parallel request with the same code is doing it
        raise Refused("Esta recarga ya se está procesando")
    if problem:
        raise Refused(problem)
    return _transfer(user, product, key, amount, description)


def fund_without_code(user: User, product: Product, amount: int, description: str) -> MasterOperation:
    """The demo data's funding (seed.py): `fund` without the e-mailed code nobody is there to
    read. Never reached from a view."""
    check_funding(product, amount)
    return _transfer(user, product, new_key(), amount, description)


def _transfer(user: User, product: Product, key: str, amount: int, description: str) -> MasterOperation:
    """Record the funding EN_CURSO (the limits checked again under the master account's lock, so
    two fundings at once can't both pass them), then settle it: the bank debit and the ledger."""
    description = (description or "").strip()[:80] or "Recarga cuenta maestra"
    master = ledger.master_account(product)
    try:
        with db.atomic():
            ledger.lock_balances([master.id])  # a product's fundings one at a time
            try:
                check_funding(product, amount)
                status, message = MasterOperation.IN_PROGRESS, ""
            except Refused as exc:  # kept: a retry of this dialog (its code spent) is told the same
                status, message = MasterOperation.REFUSED, exc.message
            operation = MasterOperation.create(
                key=key, product=product.id, user=user.id if user else None, kind=MasterOperation.FUND,
                amount=amount, status=status, message=message, description=description,
            )  # fmt: skip
    except IntegrityError:  # the same key, recorded meanwhile by a parallel request
        return _outcome(MasterOperation.get(MasterOperation.key == key))
    return _outcome(operation)


def _outcome(operation: MasterOperation) -> MasterOperation:
    """A funding's result: done, refused (raised, with the bank's message) or, EN_CURSO, settled
    now. Settling is the bank debit under the funding's key (the bank makes it once, and answers
    a repeat with the debit it made), then, in one transaction, the ledger operation under the
    same key (posted once) and the status, changed only from EN_CURSO. A request, its retry and
    the job may all settle the same funding: the money moves once."""
    if operation.status == MasterOperation.REFUSED:
        raise Refused(operation.message)
    if operation.status == MasterOperation.OK:
        return operation
    product = Product.get_by_id(operation.product_id)
    company = Company.get_by_id(product.company_id)
    key, amount, description = operation.key, operation.amount, operation.description
    result = default_bank().debit(company.bank_account, amount, key=f"fondeo:{key}", description=description)
    if not result.ok:
        message = f"El banco rechazó la transferencia: {result.message}"
        MasterOperation.update(status=MasterOperation.REFUSED, message=message).where(
            (MasterOperation.id == operation.id) & (MasterOperation.status == MasterOperation.IN_PROGRESS)
        ).execute()
        return _outcome(MasterOperation.get_by_id(operation.id))
    master = ledger.master_account(product)
    with db.atomic():
        ledger.post(f"fondeo:{key}", description, [(ledger.company_bank_account(company), -amount), (master, amount)])
        finished = (
            MasterOperation.update(status=MasterOperation.OK, message=OK, balance=ledger.balance(master))
            .where((MasterOperation.id == operation.id) & (MasterOperation.status == MasterOperation.IN_PROGRESS))
            .execute()
        )
    if finished:
        user = User.get_or_none(User.id == operation.user_id)
        record_event(Event.MASTER_FUND, user, company, obj=f"maestra:{key}", detail=format_cop(amount))
    return MasterOperation.get_by_id(operation.id)


STALE_FUNDING = timedelta(minutes=2)  # a request still at it after this long has died


def settle_stuck_fundings(limit: int = 20) -> int:
    """Job: finish the fundings left EN_CURSO for STALE_FUNDING (the app died between recording
    one and its ledger operation, maybe after the bank's debit). Returns how many ended."""
    stale = utcnow() - STALE_FUNDING
    stuck = (
        MasterOperation.select()
        .where(
            (MasterOperation.kind == MasterOperation.FUND)
            & (MasterOperation.status == MasterOperation.IN_PROGRESS)
            & (MasterOperation.created_at < stale)
        )
        .order_by(MasterOperation.id)
        .limit(limit)
    )
    ended = 0
    for operation in list(stuck):
        try:
            _outcome(operation)
        except Refused:
            pass  # the bank refused a debit it never made: nothing moved, and it says so
        except Exception:  # one broken funding must not stop the others; retried next run
            log.exception("settling the funding %s failed", operation.key)
            continue
        ended += 1
    return ended
