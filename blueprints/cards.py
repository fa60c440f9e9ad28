"""Consultas > Consulta de tarjetas: search every card of the product, its history, and the
actions on one card or on the marked ones (Bloquear, Desbloquear, the plastic's delivery,
Actualizar datos, Cancelar), each confirmed with the password."""

from flask import Blueprint, abort, g, render_template, request, url_for
from flask_login import current_user

from blueprints.helpers import dialog, done, list_state, page_or_fragment, password_dialog, product_view
from blueprints.pagination import Page, keyset
from models import Card
from services import Refused, cards
from services.audit import record_view

bp = Blueprint("cards", __name__, url_prefix="/productos/<int:product_id>/tarjetas")

VIEW = ("cards.view", "cards.manage")
MANAGE = ("cards.manage",)
CRITERIA = ("documento", "tarjeta", "orden", "lote", "origen")
MARKED = "marcada"
FROM_DETAIL = "detalle"  # `origen` of an action opened from the card's page
# The actions offered for the marked rows and for each card: url name -> (label, kind).
ACTIONS = {
    **{name: (text, "state") for name, (_move, text, _done) in cards.STATE_ACTIONS.items()},
    **{name: (text, "plastic") for name, (_move, text, _done) in cards.PLASTIC_ACTIONS.items()},
}


def _user():
    return current_user._get_current_object()


def _list_context(product, values=None):
    values = request.args if values is None else values
    criteria, errors = cards.criteria_from(values)
    page = (
        Page([], 1, 10, 0)
        if errors
        else keyset(
            cards.search(product, criteria),
            (Card.id,),
            values,
            newest_first=True,
            count_limit=cards.COUNT_LIMIT,
            count_query=cards.count_query(product, criteria),
        )  # fmt: skip
    )
    return {
        "product": product,
        "page": page,
        "dates": cards.balance_dates(page.items),
        "criteria_errors": errors,
        "args": values,
        "state": list_state(values, names=CRITERIA),
        "can": g.permissions,
        "actions": ACTIONS,
    }


@bp.route("")
@product_view(*VIEW)
def index(product):
    """Consulta de tarjetas: Criterios de búsqueda and the cards, newest first, 10 per page
    (the table alone for htmx)."""
    context = _list_context(product)
    if any(card.person_id for card in context["page"].items):
        record_view(_user(), product.company, f"tarjetas:{product.id}", "consulta de tarjetas")
    return page_or_fragment("cards/index.html", "cards/_results.html", **context)


def _card(product, card_id) -> Card:
    card = cards.card_of(product, card_id)
    if card is None:
        abort(404)
    return card


@bp.route("/<int:card_id>")
@product_view(*VIEW)
def detail(product, card_id):
    """The card: its data, its holder and its history."""
    card = _card(product, card_id)
    if card.person_id:
        record_view(_user(), product.company, f"tarjeta:{card.id}", "detalle de tarjeta")
    return render_template(
        "cards/detail.html", product=product, card=card, history=cards.history(card),
        date=cards.balance_dates([card]).get(card.id), can=g.permissions, actions=ACTIONS,
        replaceable=cards.REPLACEABLE,
    )  # fmt: skip


def _list_url(product):
    return url_for("cards.index", product_id=product.id, **list_state(names=CRITERIA))


def _trail(product):
    return [("Consulta de tarjetas", url_for("cards.index", product_id=product.id))]


def _results(product, title, results):
    """The result dialog: from the list, with the refreshed table; from a card's page (origen
    "detalle"), with Aceptar reloading that page."""
    ok = sum(r.ok for r in results)
    message = results[0].message if len(results) == 1 else f"{ok} de {len(results)} tarjetas"
    if request.values.get("origen") == FROM_DETAIL:
        back = url_for("cards.detail", product_id=product.id, card_id=results[0].card.id)
        return done("cards/_done.html", message, back, lambda: {"title": title, "results": results, "back": back})
    return done(
        "cards/_done.html", message, _list_url(product),
        lambda: {**_list_context(product, request.form), "title": title, "results": results},
    )  # fmt: skip


def _act(product, ids, action, password):
    label, kind = ACTIONS[action]
    if kind == "state":
        return cards.change_state(_user(), product, ids, action, password)
    return cards.advance_plastic(_user(), product, ids, action, password)


def card_action(product, card_id, action):
    """Bloquear / Desbloquear / a step of the plastic for one card: Contraseña, then the result."""
    card = _card(product, card_id)
    label, _kind = ACTIONS[action]
    error = None
    if request.method == "POST":
        try:
            results = _act(product, [card.id], action, request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return _results(product, label, results)
    return password_dialog(
        name="card-action", title=label, body="cards/_card_body.html", button="Aceptar",
        button_class="danger" if action in ("extravio", "robo") else "primary",
        action_url=url_for(f"cards.card_{action}", product_id=product.id, card_id=card.id),
        cancel_url=_list_url(product), error=error, keep=list_state(names=CRITERIA), trail=_trail(product),
        product=product, card=card, action=action,
    )  # fmt: skip


def bulk(product, action):
    """The same for the marked rows: one password, one result per card."""
    label, _kind = ACTIONS[action]
    ids = [
        int(v)
        for v in request.form.getlist(MARKED)[: cards.MAX_BULK + 1]
        if v.isascii() and v.isdigit() and len(v) <= 12
    ]
    error = None
    if not ids:
        return dialog(
            "dialogs/message.html", name="bulk", title=label, message="Selecciona al menos una tarjeta",
            cancel_url=_list_url(product), trail=_trail(product), product=product,
        )  # fmt: skip
    if "password" in request.form:
        try:
            results = _act(product, ids, action, request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return _results(product, label, results)
    marked = list(Card.select().where((Card.product == product) & Card.id.in_(ids)).order_by(Card.id))
    return password_dialog(
        name="bulk", title=label, body="cards/_bulk_body.html", button="Aceptar",
        action_url=url_for(f"cards.bulk_{action}", product_id=product.id), cancel_url=_list_url(product),
        error=error, keep={MARKED: [str(i) for i in ids], **list_state(names=CRITERIA)}, trail=_trail(product),
        product=product, marked=marked,
    )  # fmt: skip


def _bound(view, action):
    def bound(product, **kwargs):
        return view(product, action=action, **kwargs)

    bound.__doc__ = f"{view.__doc__} ({action})"
    return bound


# One URL and endpoint per action ("cards.card_temporal", "cards.bulk_enviar"…).
for _action in ACTIONS:
    bp.add_url_rule(
        f"/<int:card_id>/{_action}", f"card_{_action}", product_view(*MANAGE)(_bound(card_action, _action)),
        methods=["GET", "POST"],
    )  # fmt: skip
    bp.add_url_rule(
        f"/operacion/{_action}", f"bulk_{_action}", product_view(*MANAGE)(_bound(bulk, _action)), methods=["POST"]
    )


@bp.route("/<int:card_id>/cancelar", methods=["GET", "POST"])
@product_view(*MANAGE)
def cancel(product, card_id):
    """Cancelar tarjeta: permanent; its balance goes back to the master account first."""
    card = _card(product, card_id)
    error = None
    if request.method == "POST":
        try:
            result = cards.cancel(_user(), product, card, request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return _results(product, "Cancelar tarjeta", [result])
    return password_dialog(
        name="cancel", title="Cancelar tarjeta", body="cards/_cancel_body.html", button="Cancelar tarjeta",
        button_class="danger", action_url=url_for("cards.cancel", product_id=product.id, card_id=card.id),
        cancel_url=_list_url(product), error=error, keep=list_state(names=CRITERIA), trail=_trail(product),
        product=product, card=card,
    )  # fmt: skip


@bp.route("/<int:card_id>/datos", methods=["GET", "POST"])
@product_view(*MANAGE)
def contact(product, card_id):
    """Actualizar datos: the holder's e-mail and mobile."""
    card = _card(product, card_id)
    email = request.form.get("correo", card.person.email if card.person_id else "")[:200]
    mobile = request.form.get("movil", card.person.mobile if card.person_id else "")[:20]
    error = None
    if request.method == "POST":
        try:
            result = cards.update_contact(_user(), product, card, email, mobile, request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return _results(product, "Actualizar datos", [result])
    return password_dialog(
        name="contact", title="Actualizar datos", body="cards/_card_body.html", fields="cards/_contact_fields.html",
        button="Guardar", action_url=url_for("cards.contact", product_id=product.id, card_id=card.id),
        cancel_url=_list_url(product), error=error, keep=list_state(names=CRITERIA), trail=_trail(product),
        product=product, card=card, email=email, mobile=mobile,
    )  # fmt: skip
