"""Helpers shared by the blueprints: object access checks, page-or-fragment rendering, menu."""

from dataclasses import dataclass
from functools import wraps

from flask import abort, g, render_template, session
from flask import request as flask_request
from flask_htmx import HTMX
from flask_login import current_user

from models import Company, Product, UserCompany

htmx = HTMX()  # reads the HX-* request headers (flask-htmx)


def is_htmx_fragment() -> bool:
    """True for an htmx request that wants a fragment (not a boosted navigation).
    Every response varies on HX-Request (set in app.py), so caches keep both forms apart."""
    return bool(htmx) and not htmx.boosted


def render_page(template: str, fragment: str, **context):
    """Render the whole page, or only its fragment for htmx."""
    return render_template(fragment if is_htmx_fragment() else template, **context)


def company_for_user(company_id: int) -> Company:
    """The company if the current user may see it; 404 otherwise (never reveal it exists)."""
    company = (
        Company.select()
        .join(UserCompany)
        .where((Company.id == company_id) & (UserCompany.user == current_user.id))
        .first()
    )
    if company is None:
        abort(404)
    return company


def product_for_user(product_id: int) -> Product:
    product = Product.get_or_none(Product.id == product_id)
    if product is None:
        abort(404)
    company_for_user(product.company_id)
    return product


def product_view(*any_of: str):
    """Decorator for views under /productos/<product_id>: loads the product (404 if it is not
    one of the user's companies), checks that the user holds one of `any_of` (403), and makes
    it the selected company/product."""

    def decorator(view):
        @wraps(view)
        def wrapper(product_id, *args, **kwargs):
            product = product_for_user(product_id)
            perms = current_user.permissions_for(product)
            if any_of and not perms.intersection(any_of):
                abort(403)
            g.product, g.permissions = product, perms
            select_product(product)
            return view(product, *args, **kwargs)

        return wrapper

    return decorator


def select_product(product: Product) -> None:
    session["company_id"] = product.company_id
    session["product_id"] = product.id


@dataclass(frozen=True)
class MenuItem:
    label: str
    endpoint: str | None  # None: announced in the menu, arriving in a later release
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class MenuSection:
    label: str
    endpoint: str
    permissions: tuple[str, ...]
    items: tuple[MenuItem, ...]
    blueprints: tuple[str, ...] = ()  # whose pages belong to this section (menu highlight)


BATCH_PERMS = ("batch.upload", "batch.confirm", "batch.delete", "batch.sign", "batch.authorize")
INNOMINATE_PERMS = ("innominate.request", "innominate.affiliate")
MASTER_PERMS = ("master.balance", "master.credit", "master.debit", "master.fund")
CARD_PERMS = ("cards.view", "cards.manage")
ORDER_PERMS = ("order.view", "order.void", "order.pay")

# The product menu of manual 3.1; each later issue points its item's endpoint at its page.
MENU = (
    MenuSection(
        "Lotes",
        "companies.section_batches",
        BATCH_PERMS + INNOMINATE_PERMS,
        (
            MenuItem("Carga de lotes", "batches.upload", ("batch.upload", "batch.confirm", "batch.delete")),
            MenuItem("Autorización", "authorization.index", ("batch.sign", "batch.authorize")),
            MenuItem("Tarjetas innominadas - Solicitud", None, ("innominate.request",)),
            MenuItem("Tarjetas innominadas - Afiliación", None, ("innominate.affiliate",)),
        ),
        ("batches", "authorization"),
    ),
    MenuSection(
        "Consultas",
        "companies.section_queries",
        ORDER_PERMS + CARD_PERMS,
        (
            MenuItem("Órdenes de servicio", "orders.index", ("order.view",)),
            MenuItem("Consulta de tarjetas", None, CARD_PERMS),
        ),
        ("orders",),
    ),
    MenuSection(
        "Servicios",
        "companies.section_services",
        MASTER_PERMS,
        (MenuItem("Cuenta maestra", None, MASTER_PERMS),),
    ),
    MenuSection(
        "Reportes",
        "companies.section_reports",
        ("reports.view",),
        (MenuItem("Catálogo de reportes", None, ("reports.view",)),),
    ),
)


def section(label: str) -> MenuSection:
    return next(s for s in MENU if s.label == label)


def visible_menu(perms: frozenset) -> list[tuple[MenuSection, list[MenuItem]]]:
    """The sections and items the user may use; the rest are not shown (and answer 403)."""
    result = []
    for sec in MENU:
        if perms.intersection(sec.permissions):
            result.append((sec, [i for i in sec.items if perms.intersection(i.permissions)]))
    return result


@dataclass(frozen=True)
class Page:
    """One page of a table: 10 rows, with the manual's "Mostrando registro(s)…" summary."""

    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.number - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.number * self.per_page)

    @property
    def summary(self) -> str:
        if self.total == 0:
            return "Sin registros que mostrar"
        return (
            f"Mostrando registro(s) del {self.first_index} al {self.last_index} de un total de {self.total} registro(s)"
        )


def paginate(query, args=None, per_page: int = 10) -> Page:
    """Paginate a peewee query by the `pagina` argument (out-of-range pages clamp)."""
    total = query.count()
    pages = max(1, -(-total // per_page))
    args = flask_request.args if args is None else args
    number = min(max(args.get("pagina", 1, type=int) or 1, 1), pages)
    return Page(list(query.paginate(number, per_page)), number, per_page, total)
