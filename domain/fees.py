"""Service-order costs (SPEC §7) as one pure computation: a product's fee schedule applied
to the batches of an order. Money is integer centavos in and out; inside, exact Decimals.

Per batch (`BatchCost`):
    amount              = Σ record amounts
    card_price_total    = records × unit_price (EMI: named price, INN: unnamed price,
                          AFI: the affiliation fee, 0 unless the product sets one;
                          REP: the replacement fee; REC creates no card: 0)
    distribution        = distribution_cost, once per batch that creates new cards
                          (EMI, INN with at least one record); else 0
    recharge_commission = Σ over REC records of max(recharge_rate × amount, recharge_min)
    commission          = card_price_total + distribution + recharge_commission
    gmf                 = gmf_rate × amount
    commission_plus_gmf = commission + gmf               ("Monto comisión + GMF")
Per order (`OrderQuote`):
    commission   = Σ commission_plus_gmf                 ("Monto comisión")
    iva_base     = Σ commission                          (the base of IVA; GMF is not taxed)
    iva          = iva_rate × iva_base                   ("Monto IVA")
    os_total     = commission + iva                      ("Monto OS")
    amount       = Σ amount                              ("Monto")
    total_to_pay = os_total + amount                     ("Total a pagar")

Rounding. Only three figures are products of a rate, so only three can have a fraction of a
centavo: a batch's recharge commission, a batch's GMF and an order's IVA. Each of them is
computed exactly (per-record recharge commissions are summed exactly, never rounded one by
one) and rounded half-up to the centavo once, at the end. Every other figure is a sum of
integer centavos, so it needs no rounding at all, and every sum a person can redo on the
screen or on the PDF holds to the centavo: an order's Monto comisión is exactly the sum of
its batches' "Monto comisión + GMF", Monto OS is exactly Monto comisión + Monto IVA, a
batch's commission is exactly its card prices + distribution + recharge commission, and IVA
is the rate applied to the base that is shown.

The price of that consistency, stated plainly: a batch's Monto comisión + GMF is the sum of
its two rounded parts, which can be one centavo away from rounding the exact sum (e.g.
0,004 + 0,004 = 0,008 → 0,01, while 0,00 + 0,00 = 0,00); and an order's Monto comisión can
therefore be up to one centavo per batch away from rounding the order's exact total. We
prefer that to showing figures that don't add up. A side effect is that the grouping of
batches into orders ("por lote" or "por tipo de lote") changes no batch figure and no order's
Monto comisión or Monto; only IVA is rounded per order.

Floats are refused everywhere (TypeError); negative money, counts or rates are ValueError.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, localcontext

from domain.layouts import BatchKind

# Exact arithmetic: enough digits for any product of a rate (RateField: ≤ 20 characters) and
# a sum of amounts, and an error instead of a silent rounding if that were ever not enough.
_EXACT = Context(prec=200, traps=[InvalidOperation, Inexact])
_ROUNDING = Context(prec=200, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
_ONE = Decimal(1)

# Batch types that create new cards: they pay a card price per record and one distribution.
_NEW_CARDS = {BatchKind.EMI: "card_price_named", BatchKind.INN: "card_price_unnamed"}
# The price per record of each type (AFI gives existing cards a holder: its fee, no distribution;
# REP replaces a lost or stolen card with a new named one: the replacement fee, which includes its
# delivery, so no distribution either).
_UNIT_PRICE = {**_NEW_CARDS, BatchKind.AFI: "affiliation_fee", BatchKind.REP: "replacement_fee"}


def round_cents(value: Decimal) -> int:
    """An exact Decimal number of centavos -> int centavos, half-up (0,5 centavo -> 1)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"se esperaba Decimal, no {type(value).__name__}")
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP, context=_ROUNDING))


def _cents(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: se esperaba un entero de centavos, no {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} no puede ser negativo: {value}")
    return value


def _rate(name: str, value) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name}: las tasas nunca viajan como float")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{name}: se esperaba Decimal, no {type(value).__name__}")
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise ValueError(f"{name} inválida: {value!r}") from exc
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"{name} inválida: {value!r}")
    return rate


@dataclass(frozen=True)
class FeeSchedule:
    """A product's fee schedule: money in int centavos, rates as exact Decimals (0.19 = 19 %)."""

    card_price_named: int = 0
    card_price_unnamed: int = 0
    distribution_cost: int = 0
    recharge_rate: Decimal = Decimal("0")
    recharge_min: int = 0
    iva_rate: Decimal = Decimal("0.19")
    gmf_rate: Decimal = Decimal("0.004")
    affiliation_fee: int = 0
    replacement_fee: int = 0

    def __post_init__(self):
        money = ("card_price_named", "card_price_unnamed", "distribution_cost", "recharge_min", "affiliation_fee")
        for name in (*money, "replacement_fee"):
            _cents(name, getattr(self, name))
        for name in ("recharge_rate", "iva_rate", "gmf_rate"):
            object.__setattr__(self, name, _rate(name, getattr(self, name)))

    @classmethod
    def from_product(cls, product) -> "FeeSchedule":
        """Read the fee fields of a Product (or anything with the same attributes)."""
        return cls(
            card_price_named=product.card_price_named,
            card_price_unnamed=product.card_price_unnamed,
            distribution_cost=product.distribution_cost,
            recharge_rate=product.recharge_rate,
            recharge_min=product.recharge_min,
            iva_rate=product.iva_rate,
            gmf_rate=product.gmf_rate,
            affiliation_fee=product.affiliation_fee,
            replacement_fee=product.replacement_fee,
        )


@dataclass(frozen=True)
class BatchInput:
    """One batch to be charged: its number and type, the amount of each valid record (centavos;
    may be empty for types without amounts) and the number of valid records."""

    number: str
    kind: BatchKind
    amounts: Sequence[int] = ()
    records: int | None = None  # None: len(amounts)

    def __post_init__(self):
        try:
            kind = BatchKind(self.kind)
        except ValueError as exc:
            raise ValueError(f"tipo de lote desconocido: {self.kind!r}") from exc
        if isinstance(self.amounts, str | bytes) or not isinstance(self.amounts, Iterable):
            raise TypeError("amounts: se esperaba una secuencia de centavos")
        amounts = tuple(_cents("monto", a) for a in self.amounts)
        records = len(amounts) if self.records is None else _cents("registros", self.records)
        if amounts and len(amounts) != records:
            raise ValueError(f"lote {self.number}: {records} registros pero {len(amounts)} montos")
        if kind is BatchKind.REC and len(amounts) != records:
            raise ValueError(f"lote {self.number}: una recarga necesita el monto de cada registro")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "amounts", amounts)
        object.__setattr__(self, "records", records)


@dataclass(frozen=True)
class BatchCost:
    """A batch's figures, int centavos (each rate product rounded once; see the module doc)."""

    number: str
    kind: BatchKind
    records: int
    amount: int
    card_price_total: int
    unit_price: int
    distribution: int
    recharge_commission: int
    commission: int
    gmf: int
    commission_plus_gmf: int


@dataclass(frozen=True)
class OrderQuote:
    """One service order to be created: its batches and totals, int centavos.

    `kind` is the batch type when all its batches share one, else None. Besides the figures
    of "Calcular orden de servicio" it carries the sums the PDF needs (card prices,
    distribution, recharge commissions, GMF and the IVA base)."""

    kind: BatchKind | None
    batches: tuple[BatchCost, ...]
    commission: int  # Monto comisión = Σ (commission + gmf)
    iva: int  # Monto IVA
    os_total: int  # Monto OS
    amount: int  # Monto
    total_to_pay: int  # Total a pagar = Monto OS + Monto
    iva_rate: Decimal
    iva_base: int  # Σ commission (without GMF): "SubTotal Orden de Servicio"
    card_price_total: int  # Σ card prices
    distribution: int  # Σ distribution ("Total Gastos Distribución")
    recharge_commission: int  # Σ recharge commissions
    gmf: int  # Σ GMF

    @property
    def records(self) -> int:
        return sum(b.records for b in self.batches)


def batch_cost(batch: BatchInput, fees: FeeSchedule) -> BatchCost:
    """The figures of one batch under `fees`."""
    if not isinstance(batch, BatchInput):
        raise TypeError("se esperaba un BatchInput")
    if not isinstance(fees, FeeSchedule):
        raise TypeError("se esperaba un FeeSchedule")
    kind = batch.kind
    price_field = _UNIT_PRICE.get(kind)
    unit_price = getattr(fees, price_field) if price_field else 0
    card_price_total = batch.records * unit_price
    distribution = fees.distribution_cost if kind in _NEW_CARDS and batch.records else 0
    amount = sum(batch.amounts)
    with localcontext(_EXACT):
        if kind is BatchKind.REC:
            minimum = Decimal(fees.recharge_min)
            exact_recharge = sum((max(fees.recharge_rate * a, minimum) for a in batch.amounts), Decimal(0))
        else:
            exact_recharge = Decimal(0)
        exact_gmf = fees.gmf_rate * amount
    recharge_commission = round_cents(exact_recharge)
    gmf = round_cents(exact_gmf)
    commission = card_price_total + distribution + recharge_commission
    return BatchCost(
        number=batch.number,
        kind=kind,
        records=batch.records,
        amount=amount,
        card_price_total=card_price_total,
        unit_price=unit_price,
        distribution=distribution,
        recharge_commission=recharge_commission,
        commission=commission,
        gmf=gmf,
        commission_plus_gmf=commission + gmf,
    )


def _quote(costs: Sequence[BatchCost], fees: FeeSchedule) -> OrderQuote:
    kinds = {c.kind for c in costs}
    commission = sum(c.commission_plus_gmf for c in costs)
    iva_base = sum(c.commission for c in costs)
    with localcontext(_EXACT):
        exact_iva = fees.iva_rate * iva_base
    iva = round_cents(exact_iva)
    os_total = commission + iva
    amount = sum(c.amount for c in costs)
    return OrderQuote(
        kind=next(iter(kinds)) if len(kinds) == 1 else None,
        batches=tuple(costs),
        commission=commission,
        iva=iva,
        os_total=os_total,
        amount=amount,
        total_to_pay=os_total + amount,
        iva_rate=fees.iva_rate,
        iva_base=iva_base,
        card_price_total=sum(c.card_price_total for c in costs),
        distribution=sum(c.distribution for c in costs),
        recharge_commission=sum(c.recharge_commission for c in costs),
        gmf=sum(c.gmf for c in costs),
    )


def _costs(batches: Iterable[BatchInput], fees: FeeSchedule) -> list[BatchCost]:
    costs = [batch_cost(b, fees) for b in batches]
    if not costs:
        raise ValueError("una orden de servicio necesita al menos un lote")
    numbers = [c.number for c in costs]
    if len(set(numbers)) != len(numbers):
        raise ValueError("un lote aparece dos veces")
    return costs


def quote_order(batches: Iterable[BatchInput], fees: FeeSchedule) -> OrderQuote:
    """All `batches` in one service order."""
    return _quote(_costs(batches, fees), fees)


def plan_orders(batches: Iterable[BatchInput], fees: FeeSchedule, by: str = "type") -> list[OrderQuote]:
    """The orders "Procesar por tipo de lote" (by="type", the default: one order per batch
    type, types in the order they first appear) or "Procesar por lote" (by="batch": one order
    per batch, in the given order) would create."""
    if by not in ("type", "batch"):
        raise ValueError(f"agrupación desconocida: {by!r} (use 'type' o 'batch')")
    costs = _costs(batches, fees)
    if by == "batch":
        return [_quote([c], fees) for c in costs]
    groups: dict[BatchKind, list[BatchCost]] = {}
    for c in costs:
        groups.setdefault(c.kind, []).append(c)
    return [_quote(group, fees) for group in groups.values()]
