"""What templates see beyond their view's context: filters for money, dates and statuses, the
pager's `page_url`, and the layout context (the selector's company and product, the menu)."""

from datetime import UTC, datetime

from flask import Flask
from flask_login import current_user

from blueprints.helpers import pending_step, permissions, selection, user_companies
from blueprints.menu import visible_menu
from blueprints.pagination import page_url
from domain.clock import BOGOTA
from domain.money import format_cop


def register(app: Flask) -> None:
    """The filters, globals and layout context every template may use."""

    @app.template_filter("money")
    def _money(cents):
        return format_cop(cents or 0)

    # DD/MM/AAAA and HH:MM:SS are digits only, the same in every locale: strftime writes them
    # (Babel's format_date parsed the locale and the pattern again for every cell of a table).
    @app.template_filter("date")
    def _date(value):
        if value is None:
            return ""
        return _local(value).strftime("%d/%m/%Y")

    @app.template_filter("datetime")
    def _datetime(value):
        if value is None:
            return ""
        return _local(value).strftime("%d/%m/%Y %H:%M:%S")

    @app.template_filter("batch_type")
    def _batch_type(kind):
        from domain.layouts import batch_type_name

        return batch_type_name(kind)

    @app.template_filter("thousands")
    def _thousands(number):
        """A count as written in Colombia: 100000 → 100.000."""
        return f"{number or 0:,}".replace(",", ".")

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
            company, product = selection()
            perms = permissions(product) if product else frozenset()
            ctx.update(
                selected_company=company,
                selected_product=product,
                user_companies=user_companies(),
                menu=visible_menu(perms, product.named) if product else [],
            )
        return ctx


def _local(value):
    if not isinstance(value, datetime):
        return value  # a plain date has no time zone
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BOGOTA)
