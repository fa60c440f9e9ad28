"""Lotes > Autorización (SPEC §6): sign, withdraw a signature, delete, and authorize batches
into service orders with their costs frozen.

    POR_FIRMAR ─sign─► POR_AUTORIZAR ─authorize─► EN_ORDEN (order PENDIENTE_PAGO)
    POR_FIRMAR / POR_AUTORIZAR ─delete─► ELIMINADO

Every move is a conditional UPDATE on the expected status (and, for a signature, on who
signed), all or nothing, so a double click, two tabs or two users racing move nothing twice;
anything else is refused with a Spanish message (Refused).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from peewee import JOIN

from domain.fees import BatchCost, BatchInput, FeeSchedule, OrderQuote, plan_orders, quote_order
from domain.layouts import BatchKind
from models import Batch, BatchRecord, Product, ServiceOrder, User, db, utcnow
from services import Refused, notices
from services.accounts import require_password
from services.audit import Event, record_event

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
    """The selected batches, all of this product and in `status`; refuse otherwise. Checked
    before the password: an empty selection is not a wrong password."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise Refused("Selecciona al menos un lote")
    found = list(
        Batch.select().where((Batch.product == product) & (Batch.id.in_(ids))).order_by(Batch.created_at, Batch.id)
    )
    if len(found) != len(ids):
        raise Refused("Uno de los lotes seleccionados no existe")
    wrong = [b.number for b in found if b.status != status]
    if wrong:
        raise Refused(f"El lote {wrong[0]} ya no está en este paso; actualiza la página")
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
                raise Refused(refused.format(number=batch.number))
    for batch in batches:
        record_event(event, user, product.company, obj=f"lote:{batch.number}")
    return batches


def sign(product: Product, ids: Sequence[int], user: User, password: str) -> list[Batch]:
    """First signature (two-signature companies): POR_FIRMAR → POR_AUTORIZAR, signed by `user`."""
    batches = _selected(product, ids, Batch.TO_SIGN)
    require_password(user, password)
    signed = _move_all(
        batches, product, user,
        condition=Batch.status == Batch.TO_SIGN,
        changes={"status": Batch.TO_AUTHORIZE, "signed_by": user.id, "signed_at": utcnow()},
        refused="El lote {number} ya fue firmado por otro usuario", event=Event.BATCH_SIGN,
    )  # fmt: skip
    notices.batches_waiting(product, signed, user)  # to the authorizers
    return signed


def unsign(product: Product, ids: Sequence[int], user: User, password: str) -> list[Batch]:
    """Desasociar: a signer withdraws their own signature before authorization."""
    batches = _selected(product, ids, Batch.TO_AUTHORIZE)
    require_password(user, password)
    others = [b.number for b in batches if b.signed_by_id != user.id]
    if others:
        raise Refused(f"Solo quien firmó puede desasociar su firma (lote {others[0]})")
    unsigned = _move_all(
        batches, product, user,
        condition=(Batch.status == Batch.TO_AUTHORIZE) & (Batch.signed_by == user.id),
        changes={"status": Batch.TO_SIGN, "signed_by": None, "signed_at": None},
        refused="El lote {number} ya no se puede desasociar", event=Event.BATCH_UNSIGN,
    )  # fmt: skip
    notices.batches_waiting(product, unsigned, user)  # back to the signers
    return unsigned


def delete_selected(product: Product, ids: Sequence[int], user: User, password: str, status: str) -> list[Batch]:
    """Eliminar from the authorization page: the selected batches, after one password."""
    batches = _selected(product, ids, status)
    require_password(user, password)
    return _move_all(
        batches, product, user,
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
            raise Refused(f"Ya firmaste el lote {batch.number}: la autorización debe darla otro usuario")
        if two and batch.signed_by_id is None:
            raise Refused(
                f"El lote {batch.number} aún no tiene la primera firma: debe firmarlo otro usuario antes de autorizarlo"
            )
    return batches


def plan(
    product: Product, ids: Sequence[int], user: User, grouping: str = "tipo"
) -> list[tuple[OrderQuote, list[Batch]]]:
    """Calcular orden de servicio: the orders that authorizing these batches would create."""
    if grouping not in GROUPINGS:
        raise Refused("Elige procesar por lote o por tipo de lote")
    batches = _authorizable(product, ids, user)
    by_number = {b.number: b for b in batches}
    quotes = plan_orders(batch_inputs(batches), FeeSchedule.from_product(product), GROUPINGS[grouping])
    return [(q, [by_number[c.number] for c in q.batches]) for q in quotes]


def prepare_authorization(
    product: Product, ids: Sequence[int], user: User, password: str, grouping: str = "tipo"
) -> list[tuple[OrderQuote, list[Batch]]]:
    """The first «Autorizar»: the selection and its signatures are checked first (an empty
    selection is not a wrong password), then the password; returns the orders it would create
    (shown in Calcular orden de servicio, created by `authorize`)."""
    planned = plan(product, ids, user, grouping)
    require_password(user, password)
    return planned


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
            raise Refused(
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
                    raise Refused(f"El lote {batch.number} cambió mientras autorizabas; actualiza la página")
            orders.append(order)
    for order in orders:
        record_event(Event.ORDER_CREATE, user, product.company, obj=f"orden:{order.id}")
    notices.orders_created(product, orders, user)  # to the payers
    return orders
