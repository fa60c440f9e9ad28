"""«Exportar Excel» of any list: the whole result of its criteria (not the page), formula-safe.

A list registers once what its export is:

    from services import exports

    def card_rows(product, params):
        criteria, errors = criteria_from(params)           # the list's own criteria reader
        if errors:
            raise Refused(errors[0])                        # shown to the user in a dialog
        query = search(product, criteria)                   # the same query the page paginates
        rows = (
            (pan, name, doc, exports.local(created), balance)
            for pan, name, doc, created, balance in query.tuples().iterator()
        )
        return query, rows                                  # a query to count (or an int), the rows

    exports.register(
        "tarjetas", "Consulta de tarjetas",
        [("Número de tarjeta", 20), ("Tarjetahabiente", 30), ("Documento", 14),
         ("Fecha", 18, exports.DATETIME), ("Saldo", 16, exports.MONEY)],
        card_rows, permission="cards.view", describe=describe_criteria,
    )

- `columns`: (header, width) or (header, width, kind). Kind MONEY takes integer centavos and
  writes pesos as a number with the COP format; DATE / DATETIME write dates Excel sorts and
  filters; INTEGER a plain number; TEXT (or no kind: inferred from the value) text. Any text
  starting with = + - @, a tab or a CR is written with a leading apostrophe, as text, so a
  cardholder's name can never become a formula (OWASP "CSV injection").
- `rows(product, params)`: `params` is the list's query-string criteria as a dict of strings
  (what `blueprints.helpers.list_state` keeps, without the page); it returns the count (a query
  whose .count() is taken, or an int) and an iterator of tuples in column order. It may raise
  Refused for wrong criteria. Dates are naive UTC in the database: pass them through `local()`.
- `permission`: who may export it (403 otherwise); `describe(params)`: the criteria in Spanish
  for the title block.
- Register in the list's service module (imported by its blueprint, so by every web and job
  process, which builds the app) or at the bottom of this module.

The view (blueprints/exports.py, POST /productos/<id>/exportaciones/<kind>) calls `start`: up to
EXPORT_INLINE_ROWS rows (5,000) the .xlsx (openpyxl) is built in the request; more, an ExportJob
PENDIENTE is queued and jobs/run_exports.py builds it with XlsxWriter in constant memory,
claiming it as a lease (services/leases.py), writing `done` every PROGRESS_EVERY rows. The page
polls it and then offers «Descargar»; files are kept KEEP (then jobs/cleanup.py deletes them).
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import orjson
from flask import current_app, has_app_context

from domain.clock import BOGOTA
from models import ExportJob, Product, ServiceOrder, User, utcnow
from services import LIST_CRITERIA, Refused, leases

log = logging.getLogger(__name__)

TEXT, INTEGER, MONEY, DATE, DATETIME = "text", "integer", "money", "date", "datetime"
INLINE_ROWS = 5_000  # default of the app setting EXPORT_INLINE_ROWS
PROGRESS_EVERY = 1_000  # rows between writes of `done` (and renewals of the lease)
MAX_ATTEMPTS = 3
KEEP = timedelta(days=7)  # «Mis descargas» lists a user's files this long
XLSX, PDF = "xlsx", "pdf"
FORMATS = (XLSX, PDF)
CRITERIA_KEYS = LIST_CRITERIA
GAVE_UP = "No fue posible generar el archivo. Vuelve a exportar; si se repite, comunícate con soporte."
UNKNOWN = "Esta exportación ya no está disponible. Vuelve a exportar desde la lista."

MONEY_FORMAT = '"$" #,##0.00'  # pesos; Excel shows the reader's separators (es-CO: $ 1.234,56)
DATE_FORMAT, DATETIME_FORMAT, INTEGER_FORMAT = "dd/mm/yyyy", "dd/mm/yyyy hh:mm", "0"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    kind: str = ""  # "" = from the value


@dataclass(frozen=True)
class Export:
    kind: str
    title: str
    columns: tuple[Column, ...]
    rows: Callable
    permission: str
    describe: Callable | None = None
    filename: str = ""
    personal_data: bool = False  # cardholders' data: who exported it is audited (services.audit.record_view)
    extras: Callable | None = None  # (product, params) -> (totals [(label, text)], chart or None): the reports
    columns_of: Callable | None = None  # (product, params) -> columns, when they depend on the criteria

    def columns_for(self, product, params) -> tuple[Column, ...]:
        return tuple(self.columns_of(product, params)) if self.columns_of else self.columns

    def summary(self, product, params) -> tuple[list, object]:
        return self.extras(product, params) if self.extras else ([], None)


EXPORTS: dict[str, Export] = {}


def register(
    kind, title, columns, rows, *, permission, describe=None, filename=None, personal_data=False, extras=None,
    columns_of=None,
) -> Export:  # fmt: skip
    """Declare the export of a list (see the module docstring)."""
    columns = tuple(c if isinstance(c, Column) else Column(*c) for c in columns)
    export = Export(
        kind, title, columns, rows, permission, describe, filename or kind, personal_data, extras, columns_of
    )
    EXPORTS[kind] = export
    return export


def get(kind: str) -> Export | None:
    return EXPORTS.get(kind)


def permissions() -> frozenset:
    """Every permission that opens some export (the views refuse a user holding none: 403)."""
    return frozenset(e.permission for e in EXPORTS.values())


def params_from(values, keys=CRITERIA_KEYS) -> dict:
    """The criteria of a list from a request's values (strings, 60 characters at most); `keys`
    are the criteria the lists' pagers carry (blueprints.pagination.PAGE_ARGS), never the page."""
    return {k: str(values[k])[:60] for k in keys if k != "pagina" and values.get(k)}


def local(value: datetime | None) -> datetime | None:
    """A stored naive-UTC timestamp as naive Bogotá time (what the user reads in the page)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(BOGOTA).replace(tzinfo=None)


def filename(kind: str, at: datetime | None = None, fmt: str = XLSX) -> str:
    stamp = local(at or utcnow()).strftime("%Y%m%d-%H%M")
    return f"{EXPORTS[kind].filename}-{stamp}.{fmt}"


def format_from(values) -> str:
    """The format a request asks for («Exportar Excel» or «Exportar PDF»): xlsx by default."""
    return PDF if str(values.get("formato", "")) == PDF else XLSX


def inline_limit() -> int:
    config = current_app.config if has_app_context() else {}
    return int(config.get("EXPORT_INLINE_ROWS", INLINE_ROWS))


# ---------------------------------------------------------------- cells


def safe_text(value) -> str:
    """Text that Excel (or a CSV made from the file) will never run as a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def typed(value, kind: str):
    """(value, format) of a cell: `format` is MONEY/DATE/DATETIME/INTEGER or TEXT (written as a
    string, never a formula) or None (an empty cell)."""
    if value is None or value == "":
        return None, None
    if kind == MONEY:
        return int(value) / 100, MONEY
    if kind == TEXT:
        return safe_text(value), TEXT
    if isinstance(value, datetime):
        return value.replace(tzinfo=None), DATE if kind == DATE else DATETIME
    if isinstance(value, date):
        return value, DATE
    if isinstance(value, bool):
        return ("Sí" if value else "No"), TEXT
    if isinstance(value, (int, float, Decimal)):
        return (int(value) if isinstance(value, int) else float(value)), INTEGER if isinstance(value, int) else ""
    return safe_text(value), TEXT


def title_block(export: Export, product: Product, params: dict, at: datetime) -> list[str]:
    company = product.company
    described = export.describe(params) if export.describe else _describe(params)
    return [
        export.title,
        f"Empresa: {company.name} · NIT {company.nit}",
        f"Producto: {product.name}",
        f"Criterios: {described or 'todos los registros'}",
        f"Generado: {local(at).strftime('%d/%m/%Y %H:%M')} (hora de Colombia)",
    ]


def _describe(params: dict) -> str:
    return "; ".join(f"{k}: {v}" for k, v in params.items())


# ---------------------------------------------------------------- writers


def _openpyxl(export: Export, heading: list[str], rows: Iterable[tuple], columns, totals=()) -> bytes:
    """A small export, in the request."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = export.title[:31]
    for line, text in enumerate(heading, start=1):
        cell = sheet.cell(row=line, column=1, value=safe_text(text))
        cell.font = Font(bold=True, size=14 if line == 1 else 11)
    header_row = len(heading) + 2
    for col, column in enumerate(columns, start=1):
        sheet.cell(row=header_row, column=col, value=safe_text(column.header)).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(col)].width = column.width
    formats = {MONEY: MONEY_FORMAT, DATE: DATE_FORMAT, DATETIME: DATETIME_FORMAT, INTEGER: INTEGER_FORMAT}
    line = header_row
    for line, row in enumerate(rows, start=header_row + 1):  # noqa: B007 (the last line is used below)
        for col, (value, column) in enumerate(zip(row, columns, strict=True), start=1):
            value, kind = typed(value, column.kind)
            if kind is None:
                continue
            cell = sheet.cell(row=line, column=col, value=value)
            if kind == TEXT:
                cell.data_type = "s"  # never a formula, whatever the text
            elif kind in formats:
                cell.number_format = formats[kind]
    last = get_column_letter(len(columns))
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    sheet.auto_filter.ref = f"A{header_row}:{last}{max(line, header_row)}"
    for offset, (label, text) in enumerate(totals, start=2):  # below the table, out of the filter
        sheet.cell(row=line + offset, column=1, value=safe_text(label)).font = Font(bold=True)
        sheet.cell(row=line + offset, column=2, value=safe_text(text)).data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsxwriter(export: Export, heading: list[str], rows: Iterable[tuple], columns, totals=(), progress=None) -> bytes:
    """A long export, in the job: constant memory (each row is flushed to a temporary file as
    written), `progress(n)` called every PROGRESS_EVERY rows."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out, {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False}
    )
    sheet = book.add_worksheet(export.title[:31])
    bold = book.add_format({"bold": True})
    big = book.add_format({"bold": True, "font_size": 14})
    formats = {
        MONEY: book.add_format({"num_format": MONEY_FORMAT}),
        DATE: book.add_format({"num_format": DATE_FORMAT}),
        DATETIME: book.add_format({"num_format": DATETIME_FORMAT}),
        INTEGER: book.add_format({"num_format": INTEGER_FORMAT}),
        "": None,
    }
    for col, column in enumerate(columns):
        sheet.set_column(col, col, column.width)
    for line, text in enumerate(heading):
        sheet.write_string(line, 0, safe_text(text), big if line == 0 else bold)
    header_row = len(heading) + 1
    for col, column in enumerate(columns):
        sheet.write_string(header_row, col, safe_text(column.header), bold)
    try:
        sheet.freeze_panes(header_row + 1, 0)
        line = header_row
        for count, row in enumerate(rows, start=1):
            line = header_row + count
            for col, (value, column) in enumerate(zip(row, columns, strict=True)):
                value, kind = typed(value, column.kind)
                if kind is None:
                    continue
                if kind == TEXT:
                    sheet.write_string(line, col, value)
                elif kind in (DATE, DATETIME):
                    sheet.write_datetime(line, col, value, formats[kind])
                else:
                    sheet.write_number(line, col, value, formats[kind])
            if progress and count % PROGRESS_EVERY == 0:
                progress(count)
        sheet.autofilter(header_row, 0, line, len(columns) - 1)
        for offset, (label, text) in enumerate(totals, start=2):
            sheet.write_string(line + offset, 0, safe_text(label), bold)
            sheet.write_string(line + offset, 1, safe_text(text))
    except BaseException:
        _discard(sheet)  # a failed build leaves no temporary file behind
        raise
    book.close()
    return out.getvalue()


def _discard(sheet) -> None:
    """Close and delete the temporary row file of a constant-memory worksheet never assembled."""
    handle, name = getattr(sheet, "row_data_fh", None), getattr(sheet, "row_data_filename", None)
    if handle is not None and not handle.closed:
        handle.close()
    if name and os.path.exists(name):
        os.unlink(name)


def _count(counted) -> int:
    return counted if isinstance(counted, int) else counted.count()


def build(
    export: Export, product: Product, params: dict, *, streaming=False, progress=None, fmt: str = XLSX
) -> tuple[bytes, int]:
    """The file of the whole result and its row count: .xlsx (openpyxl, or XlsxWriter when
    streaming) or .pdf (reportlab, services/report_pdf.py, with the report's totals and chart)."""
    counted, rows = export.rows(product, params)
    heading = title_block(export, product, params, utcnow())
    columns = export.columns_for(product, params)
    totals, chart = export.summary(product, params)
    seen = [0]

    def counting():
        for seen[0], row in enumerate(rows, start=1):  # noqa: B007
            yield row

    if fmt == PDF:
        from services.report_pdf import build_pdf

        return build_pdf(heading, columns, counting(), totals=totals, chart=chart, progress=progress), seen[0]
    if streaming:
        return _xlsxwriter(export, heading, counting(), columns, totals, progress), seen[0]
    return _openpyxl(export, heading, counting(), columns, totals), seen[0]


# ---------------------------------------------------------------- start (the view)


def start(user: User, product: Product, kind: str, params: dict, fmt: str = XLSX) -> ExportJob | bytes:
    """«Exportar Excel»: up to EXPORT_INLINE_ROWS rows, the .xlsx bytes now; more, a queued
    ExportJob (the same user's identical export already queued or running is returned again: a
    double click queues one). Raises Refused for wrong criteria, KeyError for an unknown kind."""
    export = EXPORTS[kind]
    counted, _rows = export.rows(product, params)
    total = _count(counted)
    if total <= inline_limit():
        return build(export, product, params, fmt=fmt)[0]
    encoded = orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode()
    queued = (
        ExportJob.select()
        .where(
            (ExportJob.user == user.id)
            & (ExportJob.product == product.id)
            & (ExportJob.kind == kind)
            & (ExportJob.params == encoded)
            & (ExportJob.format == fmt)
            & ExportJob.status.in_((ExportJob.PENDING, ExportJob.RUNNING))
        )  # fmt: skip
        .first()
    )
    if queued is not None:
        return queued
    return ExportJob.create(
        user=user.id, company=product.company_id, product=product.id, kind=kind, params=encoded, total=total,
        filename=filename(kind, fmt=fmt), format=fmt,
    )  # fmt: skip


def fits_inline(product: Product, kind: str, params: dict) -> bool:
    counted, _rows = EXPORTS[kind].rows(product, params)
    return _count(counted) <= inline_limit()


def inline(product: Product, kind: str, params: dict, fmt: str = XLSX) -> bytes:
    """The small export by GET (what an htmx «Exportar Excel» downloads): refused over the limit."""
    export = EXPORTS[kind]
    counted, _rows = export.rows(product, params)
    if _count(counted) > inline_limit():
        raise Refused(f"El resultado tiene más de {inline_limit():,} registros: vuelve a exportar.".replace(",", "."))
    return build(export, product, params, fmt=fmt)[0]


PHASES = {ExportJob.PENDING: "queued", ExportJob.RUNNING: "running", ExportJob.READY: "ready"}


def phase(job: ExportJob) -> str:
    """What the page shows of an export: queued, running, ready or failed."""
    return PHASES.get(job.status, "failed")


def export_for(user: User, product: Product, export_id: int) -> ExportJob | None:
    """The user's own export of this product (another user's or another product's: None)."""
    return ExportJob.get_or_none(
        (ExportJob.id == export_id) & (ExportJob.product == product.id) & (ExportJob.user == user.id)
    )


def downloads(user: User, product: Product, keep: timedelta = KEEP) -> list[ExportJob]:
    """«Mis descargas»: the user's exports of this product of the last `keep`, newest first
    (without their files)."""
    fields = [f for f in ExportJob._meta.sorted_fields if f.name != "content"]
    return list(
        ExportJob.select(*fields)
        .where((ExportJob.user == user.id) & (ExportJob.product == product.id) & (ExportJob.created_at >= utcnow() - keep))
        .order_by(ExportJob.id.desc())
        .limit(50)
    )  # fmt: skip


def content_of(job: ExportJob) -> bytes | None:
    if job.status != ExportJob.READY:
        return None
    found = ExportJob.select(ExportJob.content).where(ExportJob.id == job.id).tuples().first()
    return bytes(found[0]) if found and found[0] is not None else None


# ---------------------------------------------------------------- the job


class LostLease(Exception):
    """The export was taken over by another process (or deleted) while this one wrote it."""


def _released_dead() -> int:
    """Give back at once the exports held by dead job processes of this host (their lease
    would otherwise wait out LEASE)."""
    return leases.release_dead(ExportJob, ExportJob.status == ExportJob.RUNNING)


def claim_next() -> tuple[ExportJob, str] | None:
    """Claim one queued export, or one whose lease expired (its holder died or hung)."""
    stale = leases.expired_before()
    free = ExportJob.status.in_((ExportJob.PENDING, ExportJob.RUNNING)) & (
        ExportJob.claimed_at.is_null() | (ExportJob.claimed_at < stale)
    )
    token = str(uuid.uuid4())
    updates = {"status": ExportJob.RUNNING, "claim_token": token, "attempts": ExportJob.attempts + 1, "done": 0}
    claimed = leases.claim_one(ExportJob, free, updates)
    return None if claimed is None else (ExportJob.get_by_id(claimed), token)


def _mine(job: ExportJob, token: str):
    return (ExportJob.id == job.id) & (ExportJob.claim_token == token) & (ExportJob.status == ExportJob.RUNNING)


def _fail(job: ExportJob, token: str, message: str) -> bool:
    return bool(
        ExportJob.update(status=ExportJob.FAILED, error=message, finished_at=utcnow(), claim_token=None)
        .where(_mine(job, token))
        .execute()
    )


def _release(job: ExportJob, token: str) -> None:
    """A failed attempt: queued again at once for the next run (attempts keep count)."""
    ExportJob.update(status=ExportJob.PENDING, claim_token=None, claimed_at=None, done=0).where(
        _mine(job, token)
    ).execute()


def run_one(job: ExportJob, token: str) -> bool:
    """Build a claimed export; True when it is stored LISTO."""
    export = EXPORTS.get(job.kind)
    if export is None or job.product is None:
        return _fail(job, token, UNKNOWN)

    def progress(done: int) -> None:
        if not ExportJob.update(done=done, claimed_at=utcnow()).where(_mine(job, token)).execute():
            raise LostLease(job.id)

    params = orjson.loads(job.params or "{}")
    try:
        content, total = build(export, job.product, params, streaming=True, progress=progress, fmt=job.format)
    except Refused as refused:  # criteria that were valid when queued (e.g. a date range) no longer are
        return _fail(job, token, refused.message)
    finished = (
        ExportJob.update(
            status=ExportJob.READY,
            content=content,
            total=total,
            done=total,
            finished_at=utcnow(),
            claim_token=None,
            claimed_at=None,
            error="",
        )  # fmt: skip
        .where(_mine(job, token))
        .execute()
    )
    return bool(finished)


def run_waiting(limit: int = 5) -> int:
    """Job body: build queued exports one after another; returns how many were stored LISTO."""
    _released_dead()
    finished = 0
    for _ in range(limit):
        claim = claim_next()
        if claim is None:
            break
        job, token = claim
        if job.attempts > MAX_ATTEMPTS:
            _fail(job, token, GAVE_UP)
            continue
        try:
            with leases.held(ExportJob, job.id, token):
                finished += run_one(job, token)
        except LostLease:
            log.warning("export %s was taken over by another process", job.id)
        except Exception:
            log.exception("export %s failed (attempt %s)", job.id, job.attempts)
            if job.attempts >= MAX_ATTEMPTS:
                _fail(job, token, GAVE_UP)
            else:
                _release(job, token)
    return finished


def purge_expired(keep: timedelta = KEEP) -> int:
    """Delete the exports older than `keep` (their files too); returns how many."""
    return ExportJob.delete().where(ExportJob.created_at < utcnow() - keep).execute()


# ---------------------------------------------------------------- the lists

ORDER_COLUMNS = [
    ("Nro. de orden", 14, INTEGER),
    ("Fecha", 18, DATETIME),
    ("Monto comisión", 18, MONEY),
    ("Monto GMF", 16, MONEY),
    ("Monto IVA", 16, MONEY),
    ("Monto OS", 18, MONEY),
    ("Monto depositado", 18, MONEY),
    ("Estado", 16, TEXT),
]


def _order_rows(product: Product, params: dict):
    """Órdenes de servicio: every order of the criteria, as the table shows them."""
    from services import orders

    criteria, errors = orders.criteria_from(params)
    if errors:
        raise Refused(errors[0])
    query = orders.search(product, criteria, params.get("q", ""))
    fields = (
        ServiceOrder.id, ServiceOrder.created_at, ServiceOrder.commission, ServiceOrder.gmf, ServiceOrder.iva,
        ServiceOrder.os_total, ServiceOrder.deposited, ServiceOrder.status,
    )  # fmt: skip
    labels = ServiceOrder.STATUS_LABELS
    rows = (
        (number, local(created), commission - gmf, gmf, iva, os_total, deposited, labels.get(status, status))
        for number, created, commission, gmf, iva, os_total, deposited, status in (
            query.select(*fields).tuples().iterator()
        )
    )
    return query, rows


def _describe_orders(params: dict) -> str:
    parts = []
    if params.get("periodo") in ("5", "10"):
        parts.append(f"últimos {params['periodo']} días")
    elif params.get("fecha_inicial") or params.get("fecha_final"):
        parts.append(f"del {params.get('fecha_inicial', '')} al {params.get('fecha_final', '')}")
    if params.get("estado"):
        parts.append(f"estado {ServiceOrder.STATUS_LABELS.get(params['estado'], params['estado'])}")
    if params.get("q"):
        parts.append(f"búsqueda «{params['q']}»")
    return "; ".join(parts)


register(
    "ordenes", "Órdenes de servicio", ORDER_COLUMNS, _order_rows, permission="order.view",
    describe=_describe_orders, filename="ordenes-servicio",
)  # fmt: skip
