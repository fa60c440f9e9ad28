"""Consulta de tarjetas > Reposición (issue 12) of a card blocked for loss or theft: one dialog
with the choice (a stock card of a branch, or a new named card through a REP batch) and the
Contraseña, then the result."""

from flask import Blueprint, abort, g, request, url_for
from flask_login import current_user

from blueprints.helpers import dialog, done, password_dialog, product_view
from services import Refused, replacement

bp = Blueprint("replacement", __name__, url_prefix="/productos/<int:product_id>/tarjetas/<int:card_id>/reposicion")

MANAGE = ("cards.manage",)
STOCK, NEW = "existencias", "nueva"


def _back(product) -> str:
    """Consulta de tarjetas, where the dialog opens from."""
    return url_for("cards.index", product_id=product.id)


@bp.route("", methods=["GET", "POST"])
@product_view(*MANAGE)
def replace(product, card_id):
    """Reposición: «Tarjeta de existencias» (Sucursal) or «Tarjeta nueva nominada», Contraseña."""
    card = replacement.card_of(product, card_id)
    if card is None:
        abort(404)
    back, title = _back(product), f"Reposición de la tarjeta {card.masked_pan}"
    trail = [("Consulta de tarjetas", back)]
    choice, branch = request.form.get("destino", STOCK)[:12], request.form.get("sucursal", "")[:3]
    problem = replacement.refusal(product, card)
    repeated = request.method == "POST" and choice == STOCK and card.replaced_by_id is not None  # a double submit
    if problem and not repeated:
        return dialog(
            "dialogs/message.html", name="replace", title=title, message=problem, cancel_url=back, trail=trail,
            product=product,
        )  # fmt: skip
    error = None
    if request.method == "POST":
        try:
            return _replace(product, card, choice, branch, back)
        except Refused as exc:
            error = exc.message
    stock = replacement.stock_by_branch(product)
    return password_dialog(
        name="replace", title=title, body="replacement/_body.html", fields="replacement/_fields.html",
        button="Reponer", action_url=request.path, cancel_url=back, error=error, trail=trail, product=product,
        card=card, balance=replacement.card_balance(product, card), stock=stock,
        choice=choice if stock else NEW, branch=branch, cost=replacement.replacement_cost(product),
    )  # fmt: skip


def _replace(product, card, choice, branch, back):
    user, password = current_user._get_current_object(), request.form.get("password", "")
    if choice == STOCK:
        result = replacement.from_stock(user, product, card, branch, password)
        return done("replacement/_done.html", result.message, back, lambda: {"back": back, "result": result})
    if choice != NEW:
        raise Refused("Elige la tarjeta que reemplaza a la bloqueada")
    batch = replacement.with_new_card(user, product, card, password)
    message = (
        f"Lote {batch.number} de reposición creado: la tarjeta nueva nominada se emitirá, con el saldo de la "
        f"tarjeta {card.masked_pan}, cuando el lote se autorice y su orden de servicio se pague."
    )
    can_authorize = bool(g.permissions.intersection(("batch.sign", "batch.authorize")))
    return done(
        "replacement/_done.html", message, back,
        lambda: {"back": back, "batch": batch, "product": product, "can_authorize": can_authorize},
    )  # fmt: skip
