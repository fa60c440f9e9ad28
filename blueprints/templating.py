"""What templates see beyond their view's context: filters for money, dates and statuses, the
pager's `page_url`, and the layout context (the selector's company and product, the menu)."""

from datetime import UTC, datetime

from babel.dates import format_date, format_datetime
from flask import Flask, g, session
from flask_login import current_user

from blueprints.helpers import pending_step
from blueprints.menu import visible_menu
from blueprints.pagination import page_url
from domain.clock import BOGOTA
from domain.money import format_cop
from models import Company, Product


def register(app: Flask) -> None:
    """The filters, globals and layout context every template may use."""

    @app.template_filter("money")
    def _money(cents):
        return format_cop(cents or 0)

    @app.template_filter("date")
    def _date(value):
        if value is None:
            return ""
        return format_date(_local(value), "dd/MM/yyyy", locale="es_CO")

    @app.template_filter("datetime")
    def _datetime(value):
        if value is None:
            return ""
        return format_datetime(_local(value), "dd/MM/yyyy HH:mm:ss", locale="es_CO")

    @app.template_filter("batch_type")
    def _batch_type(kind):
        from domain.layouts import batch_type_name

        return batch_type_name(kind)

    @app.template_filter("mask_account")
    def _mask_account(number):
        """A bank account shown by its last 4 digits only."""
        number = str(number or "")
        return ("•••• " + number[-4:]) if number else "Sin cuenta registrada"

    app.add_template_global(page_url)

    @app.context_processor
    def _layout_context():
        ctx = {"idle_minutes": app.config["SESSION_IDLE_MINUTES"], "demo_mode": app.config["DEMO_MODE"]}
        if current_user.is_authenticated and pending_step(current_user) is None:
            company, product = _selection()
            perms = current_user.permissions_for(product) if product else frozenset()
            ctx.update(
                selected_company=company,
                selected_product=product,
                user_companies=list(current_user.companies()),
                menu=visible_menu(perms) if product else [],
            )
        return ctx


def _selection():
    """The company/product chosen in this session, re-checked against the user's companies."""
    if "selection" in g:
        return g.selection
    company = product = None
    cid, pid = session.get("company_id"), session.get("product_id")
    if cid:
        company = current_user.companies().where(Company.id == cid).first()
    if company and pid:
        product = Product.get_or_none((Product.id == pid) & (Product.company == company))
    g.selection = (company, product)
    return g.selection


def _local(value):
    if not isinstance(value, datetime):
        return value  # a plain date has no time zone
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BOGOTA)
