"""Authorization of batches and service orders (SPEC §6–§7).

    POR_FIRMAR ─sign─► POR_AUTORIZAR ─authorize─► EN_ORDEN (order PENDIENTE_PAGO)
    order PENDIENTE_PAGO ─pay─► PAGANDO ─bank ok─► EN_PROCESO (batches EN_PROCESO) ─job─► PROCESADO
                                        └─bank refuses─► PENDIENTE_PAGO
    order PENDIENTE_PAGO ─void─► ANULADO (batches ANULADO)

Every transition is a conditional UPDATE on the expected status (and, for a signature, on
who signed), so a double click, two tabs or two users racing move nothing twice; anything
else is refused with a Spanish message (OrderRefused).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import orjson
from peewee import JOIN

from domain.clock import BOGOTA, local_today
from domain.fees import BatchCost, BatchInput, FeeSchedule, OrderQuote, plan_orders, quote_order
from domain.layouts import BatchKind
from models import Batch, BatchRecord, Company, Person, Product, ServiceOrder, User, db, utcnow
from services import codes, ledger
from services.accounts import verify_password
from services.audit import Event, record_event
from services.bank import SimulatedBank

log = logging.getLogger(__name__)
STALE_PAYMENT = timedelta(minutes=2)

ORDER_STATUS_LABELS = {
    ServiceOrder.PENDING_PAYMENT: "Autorizado",
    ServiceOrder.PAYING: "En pago",
    ServiceOrder.IN_PROCESS: "En proceso",
    ServiceOrder.PROCESSED: "Procesado",
    ServiceOrder.VOIDED: "Anulado",
}
# The Estado choices of the search form (SPEC §7); "En pago" is a moment, shown but not searched.
SEARCHABLE_STATUSES = (
    ServiceOrder.PENDING_PAYMENT,
    ServiceOrder.IN_PROCESS,
    ServiceOrder.PROCESSED,
    ServiceOrder.VOIDED,
)
RECORD_STATUS_LABELS = {"VALIDO": "Por procesar", "PROCESADO": "Procesado", "RECHAZADO": "Rechazado"}


CODE_SENT = "Enviamos un código de verificación a su correo."


class OrderRefused(Exception):
    """An authorization or order action refused, with the Spanish message for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def bank():
    """The bank that pays service orders: the built-in simulated bank (a real one plugs in here)."""
    return SimulatedBank()


def _check_password(user, password: str) -> None:
    if not password:
        raise OrderRefused("Ingresa tu contraseña")
    problem = verify_password(user, password)
    if problem:
        raise OrderRefused(problem)


# ---------------------------------------------------------------- authorization lists


def to_sign(product: Product):
    return _waiting(product, Batch.TO_SIGN)


def to_authorize(product: Product):
    return _waiting(product, Batch.TO_AUTHORIZE)


def _waiting(product, status):
    """The batches in `status`, with their signer loaded in the same query (shown per row)."""
    signer = User.alias()
    return (
        Batch.select(Batch, signer)
        .join(signer, JOIN.LEFT_OUTER, on=(Batch.signed_by == signer.id))
        .where((Batch.product == product) & (Batch.status == status))
        .order_by(Batch.created_at, Batch.id)
    )


def batch_inputs(batches: Sequence[Batch]) -> list[BatchInput]:
    """The fee computation's view of the batches: only REC needs each record's amount, read
    for all of them in one query."""
    recharges = [b.id for b in batches if b.kind == BatchKind.REC]
    amounts: dict[int, list[int]] = {batch_id: [] for batch_id in recharges}
    if recharges:
        rows = (
            BatchRecord.select(BatchRecord.batch, BatchRecord.amount)
            .where(BatchRecord.batch.in_(recharges))
            .order_by(BatchRecord.batch, BatchRecord.line)
        )
        for batch_id, amount in rows.tuples():
            amounts[batch_id].append(amount)
    return [
        BatchInput(b.number, BatchKind(b.kind), amounts=amounts[b.id])
        if b.kind == BatchKind.REC
        else BatchInput(b.number, BatchKind(b.kind), records=b.valid_records)
        for b in batches
    ]


@dataclass(frozen=True)
class Estimate:
    """What a batch would cost as an order of its own ("Costo estimado", before signing)."""

    cost: BatchCost
    iva: int
    total: int  # commission + GMF + IVA


def estimates(product: Product, batches: Sequence[Batch]) -> dict[int, Estimate]:
    fees = FeeSchedule.from_product(product)
    result = {}
    for batch, batch_in in zip(batches, batch_inputs(batches), strict=True):
        quote = quote_order([batch_in], fees)
        result[batch.id] = Estimate(quote.batches[0], quote.iva, quote.os_total)
    return result


def _selected(product: Product, ids: Sequence[int], status: str) -> list[Batch]:
    """The selected batches, all of this product and in `status`; refuse otherwise."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise OrderRefused("Selecciona al menos un lote")
    found = list(
        Batch.select().where((Batch.product == product) & (Batch.id.in_(ids))).order_by(Batch.created_at, Batch.id)
    )
    if len(found) != len(ids):
        raise OrderRefused("Uno de los lotes seleccionados no existe")
    wrong = [b.number for b in found if b.status != status]
    if wrong:
        raise OrderRefused(f"El lote {wrong[0]} ya no está en este paso; actualiza la página")
    return found


# ---------------------------------------------------------------- signatures


def _move_all(batches, product, user, *, condition, changes: dict, refused: str, event: Event) -> list[Batch]:
    """Move every batch with one conditional UPDATE each, all or nothing: if any of them was
    moved meanwhile by someone else, roll back and refuse with `refused` (its number filled in)."""
    with db.atomic() as transaction:
        for batch in batches:
            moved = Batch.update(**changes).where((Batch.id == batch.id) & condition).execute()
            if not moved:
                transaction.rollback()
                raise OrderRefused(refused.format(number=batch.number))
    for batch in batches:
        record_event(event, user, product.company, obj=f"lote:{batch.number}")
    return batches


def sign(product: Product, ids: Sequence[int], user: User, password: str) -> list[Batch]:
    """First signature (two-signature companies): POR_FIRMAR → POR_AUTORIZAR, signed by `user`."""
    _check_password(user, password)
    return _move_all(
        _selected(product, ids, Batch.TO_SIGN), product, user,
        condition=Batch.status == Batch.TO_SIGN,
        changes={"status": Batch.TO_AUTHORIZE, "signed_by": user.id, "signed_at": utcnow()},
        refused="El lote {number} ya fue firmado por otro usuario", event=Event.BATCH_SIGN,
    )  # fmt: skip


def unsign(product: Product, ids: Sequence[int], user: User, password: str) -> list[Batch]:
    """Desasociar: a signer withdraws their own signature before authorization."""
    _check_password(user, password)
    batches = _selected(product, ids, Batch.TO_AUTHORIZE)
    others = [b.number for b in batches if b.signed_by_id != user.id]
    if others:
        raise OrderRefused(f"Solo quien firmó puede desasociar su firma (lote {others[0]})")
    return _move_all(
        batches, product, user,
        condition=(Batch.status == Batch.TO_AUTHORIZE) & (Batch.signed_by == user.id),
        changes={"status": Batch.TO_SIGN, "signed_by": None, "signed_at": None},
        refused="El lote {number} ya no se puede desasociar", event=Event.BATCH_UNSIGN,
    )  # fmt: skip


def delete_selected(product: Product, ids: Sequence[int], user: User, password: str, status: str) -> list[Batch]:
    """Eliminar from the authorization page: the selected batches, after one password."""
    _check_password(user, password)
    return _move_all(
        _selected(product, ids, status), product, user,
        condition=Batch.status == status,
        changes={"status": Batch.DELETED, "deleted_by": user.id, "deleted_at": utcnow()},
        refused="El lote {number} ya no se puede eliminar", event=Event.BATCH_DELETE,
    )  # fmt: skip


# ---------------------------------------------------------------- authorize


GROUPINGS = {"tipo": "type", "lote": "batch"}


def _authorizable(product: Product, ids: Sequence[int], user: User) -> list[Batch]:
    batches = _selected(product, ids, Batch.TO_AUTHORIZE)
    two = product.company.signatures == 2
    for batch in batches:
        if batch.signed_by_id is not None and batch.signed_by_id == user.id:
            raise OrderRefused(f"Ya firmaste el lote {batch.number}: la autorización debe darla otro usuario")
        if two and batch.signed_by_id is None:
            raise OrderRefused(f"El lote {batch.number} necesita primero la firma de otro usuario")
    return batches


def plan(
    product: Product, ids: Sequence[int], user: User, grouping: str = "tipo"
) -> list[tuple[OrderQuote, list[Batch]]]:
    """Calcular orden de servicio: the orders that authorizing these batches would create."""
    if grouping not in GROUPINGS:
        raise OrderRefused("Elige procesar por lote o por tipo de lote")
    batches = _authorizable(product, ids, user)
    by_number = {b.number: b for b in batches}
    quotes = plan_orders(batch_inputs(batches), FeeSchedule.from_product(product), GROUPINGS[grouping])
    return [(q, [by_number[c.number] for c in q.batches]) for q in quotes]


def check_authorize_password(user: User, password: str) -> None:
    _check_password(user, password)


def order_figures(quote: OrderQuote) -> dict:
    """The ServiceOrder columns that freeze a quote's figures."""
    return {
        "kind": quote.kind or "", "commission": quote.commission, "iva": quote.iva, "os_total": quote.os_total,
        "amount": quote.amount, "total_to_pay": quote.total_to_pay, "iva_rate": quote.iva_rate,
        "iva_base": quote.iva_base, "card_price_total": quote.card_price_total, "distribution": quote.distribution,
        "recharge_commission": quote.recharge_commission, "gmf": quote.gmf, "records": quote.records,
    }  # fmt: skip


def batch_figures(cost: BatchCost) -> dict:
    """The Batch columns that freeze a batch's cost in its order."""
    return {
        "unit_price": cost.unit_price, "card_price_total": cost.card_price_total, "distribution": cost.distribution,
        "recharge_commission": cost.recharge_commission, "commission": cost.commission, "gmf": cost.gmf,
    }  # fmt: skip


def authorize(
    product: Product, ids: Sequence[int], user: User, grouping: str = "tipo", expected_totals: list[int] | None = None
) -> list[ServiceOrder]:
    """Autorizar: create the service orders (PENDIENTE_PAGO) and move their batches to EN_ORDEN.

    The costs are computed again inside the transaction with the fee schedule of this moment
    and frozen on the order and its batches; with `expected_totals` (the Total a pagar of each
    order the user was shown) anything different is refused. All or nothing."""
    orders = []
    with db.atomic() as transaction:
        planned = plan(product, ids, user, grouping)
        if expected_totals is not None and [q.total_to_pay for q, _ in planned] != list(expected_totals):
            raise OrderRefused(
                "Las cifras de la orden cambiaron desde que las revisaste (por ejemplo, por una tarifa nueva). "
                "Autoriza de nuevo para ver el cálculo actualizado."
            )
        now = utcnow()
        for quote, batches in planned:
            order = ServiceOrder.create(
                company=product.company_id, product=product.id, status=ServiceOrder.PENDING_PAYMENT,
                authorized_by=user.id, created_at=now, **order_figures(quote),
            )  # fmt: skip
            for cost, batch in zip(quote.batches, batches, strict=True):
                signer = (
                    Batch.signed_by.is_null() if batch.signed_by_id is None else Batch.signed_by == batch.signed_by_id
                )
                moved = (
                    Batch.update(
                        status=Batch.IN_ORDER,
                        order=order.id,
                        authorized_by=user.id,
                        authorized_at=now,
                        **batch_figures(cost),
                    )  # fmt: skip
                    .where((Batch.id == batch.id) & (Batch.status == Batch.TO_AUTHORIZE) & signer)
                    .execute()
                )
                if not moved:
                    transaction.rollback()
                    raise OrderRefused(f"El lote {batch.number} cambió mientras autorizabas; actualiza la página")
            orders.append(order)
    for order in orders:
        record_event(Event.ORDER_CREATE, user, product.company, obj=f"orden:{order.id}")
    return orders


# ---------------------------------------------------------------- service orders


@dataclass(frozen=True)
class Criteria:
    """Criterio de búsqueda of Órdenes de servicio, already checked."""

    start: date | None = None
    end: date | None = None
    status: str = ""


MAX_RANGE_DAYS = 92  # "a lo sumo 3 meses"


def parse_date(text: str) -> date | None:
    """DD/MM/AAAA between 2000 and 2099 (a range search never needs more), else None."""
    try:
        day = datetime.strptime(text.strip(), "%d/%m/%Y").date()
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2099 else None


def criteria_from(args) -> tuple[Criteria, list[str]]:
    """Read periodo (5 / 10 días) or Fecha inicial / Fecha final (DD/MM/AAAA) and Estado."""
    errors = []
    status = (args.get("estado") or "").strip()
    if status and status not in SEARCHABLE_STATUSES:
        errors.append("Selecciona un estado válido")
        status = ""
    period = (args.get("periodo") or "").strip()
    first, last = (args.get("fecha_inicial") or "").strip(), (args.get("fecha_final") or "").strip()
    today = local_today()
    if period in ("5", "10"):
        return Criteria(today - timedelta(days=int(period) - 1), today, status), errors
    if period:
        errors.append("Selecciona 5 días, 10 días o un rango de fechas")
    start = end = None
    if first or last:
        start, end = parse_date(first) if first else None, parse_date(last) if last else None
        if first and start is None:
            errors.append("La fecha inicial debe tener el formato DD/MM/AAAA")
        if last and end is None:
            errors.append("La fecha final debe tener el formato DD/MM/AAAA")
        if not (first and last):
            errors.append("Indica la fecha inicial y la fecha final")
        elif start and end:
            if start > end:
                errors.append("La fecha inicial no puede ser posterior a la fecha final")
            elif (end - start).days > MAX_RANGE_DAYS or end > _add_months(start, 3):
                errors.append("El rango de fechas no puede superar 3 meses")
        if errors:
            start = end = None
    return Criteria(start, end, status), errors


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day.day, 28))


def _utc_bound(day: date) -> datetime:
    """Start of `day` in Bogotá as naive UTC (how timestamps are stored)."""
    local = datetime.combine(day, time.min, tzinfo=BOGOTA)
    return local.astimezone(UTC).replace(tzinfo=None)


def search(product: Product, criteria: Criteria, text: str = ""):
    query = ServiceOrder.select().where(ServiceOrder.product == product)
    if criteria.start:
        query = query.where(ServiceOrder.created_at >= _utc_bound(criteria.start))
    if criteria.end:
        query = query.where(ServiceOrder.created_at < _utc_bound(criteria.end + timedelta(days=1)))
    if criteria.status:
        query = query.where(ServiceOrder.status == criteria.status)
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 12:
        query = query.where(ServiceOrder.id == int(text))
    elif text:
        labels = [s for s, label in ORDER_STATUS_LABELS.items() if text.lower() in label.lower()]
        query = query.where(ServiceOrder.status.in_(labels or ["-"]))
    return query.order_by(ServiceOrder.created_at.desc(), ServiceOrder.id.desc())


def order_for(product: Product, order_id: int) -> ServiceOrder | None:
    return ServiceOrder.get_or_none((ServiceOrder.id == order_id) & (ServiceOrder.product == product))


def batches_of(order: ServiceOrder):
    return Batch.select().where(Batch.order == order.id).order_by(Batch.created_at, Batch.id)


def records_of(batch: Batch, text: str = ""):
    query = BatchRecord.select().where(BatchRecord.batch == batch.id)
    text = (text or "").strip()
    if text:
        query = query.where(BatchRecord.id_number.contains(text) | BatchRecord.data.contains(text.upper()))
    return query.order_by(BatchRecord.line)


def holder_names(records) -> dict[int, str]:
    """Nombre y apellido of each record: from the record itself (EMI, AFI) or, for a
    recharge, from the cardholder on file."""
    names, missing = {}, []
    for record in records:
        data = orjson.loads(record.data) if record.data else {}
        name = " ".join(p for p in (data.get("first_name"), data.get("first_surname")) if p)
        if name:
            names[record.id] = name
        else:
            missing.append(record)
    if missing:
        people = Person.select(Person.id_type, Person.id_number, Person.first_name, Person.first_surname).where(
            Person.id_number.in_([r.id_number for r in missing])
        )
        known = {(p.id_type, p.id_number): f"{p.first_name} {p.first_surname}".strip() for p in people}
        for record in missing:
            names[record.id] = known.get((record.id_type, record.id_number), "")
    return names


def void(order: ServiceOrder, user: User, password: str) -> ServiceOrder:
    """Anular orden: only before payment; its batches become ANULADO."""
    _check_password(user, password)
    with db.atomic() as transaction:
        moved = (
            ServiceOrder.update(status=ServiceOrder.VOIDED, voided_by=user.id, voided_at=utcnow())
            .where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PENDING_PAYMENT))
            .execute()
        )
        if not moved:
            transaction.rollback()
            raise OrderRefused("La orden de servicio ya no se puede anular: solo se anulan órdenes sin pagar")
        Batch.update(status=Batch.VOIDED).where((Batch.order == order.id) & (Batch.status == Batch.IN_ORDER)).execute()
    record_event(Event.ORDER_VOID, user, order.company, obj=f"orden:{order.id}")
    return ServiceOrder.get_by_id(order.id)


# ---------------------------------------------------------------- payment


def _purpose(order: ServiceOrder) -> str:
    return f"pagar-orden:{order.id}"


def send_payment_code(order: ServiceOrder, user: User) -> str:
    """E-mail a code to pay `order`; returns what to tell the user (sent, or why not now)."""
    if order.status != ServiceOrder.PENDING_PAYMENT:
        raise OrderRefused(_not_payable(order))
    try:
        codes.issue(
            user, _purpose(order), f"Código para pagar la orden de servicio {order.id}",
            f"pagar la orden de servicio Nro. {order.id} por {_money(order.total_to_pay)}",
        )  # fmt: skip
    except codes.CodeRefused as exc:
        if exc.message == codes.TOO_MANY:
            raise OrderRefused(exc.message) from exc
        return exc.message  # a code sent seconds ago is still good
    record_event(Event.ORDER_CODE_SENT, user, order.company, obj=f"orden:{order.id}")
    return CODE_SENT


def _money(cents: int) -> str:
    from domain.money import format_cop

    return format_cop(cents)


def _not_payable(order: ServiceOrder) -> str:
    if order.status == ServiceOrder.VOIDED:
        return "La orden de servicio está anulada"
    if order.status == ServiceOrder.PAYING:
        return "La orden de servicio se está pagando en este momento"
    return "La orden de servicio ya fue pagada"


def pay(order: ServiceOrder, user: User, code: str) -> ServiceOrder:
    """Pagar: the e-mailed code, then one debit of Total a pagar from the company's bank account.

    The order is claimed (PENDIENTE_PAGO → PAGANDO) before the bank is called, so a second
    request (double click, another tab) is refused instead of debiting again; the bank
    debit carries the order's key, so a retry after a timeout debits once too."""
    if order.status != ServiceOrder.PENDING_PAYMENT:
        raise OrderRefused(_not_payable(order))
    problem = codes.check(user, _purpose(order), code)
    if problem:
        raise OrderRefused(problem)
    claimed = (
        ServiceOrder.update(status=ServiceOrder.PAYING, paid_by=user.id, claimed_at=utcnow(), pay_message="")
        .where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PENDING_PAYMENT))
        .execute()
    )
    if not claimed:
        raise OrderRefused(_not_payable(ServiceOrder.get_by_id(order.id)))
    record_event(Event.ORDER_PAY, user, order.company, obj=f"orden:{order.id}")
    return _charge(ServiceOrder.get_by_id(order.id), user)


def _bank_key(order: ServiceOrder) -> str:
    return f"orden-servicio:{order.id}"


def _charge(order: ServiceOrder, user: User | None) -> ServiceOrder:
    """Debit the bank (idempotent by key) and settle, or give the order back unpaid."""
    company = Company.get_by_id(order.company_id)
    if order.total_to_pay > 0:
        result = bank().debit(
            company.bank_account, order.total_to_pay, key=_bank_key(order),
            description=f"Pago orden de servicio {order.id}",
        )  # fmt: skip
        if not result.ok:
            ServiceOrder.update(
                status=ServiceOrder.PENDING_PAYMENT, claimed_at=None, paid_by=None, pay_message=result.message
            ).where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PAYING)).execute()
            record_event(Event.ORDER_PAY_REFUSED, user, company, obj=f"orden:{order.id}", detail=result.message)
            raise OrderRefused(f"El banco rechazó el pago: {result.message}. La orden sigue pendiente de pago.")
    _settle(order, company)
    return ServiceOrder.get_by_id(order.id)


def _settle(order: ServiceOrder, company: Company) -> None:
    """After the bank's debit: the ledger postings, the order and its batches EN_PROCESO."""
    with db.atomic():
        if order.total_to_pay > 0:
            ledger.post(
                f"pago-orden:{order.id}",
                f"Pago orden de servicio {order.id}",
                [
                    (ledger.company_bank_account(company), -order.total_to_pay),
                    (ledger.revenue_account(), order.iva_base),
                    (ledger.tax_account(), order.iva + order.gmf),
                    (ledger.funding_account(Product.get_by_id(order.product_id)), order.amount),
                ],
            )
        moved = (
            ServiceOrder.update(
                status=ServiceOrder.IN_PROCESS,
                deposited=order.total_to_pay,
                paid_at=utcnow(),
                claimed_at=None,
                claim_token=None,
                pay_message="",
            )  # fmt: skip
            .where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PAYING))
            .execute()
        )
        if moved:
            Batch.update(status=Batch.IN_PROCESS).where(
                (Batch.order == order.id) & (Batch.status == Batch.IN_ORDER)
            ).execute()


def settle_stuck_payments(limit: int = 20) -> int:
    """Job: an order left PAGANDO (the app died between claiming it and settling) is charged
    again with the same bank key: the bank answers with the debit it already made, or makes
    it now, and the order settles or goes back to pending. Returns how many were resolved."""
    stale = utcnow() - STALE_PAYMENT
    resolved = 0
    stuck = ServiceOrder.select().where(
        (ServiceOrder.status == ServiceOrder.PAYING) & (ServiceOrder.claimed_at < stale)
    )
    for order in list(stuck.limit(limit)):
        retaken = (
            ServiceOrder.update(claimed_at=utcnow())
            .where(
                (ServiceOrder.id == order.id)
                & (ServiceOrder.status == ServiceOrder.PAYING)
                & (ServiceOrder.claimed_at < stale)
            )
            .execute()
        )
        if not retaken:
            continue
        try:
            _charge(ServiceOrder.get_by_id(order.id), None)
        except OrderRefused:
            pass  # the bank refused a debit it never made: the order is pending again
        except Exception:  # one broken order must not stop the others; retried next run
            log.exception("settling the payment of order %s failed", order.id)
            continue
        resolved += 1
    return resolved
