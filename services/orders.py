"""Consultas > Órdenes de servicio (SPEC §7): search, void, pay with the e-mailed code, and the
settlement of payments left half-way. Orders are created by services/authorization.py.

    order PENDIENTE_PAGO ─pay─► PAGANDO ─bank ok─► EN_PROCESO (batches EN_PROCESO) ─job─► PROCESADO
                                        └─bank refuses─► PENDIENTE_PAGO
    order PENDIENTE_PAGO ─void─► ANULADO (batches ANULADO)

Every transition is a conditional UPDATE on the expected status, so a double click, two tabs
or two users racing move nothing twice; anything else is refused with a Spanish message
(Refused).
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import ledger
from adapters.bank import default_bank
from domain.clock import BOGOTA, local_today
from models import Batch, Company, Product, ServiceOrder, User, db, utcnow
from services import Refused, codes, leases
from services.accounts import require_password
from services.audit import Event, record_event

log = logging.getLogger(__name__)
STALE_PAYMENT = timedelta(minutes=2)


CODE_SENT = "Enviamos un código de verificación a tu correo."


# ---------------------------------------------------------------- service orders


@dataclass(frozen=True)
class Criteria:
    """Criterio de búsqueda of Órdenes de servicio, already checked."""

    start: date | None = None
    end: date | None = None
    status: str = ""


MAX_RANGE_DAYS = 92  # "a lo sumo 3 meses"


DATE_SHAPE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")


def parse_date(text: str) -> date | None:
    """DD/MM/AAAA between 2000 and 2099 (a range search never needs more), else None."""
    return _read_date(text)[0]


def _read_date(text: str) -> tuple[date | None, str]:
    """(the date, "") or (None, why): "formato" when it isn't DD/MM/AAAA, "no existe" for a
    well-written day that isn't in the calendar (31/02/2026), "rango" outside 2000–2099."""
    match = DATE_SHAPE.fullmatch(text.strip())
    if not match:
        return None, "formato"
    day, month, year = (int(g) for g in match.groups())
    try:
        found = date(year, month, day)
    except ValueError:
        return None, "no existe"
    return (found, "") if 2000 <= year <= 2099 else (None, "rango")


def _date_error(label: str, text: str, why: str) -> str:
    if why == "no existe":
        return f"La {label} {text.strip()} no existe en el calendario"
    if why == "rango":
        return f"La {label} debe estar entre los años 2000 y 2099"
    return f"La {label} debe tener el formato DD/MM/AAAA"


def criteria_from(args) -> tuple[Criteria, list[str]]:
    """Read periodo (5 / 10 días) or Fecha inicial / Fecha final (DD/MM/AAAA) and Estado."""
    errors = []
    status = (args.get("estado") or "").strip()
    if status and status not in ServiceOrder.SEARCHABLE:
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
        start, end, range_errors = read_range(first, last)
        errors += range_errors
        if errors:
            start = end = None
    return Criteria(start, end, status), errors


def read_range(first: str | None, last: str | None) -> tuple[date | None, date | None, list[str]]:
    """Fecha inicial – Fecha final (DD/MM/AAAA, both required, at most 3 months apart): the
    dates, or (None, None, the Spanish errors)."""
    first, last = (first or "").strip(), (last or "").strip()
    errors = []
    (start, start_why), (end, end_why) = _read_date(first), _read_date(last)
    if first and start is None:
        errors.append(_date_error("fecha inicial", first, start_why))
    if last and end is None:
        errors.append(_date_error("fecha final", last, end_why))
    if not (first and last):
        errors.append("Indica la fecha inicial y la fecha final")
    elif start and end:
        if start > end:
            errors.append("La fecha inicial no puede ser posterior a la fecha final")
        elif (end - start).days > MAX_RANGE_DAYS or end > _add_months(start, 3):
            errors.append("El rango de fechas no puede superar 3 meses")
    return (None, None, errors) if errors else (start, end, [])


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day.day, 28))


def utc_bound(day: date) -> datetime:
    """Start of `day` in Bogotá as naive UTC (how timestamps are stored)."""
    local = datetime.combine(day, time.min, tzinfo=BOGOTA)
    return local.astimezone(UTC).replace(tzinfo=None)


def search(product: Product, criteria: Criteria, text: str = ""):
    query = ServiceOrder.select().where(ServiceOrder.product == product)
    if criteria.start:
        query = query.where(ServiceOrder.created_at >= utc_bound(criteria.start))
    if criteria.end:
        query = query.where(ServiceOrder.created_at < utc_bound(criteria.end + timedelta(days=1)))
    if criteria.status:
        query = query.where(ServiceOrder.status == criteria.status)
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 12:
        query = query.where(ServiceOrder.id == int(text))
    elif text:
        labels = [s for s, label in ServiceOrder.STATUS_LABELS.items() if text.lower() in label.lower()]
        query = query.where(ServiceOrder.status.in_(labels or ["-"]))
    return query.order_by(ServiceOrder.created_at.desc(), ServiceOrder.id.desc())


def order_for(product: Product, order_id: int) -> ServiceOrder | None:
    return ServiceOrder.get_or_none((ServiceOrder.id == order_id) & (ServiceOrder.product == product))


def batches_of(order: ServiceOrder):
    return Batch.select().where(Batch.order == order.id).order_by(Batch.created_at, Batch.id)


def void(order: ServiceOrder, user: User, password: str) -> ServiceOrder:
    """Anular orden: only before payment; its batches become ANULADO."""
    require_password(user, password)
    with db.atomic() as transaction:
        moved = (
            ServiceOrder.update(status=ServiceOrder.VOIDED, voided_by=user.id, voided_at=utcnow())
            .where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PENDING_PAYMENT))
            .execute()
        )
        if not moved:
            transaction.rollback()
            raise Refused("La orden de servicio ya no se puede anular: solo se anulan órdenes sin pagar")
        Batch.update(status=Batch.VOIDED).where((Batch.order == order.id) & (Batch.status == Batch.IN_ORDER)).execute()
    record_event(Event.ORDER_VOID, user, order.company, obj=f"orden:{order.id}")
    return ServiceOrder.get_by_id(order.id)


# ---------------------------------------------------------------- payment


def _purpose(order: ServiceOrder) -> str:
    return f"pagar-orden:{order.id}"


def send_payment_code(order: ServiceOrder, user: User) -> str:
    """E-mail a code to pay `order`; returns what to tell the user (sent, or why not now)."""
    if order.status != ServiceOrder.PENDING_PAYMENT:
        raise Refused(_not_payable(order))
    try:
        codes.issue(
            user, _purpose(order), f"Código para pagar la orden de servicio {order.id}",
            f"pagar la orden de servicio Nro. {order.id} por {_money(order.total_to_pay)}",
        )  # fmt: skip
    except codes.CodeRefused as exc:
        if exc.message == codes.TOO_MANY:
            raise Refused(exc.message) from exc
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
        raise Refused(_not_payable(order))
    problem = codes.check(user, _purpose(order), code)
    if problem == codes.USED:  # a parallel request with the same code won: it is paying
        raise Refused(_not_payable(ServiceOrder.get_by_id(order.id)))
    if problem:
        raise Refused(problem)
    claimed = (
        ServiceOrder.update(
            status=ServiceOrder.PAYING, paid_by=user.id, claimed_at=utcnow(), claimed_by=leases.holder(), pay_message=""
        )
        .where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PENDING_PAYMENT))
        .execute()
    )
    if not claimed:
        raise Refused(_not_payable(ServiceOrder.get_by_id(order.id)))
    record_event(Event.ORDER_PAY, user, order.company, obj=f"orden:{order.id}")
    return _charge(ServiceOrder.get_by_id(order.id), user)


def _bank_key(order: ServiceOrder) -> str:
    return f"orden-servicio:{order.id}"


def _charge(order: ServiceOrder, user: User | None) -> ServiceOrder:
    """Debit the bank (idempotent by key) and settle, or give the order back unpaid."""
    company = Company.get_by_id(order.company_id)
    if order.total_to_pay > 0:
        result = default_bank().debit(
            company.bank_account, order.total_to_pay, key=_bank_key(order),
            description=f"Pago orden de servicio {order.id}",
        )  # fmt: skip
        if not result.ok:
            ServiceOrder.update(
                status=ServiceOrder.PENDING_PAYMENT, claimed_at=None, paid_by=None, pay_message=result.message
            ).where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PAYING)).execute()
            record_event(Event.ORDER_PAY_REFUSED, user, company, obj=f"orden:{order.id}", detail=result.message)
            raise Refused(f"El banco rechazó el pago: {result.message}. La orden sigue pendiente de pago.")
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


def pay_without_code(order: ServiceOrder, user: User) -> ServiceOrder:
    """The demo data's payments (seed.py): the bank debit and settlement of `pay`, without the
    e-mailed code nobody is there to read. Never reached from a view."""
    claimed = (
        ServiceOrder.update(status=ServiceOrder.PAYING, paid_by=user.id, claimed_at=utcnow(), pay_message="")
        .where((ServiceOrder.id == order.id) & (ServiceOrder.status == ServiceOrder.PENDING_PAYMENT))
        .execute()
    )
    if not claimed:
        raise Refused(_not_payable(ServiceOrder.get_by_id(order.id)))
    return _charge(ServiceOrder.get_by_id(order.id), user)


def settle_free(order: ServiceOrder, user: User) -> bool:
    """An order with nothing to pay (Total a pagar $ 0, e.g. a free affiliation) goes to
    processing without a code: no money moves, so there is nothing for a code to protect.
    False if the order is not free or no longer pending."""
    claimed = (
        ServiceOrder.update(status=ServiceOrder.PAYING, paid_by=user.id, claimed_at=utcnow(), pay_message="")
        .where(
            (ServiceOrder.id == order.id)
            & (ServiceOrder.status == ServiceOrder.PENDING_PAYMENT)
            & (ServiceOrder.total_to_pay == 0)
        )
        .execute()
    )
    if not claimed:
        return False
    record_event(Event.ORDER_PAY, user, order.company, obj=f"orden:{order.id}", detail="sin costo")
    _settle(ServiceOrder.get_by_id(order.id), Company.get_by_id(order.company_id))
    return True


def settle_stuck_payments(limit: int = 20) -> int:
    """Job: an order left PAGANDO (the app died between claiming it and settling) is charged
    again with the same bank key: the bank answers with the debit it already made, or makes
    it now, and the order settles or goes back to pending. Returns how many were resolved."""
    stale = utcnow() - STALE_PAYMENT
    resolved = 0
    stuck = (ServiceOrder.status == ServiceOrder.PAYING) & (ServiceOrder.claimed_at < stale)
    for _ in range(limit):
        # A lease of this process (SKIP LOCKED on PostgreSQL); released at once by a restarted
        # successor if this process dies (services/leases.py).
        claimed = leases.claim_one(ServiceOrder, stuck, {})
        if claimed is None:
            break
        order = ServiceOrder.get_by_id(claimed)
        try:
            _charge(order, None)
        except Refused:
            pass  # the bank refused a debit it never made: the order is pending again
        except Exception:  # one broken order must not stop the others; retried next run
            log.exception("settling the payment of order %s failed", order.id)
            continue
        resolved += 1
    return resolved
