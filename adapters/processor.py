"""The card processor: what the program asks of it and what it answers (the interface,
`CardProcessor`), and the built-in simulated processor.

The processing job (services/processing.py) sends the records of a paid order in chunks: one
call per chunk and kind, each request carrying `reference` (the batch record's id). A
processor must answer one result per request, in the same order, and treat a request whose
reference it has already seen as the same request (answer it again, do it only once): after
a crash the job may send a chunk again. The built-in implementation is
SimulatedProcessor, below, which keeps cards in our own database.

Full card numbers (PAN) never leave the processor: results carry the masked number only.

The simulated processor
-----------------------
SimulatedProcessor issues cards (Card rows, their holders as Person rows and one CARD ledger
account per card), credits them (ledger operations from the product's funding account) and
affiliates innominate cards, all in the caller's transaction: the processing job's chunk.
Each method does a whole chunk with a few bulk statements, not a query per record.

The full card number is never stored nor logged: a card keeps its masked number, its serial
and its expiry; the simulator can rebuild the number from the product's BIN and the serial
(domain.cards.make_pan) when it has to.

Serials are per BIN. A chunk takes the next block of serials after the highest one in use for
the BIN, while holding a lock that covers the whole chunk transaction: on SQLite the
transaction's write lock (it began IMMEDIATE), on PostgreSQL a transaction-scoped advisory lock
per BIN (pg_advisory_xact_lock). So two processes can't read the same maximum and hand out the
same serial, and a crashed chunk hands out nothing (its cards roll back with it). This needs
no counter table, and the lock is held only by card-creating chunks of that BIN. The cost is one
MAX over the BIN's cards per chunk (a scan of the products' cards; fine at 5,000 cards a
chunk, to revisit with an index or a counter row when a BIN holds millions of cards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import ClassVar, Protocol

import peewee

import ledger
from bulk import allocate_ids, copy_to_temp, insert_rows, is_sqlite, select_in
from domain.card_states import PlasticState
from domain.cards import capacity, expiry, make_pan, mask
from domain.clock import local_today
from domain.ledger import Operation
from models import Card, CardPurchase, LedgerAccount, Person, Product, db, utcnow

# Reasons a processor gives when it refuses a request (shown to the company on the record).
HAS_ACTIVE_CARD = "El tarjetahabiente ya tiene una tarjeta activa de este producto"
NO_ACTIVE_CARD = "El tarjetahabiente no tiene una tarjeta activa"
OVER_LIMIT = "El saldo superaría el límite de la tarjeta"
CARD_NOT_FOUND = "El número de tarjeta es inválido"
CARD_AFFILIATED = "La tarjeta ya está afiliada"
AMOUNT_NOT_POSITIVE = "El monto debe ser mayor que 0"
CARD_AMBIGUOUS = "El número de tarjeta corresponde a más de una tarjeta sin afiliar; comunícate con soporte"


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """What a processor needs to know of a product."""

    id: int
    company_id: int
    name: str
    bin: str
    validity_months: int
    card_limit: int  # centavos: a card's balance may not go above it


@dataclass(frozen=True, slots=True)
class Holder:
    """A cardholder as a validated record describes them (keys of domain/batch_validation.py)."""

    id_type: str
    id_number: str
    first_surname: str = ""
    second_surname: str = ""
    first_name: str = ""
    second_name: str = ""
    birth_date: date | None = None
    marital_status: str = ""
    sex: str = ""
    address: str = ""
    city: str = ""
    phone: str = ""
    mobile: str = ""
    email: str = ""
    # The issuer's 17-column emission layout also brings these (the correspondence address is
    # where a card can be delivered).
    postal_code: str = ""
    correspondence_address: str = ""
    correspondence_postal_code: str = ""

    @classmethod
    def from_record(cls, data: dict) -> Holder:
        """From a validated record (BatchRecord.data, decoded): dates come as ISO text."""
        values = {}
        for name in _HOLDER_TEXT:
            value = data.get(name)
            values[name] = "" if value is None else str(value)
        born = data.get("birth_date")
        if isinstance(born, str) and born:
            born = date.fromisoformat(born[:10])
        values["birth_date"] = born if isinstance(born, date) else None
        return cls(**values)


_HOLDER_TEXT = tuple(f.name for f in fields(Holder) if f.name != "birth_date")


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """Issue a card: to `holder`, or an innominate card (no holder yet) when it is None, with
    the lines embossed on it and the branch that receives it."""

    reference: int
    holder: Holder | None
    emboss_line1: str = ""
    emboss_line2: str = ""
    branch_id: int | None = None
    expires_on: date | None = None  # the one the request was shown (INN); else the product's validity from today


@dataclass(frozen=True, slots=True)
class CreditRequest:
    """Credit `amount` centavos to the holder's active card of the product."""

    reference: int
    id_type: str
    id_number: str
    amount: int
    description: str = ""  # for the card's statement


@dataclass(frozen=True, slots=True)
class AssignRequest:
    """Affiliate an unaffiliated (innominate) card to `holder`: the card whose serial is
    `serial` (the REFERENCIA of the affiliation file), or, without it, the only unaffiliated
    card of the product shown as `masked_pan`."""

    reference: int
    masked_pan: str
    holder: Holder
    serial: int | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    ok: ClassVar[bool] = True
    reference: int
    masked_pan: str
    serial: int  # the processor's reference of the card
    expires_on: date


@dataclass(frozen=True, slots=True)
class Credited:
    ok: ClassVar[bool] = True
    reference: int
    masked_pan: str
    amount: int
    balance: int  # the card's balance right after this credit


@dataclass(frozen=True, slots=True)
class Assigned:
    ok: ClassVar[bool] = True
    reference: int
    masked_pan: str


@dataclass(frozen=True, slots=True)
class Rejected:
    ok: ClassVar[bool] = False
    reference: int
    reason: str  # Spanish, for the company


class CardProcessor(Protocol):
    """A card processor. Each method takes one chunk of requests of one product and returns one
    result per request, in order; a repeated reference is answered, not done again. Calls run
    inside the job's chunk transaction: an implementation that writes to our database writes
    in it, one that calls out must make its effects idempotent by reference."""

    def issue(self, product: ProductTerms, requests: Sequence[IssueRequest]) -> list[Issued | Rejected]: ...

    def credit(self, product: ProductTerms, requests: Sequence[CreditRequest]) -> list[Credited | Rejected]: ...

    def assign(self, product: ProductTerms, requests: Sequence[AssignRequest]) -> list[Assigned | Rejected]: ...

    def live_balances(self, product: ProductTerms, card_ids: Sequence[int]) -> dict[int, int]:
        """The balance each card has right now at the processor (centavos): what the ledger
        knows minus the purchases not settled yet. Cards it doesn't know are left out."""
        ...

    def set_status(self, product: ProductTerms, card_id: int, current: str, new: str) -> bool:
        """Block, unblock or cancel a card at the processor: `new` if it is still `current`
        (False otherwise: someone changed it meanwhile). The moves are checked by the caller."""
        ...


# ---------------------------------------------------------------- the simulated processor

SERIAL_LOCK = 0x53455249  # first key of the advisory lock ("SERI"); the second is the BIN

PERSON_COLUMNS = (
    "id_type",
    "id_number",
    "first_surname",
    "second_surname",
    "first_name",
    "second_name",
    "birth_date",
    "marital_status",
    "sex",
    "address",
    "city",
    "phone",
    "mobile",
    "email",
    "postal_code",
    "correspondence_address",
    "correspondence_postal_code",
)


def product_terms(product: Product) -> ProductTerms:
    return ProductTerms(
        id=product.id,
        company_id=product.company_id,
        name=product.name,
        bin=product.bin,
        validity_months=product.validity_months,
        card_limit=product.card_limit,
    )


class SimulatedProcessor:
    """Cards, balances and holders in our own database; see the module docstring."""

    # ------------------------------------------------------------ issue

    def issue(self, product: ProductTerms, requests: Sequence[IssueRequest]) -> list[Issued | Rejected]:
        """EMI (with a holder): one new active card per request, unless the holder already has
        an active card of the product. INN (without): one new card NO_AFILIADA per request."""
        results: dict[int, Issued | Rejected] = _issued_before(product, [r.reference for r in requests])
        pending = [r for r in requests if r.reference not in results]
        people = persons_for([r.holder for r in pending if r.holder is not None])
        holding = _active_holders(product, list(people.values()))
        accepted = []
        for request in pending:
            person_id = None
            if request.holder is not None:
                person_id = people[(request.holder.id_type, request.holder.id_number)]
                if person_id in holding:
                    results[request.reference] = Rejected(request.reference, HAS_ACTIVE_CARD)
                    continue
                holding.add(person_id)
            accepted.append((request, person_id))
        if accepted:
            self._create_cards(product, accepted, results)
        return [results[r.reference] for r in requests]

    def _create_cards(self, product: ProductTerms, accepted: list, results: dict) -> None:
        serials = next_serials(product.bin, len(accepted))
        card_ids = allocate_ids(Card, len(accepted))
        account_ids = allocate_ids(LedgerAccount, len(accepted))
        default_expiry = expiry(local_today(), product.validity_months)
        now = str(utcnow())
        accounts, cards = [], []
        for (request, person_id), serial, card_id, account_id in zip(
            accepted, serials, card_ids, account_ids, strict=True
        ):
            masked = mask(make_pan(product.bin, serial))
            expires_on = request.expires_on or default_expiry
            expires_text = expires_on.isoformat()
            accounts.append(
                (
                    account_id,
                    ledger.card_account_code(card_id),
                    f"Tarjeta {masked}",
                    LedgerAccount.CARD,
                    product.company_id,
                    product.id,
                    0,
                    False,
                    now,
                )
            )
            status = Card.NOT_AFFILIATED if person_id is None else Card.ACTIVE
            cards.append(
                (card_id, product.id, person_id, masked, status, now, serial, expires_text, account_id)
                + (
                    request.reference,
                    request.emboss_line1,
                    request.emboss_line2,
                    request.branch_id,
                    PlasticState.MAKING.value,
                    masked[-4:],
                    "",
                )
            )
            results[request.reference] = Issued(request.reference, masked, serial, expires_on)
        insert_rows(
            "ledger_account",
            ("id", "code", "name", "kind", "company_id", "product_id", "balance", "allow_negative", "created_at"),
            accounts,
        )
        insert_rows(
            "card",
            (
                "id",
                "product_id",
                "person_id",
                "masked_pan",
                "status",
                "created_at",
                "serial",
                "expires_on",
                "account_id",
                "record_id",
                "emboss_line1",
                "emboss_line2",
                "branch_id",
                "plastic_status",
                "last4",
                "replaced_reason",
            ),
            cards,
        )

    # ------------------------------------------------------------ credit

    def credit(self, product: ProductTerms, requests: Sequence[CreditRequest]) -> list[Credited | Rejected]:
        """REC: move each amount from the product's funding account to the holder's active card
        (the newest, if several), unless the card's balance would go above the product's limit.

        A record refused (no active card, over the limit) was paid all the same: its amount goes
        back to the company, from the funding account to the product's master account, as its
        own operation (refund_key, "reembolso:<record id>"), in the same transaction. A chunk
        sent again answers the records credited or refunded before and moves neither again.

        The master account, which the cuenta maestra's own operations lock too, is locked with
        the funding and the cards (in id order) only when the chunk has a record without an
        active card; a record over the limit is seen once the balances are locked, and then the
        master account is locked last. That late lock is out of id order: should a cuenta
        maestra operation on one of the chunk's cards wait for it at that moment, PostgreSQL
        breaks the deadlock by failing one of the two, and the chunk (all or nothing) is retried."""
        keys = {r.reference: credit_key(r.reference) for r in requests}
        results: dict[int, Credited | Rejected] = _credited_before(keys)
        results.update(_refunded_before([r.reference for r in requests if r.reference not in results]))
        pending = [r for r in requests if r.reference not in results]
        if not pending:
            return [results[r.reference] for r in requests]
        cards = _active_cards_by_holder(product, {(r.id_type, r.id_number) for r in pending})
        funding = ledger.funding_account(product).id
        foreseen = any(r.amount > 0 and (r.id_type, r.id_number) not in cards for r in pending)
        master = ledger.master_account(product).id if foreseen else None
        # Funding, cards (and master) locked together, in id order, as post_many will: no
        # deadlock with another post touching the same accounts.
        wanted = {funding, *(account for _card, account, _masked in cards.values())}
        balances, negative = ledger.lock_balances(sorted(wanted | ({master} if master else set())))
        locked = (dict(balances), negative)  # as read: post_many needn't lock and read them again
        operations, refused = [], []
        for request in pending:
            card = cards.get((request.id_type, request.id_number))
            if request.amount <= 0:
                results[request.reference] = Rejected(request.reference, AMOUNT_NOT_POSITIVE)
                continue
            if card is None:
                results[request.reference] = Rejected(request.reference, NO_ACTIVE_CARD)
                refused.append(request)
                continue
            _card_id, account_id, masked = card
            after = balances[account_id] + request.amount
            if after > product.card_limit:
                results[request.reference] = Rejected(request.reference, OVER_LIMIT)
                refused.append(request)
                continue
            balances[account_id] = after
            operations.append(
                Operation.transfer(keys[request.reference], request.description, funding, account_id, request.amount)
            )
            results[request.reference] = Credited(request.reference, masked, request.amount, after)
        if refused:
            if master is None:
                master = ledger.master_account(product).id
                late, late_negative = ledger.lock_balances([master])
                locked = ({**locked[0], **late}, locked[1] | late_negative)
            for request in refused:
                reason = results[request.reference].reason
                operations.append(
                    Operation.transfer(
                        refund_key(request.reference),
                        refund_description(request, reason),
                        funding,
                        master,
                        request.amount,
                    )
                )
        # The keys were looked up above (_credited_before, _refunded_before), in this transaction.
        ledger.post_many(operations, locked=locked, keys_checked=True)
        return [results[r.reference] for r in requests]

    # ------------------------------------------------------------ assign

    def assign(self, product: ProductTerms, requests: Sequence[AssignRequest]) -> list[Assigned | Rejected]:
        """AFI: give an unaffiliated card of the product (by its serial, or by its masked number
        when that names only one) to a holder, created if we don't know them, only once the card
        is theirs. The card becomes ACTIVA."""
        keys = [(r.holder.id_type, r.holder.id_number) for r in requests]
        known = _person_ids(keys)
        holding_ids = _active_holders(product, list(known.values()))
        holding = {key for key, person_id in known.items() if person_id in holding_ids}
        by_serial, by_masked = _cards_named(product, requests)
        results: dict[int, Assigned | Rejected] = {}
        accepted = []
        for request, key in zip(requests, keys, strict=True):
            person_id = known.get(key)
            if request.serial is not None:
                found = by_serial.get(request.serial)
                candidates = [found] if found is not None else []
            else:
                candidates = by_masked.get(request.masked_pan, [])
            free = [c for c in candidates if c[1] is None]
            if person_id is not None and any(c[1] == person_id for c in candidates):
                results[request.reference] = Assigned(request.reference, candidates[0][2])  # done before
            elif not candidates:
                results[request.reference] = Rejected(request.reference, CARD_NOT_FOUND)
            elif not free:
                results[request.reference] = Rejected(request.reference, CARD_AFFILIATED)
            elif len(free) > 1:
                results[request.reference] = Rejected(request.reference, CARD_AMBIGUOUS)
            elif key in holding:
                results[request.reference] = Rejected(request.reference, HAS_ACTIVE_CARD)
            else:
                card = free[0]
                card[1] = TAKEN  # a later request of the chunk finds it affiliated
                holding.add(key)
                accepted.append((request, key, card))
        people = persons_for([request.holder for request, _key, _card in accepted])
        given = _give_cards(product, [(card[0], people[key]) for _request, key, card in accepted])
        for request, _key, (card_id, _taken, masked) in accepted:
            results[request.reference] = (
                Assigned(request.reference, masked)
                if card_id in given
                else Rejected(request.reference, CARD_AFFILIATED)
            )
        return [results[r.reference] for r in requests]

    # ------------------------------------------------------------ balances

    def live_balances(self, product: ProductTerms, card_ids: Sequence[int]) -> dict[int, int]:
        """The ledger balance of each card of the product, minus its unsettled purchases
        (CardPurchase rows the settlement job has not posted yet)."""
        ids = sorted(set(card_ids))
        if not ids:
            return {}
        rows = select_in(
            "SELECT c.id, COALESCE(a.balance, 0) FROM card c LEFT JOIN ledger_account a ON a.id = c.account_id "
            f"WHERE c.product_id = {db.param} AND c.id IN {{in}}",
            ids,
            (product.id,),
        )
        balances = dict(rows)
        pending = select_in(
            "SELECT card_id, SUM(amount) FROM card_purchase WHERE settled_at IS NULL AND card_id IN {in} GROUP BY card_id",
            list(balances),
        )
        for card_id, amount in pending:
            balances[card_id] -= int(amount)
        return balances

    # ------------------------------------------------------------ purchases

    def set_status(self, product: ProductTerms, card_id: int, current: str, new: str) -> bool:
        """The card's state, kept on its row: a conditional UPDATE on the state the caller saw."""
        return bool(
            Card.update(status=new, status_changed_at=utcnow())
            .where((Card.id == card_id) & (Card.product == product.id) & (Card.status == current))
            .execute()
        )

    def purchase(self, product: ProductTerms, card_id: int, amount: int, merchant: str) -> bool:
        """Authorize a purchase at a merchant: True, and a CardPurchase row (the card's live
        balance lower at once; the settlement job posts it later, services/purchases.py), if the
        card is an active card of the product and its live balance covers `amount`.

        The card's ledger account stays locked until the transaction ends (FOR UPDATE on
        PostgreSQL, the write lock on SQLite): the lock every post to the card takes, so two
        purchases, or a purchase and a debit of the card that reads the live balance under the
        same lock, can't both spend the same money."""
        if amount <= 0:
            return False
        card = Card.get_or_none((Card.id == card_id) & (Card.product == product.id))
        if card is None or card.status != Card.ACTIVE:
            return False
        with db.atomic():
            ledger.lock_balances([ledger.card_account(card).id])
            if self.live_balances(product, [card.id]).get(card.id, 0) < amount:
                return False
            CardPurchase.create(card=card.id, amount=amount, merchant=merchant[:80])
        return True


def _give_cards(product: ProductTerms, pairs: list[tuple[int, int]]) -> set[int]:
    """Give each card of (card id, person id) its holder, where the card still has none (another
    process may have been first): one statement for the chunk. Returns the card ids given."""
    if not pairs:
        return set()
    now = str(utcnow())
    if is_sqlite():
        with peewee.__exception_wrapper__:
            db.connection().executemany(
                "UPDATE card SET person_id = ?, status = ?, affiliated_at = ? "
                "WHERE id = ? AND person_id IS NULL AND product_id = ?",
                [(person_id, Card.ACTIVE, now, card_id, product.id) for card_id, person_id in pairs],
            )
        # The transaction holds the write lock: what the cards read now is what we wrote.
        wanted = dict(pairs)
        rows = select_in("SELECT id, person_id FROM card WHERE id IN {in}", sorted(wanted))
        return {card_id for card_id, person_id in rows if wanted[card_id] == person_id}
    from psycopg2.extras import execute_values

    with peewee.__exception_wrapper__, db.connection().cursor() as cursor:
        given = execute_values(
            cursor,
            "UPDATE card AS c SET person_id = v.person_id, status = v.status, affiliated_at = v.at::timestamp "
            "FROM (VALUES %s) AS v(id, person_id, status, at, product_id) "
            "WHERE c.id = v.id AND c.person_id IS NULL AND c.product_id = v.product_id RETURNING c.id",
            [(card_id, person_id, Card.ACTIVE, now, product.id) for card_id, person_id in pairs],
            page_size=len(pairs),
            fetch=True,
        )
    return {card_id for (card_id,) in given}


def _cards_named(product: ProductTerms, requests: Sequence[AssignRequest]) -> tuple[dict, dict]:
    """The product's cards the requests name: {serial: [card id, person id, masked]} and
    {masked number: [[card id, person id, masked], …]} (mutable: a chunk marks what it takes)."""
    serials = sorted({r.serial for r in requests if r.serial is not None})
    masked = sorted({r.masked_pan for r in requests if r.serial is None})
    by_serial: dict[int, list] = {}
    by_masked: dict[str, list[list]] = {}
    if serials:
        rows = select_in(
            f"SELECT id, person_id, masked_pan, serial FROM card WHERE product_id = {db.param} AND serial IN {{in}}",
            serials,
            (product.id,),
        )
        for card_id, person_id, masked_pan, serial in rows:
            by_serial[serial] = [card_id, person_id, masked_pan]
    if masked:
        rows = select_in(
            f"SELECT id, person_id, masked_pan FROM card WHERE product_id = {db.param} "
            "AND masked_pan IN {in} ORDER BY id",
            masked,
            (product.id,),
        )
        for card_id, person_id, masked_pan in rows:
            by_masked.setdefault(masked_pan, []).append([card_id, person_id, masked_pan])
    return by_serial, by_masked


TAKEN = -1  # stands for the person of a card given earlier in the same chunk


def credit_key(reference: int) -> str:
    """The ledger key of a record's recharge: posted once, whatever happens to the job."""
    return f"rec:{reference}"


def refund_key(reference: int) -> str:
    """The ledger key of the refund of a record the processor refused (funding → master account)."""
    return f"reembolso:{reference}"


REFUND_PREFIX = "Reembolso "
REFUND_REASON = " rechazada: "


def refund_description(request: CreditRequest, reason: str) -> str:
    """The refund's line, e.g. "Reembolso recarga lote 25011501 rechazada: <reason>" (the batch
    from the request's own description, "Recarga lote <n>[: note]"); _refunded_before reads
    the reason back."""
    label = request.description.split(":", 1)[0].strip()
    if not label.startswith("Recarga lote "):
        label = f"Recarga registro {request.reference}"
    return f"{REFUND_PREFIX}{label[0].lower()}{label[1:]}{REFUND_REASON}{reason}"[:200]


def _refunded_before(references: list[int]) -> dict[int, Rejected]:
    """Records refunded before (a chunk sent again): rejected again with the same reason, and
    neither credited nor refunded a second time."""
    if not references:
        return {}
    reference_of = {refund_key(reference): reference for reference in references}
    rows = select_in("SELECT key, description FROM ledger_operation WHERE key IN {in}", sorted(reference_of))
    return {
        reference_of[key]: Rejected(reference_of[key], description.split(REFUND_REASON, 1)[-1])
        for key, description in rows
    }


# ---------------------------------------------------------------- serials


def next_serials(bin_: str, count: int) -> list[int]:
    """`count` serials of the BIN no card has, under a lock held until the transaction ends."""
    if not is_sqlite():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (SERIAL_LOCK, int(bin_)))
    highest = (
        Card.select(peewee.fn.MAX(Card.serial))
        .join(Product, on=(Card.product == Product.id))
        .where(Product.bin == bin_)
        .scalar()
    )
    start = (highest or 0) + 1
    if start + count > capacity(bin_):
        raise RuntimeError(f"BIN {bin_} has no serials left")
    return list(range(start, start + count))


# ---------------------------------------------------------------- people and cards


def persons_for(holders: Sequence[Holder]) -> dict[tuple[str, str], int]:
    """{(id_type, id_number): person id} for these holders, creating those we don't know (with
    the record's data; a known person keeps theirs). Safe with two processes at once."""
    wanted: dict[tuple[str, str], Holder] = {}
    for holder in holders:
        wanted.setdefault((holder.id_type, holder.id_number), holder)
    found = _person_ids(list(wanted))
    missing = [holder for key, holder in wanted.items() if key not in found]
    if missing:
        now = str(utcnow())
        rows = [_person_row(holder, now) for holder in missing]
        if is_sqlite():
            # The write lock is held: nobody else can insert these people meanwhile.
            ids = allocate_ids(Person, len(rows))
            insert_rows(
                "person", ("id", *PERSON_COLUMNS, "created_at"), [(i, *row) for i, row in zip(ids, rows, strict=True)]
            )
            found.update(((h.id_type, h.id_number), i) for h, i in zip(missing, ids, strict=True))
        else:
            found.update(_insert_people_postgres(rows))
            # Those another process inserted first (rare): read back.
            found.update(_person_ids([key for key in wanted if key not in found]))
    return found


def _person_row(holder: Holder, now: str) -> tuple:
    born = holder.birth_date.isoformat() if holder.birth_date else None
    return (
        holder.id_type,
        holder.id_number,
        holder.first_surname,
        holder.second_surname,
        holder.first_name,
        holder.second_name,
        born,
        holder.marital_status,
        holder.sex,
        holder.address,
        holder.city,
        holder.phone,
        holder.mobile,
        holder.email,
        holder.postal_code,
        holder.correspondence_address,
        holder.correspondence_postal_code,
        now,
    )


def _insert_people_postgres(rows: list[tuple]) -> dict[tuple[str, str], int]:
    """Insert these people but those another process is creating meanwhile (left to it);
    returns the ids of those inserted."""
    columns = (*PERSON_COLUMNS, "created_at")
    names = ", ".join(columns)
    copy_to_temp("incoming_person", f"SELECT {names} FROM person", columns, rows)
    cursor = db.execute_sql(
        f"INSERT INTO person ({names}) SELECT {names} FROM incoming_person "
        "ON CONFLICT (id_type, id_number) DO NOTHING RETURNING id_type, id_number, id"
    )
    return {(id_type, id_number): person_id for id_type, id_number, person_id in cursor.fetchall()}


def _person_ids(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    found = {}
    wanted = set(keys)
    types = sorted({t for t, _n in keys})
    # Both columns of the unique (id_type, id_number) index, so each value is an index lookup.
    sql = "SELECT id, id_type, id_number FROM person WHERE id_type IN {types} AND id_number IN {in}"
    sql = sql.replace("{types}", "(" + ", ".join([db.param] * len(types)) + ")")
    for person_id, id_type, id_number in select_in(sql, sorted({n for _t, n in keys}), types):
        if (id_type, id_number) in wanted:
            found[(id_type, id_number)] = person_id
    return found


# The card queries below constrain cards by holder only and filter product and status in
# Python: given `product_id = ?` too, SQLite (no statistics) walks the product's index, i.e.
# every card of the product for every chunk, instead of the few cards of each holder.


def _active_holders(product: ProductTerms, person_ids: list[int]) -> set[int]:
    rows = select_in("SELECT person_id, product_id, status FROM card WHERE person_id IN {in}", sorted(person_ids))
    return {person_id for person_id, product_id, status in rows if product_id == product.id and status == Card.ACTIVE}


def _active_cards_by_holder(product: ProductTerms, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """{(id_type, id_number): (card id, account id, masked number)} of the holders' newest
    active card of the product; a card without its account gets one."""
    cards = {}
    types = sorted({t for t, _n in keys})
    sql = (
        "SELECT p.id_type, p.id_number, c.id, c.account_id, c.masked_pan, c.product_id, c.status "
        "FROM person p JOIN card c ON c.person_id = p.id "
        "WHERE p.id_type IN {types} AND p.id_number IN {in} ORDER BY c.id"
    ).replace("{types}", "(" + ", ".join([db.param] * len(types)) + ")")
    rows = select_in(sql, sorted({n for _t, n in keys}), types)
    for id_type, id_number, card_id, account_id, masked, product_id, status in rows:
        if product_id == product.id and status == Card.ACTIVE and (id_type, id_number) in keys:
            cards[(id_type, id_number)] = (card_id, account_id, masked)  # the newest wins
    for key, (card_id, account_id, masked) in list(cards.items()):
        if account_id is None:  # a card from before the processor existed
            card = Card.get_by_id(card_id)
            cards[key] = (card_id, ledger.card_account(card).id, masked)
    return cards


def _issued_before(product: ProductTerms, references: list[int]) -> dict[int, Issued]:
    """Cards already issued for these records (a chunk sent again): answered, not issued again.
    One range query: a chunk's record ids are (nearly) consecutive."""
    if not references:
        return {}
    wanted = set(references)
    rows = db.execute_sql(
        f"SELECT record_id, masked_pan, serial, expires_on FROM card WHERE record_id BETWEEN {db.param} AND {db.param}",
        (min(references), max(references)),
    ).fetchall()
    done = {}
    for record_id, masked, serial, expires_on in rows:
        if record_id in wanted:
            if isinstance(expires_on, str):
                expires_on = date.fromisoformat(expires_on)
            done[record_id] = Issued(record_id, masked, serial, expires_on)
    return done


def _credited_before(keys: dict[int, str]) -> dict[int, Credited]:
    """Recharges already posted (a chunk sent again): their card posting, not a second credit."""
    reference_of = {key: reference for reference, key in keys.items()}
    posted = select_in("SELECT key FROM ledger_operation WHERE key IN {in}", sorted(reference_of))
    if not posted:
        return {}
    rows = select_in(
        "SELECT o.key, p.amount, p.balance_after, c.masked_pan FROM ledger_operation o "
        "JOIN ledger_posting p ON p.operation_id = o.id JOIN card c ON c.account_id = p.account_id "
        "WHERE o.key IN {in}",
        [key for (key,) in posted],
    )
    return {
        reference_of[key]: Credited(reference_of[key], masked, amount, after) for key, amount, after, masked in rows
    }


def default_processor() -> CardProcessor:
    """The card processor the jobs use: the built-in simulated one (a real one plugs in here)."""
    return SimulatedProcessor()
