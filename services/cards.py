"""Consultas > Consulta de tarjetas (SPEC §10a): find any card of a product, block it (temporarily,
for loss or for theft), unblock it, cancel it, update its holder's e-mail and mobile, follow the
delivery of its plastic, and read its history.

A card's state changes only here, by the moves of domain/card_states.py: each change goes
through the card processor (adapters/processor.py `set_status`, which keeps the state) as a
conditional UPDATE on the state the user saw, with an audit event ("tarjeta:<id>"). Many cards
at once take one password and get one result each.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, fn

import ledger
from adapters.processor import default_processor, product_terms
from domain.batch_validation import EMAIL_MAX, valid_email, valid_mobile
from domain.card_states import CardState, InvalidMove, label, move, plastic_label, plastic_move
from domain.cards import luhn_valid, make_pan, mask
from domain.layouts import ID_TYPES
from domain.money import format_cop
from models import (
    AuditEvent,
    Batch,
    BatchRecord,
    Card,
    LedgerAccount,
    LedgerOperation,
    LedgerPosting,
    Person,
    Product,
    User,
    db,
    utcnow,
)
from services import Refused
from services.accounts import require_password
from services.audit import Event, record_event

# The actions of the screen: (what the user asks) -> (the move of domain/card_states.py, label, result)
STATE_ACTIONS = {
    "temporal": ("block_temporary", "Bloqueo temporal", "Tarjeta bloqueada temporalmente"),
    "extravio": ("block_loss", "Bloqueo por extravío", "Tarjeta bloqueada por extravío"),
    "robo": ("block_theft", "Bloqueo por robo", "Tarjeta bloqueada por robo"),
    "desbloquear": ("unblock", "Desbloquear", "Tarjeta desbloqueada"),
}
PLASTIC_ACTIONS = {
    "enviar": ("send", "Enviar a empresa", "Plástico enviado a la empresa"),
    "recibir": ("receive", "Recibida en la empresa", "Plástico recibido en la empresa"),
    "entregar": ("deliver", "Entregar al tarjetahabiente", "Plástico entregado al tarjetahabiente"),
}
NOT_NOW = "La tarjeta no admite esta operación en su estado actual"
REPLACEABLE = (CardState.BLOCKED_LOSS.value, CardState.BLOCKED_THEFT.value)  # Reposición (services/replacement.py)
COUNT_LIMIT = 10_000  # past it the list says "más de 10.000" (blueprints/pagination.keyset)
MAX_BULK = 500


# ---------------------------------------------------------------- search


@dataclass(frozen=True)
class Criteria:
    document: str = ""
    card: str = ""
    order: int | None = None
    batch: str = ""


def criteria_from(args) -> tuple[Criteria, list[str]]:
    """Documento de identidad, Número de tarjeta (last 4 or all 16 digits), Nro. de orden de
    servicio, Nro. de lote; each optional (the same criteria in Cuenta maestra)."""
    errors = []
    document = (args.get("documento") or "").strip().upper()[:15]
    card = (args.get("tarjeta") or "").strip().replace(" ", "")
    order = (args.get("orden") or "").strip()
    batch = (args.get("lote") or "").strip()
    if document and not (document.isascii() and document.isalnum()):
        errors.append("El documento de identidad solo lleva letras y números")
    if card and not (card.isascii() and card.isdigit() and len(card) in (4, 16)):
        errors.append("Escribe los últimos 4 dígitos de la tarjeta o sus 16 dígitos")
    elif len(card) == 16 and not luhn_valid(card):
        errors.append("El número de tarjeta no es válido")
    if order and not (order.isascii() and order.isdigit() and len(order) <= 12):
        errors.append("El número de orden de servicio solo lleva números")
    if batch and not (batch.isascii() and batch.isdigit() and len(batch) <= 12):
        errors.append("El número de lote solo lleva números")
    if errors:
        return Criteria(), errors
    return Criteria(document, card, int(order) if order else None, batch), []


def matching(product: Product, criteria: Criteria, *, holders_only: bool = False):
    """The condition on card alone that selects the criteria's cards: a holder, an order or a
    batch become id subqueries, so that counting the cards (blueprints/pagination.keyset) joins
    nothing and each criterion is an index lookup."""
    condition = Card.product == product
    if holders_only:
        condition &= Card.person.is_null(False)
    if criteria.document:  # both columns of person's unique index, then card (product, person)
        people = Person.select(Person.id).where(Person.id_type.in_(ID_TYPES) & (Person.id_number == criteria.document))
        condition &= Card.person.in_([p.id for p in people] or [-1])
    if len(criteria.card) == 4:
        condition &= Card.last4 == criteria.card
    elif criteria.card:
        condition &= (Card.masked_pan == mask(criteria.card)) & Card.serial.in_(
            _serials_of(product, criteria.card) or [-1]
        )
    if criteria.order is not None or criteria.batch:
        batches = Batch.select(Batch.id).where(Batch.product == product)
        if criteria.order is not None:
            batches = batches.where(Batch.order == criteria.order)
        if criteria.batch:
            batches = batches.where(Batch.number == criteria.batch)
        condition &= Card.record.in_(BatchRecord.select(BatchRecord.id).where(BatchRecord.batch.in_(batches)))
    return condition


def count_query(product: Product, criteria: Criteria, *, holders_only: bool = False):
    """What `keyset` counts: the card table alone."""
    return Card.select(Card.id).where(matching(product, criteria, holders_only=holders_only))


def search(product: Product, criteria: Criteria, *, holders_only: bool = False):
    """The product's cards matching the criteria, with their holder (None for stock cards), their
    ledger account and the batch and order they came from (read in the same query)."""
    return (
        Card.select(Card, Person, LedgerAccount, BatchRecord, Batch)
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .switch(Card)
        .join(LedgerAccount, JOIN.LEFT_OUTER, on=(Card.account == LedgerAccount.id))
        .switch(Card)
        .join(BatchRecord, JOIN.LEFT_OUTER, on=(Card.record == BatchRecord.id))
        .join(Batch, JOIN.LEFT_OUTER, on=(BatchRecord.batch == Batch.id))
        .where(matching(product, criteria, holders_only=holders_only))
    )


def _serials_of(product: Product, pan: str) -> list[int]:
    """The serials of the product's cards whose full number is `pan` (never stored: rebuilt from
    the BIN and each candidate's serial)."""
    candidates = Card.select(Card.serial).where((Card.product == product) & (Card.masked_pan == mask(pan)))
    return [c.serial for c in candidates if c.serial is not None and make_pan(product.bin, c.serial) == pan]


def balance_dates(cards) -> dict[int, object]:
    """{card id: when its last known balance was set} (its account's last posting), one query."""
    accounts = {c.account_id: c.id for c in cards if c.account_id}
    if not accounts:
        return {}
    rows = (
        LedgerPosting.select(LedgerPosting.account, fn.MAX(LedgerPosting.created_at))
        .where(LedgerPosting.account.in_(list(accounts)))
        .group_by(LedgerPosting.account)
        .tuples()
    )
    return {accounts[account_id]: when for account_id, when in rows}


def card_of(product: Product, card_id: int) -> Card | None:
    return (
        Card.select(Card, Person)
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where((Card.id == card_id) & (Card.product == product))
        .first()
    )


# ---------------------------------------------------------------- state changes


@dataclass(frozen=True)
class Result:
    card: Card
    ok: bool
    message: str


def _cards(product: Product, ids) -> list[Card]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise Refused("Selecciona al menos una tarjeta")
    if len(ids) > MAX_BULK:
        raise Refused(f"Selecciona como máximo {MAX_BULK} tarjetas por operación")
    found = {c.id: c for c in Card.select().where((Card.product == product) & Card.id.in_(ids))}
    if len(found) != len(ids):
        raise Refused("Una de las tarjetas seleccionadas no existe")
    return [found[i] for i in ids]


def change_state(user: User, product: Product, ids, action: str, password: str) -> list[Result]:
    """Bloquear (temporal, por extravío, por robo) or Desbloquear one card or many, after one
    password; each card's move is checked against domain/card_states.py and done by the card
    processor with a conditional UPDATE."""
    if action not in STATE_ACTIONS:
        raise Refused("Operación desconocida")
    cards = _cards(product, ids)
    require_password(user, password)
    move_name, _label, done = STATE_ACTIONS[action]
    processor = default_processor()
    terms = product_terms(product)
    results = []
    for card in cards:
        try:
            target = move(card.status, move_name)
        except InvalidMove:
            results.append(Result(card, False, f"{NOT_NOW} ({label(card.status)})"))
            continue
        if processor.set_status(terms, card.id, card.status, target):
            record_event(
                Event.CARD_STATE, user, product.company, obj=f"tarjeta:{card.id}", detail=f"{card.status} → {target}"
            )
            results.append(Result(Card.get_by_id(card.id), True, done))
        else:
            results.append(Result(card, False, "La tarjeta cambió mientras tanto; actualiza la página"))
    return results


def cancel(user: User, product: Product, card: Card, password: str) -> Result:
    """Cancelar tarjeta (permanent): its balance first goes back to the master account, in the
    same transaction that cancels it."""
    try:
        target = move(card.status, "cancel")
    except InvalidMove:
        raise Refused(f"{NOT_NOW} ({label(card.status)})") from None
    require_password(user, password)
    master = ledger.master_account(product)
    with db.atomic():
        account = ledger.card_account(card)
        balances, _ = ledger.lock_balances(sorted({master.id, account.id}))
        balance = balances[account.id]
        if balance > 0:
            ledger.post(
                f"cancelacion:{card.id}", f"Saldo de la tarjeta cancelada •••• {card.masked_pan[-4:]}",
                [(account, -balance), (master, balance)],
            )  # fmt: skip
        if not default_processor().set_status(product_terms(product), card.id, card.status, target):
            raise Refused("La tarjeta cambió mientras tanto; actualiza la página")
    record_event(Event.CARD_STATE, user, product.company, obj=f"tarjeta:{card.id}", detail=f"{card.status} → {target}")
    text = "Tarjeta cancelada"
    if balance > 0:
        text += f"; su saldo de {format_cop(balance)} volvió a la cuenta maestra"
    return Result(Card.get_by_id(card.id), True, text)


def advance_plastic(user: User, product: Product, ids, action: str, password: str) -> list[Result]:
    """A step of the plastic's delivery for one card or many: Enviar a empresa → Recibida en la
    empresa → Entregar al tarjetahabiente, each dated and in the audit log."""
    if action not in PLASTIC_ACTIONS:
        raise Refused("Operación desconocida")
    cards = _cards(product, ids)
    require_password(user, password)
    step, _label, done = PLASTIC_ACTIONS[action]
    results = []
    for card in cards:
        try:
            target = plastic_move(card.plastic_status, step)
        except InvalidMove:
            results.append(Result(card, False, f"El plástico está «{plastic_label(card.plastic_status)}»"))
            continue
        moved = (
            Card.update(plastic_status=target, plastic_at=utcnow())
            .where((Card.id == card.id) & (Card.plastic_status == card.plastic_status))
            .execute()
        )
        if moved:
            record_event(
                Event.CARD_PLASTIC, user, product.company, obj=f"tarjeta:{card.id}", detail=plastic_label(target)
            )
            results.append(Result(Card.get_by_id(card.id), True, done))
        else:
            results.append(Result(card, False, "La tarjeta cambió mientras tanto; actualiza la página"))
    return results


def update_contact(user: User, product: Product, card: Card, email: str, mobile: str, password: str) -> Result:
    """Actualizar datos: the holder's e-mail and mobile, checked as in an EMI file."""
    if card.person_id is None:
        raise Refused("La tarjeta no tiene tarjetahabiente: afíliala primero")
    email, mobile = (email or "").strip(), (mobile or "").strip()
    if not email or len(email) > EMAIL_MAX or not valid_email(email):
        raise Refused("El campo CORREO ELECTRONICO es inválido")
    if not valid_mobile(mobile):
        raise Refused("El campo TELEFONO CELULAR es inválido: 10 dígitos que empiezan por 3")
    require_password(user, password)
    Person.update(email=email, mobile=mobile).where(Person.id == card.person_id).execute()
    record_event(Event.CARD_CONTACT, user, product.company, obj=f"tarjeta:{card.id}", detail="correo y móvil")
    return Result(Card.get_by_id(card.id), True, "Datos del tarjetahabiente actualizados")


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryLine:
    when: object
    what: str
    detail: str = ""
    amount: int | None = None


EVENT_TEXT = {
    str(Event.CARD_STATE): "Cambio de estado",
    str(Event.CARD_PLASTIC): "Entrega del plástico",
    str(Event.CARD_CONTACT): "Datos actualizados",
    str(Event.CARD_REPLACE): "Reposición",
    str(Event.CARD_REPLACE_REQUEST): "Reposición solicitada",
}


def history(card: Card, limit: int = 200) -> list[HistoryLine]:
    """The card's events, newest first: issued, affiliated, its ledger movements and what the
    audit log says of it (states, plastic, data)."""
    lines = [HistoryLine(card.created_at, "Emisión", card.masked_pan)]
    if card.affiliated_at:
        lines.append(HistoryLine(card.affiliated_at, "Afiliación"))
    if card.account_id:
        postings = (
            LedgerPosting.select(LedgerPosting, LedgerOperation)
            .join(LedgerOperation)
            .where(LedgerPosting.account == card.account_id)
            .order_by(LedgerPosting.id.desc())
            .limit(limit)
        )
        for posting in postings:
            lines.append(HistoryLine(posting.created_at, posting.operation.description, "", posting.amount))
    events = (
        AuditEvent.select()
        .where(AuditEvent.object_ref == f"tarjeta:{card.id}")
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    for event in events:
        who = event.username or ""
        lines.append(HistoryLine(event.created_at, EVENT_TEXT.get(event.tag, event.tag), f"{event.detail} ({who})"))
    return sorted(lines, key=lambda line: line.when or utcnow(), reverse=True)


# ---------------------------------------------------------------- «Exportar Excel» (services/exports.py)

EXPORT_CHUNK = 5_000


def _export_rows(product: Product, params: dict):
    """Every card of the criteria, newest first, read in keyset chunks (a million cards never
    sit in memory at once), as the table shows them."""
    criteria, errors = criteria_from(params)
    if errors:
        raise Refused(errors[0])
    query = search(product, criteria)

    def rows():
        last = None
        while True:
            chunk = query.order_by(Card.id.desc()).limit(EXPORT_CHUNK)
            if last is not None:
                chunk = chunk.where(Card.id < last)
            cards = list(chunk)
            if not cards:
                return
            for card in cards:
                person = card.person if card.person_id else None
                record = card.record if card.record_id else None
                yield (
                    card.masked_pan,
                    person.full_name if person else "",
                    f"{person.id_type} {person.id_number}" if person else "",
                    person.email if person else "",
                    person.mobile if person else "",
                    (record.batch.order_id or "") if record else "",
                    record.batch.number if record else "",
                    card.status_label,
                    card.plastic_label,
                    card.account.balance if card.account_id else 0,
                )
            last = cards[-1].id

    return query, rows()


def _register_export() -> None:
    from services import exports

    exports.register(
        "tarjetas", "Consulta de tarjetas",
        [("Número de tarjeta", 20), ("Tarjetahabiente", 32), ("Documento", 16), ("Correo", 30), ("Número móvil", 14),
         ("Nro. de orden", 12, exports.INTEGER), ("Nro. de lote", 12), ("Estado", 20), ("Estado del plástico", 26),
         ("Saldo", 16, exports.MONEY)],
        _export_rows, permission="cards.view", filename="tarjetas", personal_data=True,
    )  # fmt: skip


_register_export()
