"""Lotes > Carga de lotes: upload, pending list with live progress, detail, confirm, delete (manual 3.2)."""

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from domain.error_report import error_workbook
from domain.layouts import batch_type_name
from models import Batch
from services import batches
from web import is_htmx_fragment, paginate, product_view

bp = Blueprint("batches", __name__, url_prefix="/productos/<int:product_id>/lotes")

LIST = ("batch.upload", "batch.confirm", "batch.delete")  # the pending list and its progress
VIEW = ("batch.upload", "batch.confirm")  # the records themselves: cardholders' personal data


@bp.before_request
@login_required
def _require_login():
    """Every batch page needs a session."""


def _batch(product, batch_id) -> Batch:
    """The batch if it belongs to this product (already checked against the user's companies)."""
    batch = Batch.get_or_none((Batch.id == batch_id) & (Batch.product == product))
    if batch is None or batch.status == Batch.DELETED:
        abort(404)
    return batch


def _context(product, **extra):
    search = request.args.get("q", "").strip()[:40]
    return {
        "product": product,
        "kinds": batches.kinds_for(product),
        "page": paginate(batches.pending(product, search)),
        "q": search,
        "can": g.permissions,
        **extra,
    }


@bp.route("/carga", methods=["GET"])
@product_view(*LIST)
def upload(product):
    """Carga de lotes: the upload form and the Lotes pendientes table."""
    return render_template("batches/upload.html", **_context(product))


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
            batch = batches.upload(current_user._get_current_object(), product, kind, file.filename, file.read())
        except batches.BatchRefused as exc:
            error = exc.message
    template = "batches/_upload_result.html" if is_htmx_fragment() else "batches/upload.html"
    status = 200 if batch or is_htmx_fragment() else 422
    return render_template(template, **_context(product, error=error, uploaded=batch, kind=kind)), status


@bp.route("/pendientes")
@product_view(*LIST)
def pending(product):
    """The Lotes pendientes table alone (search, pagination)."""
    return render_template("batches/_pending.html", **_context(product))


@bp.route("/<int:batch_id>/estado")
@product_view(*LIST)
def status(product, batch_id):
    """One row of the pending table; polls itself every 2 s while the batch validates."""
    batch = Batch.get_or_none((Batch.id == batch_id) & (Batch.product == product))
    if batch is None:
        abort(404)
    if batch.status not in batches.PENDING_STATUSES:
        return "", 200  # confirmed or deleted elsewhere: the row leaves the table
    return render_template("batches/_row.html", product=product, batch=batch, can=g.permissions)


@bp.route("/<int:batch_id>")
@product_view(*VIEW)
def detail(product, batch_id):
    """Detalle del lote: header figures and the rejected lines."""
    batch = _batch(product, batch_id)
    page = paginate(batches.errors_of(batch))
    return render_template("batches/detail.html", product=product, batch=batch, page=page, can=g.permissions)


@bp.route("/<int:batch_id>/errores.xlsx")
@product_view(*VIEW)
def errors_download(product, batch_id):
    """Descargar errores: the rejected rows as .xlsx with a column of messages."""
    batch = _batch(product, batch_id)
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
        product, batch_id, batches.confirm, slug="confirm", title="Confirmación de lote",
        done="El lote Nro: {number} fue confirmado exitosamente.", button="Confirmar", button_class="primary",
    )  # fmt: skip


@bp.route("/<int:batch_id>/eliminar", methods=["GET", "POST"])
@product_view("batch.delete")
def delete(product, batch_id):
    """Eliminar lote, after the password."""
    return _password_action(
        product, batch_id, batches.delete, slug="delete", title="Eliminar lote",
        done="El lote Nro: {number} fue eliminado.", button="Eliminar", button_class="danger",
    )  # fmt: skip


def _password_action(product, batch_id, action, *, slug, title, done, button, button_class):
    """A batch action behind the password: GET shows it (modal for htmx, page otherwise);
    POST runs `action(batch, user, password)`; a refusal shows the form again with the message."""
    batch = _batch(product, batch_id)
    error = None
    if request.method == "POST":
        try:
            batch = action(batch, current_user._get_current_object(), request.form.get("password", ""))
            return _done(product, title, done.format(number=batch.number))
        except batches.BatchRefused as exc:
            error = exc.message
    template = "batches/_password_dialog.html" if is_htmx_fragment() else "batches/password_page.html"
    return render_template(
        template, product=product, batch=batch, error=error, type_name=batch_type_name(batch.kind),
        slug=slug, title=title, body=f"batches/_{slug}_body.html", button=button, button_class=button_class,
        action_url=url_for(request.endpoint, product_id=product.id, batch_id=batch.id),
    )  # fmt: skip


def _done(product, title, message):
    """Success: a modal with the message and the refreshed table (htmx), or back to the list."""
    if is_htmx_fragment():
        return render_template("batches/_done.html", title=title, message=message, **_context(product))
    flash(message, "success")
    return redirect(url_for("batches.upload", product_id=product.id))
