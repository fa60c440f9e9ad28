"""Lotes > Carga de lotes: upload, pending list with live progress, detail, confirm, delete (manual 3.2)."""

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
from blueprints.pagination import keyset, paginate
from domain.error_report import error_workbook
from domain.layouts import batch_type_name
from models import Batch, BatchError
from services import Refused, batches, innominate
from services.audit import record_view

bp = Blueprint("batches", __name__, url_prefix="/productos/<int:product_id>/lotes")

LIST = ("batch.upload", "batch.confirm", "batch.delete")  # the pending list and its progress
VIEW = ("batch.upload", "batch.confirm")  # the records themselves: cardholders' personal data
FROM_DETAIL = "detalle"  # `origen` of an action opened from the batch's detail page


def _batch(product, batch_id, *, deleted_too=False) -> Batch:
    """The batch if it belongs to this product (already checked against the user's companies)."""
    batch = Batch.of_product(product, batch_id)
    if batch is None or (batch.status == Batch.DELETED and not deleted_too):
        abort(404)
    batch.product, batch.company = product, product.company  # rows this request already read
    return batch


def _context(product, values=None, **extra):
    """The page's context; the pending list's search and page come from `values` (the query
    string of a GET, the form fields an action sent along)."""
    values = request.args if values is None else values
    search = values.get("q", "").strip()[:40]
    state = list_state(values, names=("q",))
    return {
        "product": product,
        "kinds": batches.kinds_for(product),
        "page": paginate(batches.pending(product, search), values),
        "q": search,
        "state": state,
        "can": g.permissions,
        **extra,
    }


@bp.route("/carga", methods=["GET"])
@product_view(*LIST)
def upload(product):
    """Carga de lotes: the upload form and the Lotes pendientes table (the table alone for
    htmx: search and pages)."""
    stock = None if product.named or wants_fragment() else innominate.available_cards(product)
    return page_or_fragment("batches/upload.html", "batches/_pending.html", **_context(product, stock=stock))


@bp.route("/carga", methods=["POST"])
@product_view("batch.upload")
def upload_post(product):
    """Enviar: store the file as a batch in VALIDANDO and answer at once."""
    kind = request.form.get("kind", "")
    file = request.files.get("file")
    error = None
    batch = None
    if not kind:
        error = "Selecciona un tipo de lote"
    elif file is None or not file.filename:
        error = "Selecciona el archivo de lote"
    else:
        try:
            user = current_user._get_current_object()
            batch = batches.upload(user, product, kind, file.filename, file.stream)  # read once, in chunks
        except Refused as exc:
            error = exc.message
    return page_or_fragment(
        "batches/upload.html", "batches/_upload_result.html", refused=batch is None,
        **_context(product, error=error, uploaded=batch, kind=kind),
    )  # fmt: skip


@bp.route("/<int:batch_id>/estado")
@product_view(*LIST)
def status(product, batch_id):
    """One row of the pending table; polls itself every 2 s while the batch validates."""
    batch = Batch.of_product(product, batch_id)
    if batch is None:
        abort(404)
    if not batch.is_pending:
        return "", 200  # confirmed or deleted elsewhere: the row leaves the table
    return render_template("batches/_row.html", product=product, batch=batch, can=g.permissions)


@bp.route("/<int:batch_id>")
@product_view(*VIEW)
def detail(product, batch_id):
    """Detalle del lote: header figures and the rejected lines."""
    batch = _batch(product, batch_id)
    page = keyset(batches.errors_of(batch), (BatchError.line,))
    if page.items:  # the rejected lines carry the cardholders' data as written in the file
        record_view(current_user._get_current_object(), product.company, f"lote:{batch.id}", page_detail(page))
    return render_template("batches/detail.html", product=product, batch=batch, page=page, can=g.permissions)


@bp.route("/<int:batch_id>/errores.xlsx")
@product_view(*VIEW)
def errors_download(product, batch_id):
    """Descargar errores: the rejected rows as .xlsx with a column of messages."""
    batch = _batch(product, batch_id)
    record_view(current_user._get_current_object(), product.company, f"lote:{batch.id}", "errores.xlsx")
    content = error_workbook(
        batches.header_of(batch), batches.error_rows(batch), title=f"Errores del lote {batch.number}"
    )
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="errores-lote-{batch.number}.xlsx"'},
    )


@bp.route("/<int:batch_id>/confirmar", methods=["GET", "POST"])
@product_view("batch.confirm")
def confirm(product, batch_id):
    """Confirmación de lote: the summary and the password; moves it to signature/authorization."""
    return _password_action(
        product, batch_id, batches.confirm, allowed=lambda b: b.is_confirmable, verb="confirmar",
        name="confirm", title="Confirmación de lote", done_message="El lote Nro: {number} fue confirmado exitosamente.",
        button="Confirmar", button_class="primary",
    )  # fmt: skip


@bp.route("/<int:batch_id>/eliminar", methods=["GET", "POST"])
@product_view("batch.delete")
def delete(product, batch_id):
    """Eliminar lote, after the password."""
    return _password_action(
        product, batch_id, batches.delete, allowed=lambda b: b.is_deletable, verb="eliminar",
        name="delete", title="Eliminar lote", done_message="El lote Nro: {number} fue eliminado.",
        button="Eliminar", button_class="danger",
    )  # fmt: skip


def _password_action(product, batch_id, action, *, allowed, verb, name, title, done_message, button, button_class):
    """A batch action behind the password: GET shows the password dialog; POST runs
    `action(batch, user, password)`; a refusal shows the dialog again with the message. A batch
    whose state no longer allows it gets its state instead of the form."""
    batch = _batch(product, batch_id, deleted_too=True)
    keep = list_state(names=("q", "origen"))
    from_detail = keep.get("origen") == FROM_DETAIL
    cancel_url = (
        url_for("batches.detail", product_id=product.id, batch_id=batch.id)
        if from_detail
        else url_for("batches.upload", product_id=product.id)
    )
    trail = [("Cargar lotes", url_for("batches.upload", product_id=product.id))]
    if not allowed(batch):
        message = f"El lote {batch.number} está {batch.status_label}: ya no se puede {verb}."
        return dialog(
            "dialogs/message.html", name=name, title=title, message=message, cancel_url=cancel_url,
            trail=trail, product=product,
        )  # fmt: skip
    error = None
    if request.method == "POST":
        try:
            batch = action(batch, current_user._get_current_object(), request.form.get("password", ""))
        except Refused as exc:
            error = exc.message
        else:
            return done(
                "batches/_done.html", done_message.format(number=batch.number),
                url_for("batches.upload", product_id=product.id, **list_state(names=("q",))),
                lambda: _context(product, request.form, title=title, from_detail=from_detail),
            )  # fmt: skip
    return password_dialog(
        name=name, title=title, body=f"batches/_{name}_body.html", button=button, button_class=button_class,
        action_url=url_for(request.endpoint, product_id=product.id, batch_id=batch.id), cancel_url=cancel_url,
        error=error, keep=keep, trail=trail, product=product, batch=batch, type_name=batch_type_name(batch.kind),
    )  # fmt: skip
