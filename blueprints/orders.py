"""Consultas > Órdenes de servicio: search, the order's batches and records, PDF, Anular, Pagar
(manual 3.3 pasos 4–6 and chapter 4)."""

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from flask_login import current_user

from blueprints.helpers import (
    code_dialog,
    done,
    list_state,
    page_detail,
    page_or_fragment,
    password_dialog,
    product_view,
)
from blueprints.pagination import Page, keyset, paginate
from models import Batch, BatchRecord, ServiceOrder
from services import Refused, batches, orders
from services.audit import record_view

bp = Blueprint("orders", __name__, url_prefix="/productos/<int:product_id>/ordenes")

VIEW = ("order.view",)


def _user():
    return current_user._get_current_object()


def _order(product, order_id) -> ServiceOrder:
    """The order if it belongs to this product (the product is already one of the user's)."""
    order = orders.order_for(product, order_id)
    if order is None:
        abort(404)
    return order


def _list_context(product, values=None, **extra):
    """The list's context. Its criteria and page come from `values`: the query string of the
    list itself, or the fields an action's dialog sent along (never the browser's address)."""
    values = request.args if values is None else values
    criteria, errors = orders.criteria_from(values)
    search = values.get("q", "").strip()[:40]
    # With a wrong criterion there are no results: the errors alone, not a list that ignores them.
    page = Page([], 1, 10, 0) if errors else paginate(orders.search(product, criteria, search), values)
    return {
        "product": product,
        "page": page,
        "criteria": criteria,
        "criteria_errors": errors,
        "args": values,
        "state": list_state(values),
        "q": search,
        "can": g.permissions,
        "statuses": [(s, ServiceOrder.STATUS_LABELS[s]) for s in ServiceOrder.SEARCHABLE],
        **extra,
    }


@bp.route("")
@product_view(*VIEW)
def index(product):
    """Órdenes de servicio: Criterio de búsqueda and the results, 10 per page (the results
    alone for htmx: Buscar and the pages)."""
    return page_or_fragment("orders/index.html", "orders/_results.html", **_list_context(product))


@bp.route("/<int:order_id>")
@product_view(*VIEW)
def detail(product, order_id):
    """The order's batches (lupa): each batch number opens its records."""
    order = _order(product, order_id)
    items = list(orders.batches_of(order))
    return render_template(
        "orders/detail.html", product=product, order=order, batches=items, can=g.permissions,
        credited=sum(b.deposited for b in items),
    )  # fmt: skip


@bp.route("/<int:order_id>/lotes/<int:batch_id>")
@product_view(*VIEW)
def batch_records(product, order_id, batch_id):
    """Registros del lote: documento, nombre y apellido, estado (and the reason of a rejection)."""
    order = _order(product, order_id)
    batch = Batch.get_or_none((Batch.id == batch_id) & (Batch.order == order.id))
    if batch is None:
        abort(404)
    search = request.args.get("q", "").strip()[:40]
    page = keyset(batches.records_of(batch, search), (BatchRecord.line,))
    record_view(_user(), product.company, f"lote:{batch.id}", page_detail(page, search))
    return render_template(
        "orders/records.html", product=product, batch=batch, page=page, q=search, names=batches.holder_names(page.items),
        back_url=url_for("orders.detail", product_id=product.id, order_id=order.id),
        trail=[("Órdenes de servicio", url_for("orders.index", product_id=product.id)),
               (f"Orden {order.id}", url_for("orders.detail", product_id=product.id, order_id=order.id))],
        endpoint="orders.batch_records", params={"product_id": product.id, "order_id": order.id, "batch_id": batch.id},
    )  # fmt: skip


@bp.route("/<int:order_id>/pdf")
@product_view(*VIEW)
def pdf(product, order_id):
    """Descargar PDF: the ORDEN DE SERVICIO."""
    from services.order_pdf import order_pdf

    order = _order(product, order_id)
    return Response(
        order_pdf(order),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="orden-servicio-{order.id}.pdf"'},
    )


def _list_url(product):
    """Órdenes de servicio with the criteria and page the action's request carried."""
    return url_for("orders.index", product_id=product.id, **list_state())


def _trail(product):
    return [("Órdenes de servicio", url_for("orders.index", product_id=product.id))]


def _done(product, title, message):
    """Success: a dialog with the message and the refreshed table, which keeps the criteria and
    page the action sent along (htmx); without JavaScript, back to that list."""
    return done(
        "orders/_done.html", message, _list_url(product), lambda: _list_context(product, request.values, title=title)
    )


@bp.route("/<int:order_id>/anular", methods=["GET", "POST"])
@product_view("order.void")
def void(product, order_id):
    """Anular orden de servicio: the password, then the order and its batches become Anulado."""
    order = _order(product, order_id)
    error = None
    if request.method == "POST":
        try:
            orders.void(order, _user(), request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return _done(product, "Anular orden de servicio", f"La orden de servicio Nro. {order.id} fue anulada.")
    return password_dialog(
        name="void", title="Anular orden de servicio", body="orders/_void_body.html", button="Aceptar",
        button_class="danger", action_url=url_for("orders.void", product_id=product.id, order_id=order.id),
        cancel_url=_list_url(product), error=error, keep=list_state(), trail=_trail(product), product=product,
        order=order,
    )  # fmt: skip


def _pay_dialog(product, order, **context):
    """Pagar Orden de Servicio: the code e-mailed to the user (not a password)."""
    return code_dialog(
        name="pay", title="Pagar Orden de Servicio", body="orders/_pay_body.html",
        action_url=url_for("orders.pay", product_id=product.id, order_id=order.id),
        resend_url=url_for("orders.pay_code", product_id=product.id, order_id=order.id),
        cancel_url=_list_url(product), keep=list_state(), trail=_trail(product), product=product, order=order,
        can_enter=order.is_payable, **context,
    )  # fmt: skip


@bp.route("/<int:order_id>/pagar/codigo", methods=["POST"])
@product_view("order.pay")
def pay_code(product, order_id):
    """Pagar (and Reenviar código): e-mail a verification code and ask for it."""
    order = _order(product, order_id)
    error = notice = None
    try:
        notice = orders.send_payment_code(order, _user())
    except Refused as exc:
        error = exc.message
    return _pay_dialog(product, order, error=error, notice=notice)


@bp.route("/<int:order_id>/pagar", methods=["POST"])
@product_view("order.pay")
def pay(product, order_id):
    """Aceptar: check the code, debit the company's bank account once, start processing."""
    order = _order(product, order_id)
    try:
        order = orders.pay(order, _user(), request.form.get("code", ""))
    except Refused as exc:
        return _pay_dialog(product, order, error=exc.message)
    return _done(
        product, "Pagar Orden de Servicio",
        f"Pago exitoso de la orden de servicio Nro. {order.id}. Las tarjetas y saldos se están procesando.",
    )  # fmt: skip


@bp.route("/<int:order_id>/estado")
@product_view(*VIEW)
def row(product, order_id):
    """One row of the table; polls itself while the order is being paid or processed."""
    order = _order(product, order_id)
    return render_template("orders/_row.html", product=product, order=order, can=g.permissions)
