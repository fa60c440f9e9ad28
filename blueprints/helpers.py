"""Helpers shared by the views: object access checks, and the one rule that decides between a
whole page and an htmx fragment (with the dialogs built on it)."""

from collections.abc import Callable
from functools import wraps

from flask import Response, abort, flash, g, make_response, redirect, render_template, request, session
from flask_htmx import HTMX
from flask_login import current_user

from blueprints.pagination import PAGE_ARGS
from models import Company, Product
from services import access

htmx = HTMX()  # reads the HX-* request headers (flask-htmx)

# ---------------------------------------------------------------- page or fragment


def wants_fragment() -> bool:
    """THE rule: an htmx request that swaps part of a page gets the fragment. A boosted
    navigation, htmx reloading a page it has no snapshot of (history restore) and any request
    without htmx get the whole page. Every response varies on HX-Request (app.py), so caches
    keep both forms of a URL apart."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def page_or_fragment(page: str, fragment: str, /, *, refused: bool = False, **context) -> Response:
    """Render `page` (a template extending base.html) or, for htmx, only `fragment` (the part of
    that page the request swaps). `refused=True` marks a form sent back with its errors: the
    whole page answers 422, the fragment 200 (htmx only swaps successful answers)."""
    fragment_wanted = wants_fragment()
    html = render_template(fragment if fragment_wanted else page, **context)
    return make_response(html, 422 if refused and not fragment_wanted else 200)


def done(fragment: str, message: str, next_url: str, context: Callable[[], dict] | None = None) -> Response:
    """An action succeeded. For htmx: `fragment` (usually a dialog with `message` plus
    out-of-band refreshes) rendered with `context()`; otherwise `message` flashed and a redirect
    to `next_url` (post/redirect/get)."""
    if wants_fragment():
        return make_response(render_template(fragment, message=message, **(context() if context else {})))
    flash(message, "success")
    return redirect(next_url)


def dialog(template: str, /, *, title: str, cancel_url: str, trail=(), product=None, **context) -> Response:
    """A dialog: for htmx `template` alone (a <dialog data-modal> swapped into #modal-root);
    without JavaScript the same template inside dialogs/page.html (breadcrumbs `trail` of
    (label, url) pairs after the product's, then `title`). `cancel_url` is where Cancelar and
    Volver go without JavaScript."""
    return page_or_fragment(
        "dialogs/page.html", template, dialog=template, title=title, cancel_url=cancel_url, trail=trail,
        product=product, **context,
    )  # fmt: skip


def password_dialog(
    *, name: str, title: str, body: str, action_url: str, button: str, button_class: str = "primary",
    cancel_url: str, error: str | None = None, keep: dict | None = None, fields: str | None = None, trail=(),
    product=None, **context,
) -> Response:  # fmt: skip
    """The one dialog of every password-confirmed action (dialogs/password.html): `title`, the
    summary template `body` (rendered with `context`), the Contraseña field, Cancelar and the
    submit `button` (CSS `button_class`: primary, danger) posting to `action_url`. `error` is the
    service's refusal, shown above the form; `keep` are hidden fields the form sends back (e.g.
    the criteria and page of the list to refresh afterwards); `fields` is a template of form fields
    sent with the password; `name` prefixes the element ids."""
    return dialog(
        "dialogs/password.html", title=title, cancel_url=cancel_url, trail=trail, product=product, name=name,
        body=body, action_url=action_url, button=button, button_class=button_class, error=error,
        keep=keep or {}, fields=fields, **context,
    )  # fmt: skip


def code_dialog(
    *, name: str, title: str, body: str, action_url: str, resend_url: str, cancel_url: str, keep: dict,
    trail=(), product=None, **context,
) -> Response:  # fmt: skip
    """The one dialog of every action confirmed with an e-mailed code (dialogs/code.html): the
    summary template `body`, the code, «Reenviar código» (to `resend_url`) and Aceptar (to
    `action_url`, with the hidden fields `keep`)."""
    return dialog(
        "dialogs/code.html", title=title, cancel_url=cancel_url, trail=trail, product=product, name=name,
        body=body, action_url=action_url, resend_url=resend_url, keep=keep, **context,
    )  # fmt: skip


def list_state(values=None, names=PAGE_ARGS) -> dict:
    """The criteria and page of a list, as sent by the request (query string or form): what an
    action's dialog carries along so the list refreshed after it shows what the user was seeing."""
    values = request.values if values is None else values
    kept = {k: values[k][:60] for k in names if values.get(k)}
    page = values.get("pagina", "")
    if page.isascii() and page.isdigit() and len(page) <= 6:
        kept["pagina"] = page
    return kept


def page_detail(page, search: str = "") -> str:
    """What of a table a user saw, for the audit of views of personal data: rows and search."""
    text = f"registros {page.first_index}-{page.last_index} de {page.total}"
    return f"{text}; búsqueda: {search}" if search else text


# ---------------------------------------------------------------- access
#
# Each row a request needs (the user's companies, the product, its permissions) is loaded once
# and kept on flask.g for that request only: nothing outlives the request, so a permission
# granted or withdrawn applies on the user's next request.


def user_companies() -> list[Company]:
    """The current user's companies, by name: one query per request (the selector, the access checks)."""
    if "user_companies" not in g:
        g.user_companies = access.user_companies(current_user.id)
    return g.user_companies


def company_for_user(company_id: int) -> Company:
    """The company if the current user may see it; 404 otherwise (never reveal it exists)."""
    company = next((c for c in user_companies() if c.id == company_id), None)
    if company is None:
        abort(404)
    return company


def product_for_user(product_id: int) -> Product:
    """The product (with its company, from the user's companies) if it is one of the user's; 404
    otherwise. Its company's products come along (`company.products`, a list, for the selector)."""
    cached = g.get("loaded_product")
    if cached is not None and cached.id == product_id:
        return cached
    siblings = access.product_and_siblings(product_id)
    product = next((p for p in siblings if p.id == product_id), None)
    if product is None:
        abort(404)
    company = company_for_user(product.company_id)
    _keep_products(company, siblings)
    g.loaded_product = product
    return product


def _keep_products(company: Company, products: list[Product]) -> None:
    """Attach the rows already read: `product.company` and `company.products` (the template's
    selector lists them) without another query. Shadows the backref for this instance only."""
    for product in products:
        product.company = company
    vars(company)["products"] = products


def permissions(product: Product) -> frozenset:
    """The current user's permissions on `product`, read once per request."""
    cache = g.setdefault("loaded_permissions", {})
    if product.id not in cache:
        cache[product.id] = access.permissions(current_user.id, product.id)
    return cache[product.id]


def product_view(*any_of: str):
    """Decorator for views under /productos/<product_id>: loads the product (404 if it is not
    one of the user's companies), checks that the user holds one of `any_of` (403), and makes
    it the selected company/product."""

    def decorator(view):
        @wraps(view)
        def wrapper(product_id, *args, **kwargs):
            product = product_for_user(product_id)
            perms = permissions(product)
            if any_of and not perms.intersection(any_of):
                abort(403)
            g.product, g.permissions = product, perms
            select_product(product)
            return view(product, *args, **kwargs)

        return wrapper

    return decorator


def select_product(product: Product) -> None:
    """Make `product` the session's selection (the session cookie; nothing in the database)."""
    if session.get("company_id") != product.company_id:
        session["company_id"] = product.company_id
    if session.get("product_id") != product.id:
        session["product_id"] = product.id


def selection() -> tuple[Company | None, Product | None]:
    """The company/product chosen in this session, re-checked against the user's companies
    (the layout's selector and menu); reuses the rows the view loaded."""
    if "selection" in g:
        return g.selection
    company = product = None
    cid, pid = session.get("company_id"), session.get("product_id")
    if cid:
        company = next((c for c in user_companies() if c.id == cid), None)
    if company is not None and pid:
        loaded = g.get("loaded_product")
        if loaded is not None and loaded.id == pid and loaded.company_id == company.id:
            product = loaded
        else:
            siblings = access.product_and_siblings(pid)
            product = next((p for p in siblings if p.id == pid and p.company_id == company.id), None)
            if product is not None:
                _keep_products(company, siblings)
    g.selection = (company, product)
    return g.selection


def pending_step(user) -> str | None:
    """The endpoint a user must go through before anything else, if any."""
    if user.terms_accepted_at is None:
        return "auth.terms"
    if user.must_change_password:
        return "auth.change_password"
    return None
