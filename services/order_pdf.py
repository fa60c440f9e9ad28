"""The service order as a PDF (SPEC §7, manual 4.3 "Descarga de Orden de Servicio").

`order_pdf(order)` lays out the figures frozen on the order and its batches at authorization;
it computes no fee. The totals block is arranged so every line can be redone by hand:

    Total Precio + Total Gastos Distribución + Comisión por recargas = SubTotal Orden de Servicio
    SubTotal + IVA + GMF                                            = TOTAL ORDEN SERVICIO
    Total Orden Servicio + Monto a depositar en tarjetas            = TOTAL A PAGAR

(GMF goes after IVA because it is not taxed: IVA's base is the SubTotal, domain/fees.py.)

Needs an app context (the template and its filters are the app's) but no request, so a job
can build it too. xhtml2pdf, like help.py's manual.
"""

import io
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.numbers import format_decimal
from flask import current_app
from peewee import JOIN

from domain.clock import local_today
from domain.layouts import BATCH_TYPE_NAMES, BatchKind
from models import Batch, ServiceOrder, User

log = logging.getLogger(__name__)

TEMPLATE = "orders/pdf.html"


@dataclass(frozen=True)
class TotalLine:
    label: str
    cents: int
    result: bool = False  # a bold line: the sum of the lines above it


def iva_label(rate: Decimal) -> str:
    """IVA's rate as people write it: 0.19 -> "19%", 0.125 -> "12,5%"."""
    return f"{format_decimal(Decimal(rate) * 100, format='#,##0.##', locale='es_CO')}%"


def batch_type_label(kind: str) -> str:
    """Tipo de Lote of an order: its batches' type, or "Varios" when they differ."""
    try:
        return BATCH_TYPE_NAMES[BatchKind(kind)]
    except ValueError:
        return "Varios"


def total_lines(order: ServiceOrder) -> list[TotalLine]:
    """The totals block, top to bottom; each `result` line is the sum of the lines since the
    previous one (the previous result included)."""
    lines = [
        TotalLine("Total Precio", order.card_price_total),
        TotalLine("Total Gastos Distribución", order.distribution),
    ]
    if order.recharge_commission:
        lines.append(TotalLine("Comisión por recargas", order.recharge_commission))
    lines += [
        TotalLine("SubTotal Orden de Servicio", order.iva_base, result=True),
        TotalLine(f"IVA ({iva_label(order.iva_rate)})", order.iva),
    ]
    if order.gmf:
        lines.append(TotalLine("GMF", order.gmf))
    lines += [
        TotalLine("TOTAL ORDEN SERVICIO", order.os_total, result=True),
        TotalLine("Total Orden Servicio", order.os_total),
        TotalLine("Monto a depositar en tarjetas", order.amount),
        TotalLine("TOTAL A PAGAR", order.total_to_pay, result=True),
    ]
    return lines


def _order_batches(order: ServiceOrder) -> list[Batch]:
    uploader = User.alias()
    return list(
        Batch.select(Batch, uploader)
        .join(uploader, JOIN.LEFT_OUTER, on=(Batch.uploaded_by == uploader.id))
        .where(Batch.order == order.id)
        .order_by(Batch.id)
    )


def _check_sums(order: ServiceOrder, batches: list[Batch]) -> None:
    """The figures were frozen together at authorization; say so loudly if they no longer agree,
    since the printed columns would then not add up to the printed totals."""
    pairs = {
        "card_price_total": sum(b.card_price_total for b in batches),
        "distribution": sum(b.distribution for b in batches),
        "recharge_commission": sum(b.recharge_commission for b in batches),
        "gmf": sum(b.gmf for b in batches),
        "amount": sum(b.amount for b in batches),
    }
    for name, total in pairs.items():
        if getattr(order, name) != total:
            log.warning("orden %s: %s = %s pero sus lotes suman %s", order.id, name, getattr(order, name), total)
    if order.iva_base + order.iva + order.gmf != order.os_total or order.os_total + order.amount != order.total_to_pay:
        log.warning("orden %s: los totales no cuadran", order.id)


def order_context(order: ServiceOrder, printed_on: date | None = None) -> dict:
    """What templates/orders/pdf.html needs."""
    batches = _order_batches(order)
    _check_sums(order, batches)
    company = order.company
    authorized_by = order.authorized_by
    return {
        "order": order,
        "company": company,
        "fiscal_address": company.billing_address or company.address,
        "product": order.product,
        "authorized_by": authorized_by.username.upper() if authorized_by else "",
        "batch_type": batch_type_label(order.kind),
        "printed_on": printed_on or local_today(),
        "batches": batches,
        "shipments": [b for b in batches if b.distribution > 0],
        "recharges": [b for b in batches if b.recharge_commission > 0],
        "totals": total_lines(order),
    }


def order_html(order: ServiceOrder, printed_on: date | None = None) -> str:
    # The app's Jinja environment (autoescape, `money`/`date` filters) without its context
    # processors: those read the logged-in user, and a PDF needs no menu.
    template = current_app.jinja_env.get_template(TEMPLATE)
    return template.render(**order_context(order, printed_on))


def order_pdf(order: ServiceOrder, printed_on: date | None = None) -> bytes:
    """The "ORDEN DE SERVICIO" PDF of `order`; Fecha de Impresión is today in Bogotá unless given."""
    from xhtml2pdf import pisa

    out = io.BytesIO()
    status = pisa.CreatePDF(order_html(order, printed_on), dest=out, encoding="utf-8")
    if status.err:
        raise RuntimeError(f"xhtml2pdf could not build service order {order.id} ({status.err} errors)")
    return out.getvalue()
