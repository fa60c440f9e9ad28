"""«Exportar Excel» / «Exportar PDF» of any list or report (services/exports.py): the whole result
of its criteria; a small one downloads at once, a large one runs in the background with its
progress and «Descargar», and stays in «Mis descargas» for 7 days (only for the user who asked)."""

from flask import Blueprint, Response, abort, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.helpers import dialog, htmx, product_view, wants_fragment
from blueprints.pagination import PAGE_ARGS
from services import Refused, exports
from services.audit import record_view

bp = Blueprint("exports", __name__, url_prefix="/productos/<int:product_id>/exportaciones")

MIMETYPES = {
    exports.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    exports.PDF: "application/pdf",
}


def _user():
    return current_user._get_current_object()


def _export(kind: str):
    """The registered export of `kind` (404), if the user holds its permission (403)."""
    export = exports.get(kind)
    if export is None:
        abort(404)
    if export.permission not in g.permissions:
        abort(403)
    return export


def _audit(product, export, params) -> None:
    """An export of cardholders' personal data is recorded: who, which list, which criteria."""
    if export.personal_data:
        detail = "; ".join(f"{k}={v}" for k, v in sorted(params.items())) or "sin criterios"
        record_view(current_user._get_current_object(), product.company, f"exportacion:{export.kind}", detail)


def _any_export():
    """A user who may export nothing on this product gets 403 before any lookup."""
    if not g.permissions & exports.permissions():
        abort(403)


def _file(content: bytes, filename: str, fmt: str = exports.XLSX) -> Response:
    return Response(
        content, mimetype=MIMETYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _refused(product, refused: Refused, back: str, fmt: str = exports.XLSX) -> Response:
    response = dialog(
        "dialogs/message.html", title="Exportar PDF" if fmt == exports.PDF else "Exportar Excel", cancel_url=back, product=product, name="exportar",
        message=refused.message,
    )  # fmt: skip
    if not wants_fragment():
        response.status_code = 422
    return response


def _back(product) -> str:
    return request.referrer or url_for("companies.product", product_id=product.id)


@bp.route("/<kind>", methods=["POST"])
@product_view()
def create(product, kind):
    """Exportar Excel / Exportar PDF with the list's criteria (hidden fields): the file, or the
    export queued."""
    _any_export()
    export = _export(kind)
    params = exports.params_from(request.form, PAGE_ARGS)
    fmt = exports.format_from(request.form)
    try:
        if wants_fragment() and exports.fits_inline(product, kind, params):
            # htmx cannot save a file: the browser fetches it by GET (audited there), and stays on the page.
            response = make_response("", 204)
            extra = {"formato": fmt} if fmt != exports.XLSX else {}
            response.headers["HX-Redirect"] = url_for(".inline", product_id=product.id, kind=kind, **params, **extra)
            return response
        _audit(product, export, params)
        result = exports.start(_user(), product, kind, params, fmt)
    except Refused as refused:
        return _refused(product, refused, _back(product), fmt)
    if isinstance(result, bytes):
        return _file(result, exports.filename(kind, fmt=fmt), fmt)
    if not wants_fragment():
        return redirect(url_for(".status", product_id=product.id, export_id=result.id), 303)
    return _dialog(product, result)


@bp.route("/<kind>")
@product_view()
def inline(product, kind):
    """The small export of the criteria in the query string (what an htmx «Exportar Excel» opens)."""
    _any_export()
    export = _export(kind)
    params = exports.params_from(request.args, PAGE_ARGS)
    fmt = exports.format_from(request.args)
    _audit(product, export, params)
    try:
        content = exports.inline(product, kind, params, fmt)
    except Refused as refused:
        return _refused(product, refused, _back(product), fmt)
    return _file(content, exports.filename(kind, fmt=fmt), fmt)


def _own(product, export_id: int):
    _any_export()
    job = exports.export_for(_user(), product, export_id)
    if job is None:
        abort(404)  # another user's export, or another product's: never say it exists
    _export(job.kind)
    return job


def _dialog(product, job) -> Response:
    return dialog(
        "exports/dialog.html", title="Exportación en proceso", cancel_url=_back(product), product=product,
        job=job, export=exports.get(job.kind), phase_of=exports.phase,
    )  # fmt: skip


@bp.route("/<int:export_id>")
@product_view()
def status(product, export_id):
    """Its progress (htmx polls this every 2 s), then «Descargar»; without JavaScript, the dialog as a page."""
    job = _own(product, export_id)
    if htmx and wants_fragment() and htmx.target == f"exportacion-{job.id}":
        return make_response(_status_html(product, job))
    return _dialog(product, job)


def _status_html(product, job) -> str:
    return render_template(
        "exports/_status.html", product=product, job=job, export=exports.get(job.kind), phase_of=exports.phase
    )


@bp.route("/<int:export_id>/descargar")
@product_view()
def download(product, export_id):
    """Descargar: the finished file (only its user's)."""
    job = _own(product, export_id)
    content = exports.content_of(job)
    if content is None:
        abort(404)
    return _file(content, job.filename or exports.filename(job.kind, job.created_at, job.format), job.format)


@bp.route("")
@product_view()
def downloads(product):
    """Mis descargas: the user's own exports of this product of the last 7 days."""
    _any_export()
    jobs = [
        job for job in exports.downloads(_user(), product)
        if exports.get(job.kind) is not None and exports.get(job.kind).permission in g.permissions
    ]  # fmt: skip
    return render_template(
        "exports/downloads.html", product=product, jobs=jobs, exports=exports, phase_of=exports.phase,
        keep_days=exports.KEEP.days,
    )  # fmt: skip
