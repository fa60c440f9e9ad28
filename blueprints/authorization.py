"""Lotes > Autorización: sign, withdraw a signature, authorize into service orders, delete (manual 3.3)."""

from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from blueprints.helpers import page_detail, product_view
from blueprints.pagination import keyset
from models import Batch, BatchRecord, utcnow
from services import Refused, authorization, batches
from services.audit import record_view

bp = Blueprint("authorization", __name__, url_prefix="/productos/<int:product_id>/autorizacion")

PERMS = ("batch.sign", "batch.authorize")
PENDING_KEY = "authorization"
PENDING_MINUTES = 10  # "Calcular orden de servicio" must be answered within this time


def _user():
    return current_user._get_current_object()


def table_actions(table: str, perms: frozenset, two_signatures: bool) -> list[tuple[str, str, str]]:
    """(accion, button label, CSS class) of the buttons the user may press under one table
    ("firmar" or "autorizar"). None: the table is only shown (no check boxes, no password)."""
    actions = []
    if table == "firmar" and "batch.sign" in perms:
        actions.append(("firmar", "Firmar", "primary"))
    if table == "autorizar" and "batch.authorize" in perms:
        actions.append(("autorizar", "Autorizar", "primary"))
    if table == "autorizar" and two_signatures and "batch.sign" in perms:
        actions.append(("desasociar", "Desasociar", "secondary"))
    if "batch.delete" in perms:
        actions.append(("eliminar", "Eliminar", "danger"))
    return actions


def _context(product, **extra):
    two = product.company.signatures == 2
    to_sign = list(authorization.to_sign(product)) if two else []
    to_authorize = list(authorization.to_authorize(product))
    return {
        "product": product,
        "two_signatures": two,
        "to_sign": to_sign,
        "to_authorize": to_authorize,
        "estimates": authorization.estimates(product, to_sign + to_authorize),
        "actions": {t: table_actions(t, g.permissions, two) for t in ("firmar", "autorizar")},
        "can": g.permissions,
        "grouping": request.form.get("agrupacion", "tipo"),
        "selected": set(_ids()),
        **extra,
    }


@bp.route("", methods=["GET"])
@product_view(*PERMS)
def index(product):
    """Autorización de lotes: the batches to sign and to authorize, with their estimated cost."""
    return render_template("authorization/index.html", **_context(product))


ACTIONS = {
    # action: (permission, status of the table it acts on)
    "firmar": ("batch.sign", Batch.TO_SIGN),
    "desasociar": ("batch.sign", Batch.TO_AUTHORIZE),
    "autorizar": ("batch.authorize", Batch.TO_AUTHORIZE),
    "eliminar": ("batch.delete", None),
}


@bp.route("", methods=["POST"])
@product_view(*PERMS)
def act(product):
    """Firmar / Desasociar / Autorizar / Eliminar the checked batches, after the password."""
    action = request.form.get("accion", "")
    if action not in ACTIONS:
        abort(400)
    permission, status = ACTIONS[action]
    if permission not in g.permissions:
        abort(403)
    ids = _ids()
    user, password = _user(), request.form.get("password", "")
    try:
        if action == "firmar":
            done = authorization.sign(product, ids, user, password)
            flash(f"{_count(done, 'firmado')}. Falta la autorización de otro usuario.", "success")
        elif action == "desasociar":
            done = authorization.unsign(product, ids, user, password)
            flash(f"Se retiró tu firma de {_count(done)}.", "success")
        elif action == "eliminar":
            table = request.form.get("tabla")
            status = Batch.TO_SIGN if table == "firmar" else Batch.TO_AUTHORIZE
            done = authorization.delete_selected(product, ids, user, password, status)
            flash(f"{_count(done, 'eliminado')}.", "success")
        else:
            grouping = request.form.get("agrupacion", "tipo")
            authorization.prepare_authorization(product, ids, user, password, grouping)  # refuse now, not later
            session[PENDING_KEY] = {
                "product": product.id, "ids": [int(i) for i in ids], "grouping": grouping,
                "at": utcnow().isoformat(),
            }  # fmt: skip
            return redirect(url_for("authorization.calculate", product_id=product.id))
    except Refused as exc:
        return render_template("authorization/index.html", **_context(product, error=exc.message)), 422
    return redirect(url_for("authorization.index", product_id=product.id))


def _ids() -> list[int]:
    """The checked batch ids; anything that isn't a plain id (e.g. "²", 5,000 digits) is ignored."""
    values = request.form.getlist("lote")[:1000]
    return [int(v) for v in values if v.isascii() and v.isdigit() and len(v) <= 12]


def _count(batches, participle: str = "") -> str:
    """ "1 lote firmado", "3 lotes firmados"; without a participle "1 lote", "3 lotes"."""
    if len(batches) == 1:
        return f"1 lote {participle}".strip()
    return f"{len(batches)} lotes {participle + 's' if participle else ''}".strip()


def _pending(product):
    pending = session.get(PENDING_KEY)
    if not pending or pending.get("product") != product.id:
        return None
    started = datetime.fromisoformat(pending["at"])
    if utcnow() - started > timedelta(minutes=PENDING_MINUTES):
        session.pop(PENDING_KEY, None)
        return None
    return pending


@bp.route("/calcular", methods=["GET"])
@product_view("batch.authorize")
def calculate(product):
    """Calcular orden de servicio: one row per order to create, each with its batches."""
    pending = _pending(product)
    if pending is None:
        flash("Selecciona de nuevo los lotes a autorizar.", "error")
        return redirect(url_for("authorization.index", product_id=product.id))
    try:
        planned = authorization.plan(product, pending["ids"], _user(), pending["grouping"])
    except Refused as exc:
        session.pop(PENDING_KEY, None)
        flash(exc.message, "error")
        return redirect(url_for("authorization.index", product_id=product.id))
    # What the user is shown is what Autorizar creates, or nothing (fees may change meanwhile).
    pending["totals"] = [quote.total_to_pay for quote, _ in planned]
    session[PENDING_KEY] = pending
    return render_template("authorization/calculate.html", product=product, planned=planned)


@bp.route("/calcular", methods=["POST"])
@product_view("batch.authorize")
def calculate_post(product):
    """Autorizar creates the orders and opens Órdenes de servicio; Cancelar goes back."""
    pending = _pending(product)
    session.pop(PENDING_KEY, None)
    if request.form.get("accion") == "cancelar":
        return redirect(url_for("authorization.index", product_id=product.id))
    if pending is None:
        flash("La autorización venció; selecciona de nuevo los lotes.", "error")
        return redirect(url_for("authorization.index", product_id=product.id))
    try:
        created = authorization.authorize(product, pending["ids"], _user(), pending["grouping"], pending.get("totals"))
    except Refused as exc:
        flash(exc.message, "error")
        return redirect(url_for("authorization.index", product_id=product.id))
    numbers = ", ".join(str(o.id) for o in created)
    noun = "la orden de servicio Nro." if len(created) == 1 else "las órdenes de servicio Nro."
    flash(f"Se creó {noun} {numbers}." if len(created) == 1 else f"Se crearon {noun} {numbers}.", "success")
    return redirect(url_for("orders.index", product_id=product.id))


@bp.route("/lotes/<int:batch_id>")
@product_view(*PERMS)
def records(product, batch_id):
    """The records of a batch waiting for a signature (documento, nombre, estado)."""
    batch = Batch.of_product(product, batch_id)
    if batch is None or not batch.is_waiting_signature:
        abort(404)
    search = request.args.get("q", "").strip()[:40]
    page = keyset(batches.records_of(batch, search), (BatchRecord.line,))
    record_view(_user(), product.company, f"lote:{batch.id}", page_detail(page, search))
    return render_template(
        "orders/records.html", product=product, batch=batch, page=page, q=search, names=batches.holder_names(page.items),
        back_url=url_for("authorization.index", product_id=product.id),
        trail=[("Autorizar lote", url_for("authorization.index", product_id=product.id))],
        endpoint="authorization.records", params={"product_id": product.id, "batch_id": batch.id},
    )  # fmt: skip
