"""Servicios > Cuenta maestra (manual chapter 5): the master account's balance and commissions,
«Recarga cuenta maestra» (confirmed with an e-mailed code), the product's cards with their
search, and Consultar saldo / Abonar a tarjeta / Cargo a tarjeta for one card or many."""

from flask import Blueprint, abort, g, request, url_for
from flask_login import current_user

from blueprints.helpers import code_dialog, dialog, done, list_state, page_or_fragment, password_dialog, product_view
from blueprints.pagination import Page, keyset
from domain.money import parse_pesos
from models import Card, MasterOperation
from services import Refused, cards, master

bp = Blueprint("master", __name__, url_prefix="/productos/<int:product_id>/cuenta-maestra")

VIEW = ("master.balance", "master.credit", "master.debit", "master.fund")
ACTIONS = {"consultar": MasterOperation.INQUIRY, "abonar": MasterOperation.CREDIT, "cargar": MasterOperation.DEBIT}
CRITERIA = ("documento", "tarjeta", "orden", "lote")
MARKED = "marcada"  # the check box of a row (not "tarjeta": that is the search criterion)


def _user():
    return current_user._get_current_object()


def _kind(action: str) -> str:
    kind = ACTIONS.get(action)
    if kind is None:
        abort(404)
    if master.PERMISSION[kind] not in g.permissions:
        abort(403)
    return kind


def _list_context(product, values=None, **extra):
    values = request.args if values is None else values
    criteria, errors = master.criteria_from(values)
    page = (
        Page([], 1, 10, 0)
        if errors
        else keyset(
            master.cards(product, criteria), (Card.id,), values, count_limit=cards.COUNT_LIMIT,
            count_query=cards.count_query(product, criteria, holders_only=True),
        )
    )  # fmt: skip
    return {
        "product": product,
        "page": page,
        "criteria_errors": errors,
        "args": values,
        "state": list_state(values, names=CRITERIA),
        "header": master.header(product),
        "can": g.permissions,
        "actions": [(a, k, master.KINDS[k]) for a, k in ACTIONS.items() if master.PERMISSION[k] in g.permissions],
        **extra,
    }


@bp.route("")
@product_view(*VIEW)
def index(product):
    """Cuenta maestra: the header, Criterios de búsqueda and the cards, 10 per page (the table
    alone for htmx: Buscar and the pages)."""
    return page_or_fragment("master/index.html", "master/_results.html", **_list_context(product))


def _list_url(product):
    return url_for("master.index", product_id=product.id, **list_state(names=CRITERIA))


def _trail(product):
    return [("Cuenta maestra", url_for("master.index", product_id=product.id))]


# ---------------------------------------------------------------- one card


@product_view(*VIEW)
def card_action(product, card_id, action):
    """Consultar saldo / Abonar a tarjeta / Cargo a tarjeta of one card: Monto (not for an
    inquiry) and Contraseña, then the result with the transaction's data."""
    kind = _kind(action)
    card = master.card_of(product, card_id)
    if card is None:
        abort(404)
    title = master.KINDS[kind]
    key = request.form.get("clave") or master.new_key()
    amount_text = request.form.get("monto", request.args.get(f"monto-{card_id}", ""))[:20]
    error = None
    if request.method == "POST":
        amount = parse_pesos(amount_text) if kind != MasterOperation.INQUIRY else 0
        if amount is None:
            error = "Escribe un monto válido, por ejemplo 50.000 o 50000,50"
        else:
            try:
                results = master.run(_user(), product, kind, [(card, amount)], key, request.form.get("password", ""))
            except Refused as exc:
                error = exc.message
            else:
                return _results(product, title, results)
    return password_dialog(
        name="card-op", title=title, body="master/_card_body.html", fields="master/_card_fields.html",
        button="Aceptar", action_url=url_for(f"master.card_{action}", product_id=product.id, card_id=card.id),
        cancel_url=_list_url(product), error=error, keep={"clave": key, **list_state(names=CRITERIA)},
        trail=_trail(product), product=product, card=card, asks_amount=kind != MasterOperation.INQUIRY,
        amount_text=amount_text,
        fee=product.inquiry_fee if kind == MasterOperation.INQUIRY else product.transfer_fee,
    )  # fmt: skip


def _results(product, title, results):
    """The result dialog (each card's outcome), the refreshed header and the cards' Saldo."""
    ok = sum(r.ok for r in results)
    message = results[0].message if len(results) == 1 else f"{ok} de {len(results)} operaciones exitosas"
    return done(
        "master/_results_dialog.html", message, _list_url(product),
        lambda: {"product": product, "title": title, "results": results, "header": master.header(product)},
    )  # fmt: skip


# ---------------------------------------------------------------- many cards


def _selected(product):
    """The marked cards with their Monto (each row's, or the one for all), in the table's order."""
    ids = []
    for value in request.form.getlist(MARKED)[: master.MAX_BULK + 1]:
        if value.isascii() and value.isdigit() and len(value) <= 12:
            ids.append(int(value))
    found = {c.id: c for c in Card.select().where((Card.product == product) & Card.id.in_(ids or [-1]))}
    if len(found) != len(set(ids)):
        abort(404)
    common = request.form.get("monto_todas", "").strip()[:20]
    items = []
    for card_id in dict.fromkeys(ids):
        text = common or request.form.get(f"monto-{card_id}", "").strip()[:20]
        items.append((found[card_id], parse_pesos(text) if text else None))
    return items


@product_view(*VIEW)
def bulk(product, action):
    """«Consultar saldo», «Abonar» or «Cargar» under the table for the marked cards: first the
    summary (cards, total, commissions) with Contraseña, then the result of each card."""
    kind = _kind(action)
    items = _selected(product)
    title = master.KINDS[kind]
    key = request.form.get("clave") or master.new_key()
    error = None
    if not items:
        error = "Selecciona al menos una tarjeta"
    elif kind != MasterOperation.INQUIRY and any(amount is None for _card, amount in items):
        error = "Escribe un monto válido para cada tarjeta marcada (o uno para todas)"
    elif "password" in request.form:
        try:
            results = master.run(_user(), product, kind, items, key, request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return _results(product, title, results)
    if error and not items:
        return dialog(
            "dialogs/message.html", name="bulk", title=title, message=error, cancel_url=_list_url(product),
            trail=_trail(product), product=product,
        )  # fmt: skip
    keep = {"clave": key, MARKED: [str(c.id) for c, _a in items], **list_state(names=CRITERIA)}
    keep.update({f"monto-{c.id}": request.form.get(f"monto-{c.id}", "") for c, _a in items})
    keep["monto_todas"] = request.form.get("monto_todas", "")
    return password_dialog(
        name="bulk", title=title, body="master/_bulk_body.html", button="Aceptar",
        action_url=url_for(f"master.bulk_{action}", product_id=product.id), cancel_url=_list_url(product),
        error=error, keep=keep, trail=_trail(product), product=product, items=items,
        asks_amount=kind != MasterOperation.INQUIRY,
        totals=master.totals(product, kind, [(c, a or 0) for c, a in items]),
    )  # fmt: skip


def _bound(view, action):
    def bound(**kwargs):
        return view(action=action, **kwargs)

    bound.__doc__ = f"{view.__doc__} ({action})"
    return bound


# One URL and endpoint per action ("master.card_abonar", "master.bulk_abonar"…): no free
# <action> in the route table, each is a known page.
for _action in ACTIONS:
    bp.add_url_rule(
        f"/tarjetas/<int:card_id>/{_action}", f"card_{_action}", _bound(card_action, _action), methods=["GET", "POST"]
    )
    bp.add_url_rule(f"/operacion/{_action}", f"bulk_{_action}", _bound(bulk, _action), methods=["POST"])


# ---------------------------------------------------------------- Recarga cuenta maestra


def _fund_dialog(product, template, **context):
    company = product.company
    return dialog(
        template, title="Recarga cuenta maestra", cancel_url=_list_url(product), trail=_trail(product),
        product=product, available=master.bank_balance(company), keep=list_state(names=CRITERIA), **context,
    )  # fmt: skip


def _code_dialog(product, key, amount, amount_text, description, **context):
    """Recarga cuenta maestra, step 2: the code e-mailed to the user, as when paying an order."""
    return code_dialog(
        name="fund", title="Recarga cuenta maestra", body="master/_fund_code_body.html",
        action_url=url_for("master.fund_confirm", product_id=product.id),
        resend_url=url_for("master.fund", product_id=product.id), cancel_url=_list_url(product),
        keep={"clave": key, "monto": amount_text, "descripcion": description, **list_state(names=CRITERIA)},
        trail=_trail(product), product=product, amount=amount, description=description, **context,
    )  # fmt: skip


@bp.route("/recarga", methods=["GET", "POST"])
@product_view("master.fund")
def fund(product):
    """Recarga cuenta maestra: Saldo disponible, Monto, Descripción and «Transferir», which
    e-mails the code that confirms it (and «Reenviar código» another)."""
    key = request.form.get("clave") or master.new_key()
    amount_text = request.form.get("monto", "")[:20]
    description = request.form.get("descripcion", "").strip()[:80]
    if request.method == "POST":
        amount = parse_pesos(amount_text)
        try:
            if amount is None:
                raise Refused("Escribe un monto válido, por ejemplo 1.000.000 o 1000000,50")
            notice = master.send_funding_code(_user(), product, key, amount)
        except Refused as exc:
            return _fund_dialog(
                product, "master/_fund.html", key=key, amount_text=amount_text, description=description,
                error=exc.message,
            )  # fmt: skip
        return _code_dialog(product, key, amount, amount_text, description, notice=notice)
    return _fund_dialog(product, "master/_fund.html", key=key, amount_text="", description="")


@bp.route("/recarga/confirmar", methods=["POST"])
@product_view("master.fund")
def fund_confirm(product):
    """Aceptar: the code, then the bank debit and the credit of the master account."""
    key = request.form.get("clave", "")
    amount_text = request.form.get("monto", "")[:20]
    description = request.form.get("descripcion", "").strip()[:80]
    amount = parse_pesos(amount_text)
    try:
        master.fund(_user(), product, key, amount, description, request.form.get("code", ""))
    except Refused as exc:
        return _code_dialog(product, key, amount, amount_text, description, error=exc.message)
    return done(
        "master/_fund_done.html", "La transferencia fue realizada exitosamente.", _list_url(product),
        lambda: {"product": product, "header": master.header(product), "amount": amount},
    )  # fmt: skip
