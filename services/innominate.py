"""Tarjetas innominadas (SPEC §8, manual 3.4 and 3.5): the request for stock cards, the list of
processed requests with their cards and the stock per branch, the affiliation file, and the
one-card affiliation of the «Afiliar» dialog.

A request becomes an INN batch whose records each stand for one card; it skips Carga de lotes
(there is no file to validate) and goes straight to Autorización, then lives like any batch:
order, payment, processing (services/processing.py creates the cards NO_AFILIADA). A card is
given to a person by an AFI batch: a file uploaded in Carga de lotes, or the one-record batch
the «Afiliar» dialog creates, validated by the same rules (domain/batch_validation.py) and
processed by the same job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import orjson
from peewee import JOIN, fn

from bulk import insert_rows
from domain.batch_files import Sheet
from domain.batch_templates import affiliation_xlsx_bytes
from domain.batch_validation import validate
from domain.cards import expiry
from domain.clock import local_today
from domain.innominate import CardRequest, check_request, expiry_label
from domain.layouts import layout
from models import Batch, BatchRecord, Branch, Card, Person, Product, ServiceOrder, User, db, utcnow
from services import Refused, authorization, batches, notices, orders
from services.accounts import require_password
from services.audit import Event, record_event

LOW_STOCK = 10  # a branch with fewer available cards is flagged on the Afiliación page


class RequestInvalid(Refused):
    """The request's fields are wrong: `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Revisa los datos de la solicitud")
        self.errors = errors


# ---------------------------------------------------------------- Solicitud


def branches_of(product: Product) -> list[Branch]:
    return list(Branch.select().where(Branch.company == product.company_id).order_by(Branch.code))


def expiry_of(product: Product) -> str:
    """Fecha de vencimiento of the cards a request made today would get (MM/AAAA)."""
    return expiry_label(local_today(), product.validity_months)


def request_cards(user: User, product: Product, form: dict, password: str) -> Batch:
    """Procesar: check the fields (RequestInvalid), then the password, then create the INN batch
    of one record per card, straight to signature or authorization."""
    if product.named:
        raise Refused("Las tarjetas innominadas se solicitan en un producto innominado")
    branches = {b.code: b for b in branches_of(product)}
    request, errors = check_request(
        form.get("quantity", ""), form.get("line1", ""), form.get("line2", ""), form.get("branch", ""),
        branch_codes=branches, maximum=product.max_innominate,
    )  # fmt: skip
    if errors:
        raise RequestInvalid(errors)
    require_password(user, password)
    branch = branches[request.branch_code]
    with db.atomic():
        batch = _create_batch(user, product, "INN", request.quantity, observations=_summary(request, branch))
        # The Fecha de vencimiento the form showed travels with the records: a request paid in a
        # later month still gets the cards it was shown.
        expires_on = expiry(local_today(), product.validity_months).isoformat()
        data = orjson.dumps(
            {
                "line1": request.line1, "line2": request.line2, "branch": branch.code, "branch_id": branch.id,
                "expires_on": expires_on,
            }
        ).decode()  # fmt: skip
        rows = [(batch.id, line, "", "", 0, data, BatchRecord.VALID, "") for line in range(1, request.quantity + 1)]
        insert_rows("batch_record", batches.RECORD_COLUMNS, rows, nulls=False)
    record_event(
        Event.INNOMINATE_REQUEST, user, product.company, obj=f"lote:{batch.number}", detail=str(request.quantity)
    )
    notices.batches_waiting(product, [batch], user)  # to the signers or the authorizers
    return batch


def _summary(request: CardRequest, branch: Branch) -> str:
    return f"{request.quantity} tarjeta(s) innominada(s) para la sucursal {branch.code} {branch.name}"[:200]


def _create_batch(user: User, product: Product, kind: str, records: int, observations: str) -> Batch:
    """A batch born confirmed (no file to validate): to signature or to authorization."""
    status = Batch.TO_SIGN if product.company.signatures == 2 else Batch.TO_AUTHORIZE
    now = utcnow()
    return batches.create_numbered(
        company=product.company_id, product=product, kind=kind, status=status, total_records=records,
        processed_records=records, valid_records=records, uploaded_by=user.id, validated_at=now,
        confirmed_by=user.id, confirmed_at=now, observations=observations,
    )  # fmt: skip


# ---------------------------------------------------------------- Afiliación: lists


@dataclass(frozen=True)
class Criteria:
    number: str = ""
    start: date | None = None
    end: date | None = None


def criteria_from(args) -> tuple[Criteria, list[str]]:
    """Todos (nothing), Nro. de lote, or Fecha inicial–Fecha final (3 months at most)."""
    mode = (args.get("buscar") or "").strip()
    if mode == "lote":
        number = (args.get("lote") or "").strip()
        if not (number.isascii() and number.isdigit() and len(number) <= 12):
            return Criteria(), ["Escribe el número de lote (solo números)"]
        return Criteria(number=number), []
    if mode == "fecha":
        start, end, errors = orders.read_range(args.get("fecha_inicial"), args.get("fecha_final"))
        return Criteria(start=start, end=end), errors
    if mode not in ("", "todos"):
        return Criteria(), ["Elige Todos, Nro. de lote o un rango de fechas"]
    return Criteria(), []


def processed_requests(product: Product, criteria: Criteria):
    """Lotes procesados: the product's processed INN batches, newest first."""
    query = Batch.select().where((Batch.product == product) & (Batch.kind == "INN") & (Batch.status == Batch.PROCESSED))
    if criteria.number:
        query = query.where(Batch.number == criteria.number)
    if criteria.start:
        query = query.where(Batch.processed_at >= orders.utc_bound(criteria.start))
    if criteria.end:
        query = query.where(Batch.processed_at < orders.utc_bound(criteria.end + timedelta(days=1)))
    return query.order_by(Batch.processed_at.desc(), Batch.id.desc())


def card_counts(batch_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{batch id: (cards, affiliated)} for these INN batches, in one query."""
    if not batch_ids:
        return {}
    rows = (
        BatchRecord.select(BatchRecord.batch, fn.COUNT(Card.id), fn.COUNT(Card.person))
        .join(Card, on=(Card.record == BatchRecord.id))
        .where(BatchRecord.batch.in_(batch_ids))
        .group_by(BatchRecord.batch)
        .tuples()
    )
    counts = {batch_id: (0, 0) for batch_id in batch_ids}
    counts.update({batch_id: (cards, affiliated) for batch_id, cards, affiliated in rows})
    return counts


@dataclass(frozen=True)
class Stock:
    branch: Branch
    available: int

    @property
    def low(self) -> bool:
        return self.available < LOW_STOCK


def stock_by_branch(product: Product) -> list[Stock]:
    """The unaffiliated cards of the product per branch of the company (every branch, 0 included)."""
    rows = (
        Card.select(Card.branch, fn.COUNT(Card.id))
        .where((Card.product == product) & (Card.status == Card.NOT_AFFILIATED))
        .group_by(Card.branch)
        .tuples()
    )
    available = dict(rows)
    return [Stock(branch, available.get(branch.id, 0)) for branch in branches_of(product)]


def available_cards(product: Product) -> int:
    return Card.select().where((Card.product == product) & (Card.status == Card.NOT_AFFILIATED)).count()


def request_of(product: Product, batch_id: int) -> Batch | None:
    """A processed INN batch of the product, or None."""
    return Batch.get_or_none(
        (Batch.id == batch_id) & (Batch.product == product) & (Batch.kind == "INN") & (Batch.status == Batch.PROCESSED)
    )


def cards_of(batch: Batch, text: str = ""):
    """Registros del lote: the request's cards with their holders (None when unaffiliated)."""
    query = (
        Card.select(Card, Person, Branch)
        .join(BatchRecord, on=(Card.record == BatchRecord.id))
        .switch(Card)
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .switch(Card)
        .join(Branch, JOIN.LEFT_OUTER, on=(Card.branch == Branch.id))
        .where(BatchRecord.batch == batch.id)
    )
    text = (text or "").strip().upper()
    if text in ("AFILIADO", "AFILIADA"):
        query = query.where(Card.person.is_null(False))
    elif text in ("NO AFILIADO", "NO AFILIADA"):
        query = query.where(Card.person.is_null())
    elif text:
        query = query.where(
            Card.masked_pan.endswith(text)
            | Person.id_number.contains(text)
            | Person.first_name.contains(text)
            | Person.first_surname.contains(text)
        )
    return query


def affiliation_file(batch: Batch) -> bytes:
    """The ARCHIVO DE AFILIACIÓN DE TARJETAHABIENTES of a request: its unaffiliated cards."""
    rows = (
        Card.select(Card.masked_pan, Card.serial, Branch.code)
        .join(BatchRecord, on=(Card.record == BatchRecord.id))
        .switch(Card)
        .join(Branch, JOIN.LEFT_OUTER, on=(Card.branch == Branch.id))
        .where((BatchRecord.batch == batch.id) & Card.person.is_null())
        .order_by(Card.serial)
        .tuples()
    )
    return affiliation_xlsx_bytes((masked, serial, code or "") for masked, serial, code in rows.iterator())


# ---------------------------------------------------------------- «Afiliar» one card

PERSON_COLUMNS = tuple(c for c in layout("AFI").columns if c.name not in ("NO. TARJETA", "REFERENCIA"))
# The dialog's labels for the file's column names (the messages keep the column names).
FIELD_LABELS = {
    "SUCURSAL": "Sucursal", "TIPO ID": "Tipo de documento", "NRO ID": "Número de documento",
    "PRIMER APELLIDO": "Primer apellido", "SEGUNDO APELLIDO": "Segundo apellido", "PRIMER NOMBRE": "Primer nombre",
    "SEGUNDO NOMBRE": "Segundo nombre", "FECHA DE NACIMIENTO": "Fecha de nacimiento", "ESTADO CIVIL": "Estado civil",
    "SEXO": "Sexo", "DIRECCION DE RESIDENCIA": "Dirección de residencia", "CIUDAD DE RESIDENCIA": "Ciudad de residencia",
    "TELEFONO FIJO": "Teléfono fijo", "TELEFONO CELULAR": "Teléfono celular", "CORREO ELECTRONICO": "Correo electrónico",
}  # fmt: skip


def stock_card(product: Product, card_id: int) -> Card | None:
    """An innominate card of the product (affiliated or not), or None."""
    return (
        Card.select(Card, Branch)
        .join(Branch, JOIN.LEFT_OUTER, on=(Card.branch == Branch.id))
        .where((Card.id == card_id) & (Card.product == product) & Card.record.is_null(False))
        .first()
    )


@dataclass(frozen=True)
class Affiliation:
    batch: Batch
    order: ServiceOrder | None  # authorized in the dialog (None: it waits in Autorización)
    processing: bool  # the order went to processing at once (nothing to pay)


def can_authorize_at_once(product: Product, perms) -> bool:
    """The dialog may authorize its batch where that bypasses no rule: the user authorizes
    batches, one signature is enough, and affiliating costs nothing."""
    return "batch.authorize" in perms and product.company.signatures == 1 and product.affiliation_fee == 0


def affiliate_one(user: User, product: Product, perms, card: Card, values: dict, password: str) -> Affiliation:
    """«Afiliar»: validate the person for this card with the AFI rules, then the password, then a
    one-record AFI batch; authorized at once where can_authorize_at_once, and its order ($0)
    sent to processing at once if the user also pays orders."""
    if card.person_id is not None:
        raise Refused("La tarjeta ya está afiliada")
    row = (
        card.masked_pan,
        str(card.serial),
        *(str(values.get(c.name, "") or "").strip() or None for c in PERSON_COLUMNS),
    )
    names = layout("AFI").column_names
    sheet = Sheet("AFI", "form", names, {name: i for i, name in enumerate(names)}, [(1, row)])
    _file_errors, outcomes = validate(sheet, batches.facts_for_product(product))
    outcome = next(iter(outcomes))
    if outcome.errors:
        raise Refused("; ".join(outcome.errors))
    require_password(user, password)
    record = outcome.record
    with db.atomic():
        batch = _create_batch(user, product, "AFI", 1, observations=f"Afiliación de la tarjeta {card.masked_pan}")
        insert_rows(
            "batch_record", batches.RECORD_COLUMNS,
            [(batch.id, 1, record["id_type"], record["id_number"], 0, batches.record_json(record), BatchRecord.VALID, "")],
            nulls=False,
        )  # fmt: skip
    record_event(Event.CARD_AFFILIATE, user, product.company, obj=f"lote:{batch.number}", detail=card.masked_pan)
    if not can_authorize_at_once(product, perms):
        return Affiliation(batch, None, False)
    (order,) = authorization.authorize(product, [batch.id], user)
    processing = "order.pay" in perms and orders.settle_free(order, user)  # the job takes it within seconds
    return Affiliation(batch, order, processing)
