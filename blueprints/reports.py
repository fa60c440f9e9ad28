"""Reportes (manual chapter 6): the catalog, and each report with its Criterios de búsqueda, its
result (10 per page, «Buscar…» inside it, totals and chart) and «Exportar Excel» / «Exportar PDF»
of the whole result (blueprints/exports.py). The criteria live in the URL: a report is a link a
colleague with `reports.view` on the product opens as it is."""

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.helpers import list_state, page_or_fragment, product_view
from blueprints.pagination import PAGE_ARGS, Page, keyset, paginate_list
from services import reports
from services.audit import record_view
from services.charts import svg
from services.statement_pdf import statement_pdf

bp = Blueprint("reports", __name__, url_prefix="/productos/<int:product_id>/reportes")

VIEW = (reports.PERMISSION,)
STATEMENT = "estado-de-cuenta-maestra"


@bp.route("/catalogo")
@product_view(*VIEW)
def index(product):
    """Catálogo de reportes: the list to choose from (a select, as the manual shows, and links)."""
    chosen = request.args.get("reporte", "")
    if chosen:
        if reports.get(chosen) is None:
            abort(404)
        return redirect(url_for(".show", product_id=product.id, slug=chosen))
    return render_template("reports/index.html", product=product, catalog=reports.catalog())


def _report(slug: str):
    report = reports.get(slug)
    if report is None:
        abort(404)
    return report


def _page(table, values):
    if table.errors:
        return Page([], 1, 10, 0)
    if table.rows is not None:  # an aggregate (a row per month, per kind): all of it on one page
        return paginate_list(table.rows, {}, per_page=max(len(table.rows), 1))
    query = table.query
    if table.narrow is not None and not table.newest_first:
        after, before = _cursor(values.get("despues")), _cursor(values.get("antes"))
        if after is not None or before is not None:
            query = table.narrow(after, before)
    return keyset(
        query, table.key, values, newest_first=table.newest_first, count_limit=table.count_limit, total=table.total
    )


def _cursor(value) -> int | None:
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


@bp.route("/<slug>")
@product_view(*VIEW)
def show(product, slug):
    """A report: its criteria (from the query string, defaults when absent) and its result; for
    htmx only the result."""
    report = _report(slug)
    values = request.args
    params = {k: str(values[k])[:60] for k in PAGE_ARGS if values.get(k) and k != "pagina"}
    table = report.build(product, params)
    page = _page(table, values)
    totals, chart = ([], None) if table.errors else table.summary()
    if report.personal_data and page.items:
        record_view(
            current_user._get_current_object(),
            product.company,
            f"reporte:{slug}",
            reports.describe_criteria(slug, params) or "sin criterios",
        )
    rows = [(table.values(item), {i: link(item) for i, link in table.links.items()}) for item in page.items]
    context = {
        "product": product,
        "report": report,
        "table": table,
        "page": page,
        "rows": rows,
        "totals": totals,
        "chart": chart,
        "chart_svg": svg(chart) if chart is not None else "",
        "args": values,
        "params": params,
        "state": list_state(values, names=PAGE_ARGS),
        "export_kind": reports.export_kind(slug),
        "years": reports.years(),
        "is_statement": slug == STATEMENT,
    }
    # Wrong criteria are shown with their message (200, as the other lists' searches).
    return page_or_fragment("reports/show.html", "reports/_result.html", **context)


@bp.route(f"/{STATEMENT}/pdf")
@product_view(*VIEW)
def statement(product):
    """Estado de cuenta maestra: the month's one-page statement, as a PDF."""
    first, errors = reports.month_from(request.args)
    if errors:
        return redirect(url_for(".show", product_id=product.id, slug=STATEMENT, mes=request.args.get("mes", "")[:7]))
    content = statement_pdf(product, reports.statement(product, first))
    name = f"estado-cuenta-maestra-{first.strftime('%Y-%m')}.pdf"
    return Response(
        content, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
