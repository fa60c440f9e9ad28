"""Empresas y productos: company list, products, product page and the selector (manual 3.1)."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.helpers import (
    company_for_user,
    page_or_fragment,
    product_for_user,
    product_view,
    user_companies,
)  # fmt: skip
from blueprints.menu import BATCH_PERMS, CARD_PERMS, MASTER_PERMS, ORDER_PERMS, section
from blueprints.pagination import paginate, paginate_list
from models import Batch, Card, Company, Product, ServiceOrder, UserCompany
from services import companies, notices
from services.audit import Event, record_event

bp = Blueprint("companies", __name__)


@bp.route("/empresas")
def index():
    """Empresas: the user's companies with their products, searchable by name or NIT."""
    q = request.args.get("q", "").strip()[:60]
    if q:
        query = Company.search(Company.select().join(UserCompany).where(UserCompany.user == current_user.id), q)
        page = paginate(query.order_by(Company.name))
    else:  # the whole list is the selector's, already read for this request
        page = paginate_list(user_companies())
    products = {}
    if page.items:
        for product in Product.select().where(Product.company.in_([c.id for c in page.items])).order_by(Product.name):
            products.setdefault(product.company_id, []).append(product)
    return page_or_fragment("companies/index.html", "companies/_table.html", page=page, q=q, products=products)


@bp.route("/empresas/<int:company_id>")
def products(company_id):
    """Productos de una empresa."""
    company = company_for_user(company_id)
    items = list(company.products.order_by(Product.name))
    return render_template("companies/products.html", company=company, products=items)


@bp.route("/seleccion/productos")
def product_options():
    """htmx: the product <option>s of the company chosen in the selector."""
    company_id = request.args.get("empresa", type=int)
    items = list(company_for_user(company_id).products.order_by(Product.name)) if company_id else []
    return render_template("companies/_product_options.html", products=items)


@bp.route("/seleccionar", methods=["POST"])
def select():
    """Seleccionar: make a company/product current and open its page."""
    product_id = request.form.get("producto", type=int)
    company_id = request.form.get("empresa", type=int)
    if product_id:
        product = product_for_user(product_id)
        record_event(
            Event.PRODUCT_SELECTED, current_user._get_current_object(), product.company, obj=f"producto:{product.id}"
        )
        return redirect(url_for("companies.product", product_id=product.id))
    if company_id:
        return redirect(url_for("companies.products", company_id=company_for_user(company_id).id))
    flash("Selecciona una empresa y un producto", "error")
    return redirect(url_for("companies.index"))


@bp.route("/productos/<int:product_id>")
@product_view()
def product(product):
    """Detalle del producto: the product menu, its counters and «Pendientes», the work waiting
    for the user (a read: the selection is audited on «Seleccionar», POST /seleccionar, not on
    every view)."""
    perms = g.permissions
    rows = _counts(product, perms)  # one query, for the counters and the waiting work alike
    return render_template(
        "companies/product.html", product=product, counters=counters(product, perms, rows),
        waiting=notices.waiting_work(current_user, product, perms, rows),
        shows_waiting=notices.shows_waiting_work(perms, product),
    )  # fmt: skip


def _counts(product: Product, perms: frozenset) -> dict[str, list[int]]:
    """The counts the user's permissions allow it to see: one query (a UNION ALL of one CASE/SUM
    row per table), whatever the number of counters. The waiting work's tables (batches to sign
    or authorize, orders to pay) are among them."""
    tables = (
        bool(perms.intersection(BATCH_PERMS)),
        bool(perms.intersection(ORDER_PERMS)),
        bool(perms.intersection(CARD_PERMS + MASTER_PERMS)),
    )
    return companies.product_counts(product.id, *tables) if any(tables) else {}


def counters(product: Product, perms: frozenset, rows: dict | None = None) -> list[tuple[str, int]]:
    """The product page counters the user's permissions allow it to see (`rows`: _counts, if
    already read)."""
    rows = _counts(product, perms) if rows is None else rows
    if not rows:
        return []
    shown = []
    if Batch._meta.table_name in rows:
        to_authorize, to_sign, _ = rows[Batch._meta.table_name]
        if product.company.signatures == 2:  # only there does a batch wait for a first signature
            shown.append(("Lotes por firmar", to_sign))
        shown.append(("Lotes por autorizar", to_authorize))
    if ServiceOrder._meta.table_name in rows:
        pending, paid, _ = rows[ServiceOrder._meta.table_name]
        shown += [("Órdenes por pagar", pending), ("Órdenes pagadas", paid)]
    if Card._meta.table_name in rows:
        active, inactive, _ = rows[Card._meta.table_name]
        shown += [("Tarjetas activas", active), ("Tarjetas inactivas", inactive)]
    return shown


def _section_view(label):
    sec = section(label)

    @product_view(*sec.permissions)
    def view(product):
        return render_template(
            "companies/section.html", product=product, section=sec, counters=counters(product, g.permissions)
        )

    view.__doc__ = f"Sección {label} del menú del producto."
    return view


bp.add_url_rule("/productos/<int:product_id>/lotes", "section_batches", _section_view("Lotes"))
bp.add_url_rule("/productos/<int:product_id>/consultas", "section_queries", _section_view("Consultas"))
bp.add_url_rule("/productos/<int:product_id>/servicios", "section_services", _section_view("Servicios"))
bp.add_url_rule("/productos/<int:product_id>/reportes", "section_reports", _section_view("Reportes"))
