"""Lotes > Tarjetas innominadas: Solicitud (manual 3.4) and Afiliación (manual 3.5), with the
stock per branch, the affiliation file and the one-card «Afiliar» dialog."""

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from flask_login import current_user

from blueprints.helpers import (
    dialog,
    done,
    list_state,
    page_detail,
    page_or_fragment,
    password_dialog,
    product_view,
    wants_fragment,
)
from blueprints.pagination import Page, keyset, paginate
from domain.innominate import LABELS, line_error, normalize_line
from models import Card
from services import Refused, innominate
from services.audit import record_view

bp = Blueprint("innominate", __name__, url_prefix="/productos/<int:product_id>/innominadas")

REQUEST = ("innominate.request",)
AFFILIATE = ("innominate.affiliate",)
CRITERIA = ("buscar", "lote", "fecha_inicial", "fecha_final")


def _user():
    return current_user._get_current_object()


def _unnamed(product):
    if product.named:
        abort(404)  # a named product has no stock cards
    return product


# ---------------------------------------------------------------- Solicitud


def _request_context(product, **extra):
    return {
        "product": product,
        "branches": innominate.branches_of(product),
        "expires": innominate.expiry_of(product),
        "maximum": product.max_innominate,
        "values": {},
        "errors": {},
        "can": g.permissions,
        **extra,
    }


@bp.route("/solicitud", methods=["GET"])
@product_view(*REQUEST)
def request_form(product):
    """Solicitud de tarjetas innominadas: Fecha de vencimiento, Cantidad, the two embossing
    lines, Sucursal, Contraseña and «Procesar»."""
    _unnamed(product)
    return render_template("innominate/request.html", **_request_context(product))


@bp.route("/solicitud", methods=["POST"])
@product_view(*REQUEST)
def request_post(product):
    """Procesar: the INN batch goes straight to Autorización; the form comes back with its errors."""
    _unnamed(product)
    values = {k: request.form.get(k, "")[:60] for k in ("quantity", "line1", "line2", "branch")}
    error, errors = None, {}
    try:
        batch = innominate.request_cards(_user(), product, values, request.form.get("password", ""))
    except innominate.RequestInvalid as exc:
        errors = exc.errors
    except Refused as exc:
        error = exc.message
    else:
        return done(
            "innominate/_request_done.html", "El lote fue procesado de forma exitosa.",
            url_for("authorization.index", product_id=product.id), lambda: _request_context(product, batch=batch),
        )  # fmt: skip
    return page_or_fragment(
        "innominate/request.html", "innominate/_request_form.html", refused=True,
        **_request_context(product, values=values, errors=errors, error=error),
    )  # fmt: skip


@bp.route("/solicitud/embozo")
@product_view(*REQUEST)
def emboss_preview(product):
    """The line as it will be embossed (upper case, spaces collapsed), or what is wrong with it."""
    field = "line2" if "line2" in request.args else "line1"
    text = normalize_line(request.args.get(field, "")[:60])
    problem = line_error(LABELS[field], text) if text else None
    return render_template("innominate/_emboss_preview.html", field=field, text=text, problem=problem)


# ---------------------------------------------------------------- Afiliación


def _list_context(product, values=None):
    values = request.args if values is None else values
    criteria, errors = innominate.criteria_from(values)
    page = Page([], 1, 10, 0) if errors else paginate(innominate.processed_requests(product, criteria), values)
    return {
        "product": product,
        "page": page,
        "counts": innominate.card_counts([b.id for b in page.items]),
        "criteria_errors": errors,
        "args": values,
        "mode": values.get("buscar", "todos") or "todos",
        "state": list_state(values, names=CRITERIA),
        "can": g.permissions,
    }


@bp.route("/afiliacion")
@product_view(*AFFILIATE)
def affiliation(product):
    """Afiliación: the stock per branch, then Lotes procesados with its search, 10 per page (the
    results alone for htmx)."""
    _unnamed(product)
    context = _list_context(product)
    if not wants_fragment():
        context["stock"] = innominate.stock_by_branch(product)
    return page_or_fragment("innominate/affiliation.html", "innominate/_requests.html", **context)


def _request(product, batch_id):
    batch = innominate.request_of(product, batch_id)
    if batch is None:
        abort(404)
    batch.product, batch.company = product, product.company
    return batch


@bp.route("/afiliacion/<int:request_id>")
@product_view(*AFFILIATE)
def detail(product, request_id):
    """Detalles of a request: its header and Registros del lote (each card, its holder), 10 per page."""
    _unnamed(product)
    batch = _request(product, request_id)
    search = request.args.get("q", "").strip()[:40]
    page = keyset(innominate.cards_of(batch, search), (Card.id,))
    counts = innominate.card_counts([batch.id])[batch.id]
    if any(card.person_id for card in page.items):
        record_view(_user(), product.company, f"lote:{batch.id}", page_detail(page, search))
    context = {"product": product, "batch": batch, "page": page, "q": search, "counts": counts, "can": g.permissions}
    return page_or_fragment("innominate/detail.html", "innominate/_cards.html", **context)


@bp.route("/afiliacion/<int:request_id>/archivo.xlsx")
@product_view(*AFFILIATE)
def affiliation_file(product, request_id):
    """ARCHIVO DE AFILIACIÓN DE TARJETAHABIENTES: the request's unaffiliated cards, to fill in."""
    _unnamed(product)
    batch = _request(product, request_id)
    return Response(
        innominate.affiliation_file(batch),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="afiliacion-lote-{batch.number}.xlsx"'},
    )


@bp.route("/tarjetas/<int:card_id>/afiliar", methods=["GET", "POST"])
@product_view(*AFFILIATE)
def affiliate(product, card_id):
    """«Afiliar» one card: the person's fields and the password create a one-record AFI batch."""
    _unnamed(product)
    card = innominate.stock_card(product, card_id)
    if card is None:
        abort(404)
    batch_id = request.values.get("lote", "")
    back = (
        url_for("innominate.detail", product_id=product.id, request_id=int(batch_id))
        if batch_id.isascii() and batch_id.isdigit() and len(batch_id) <= 12
        else url_for("innominate.affiliation", product_id=product.id)
    )
    trail = [("Afiliación", url_for("innominate.affiliation", product_id=product.id))]
    title = f"Afiliar la tarjeta {card.masked_pan}"
    if card.person_id is not None:
        return dialog(
            "dialogs/message.html", name="affiliate", title=title, message="La tarjeta ya está afiliada.",
            cancel_url=back, trail=trail, product=product,
        )  # fmt: skip
    values = {c.name: request.form.get(c.name, "")[:120] for c in innominate.PERSON_COLUMNS}
    if request.method == "GET":
        values["SUCURSAL"] = card.branch.code if card.branch else ""
    error = None
    if request.method == "POST":
        try:
            result = innominate.affiliate_one(
                _user(), product, g.permissions, card, values, request.form.get("password", "")
            )
        except Refused as exc:
            error = exc.message
        else:
            return done(
                "innominate/_affiliate_done.html", _affiliated_message(card, result), back,
                lambda: {"product": product, "result": result, "back": back},
            )  # fmt: skip
    return password_dialog(
        name="affiliate", title=title, body="innominate/_affiliate_body.html",
        fields="innominate/_affiliate_fields.html", button="Afiliar", action_url=request.path, cancel_url=back,
        error=error, keep={"lote": batch_id} if batch_id else {}, trail=trail, product=product, card=card,
        columns=innominate.PERSON_COLUMNS, labels=innominate.FIELD_LABELS, values=values,
    )  # fmt: skip


def _affiliated_message(card, result) -> str:
    number = result.batch.number
    if result.processing:
        return f"Lote {number} autorizado: la tarjeta {card.masked_pan} quedará afiliada en unos segundos."
    if result.order is not None:
        return (
            f"Lote {number} autorizado en la orden de servicio {result.order.id}: "
            "la tarjeta se afiliará cuando la orden se pague."
        )
    return f"Lote {number} creado: la afiliación espera su autorización en Lotes > Autorización."
