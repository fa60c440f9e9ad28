"""Consulta de tarjetas > Reposición (issue 12): a card blocked for loss or theft is replaced, and
its balance goes with its holder to the new card, in one ledger operation.

Two ways:

- **Tarjeta de existencias** (`from_stock`): at once, an unaffiliated card of the innominate
  stock, in the branch the user chooses, becomes the holder's (ACTIVA). The stock is the card's
  own product's when that product is innominate (the card keeps its product: its limits, fees
  and cuenta maestra); a named product has no stock of its own, so its cards are replaced from
  the stock of the company's innominate products. Within that, the lowest card id of the branch.
- **Tarjeta nueva nominada** (`with_new_card`): a one-record REP batch, straight to signature or
  authorization like an innominate request, costing the product's replacement fee; once its
  order is paid the processing job (services/processing.py, handler "REP" → `process_records`)
  has the card processor issue a named card of the same product to the same person and moves
  the balance.

Either way, in one transaction: the old card's row is locked (FOR UPDATE on PostgreSQL; SQLite
has one writer) and its state checked; the new card is taken (a conditional UPDATE on a stock
card still NO_AFILIADA and without a holder) or issued; both ledger accounts are locked in id
order and the old card's live balance (its ledger balance minus the purchases not settled yet,
which stay to be settled from it) moves in one operation keyed "reposicion:<old card id>"; the old
card becomes REEMPLAZADA (a conditional UPDATE on its state and on replaced_by being empty), with
replaced_by and status_changed_at; the audit event. A process killed halfway commits nothing, and
run again does it all once; a retry after it committed finds replaced_by set and answers the same
replacement (nothing moved, no second stock card). The key makes the balance move once whichever
way wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from peewee import JOIN, fn

import ledger
from adapters.processor import (
    HAS_ACTIVE_CARD,
    OVER_LIMIT,
    CardProcessor,
    Holder,
    IssueRequest,
    ProductTerms,
    Rejected,
    default_processor,
    product_terms,
)
from bulk import insert_rows, is_sqlite
from domain.card_states import CardState, InvalidMove, move
from domain.fees import BatchInput, FeeSchedule, quote_order
from domain.layouts import BatchKind
from models import Batch, BatchRecord, Branch, Card, LedgerOperation, LedgerPosting, Person, Product, User, db, utcnow
from services import Refused, batches, notices
from services.accounts import require_password
from services.audit import Event, record_event

REPLACEABLE = (CardState.BLOCKED_LOSS, CardState.BLOCKED_THEFT)
# Audit tags (plain strings: record_event stores str(tag)); to join services.audit.Event.
REPLACE_EVENT = Event.CARD_REPLACE
REQUEST_EVENT = Event.CARD_REPLACE_REQUEST

NOT_BLOCKED = "Solo se reponen las tarjetas bloqueadas por extravío o por robo"
NO_HOLDER = "La tarjeta no tiene tarjetahabiente"
NO_BRANCH = "Elige la sucursal de la tarjeta de existencias"
REPLACED_MEANWHILE = "La tarjeta ya fue reemplazada"
STOCK_TRIES = 5  # stock cards tried when others are being affiliated at the same moment


def replacement_key(card_id: int) -> str:
    """The ledger key of a card's replacement: its balance moves once, whichever way wins."""
    return f"reposicion:{card_id}"


def last4(card: Card) -> str:
    return f"•••• {card.masked_pan[-4:]}"


@dataclass(frozen=True)
class Replacement:
    old: Card
    new: Card
    amount: int  # centavos moved to the new card
    repeated: bool = False  # done before (a retry or a double submit): nothing moved now

    @property
    def message(self) -> str:
        return f"La tarjeta {last4(self.old)} ha sido reemplazada por {last4(self.new)}"


@dataclass(frozen=True)
class Stock:
    branch: Branch
    available: int


# ---------------------------------------------------------------- reading (the dialog)


def card_of(product: Product, card_id: int) -> Card | None:
    """A card of the product, with its holder (None when it has none), or None."""
    return (
        Card.select(Card, Person)
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where((Card.id == card_id) & (Card.product == product))
        .first()
    )


def refusal(product: Product, card: Card) -> str | None:
    """Why this card can't be replaced now (Spanish), or None."""
    if card.replaced_by_id is not None:
        new = Card.get_or_none(Card.id == card.replaced_by_id)
        return f"La tarjeta {last4(card)} ya fue reemplazada" + (f" por {last4(new)}" if new else "")
    if card.status not in REPLACEABLE:
        return NOT_BLOCKED
    if card.person_id is None:
        return NO_HOLDER
    pending = pending_request(product, card)
    if pending is not None:
        return f"La reposición de la tarjeta {last4(card)} ya está solicitada en el lote {pending.number}"
    return None


def pending_request(product: Product, card: Card) -> Batch | None:
    """A REP batch for this card that is still on its way (not deleted, voided or processed)."""
    person = Person.get_or_none(Person.id == card.person_id)
    if person is None:
        return None
    rows = (
        BatchRecord.select(BatchRecord.data, Batch)
        .join(Batch)
        .where(
            (Batch.product == product)
            & (Batch.kind == BatchKind.REP.value)
            & Batch.status.not_in([Batch.DELETED, Batch.VOIDED, Batch.PROCESSED])
            & (BatchRecord.id_type == person.id_type)
            & (BatchRecord.id_number == person.id_number)
        )
    )
    for record in rows:
        if orjson.loads(record.data).get("card_id") == card.id:
            return record.batch
    return None


def stock_products(product: Product) -> list[int]:
    """The products whose unaffiliated cards may replace a card of `product` (module docstring)."""
    if not product.named:
        return [product.id]
    unnamed = Product.select(Product.id).where((Product.company == product.company_id) & (Product.named == False))  # noqa: E712
    return [p.id for p in unnamed.order_by(Product.id)]


def stock_by_branch(product: Product) -> list[Stock]:
    """The branches of the company that have stock cards for a replacement, with how many."""
    products = stock_products(product)
    if not products:
        return []
    rows = (
        Card.select(Card.branch, fn.COUNT(Card.id))
        .where(Card.product.in_(products) & (Card.status == CardState.NOT_AFFILIATED) & Card.person.is_null())
        .group_by(Card.branch)
        .tuples()
    )
    available = {branch_id: count for branch_id, count in rows if branch_id is not None}
    branches = Branch.select().where(Branch.company == product.company_id).order_by(Branch.code)
    return [Stock(b, available[b.id]) for b in branches if available.get(b.id)]


def replacement_cost(product: Product) -> int:
    """What a REP batch of one card costs as an order of its own: replacement fee, GMF and IVA."""
    quote = quote_order([BatchInput("REP", BatchKind.REP, records=1)], FeeSchedule.from_product(product))
    return quote.os_total


def card_balance(product: Product, card: Card) -> int:
    """The card's live balance as the processor sees it (read only: for the dialog)."""
    if card.account_id is None:
        return 0
    live = default_processor().live_balances(product_terms(product), [card.id])
    return max(0, live.get(card.id, 0))


# ---------------------------------------------------------------- from stock


def from_stock(user: User, product: Product, card: Card, branch_code: str, password: str) -> Replacement:
    """Replace `card` by a stock card of the branch `branch_code`, at once (module docstring).
    Refusals before the password; a card replaced before answers that replacement again."""
    if card.replaced_by_id is not None:
        require_password(user, password)
        return _done_before(card)
    problem = refusal(product, card)
    if problem:
        raise Refused(problem)
    branch = Branch.get_or_none((Branch.company == product.company_id) & (Branch.code == (branch_code or "").strip()))
    if branch is None:
        raise Refused(NO_BRANCH)
    if not any(s.branch.id == branch.id for s in stock_by_branch(product)):
        raise Refused(_no_stock(branch))
    require_password(user, password)
    with db.atomic():
        old = _locked(product, card.id)
        if old.replaced_by_id is not None:  # a parallel request was first
            return _done_before(old)
        if old.status not in REPLACEABLE:
            raise Refused(NOT_BLOCKED)
        new = _take_stock_card(product, old, branch)
        amount = _move_balance(default_processor(), product_terms(product), old, new)
        _mark_replaced(old, new)
        record_event(
            REPLACE_EVENT, user, product.company, obj=f"tarjeta:{old.id}",
            detail=f"{old.masked_pan} por {new.masked_pan} (existencias, sucursal {branch.code}); saldo {amount}",
        )  # fmt: skip
    return Replacement(old, new, amount)


def _no_stock(branch: Branch) -> str:
    return f"La sucursal {branch.code} {branch.name} no tiene tarjetas innominadas disponibles"


def _done_before(card: Card) -> Replacement:
    old = Card.get_by_id(card.id)
    new = Card.get_by_id(old.replaced_by_id)
    return Replacement(old, new, _done_amount(replacement_key(old.id), new.account_id), repeated=True)


def _locked(product: Product, card_id: int) -> Card:
    """The card as of now, its row locked until the transaction ends."""
    query = Card.select().where((Card.id == card_id) & (Card.product == product))
    if not is_sqlite():
        query = query.for_update()
    card = query.first()
    if card is None:
        raise Refused("La tarjeta no existe")
    return card


def _take_stock_card(product: Product, old: Card, branch: Branch) -> Card:
    """Give the old card's holder the first free stock card of the branch, ACTIVA: a conditional
    UPDATE (the card may be being affiliated by an AFI batch right now: then the next one)."""
    holder_has = (
        Card.select(Card.product).where((Card.person == old.person_id) & (Card.status == CardState.ACTIVE)).tuples()
    )
    holding = {product_id for (product_id,) in holder_has}
    products = [p for p in stock_products(product) if p not in holding]
    if not products:
        raise Refused(HAS_ACTIVE_CARD)
    free = (
        Card.select(Card.id)
        .where(
            Card.product.in_(products)
            & (Card.status == CardState.NOT_AFFILIATED)
            & Card.person.is_null()
            & (Card.branch == branch.id)
        )
        .order_by(Card.id)
        .limit(STOCK_TRIES)
    )
    now = utcnow()
    active = move(CardState.NOT_AFFILIATED, "affiliate")
    for (card_id,) in free.tuples():
        taken = (
            Card.update(person=old.person_id, status=active, affiliated_at=now, status_changed_at=now)
            .where((Card.id == card_id) & (Card.status == CardState.NOT_AFFILIATED) & Card.person.is_null())
            .execute()
        )
        if taken:
            return Card.get_by_id(card_id)
    raise Refused(_no_stock(branch))


# ---------------------------------------------------------------- shared by both ways


def _move_balance(processor: CardProcessor, terms: ProductTerms, old: Card, new: Card, check_limit=True) -> int:
    """Move the old card's live balance to the new card: one operation, key replacement_key.
    Both accounts locked in id order. Returns the centavos moved (now or before). `check_limit`:
    the new card is of another product (stock), whose card limit may be lower."""
    old_account, new_account = ledger.card_account(old), ledger.card_account(new)
    balances, _negative = ledger.lock_balances(sorted({old_account.id, new_account.id}))
    live = processor.live_balances(terms, [old.id]).get(old.id, 0)
    amount = max(0, min(live, balances[old_account.id]))
    if check_limit:
        limit = Product.select(Product.card_limit).where(Product.id == new.product_id).scalar()
        if balances[new_account.id] + amount > limit:
            raise Refused(OVER_LIMIT)
    key = replacement_key(old.id)
    description = f"Reposición de la tarjeta {old.masked_pan} por la tarjeta {new.masked_pan}"
    if ledger.post(key, description, [(old_account, -amount), (new_account, amount)]):
        return amount
    return 0 if amount == 0 else _done_amount(key, new_account.id)


def _done_amount(key: str, account_id: int | None) -> int:
    """What the replacement's operation put on the new card's account."""
    return int(
        LedgerPosting.select(fn.COALESCE(fn.SUM(LedgerPosting.amount), 0))
        .join(LedgerOperation)
        .where((LedgerOperation.key == key) & (LedgerPosting.account == account_id))
        .scalar()
        or 0
    )


def _mark_replaced(old: Card, new: Card) -> None:
    """Old card → REEMPLAZADA, replaced by `new`: a conditional UPDATE on the state it was read in."""
    try:
        replaced = move(old.status, "replace")
    except InvalidMove:
        raise Refused(NOT_BLOCKED) from None
    changed = (
        Card.update(status=replaced, replaced_by=new.id, replaced_reason=old.status, status_changed_at=utcnow())
        .where((Card.id == old.id) & (Card.status == old.status) & Card.replaced_by.is_null())
        .execute()
    )
    if not changed:  # its row is locked: only a bug gets here; roll everything back
        raise RuntimeError(f"card {old.id} changed while locked")


# ---------------------------------------------------------------- a new named card (REP)


def with_new_card(user: User, product: Product, card: Card, password: str) -> Batch:
    """Tarjeta nueva nominada: a one-record REP batch for this card, straight to signature or
    authorization (like an innominate request), at the product's replacement fee."""
    problem = refusal(product, card)
    if problem:
        raise Refused(problem)
    require_password(user, password)
    person = Person.get_by_id(card.person_id)
    data = {
        "card_id": card.id, "card": card.masked_pan, "id_type": person.id_type, "id_number": person.id_number,
        "first_name": person.first_name, "first_surname": person.first_surname,
    }  # fmt: skip
    status = Batch.TO_SIGN if product.company.signatures == 2 else Batch.TO_AUTHORIZE
    now = utcnow()
    with db.atomic():
        batch = batches.create_numbered(
            company=product.company_id, product=product, kind=BatchKind.REP.value, status=status, total_records=1,
            processed_records=1, valid_records=1, uploaded_by=user.id, validated_at=now, confirmed_by=user.id,
            confirmed_at=now, observations=f"Reposición de la tarjeta {card.masked_pan} por una tarjeta nominada",
        )  # fmt: skip
        row = (batch.id, 1, person.id_type, person.id_number, 0, batches.record_json(data), BatchRecord.VALID, "")
        insert_rows("batch_record", batches.RECORD_COLUMNS, [row], nulls=False)
    record_event(
        REQUEST_EVENT, user, product.company, obj=f"tarjeta:{card.id}", detail=f"lote {batch.number}: {card.masked_pan}"
    )
    notices.batches_waiting(product, [batch], user)  # to the signers or the authorizers
    return batch


def process_records(processor: CardProcessor, terms: ProductTerms, rows: list) -> list:
    """The REP handler of the processing job, inside its chunk transaction (rows are (record id,
    line, id_type, id_number, amount, data JSON)): per record, the processor issues a named card
    of the product to the old card's holder, the balance moves and the old card is REEMPLAZADA.
    A record whose card can no longer be replaced is rejected with the reason."""
    wanted = {row[0]: orjson.loads(row[5]).get("card_id") for row in rows}
    ids = sorted({card_id for card_id in wanted.values() if card_id})
    lock = Card.select(Card.id).where(Card.id.in_(ids) & (Card.product == terms.id))
    if not is_sqlite():
        lock = lock.for_update()
    list(lock)
    cards = {
        c.id: c
        for c in Card.select(Card, Person)
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where(Card.id.in_(ids) & (Card.product == terms.id))
    }
    results, requests = {}, []
    for reference, card_id in wanted.items():
        old = cards.get(card_id)
        if old is None or old.person_id is None:
            results[reference] = Rejected(reference, "La tarjeta a reponer no existe")
        elif old.replaced_by_id is not None:
            results[reference] = Rejected(reference, REPLACED_MEANWHILE)
        elif old.status not in REPLACEABLE:
            results[reference] = Rejected(reference, NOT_BLOCKED)
        else:
            requests.append(IssueRequest(reference, _holder(old.person)))
    for result in processor.issue(terms, requests) if requests else []:
        results[result.reference] = result
        if result.ok:
            old = cards[wanted[result.reference]]
            new = Card.get((Card.product == terms.id) & (Card.serial == result.serial))
            amount = _move_balance(processor, terms, old, new, check_limit=False)  # same product
            _mark_replaced(old, new)
            record_event(
                REPLACE_EVENT, None, terms.company_id, obj=f"tarjeta:{old.id}", username="proceso",
                detail=f"{old.masked_pan} por {new.masked_pan} (lote de reposición); saldo {amount}",
            )  # fmt: skip
    return [results[row[0]] for row in rows]


def _holder(person: Person) -> Holder:
    return Holder(
        id_type=person.id_type, id_number=person.id_number, first_surname=person.first_surname,
        second_surname=person.second_surname, first_name=person.first_name, second_name=person.second_name,
        birth_date=person.birth_date, marital_status=person.marital_status, sex=person.sex, address=person.address,
        city=person.city, phone=person.phone, mobile=person.mobile, email=person.email,
        postal_code=person.postal_code, correspondence_address=person.correspondence_address,
        correspondence_postal_code=person.correspondence_postal_code,
    )  # fmt: skip
