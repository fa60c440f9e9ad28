"""Consultas > Órdenes de servicio: search, the order's batches and records, PDF, Anular, Pagar
(manual 3.3 pasos 4–6 and chapter 4)."""

from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from models import Batch, ServiceOrder
from services import orders
from web import is_htmx_fragment, paginate, product_view

bp = Blueprint("orders", __name__, url_prefix="/productos/<int:product_id>/ordenes")

VIEW = ("order.view",)


@bp.before_request
@login_required
def _require_login():
    """Every order page needs a session."""


def _user():
    return current_user._get_current_object()


def _order(product, order_id) -> ServiceOrder:
    """The order if it belongs to this product (the product is already one of the user's)."""
    order = orders.order_for(product, order_id)
    if order is None:
        abort(404)
    return order


def _list_context(product, args=None, **extra):
    args = request.args if args is None else args
    criteria, errors = orders.criteria_from(args)
    search = args.get("q", "").strip()[:40]
    return {
        "product": product,
        "page": paginate(orders.search(product, criteria, search), args),
        "criteria": criteria,
        "criteria_errors": errors,
        "args": args,
        "q": search,
        "can": g.permissions,
        "statuses": [(s, orders.ORDER_STATUS_LABELS[s]) for s in orders.SEARCHABLE_STATUSES],
        **extra,
    }


@bp.route("")
@product_view(*VIEW)
def index(product):
    """Órdenes de servicio: Criterio de búsqueda and the table, 10 per page."""
    context = _list_context(product)
    if is_htmx_fragment() and request.headers.get("HX-Target") == "orders":
        return render_template("orders/_table.html", **context)
    return render_template("orders/index.html", **context)


@bp.route("/<int:order_id>")
@product_view(*VIEW)
def detail(product, order_id):
    """The order's batches (lupa): each batch number opens its records."""
    order = _order(product, order_id)
    return render_template(
        "orders/detail.html", product=product, order=order, batches=list(orders.batches_of(order)), can=g.permissions
    )


@bp.route("/<int:order_id>/lotes/<int:batch_id>")
@product_view(*VIEW)
def batch_records(product, order_id, batch_id):
    """Registros del lote: documento, nombre y apellido, estado (and the reason of a rejection)."""
    order = _order(product, order_id)
    batch = Batch.get_or_none((Batch.id == batch_id) & (Batch.order == order.id))
    if batch is None:
        abort(404)
    search = request.args.get("q", "").strip()[:40]
    page = paginate(orders.records_of(batch, search))
    return render_template(
        "orders/records.html", product=product, batch=batch, page=page, q=search, names=orders.holder_names(page.items),
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


def _modal(template, page_template, product, order, **context):
    """A modal for htmx, or the same form as a whole page without JavaScript."""
    return render_template(
        template if is_htmx_fragment() else page_template, product=product, order=order, body=template, **context
    )


def _done(product, title, message):
    """Success: a modal with the message and the refreshed table (htmx), or back to the list."""
    if is_htmx_fragment():
        # The refreshed table keeps the criteria and page the user was looking at.
        query = urlsplit(request.headers.get("HX-Current-URL", "")).query
        args = MultiDict(parse_qsl(query)[:20])
        return render_template("orders/_done.html", title=title, message=message, **_list_context(product, args))
    flash(message, "success")
    return redirect(url_for("orders.index", product_id=product.id))


@bp.route("/<int:order_id>/anular", methods=["GET", "POST"])
@product_view("order.void")
def void(product, order_id):
    """Anular orden de servicio: the password, then the order and its batches become Anulado."""
    order = _order(product, order_id)
    error = None
    if request.method == "POST":
        try:
            orders.void(order, _user(), request.form.get("password", ""))
            return _done(product, "Anular orden de servicio", f"La orden de servicio Nro. {order.id} fue anulada.")
        except orders.OrderRefused as exc:
            error = exc.message
    return _modal("orders/_void.html", "orders/action_page.html", product, order, error=error)


@bp.route("/<int:order_id>/pagar/codigo", methods=["POST"])
@product_view("order.pay")
def pay_code(product, order_id):
    """Pagar (and Reenviar código): e-mail a verification code and ask for it."""
    order = _order(product, order_id)
    error = notice = None
    try:
        notice = orders.send_payment_code(order, _user())
    except orders.OrderRefused as exc:
        error = exc.message
    return _modal("orders/_pay.html", "orders/action_page.html", product, order, error=error, notice=notice)


@bp.route("/<int:order_id>/pagar", methods=["POST"])
@product_view("order.pay")
def pay(product, order_id):
    """Aceptar: check the code, debit the company's bank account once, start processing."""
    order = _order(product, order_id)
    try:
        order = orders.pay(order, _user(), request.form.get("code", ""))
    except orders.OrderRefused as exc:
        return _modal("orders/_pay.html", "orders/action_page.html", product, order, error=exc.message)
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
