"""Reportes (SPEC §10, issue 13): the catalog, each report's criteria and its result.

A report reads its criteria from the query string (so a report is a URL that can be bookmarked
and shared) and answers a `Table`: its columns (services.exports.Column, the same for the page,
the Excel and the PDF), either a query paginated by keyset (the long lists: ledger lines,
cards, batches, audit events) or rows computed in memory (the monthly aggregates, a dozen
rows), and lazily its totals and chart. Every report is of the selected product and needs
`reports.view` on it; every query is filtered by that product (or by its company, for the
users), so another company's data never appears.

Each report is also an export (services/exports.py, kind "reporte-<slug>"), so «Exportar
Excel» and «Exportar PDF» give the whole result, in the request when it is small and in the
export job otherwise.

Timestamps are stored in naive UTC; the reports group by the Bogotá day and month
(UTC−5 all year: Colombia has no daylight saving time).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from peewee import JOIN, SQL, Case, fn

import ledger
from bulk import is_sqlite
from domain.card_states import label as card_label
from domain.card_states import plastic_label
from domain.clock import local_today
from domain.layouts import BATCH_TYPE_NAMES
from domain.money import format_cop
from models import (
    AuditEvent,
    Batch,
    BatchRecord,
    Card,
    LedgerAccount,
    LedgerOperation,
    LedgerPosting,
    Person,
    Product,
    User,
    UserCompany,
    utcnow,
)
from services import Refused, exports
from services.charts import BarChart, Series
from services.exports import DATETIME, INTEGER, MONEY, TEXT, Column, local
from services.orders import read_range, utc_bound

PERMISSION = "reports.view"
COUNT_LIMIT = 10_000  # a long list counts its rows this far ("más de 10.000")
EXPORT_CHUNK = 5_000  # rows read per query by an export
YEARS_BACK = 5  # «Consolidado anual»: this year and the 4 before
MONTH_NAMES = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")
MONTH_FULL = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
    "noviembre", "diciembre",
)  # fmt: skip
MONTH_SHAPE = re.compile(r"(\d{1,2})/(\d{4})")
DAY_SHAPE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
BOGOTA_OFFSET_HOURS = 5  # UTC−5, no daylight saving time


# ---------------------------------------------------------------- what a report answers


@dataclass
class Table:
    """A report's result. `query` (peewee, model rows) is paginated by keyset on `key` and
    turned into values by `to_row`; or `rows` are the values already (a short aggregate).
    `extras()` gives (totals, chart) when asked: the page and the exports ask, a page of the
    export job's count does not. `links` maps a column to the report criteria its value opens."""

    columns: tuple[Column, ...]
    errors: list[str] = field(default_factory=list)
    query: Any = None
    key: tuple = ()
    newest_first: bool = False
    to_row: Callable[[Any], tuple] | None = None
    rows: list[tuple] | None = None
    extras: Callable[[], tuple[list[tuple[str, str]], BarChart | None]] | None = None
    links: dict[int, Callable[[Any], dict]] = field(default_factory=dict)
    heading: str = ""  # what the result shows, e.g. "Tarjetas nominadas emitidas en julio de 2026"
    total: int | None = None  # the row count when known without counting (the cached aggregate)
    count_limit: int | None = None
    note: str = ""
    # (after, before) -> the query of a page reached by a cursor (the last / first key of the page
    # the user was on), when the report can seek better knowing it (Cuenta maestra).
    narrow: Callable | None = None

    def values(self, item) -> tuple:
        return self.to_row(item) if self.to_row else item

    def count(self) -> int:
        if self.rows is not None:
            return len(self.rows)
        if self.total is not None:
            return self.total
        return self.query.count()

    def all_rows(self):
        """Every row of the result, in order, lazily (the exports)."""
        if self.rows is not None:
            yield from self.rows
            return
        # In chunks by the key, each its own query: a driver that buffers a whole result
        # (psycopg2's client-side cursor) never holds more than a chunk.
        (key,) = self.key
        last = None
        while True:
            chunk = self.query
            if last is not None:
                chunk = chunk.where(key < last if self.newest_first else key > last)
            items = list(chunk.order_by(key.desc() if self.newest_first else key.asc()).limit(EXPORT_CHUNK))
            for item in items:
                yield self.to_row(item)
            if len(items) < EXPORT_CHUNK:
                return
            last = getattr(items[-1], key.name)

    def summary(self) -> tuple[list[tuple[str, str]], BarChart | None]:
        return self.extras() if self.extras else ([], None)


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    summary: str  # one line in the catalog
    build: Callable[[Product, dict], Table]
    personal_data: bool = False  # cardholders' data: viewing and exporting it is audited


REPORTS: dict[str, Report] = {}


def get(slug: str) -> Report | None:
    return REPORTS.get(slug)


def catalog() -> list[Report]:
    return list(REPORTS.values())


def export_kind(slug: str) -> str:
    return f"reporte-{slug}"


def _register(slug, title, summary, build, *, personal_data=False) -> Report:
    report = Report(slug, title, summary, build, personal_data)
    REPORTS[slug] = report

    def rows(product, params):
        table = build(product, params)
        if table.errors:
            raise Refused(table.errors[0])
        return table.count(), table.all_rows()

    exports.register(
        export_kind(slug), title, (), rows, permission=PERMISSION, describe=lambda params: describe_criteria(slug, params),
        filename=f"reporte-{slug}", personal_data=personal_data,
        extras=lambda product, params: build(product, params).summary(),
        columns_of=lambda product, params: build(product, params).columns,
    )  # fmt: skip
    return report


# ---------------------------------------------------------------- criteria


def _text(params: dict, name: str, size: int = 20) -> str:
    return str(params.get(name) or "").strip()[:size]


def read_month(text: str) -> date | None:
    """MM/AAAA → the first day of that month (2000–2099), or None."""
    match = MONTH_SHAPE.fullmatch((text or "").strip())
    if not match:
        return None
    month, year = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and 2000 <= year <= 2099):
        return None
    return date(year, month, 1)


def read_day(text: str) -> date | None:
    match = DAY_SHAPE.fullmatch((text or "").strip())
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return found if 2000 <= year <= 2099 else None


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` away from `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_label(first: date, full: bool = False) -> str:
    names = MONTH_FULL if full else MONTH_NAMES
    return f"{names[first.month - 1]} {'de ' if full else ''}{first.year}"


def period_from(params: dict) -> tuple[date | None, date | None, list[str]]:
    """Trimestre (the last 3 months up to today, the default), Semestre (the last 6) or Rango de
    fechas (Fecha inicial – Fecha final, DD/MM/AAAA, 3 months at most): (first day, last day, errors)."""
    period = _text(params, "periodo") or "trimestre"
    today = local_today()
    if period == "trimestre":
        return _months_back(today, 3), today, []
    if period == "semestre":
        return _months_back(today, 6), today, []
    if period == "rango":
        start, end, errors = read_range(params.get("fecha_inicial"), params.get("fecha_final"))
        return start, end, errors
    return None, None, ["Selecciona Trimestre, Semestre o Rango de fechas"]


def _months_back(today: date, months: int) -> date:
    first = add_months(today, -months)
    last_day = (add_months(first, 1) - timedelta(days=1)).day
    return first.replace(day=min(today.day, last_day)) + timedelta(days=1)


def _period_text(params: dict) -> str:
    period = _text(params, "periodo") or "trimestre"
    if period == "rango":
        return f"del {_text(params, 'fecha_inicial')} al {_text(params, 'fecha_final')}"
    return {"trimestre": "último trimestre", "semestre": "último semestre"}.get(period, period)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in Bogotá, as naive UTC."""
    return utc_bound(start), utc_bound(end + timedelta(days=1))


def month_of(column):
    """'AAAA-MM' of a naive-UTC timestamp column, in Bogotá time (an SQL expression)."""
    if is_sqlite():
        return fn.strftime("%Y-%m", fn.datetime(column, f"-{BOGOTA_OFFSET_HOURS} hours"))
    return fn.to_char(column - SQL(f"interval '{BOGOTA_OFFSET_HOURS} hours'"), "YYYY-MM")


def _month_key(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def _like(text: str) -> str:
    return "%" + text.replace("\\", "").replace("%", "").replace("_", "") + "%"


def describe_criteria(slug: str, params: dict) -> str:
    """The criteria in Spanish, for the exports' title block."""
    parts = []
    if slug == "cuenta-maestra":
        if _text(params, "vista") == "consolidado":
            parts.append(f"consolidado anual {_text(params, 'anio') or local_today().year}")
        else:
            parts.append({"cargo": "cargos", "abono": "abonos"}.get(_text(params, "tipo"), "cargos y abonos"))
            parts.append(_period_text(params))
    elif slug in ("estado-de-lotes", "reposiciones"):
        if slug == "estado-de-lotes" or _text(params, "periodo"):
            parts.append(_period_text(params))
    elif slug in ("tarjetas-emitidas",):
        if _text(params, "clase"):
            parts.append(f"{_text(params, 'clase')} de {_text(params, 'mes')}")
        else:
            parts.append(f"año {_text(params, 'anio') or local_today().year}")
    elif slug in ("recargas-realizadas", "estado-de-cuenta-maestra"):
        parts.append(f"mes {_text(params, 'mes') or local_today().strftime('%m/%Y')}")
    elif slug == "saldo-al-cierre":
        parts.append(f"al cierre del {_text(params, 'fecha') or _default_closing_day().strftime('%d/%m/%Y')}")
    elif slug == "actividad-por-usuario" and _text(params, "usuario"):
        parts.append(f"acciones del usuario {_text(params, 'usuario')}")
    if _text(params, "q", 60):
        parts.append(f"búsqueda «{_text(params, 'q', 60)}»")
    return "; ".join(parts)


# ---------------------------------------------------------------- Cuenta maestra

LEDGER_COLUMNS = (
    Column("Fecha", 18, DATETIME),
    Column("Descripción", 48, TEXT),
    Column("Ref.", 10, INTEGER),
    Column("Cargo", 16, MONEY),
    Column("Abono", 16, MONEY),
    Column("Saldo", 18, MONEY),
)
CONSOLIDATED_COLUMNS = (
    Column("Mes", 14, TEXT),
    Column("Cargos", 18, MONEY),
    Column("Abonos", 18, MONEY),
    Column("Saldo al cierre", 20, MONEY),
)
TIPOS = {"": "Todos", "cargo": "Cargo", "abono": "Abono"}

# The sums of a master account's lines up to a horizon a few minutes back, kept by this
# process: the ledger is append-only and every transaction that posts is shorter than
# STABLE, so lines older than the horizon never change; the lines after it are summed on
# each request (an index range). A page of a report over a million lines costs a handful of
# indexed lookups, not a scan.
STABLE = timedelta(minutes=5)
_sums: dict[tuple, Sums] = {}
_sums_lock = threading.Lock()
SUMS_KEPT = 512


@dataclass(frozen=True)
class Sums:
    """Lines, Σ cargos (≤ 0), Σ abonos and the lowest and highest posting id of a range."""

    lines: int = 0
    debits: int = 0
    credits: int = 0
    first_id: int | None = None
    last_id: int | None = None

    def __add__(self, other: Sums) -> Sums:
        ids = [i for i in (self.first_id, other.first_id) if i is not None]
        last = [i for i in (self.last_id, other.last_id) if i is not None]
        return Sums(
            self.lines + other.lines, self.debits + other.debits, self.credits + other.credits,
            min(ids) if ids else None, max(last) if last else None,
        )  # fmt: skip


def _horizon() -> datetime:
    """Lines before this moment no longer change: every posting transaction is much shorter
    than STABLE. Moves in steps of 5 minutes."""
    horizon = utcnow().replace(second=0, microsecond=0) - STABLE
    return horizon - timedelta(minutes=horizon.minute % 5)


def _line_sums(account: LedgerAccount, low: datetime, high: datetime, kind: str) -> Sums:
    """The Sums of the account's postings in [low, high) of `kind`: the part before the horizon
    kept by this process and extended as the horizon moves (never summed again), plus the recent
    lines summed now through the index (account_id, created_at)."""
    split = min(max(_horizon(), low), high)
    key = (account.id, account.created_at, low, high, kind)  # created_at: another database's account 1 is another
    with _sums_lock:
        kept = _sums.get(key)
    if kept is None or kept[0] > split:
        kept = (low, Sums())
    reached, stable = kept
    if reached < split:
        stable = stable + _sum_range(account.id, reached, split, kind)
        with _sums_lock:
            if len(_sums) >= SUMS_KEPT:
                _sums.clear()
            _sums[key] = (split, stable)
    return stable + _sum_range(account.id, split, high, kind) if split < high else stable


def forget_sums() -> None:
    """Drop the kept sums (a test that writes postings into the past after reading a report)."""
    with _sums_lock:
        _sums.clear()
        _openings.clear()


def _in_range(low: datetime, high: datetime):
    return (LedgerPosting.created_at >= low) & (LedgerPosting.created_at < high)


def _sum_range(account_id: int, low: datetime, high: datetime, kind: str) -> Sums:
    if low >= high:
        return Sums()
    query = LedgerPosting.select(
        fn.COUNT(LedgerPosting.id),
        fn.COALESCE(fn.SUM(Case(None, [(LedgerPosting.amount < 0, LedgerPosting.amount)], 0)), 0),
        fn.COALESCE(fn.SUM(Case(None, [(LedgerPosting.amount > 0, LedgerPosting.amount)], 0)), 0),
        fn.MIN(LedgerPosting.id), fn.MAX(LedgerPosting.id),
    ).where((LedgerPosting.account == account_id) & _in_range(low, high))  # fmt: skip
    query = _of_kind(query, kind)
    count, debits, credits, first, last = query.tuples().first()
    return Sums(int(count or 0), int(debits or 0), int(credits or 0), first, last)


def _lines_between(account_id: int, low: datetime, high: datetime, sums: Sums, after=None, before=None):
    """The account's postings in [low, high), for the page: bounded by the range's first and last
    posting id too, so the page is read through the index (account_id, id) in id order, with no
    sort of the whole range (SQLite would otherwise pick the date index and sort). On SQLite the
    date condition is written so that it can't choose that index (COALESCE of the column). A page
    reached by a cursor (`after` / `before`: the last / first id of the page the user was on)
    narrows the id range to it: SQLite seeks on one lower (or upper) bound only, so the range's
    own would make it walk every line before the cursor."""
    if sums.first_id is None:
        return LedgerPosting.account == -1  # nothing in the range
    first = max(sums.first_id, after + 1) if after is not None else sums.first_id
    last = min(sums.last_id, before - 1) if before is not None else sums.last_id
    bounded = (LedgerPosting.account == account_id) & LedgerPosting.id.between(first, last)
    if is_sqlite():
        when = fn.COALESCE(LedgerPosting.created_at, "")
        return bounded & (when >= low) & (when < high)
    return bounded & _in_range(low, high)


def _of_kind(query, kind: str):
    if kind == "cargo":
        return query.where(LedgerPosting.amount < 0)
    if kind == "abono":
        return query.where(LedgerPosting.amount > 0)
    return query


_openings: dict[tuple, int] = {}


def opening_balance(account: LedgerAccount, moment: datetime) -> int:
    """balance_before, kept by this process once `moment` is past the horizon (it can't change)."""
    key = (account.id, account.created_at, moment)
    with _sums_lock:
        if key in _openings:
            return _openings[key]
    found = balance_before(account.id, moment)
    if moment <= _horizon():
        with _sums_lock:
            if len(_openings) >= SUMS_KEPT:
                _openings.clear()
            _openings[key] = found
    return found


def balance_before(account_id: int, moment: datetime) -> int:
    """The account's balance just before `moment`: the last posting's balance_after, or 0."""
    found = (
        LedgerPosting.select(LedgerPosting.balance_after)
        .where((LedgerPosting.account == account_id) & (LedgerPosting.created_at < moment))
        .order_by(LedgerPosting.created_at.desc(), LedgerPosting.id.desc())
        .limit(1)
        .scalar()
    )
    return int(found or 0)


def _master(product: Product) -> LedgerAccount:
    return ledger.master_account(product)


def master_lines(product: Product, params: dict) -> Table:
    if _text(params, "vista") == "consolidado":
        return master_consolidated(product, params)
    kind = _text(params, "tipo")
    errors = [] if kind in TIPOS else ["Selecciona Cargo, Abono o Todos"]
    start, end, period_errors = period_from(params)
    errors += period_errors
    if errors:
        return Table(LEDGER_COLUMNS, errors)
    account = _master(product)
    low, high = _bounds(start, end)
    sums = _line_sums(account, low, high, kind)  # once per request: the page, its count and its totals
    text = _text(params, "q", 60)

    def lines(after=None, before=None):
        query = LedgerPosting.select(LedgerPosting, LedgerOperation).join(LedgerOperation)
        query = _of_kind(query.where(_lines_between(account.id, low, high, sums, after, before)), kind)
        if text.isascii() and text.isdigit() and len(text) <= 12:
            return query.where((LedgerOperation.id == int(text)) | LedgerOperation.description.contains(text))
        if text:
            return query.where(fn.LOWER(LedgerOperation.description).contains(text.lower()))
        return query

    query = lines()
    total = None if text else sums.lines

    def to_row(posting):
        amount = posting.amount
        return (
            local(posting.created_at), posting.operation.description, posting.operation.id,
            amount if amount < 0 else None, amount if amount > 0 else None, posting.balance_after,
        )  # fmt: skip

    def extras():
        everything = _line_sums(account, low, high, "") if kind else sums
        opening = opening_balance(account, low)
        closing = opening + everything.debits + everything.credits
        totals = [
            ("Saldo inicial", format_cop(opening)),
            ("Total cargos", format_cop(sums.debits)),
            ("Total abonos", format_cop(sums.credits)),
            ("Saldo final", format_cop(closing)),
        ]
        return totals, None

    heading = f"Movimientos del {start.strftime('%d/%m/%Y')} al {end.strftime('%d/%m/%Y')}"
    return Table(
        LEDGER_COLUMNS, query=query, key=(LedgerPosting.id,), to_row=to_row, extras=extras, heading=heading,
        narrow=lines,
        total=total, count_limit=COUNT_LIMIT,
        note="Los totales y los saldos son del periodo completo; «Buscar…» filtra solo las líneas mostradas.",
    )  # fmt: skip


def year_from(params: dict) -> tuple[int | None, list[str]]:
    this_year = local_today().year
    text = _text(params, "anio") or str(this_year)
    if not (text.isdigit() and this_year - YEARS_BACK < int(text) <= this_year):
        return None, [f"Selecciona un año entre {this_year - YEARS_BACK + 1} y {this_year}"]
    return int(text), []


def master_consolidated(product: Product, params: dict) -> Table:
    """«Consolidado anual»: per month of the year, cargos, abonos and the closing balance."""
    year, errors = year_from(params)
    if errors:
        return Table(CONSOLIDATED_COLUMNS, errors)
    account = _master(product)
    today = local_today()
    rows = []
    for month in range(1, 13):
        first = date(year, month, 1)
        if first > today:
            break
        low, high = utc_bound(first), utc_bound(add_months(first, 1))
        sums = _line_sums(account, low, high, "")
        rows.append((month_label(first), sums.debits, sums.credits, opening_balance(account, high)))

    def extras():
        totals = [
            ("Total cargos", format_cop(sum(r[1] for r in rows))),
            ("Total abonos", format_cop(sum(r[2] for r in rows))),
            ("Saldo al cierre del año", format_cop(rows[-1][3] if rows else 0)),
        ]
        chart = BarChart(
            f"Cargos y abonos por mes, {year}",
            tuple(r[0] for r in rows),
            (Series("Cargos", tuple(-r[1] for r in rows)), Series("Abonos", tuple(r[2] for r in rows))),
            money=True,
        )
        return totals, chart

    return Table(CONSOLIDATED_COLUMNS, rows=rows, extras=extras, heading=f"Consolidado anual {year}")


# ---------------------------------------------------------------- Estado de cuenta maestra

STATEMENT_COLUMNS = (Column("Concepto", 40, TEXT), Column("Movimientos", 14, INTEGER), Column("Monto", 20, MONEY))
GROUPS = (
    ("fundings", "Recargas de la cuenta maestra"),
    ("credits", "Abonos a tarjetas"),
    ("debits", "Cargos a tarjetas"),
    ("commissions", "Comisiones"),
    ("refunds", "Devoluciones de recargas rechazadas"),
    ("other", "Otros movimientos"),
)


def _group_of(key: str, amount: int) -> str:
    if key.startswith("fondeo:"):
        return "fundings"
    if key.endswith(":comision"):
        return "commissions"
    if key.startswith("maestra:"):
        return "credits" if amount < 0 else "debits"
    if key.startswith("reembolso:"):
        return "refunds"
    return "other"


@dataclass(frozen=True)
class Statement:
    month: date
    opening: int
    closing: int
    groups: list[tuple[str, int, int]]  # (label, movements, amount)

    @property
    def period(self) -> str:
        last = add_months(self.month, 1) - timedelta(days=1)
        return f"del {self.month.strftime('%d/%m/%Y')} al {last.strftime('%d/%m/%Y')}"


def month_from(params: dict) -> tuple[date | None, list[str]]:
    text = _text(params, "mes")
    if not text:
        return local_today().replace(day=1), []
    first = read_month(text)
    if first is None:
        return None, ["El mes debe tener el formato MM/AAAA"]
    if first > local_today():
        return None, ["El mes no puede ser posterior al mes actual"]
    return first, []


def statement(product: Product, first: date) -> Statement:
    """The month's opening balance, its movements grouped by kind and its closing balance."""
    account_id = _master(product).id
    low, high = utc_bound(first), utc_bound(add_months(first, 1))
    sums = {name: [0, 0] for name, _label in GROUPS}
    lines = (
        LedgerPosting.select(LedgerOperation.key, LedgerPosting.amount)
        .join(LedgerOperation)
        .where((LedgerPosting.account == account_id) & (LedgerPosting.created_at >= low) & (LedgerPosting.created_at < high))
        .tuples()
        .iterator()
    )  # fmt: skip
    for key, amount in lines:
        group = sums[_group_of(key, amount)]
        group[0] += 1
        group[1] += amount
    opening = balance_before(account_id, low)
    closing = opening + sum(amount for _count, amount in sums.values())
    groups = [(label, *sums[name]) for name, label in GROUPS if sums[name][0] or name != "other"]
    return Statement(first, opening, closing, groups)


def master_statement(product: Product, params: dict) -> Table:
    first, errors = month_from(params)
    if errors:
        return Table(STATEMENT_COLUMNS, errors)
    found = statement(product, first)
    rows = [("Saldo inicial", None, found.opening), *found.groups, ("Saldo final", None, found.closing)]

    def extras():
        return [("Saldo inicial", format_cop(found.opening)), ("Saldo final", format_cop(found.closing))], None

    return Table(STATEMENT_COLUMNS, rows=rows, extras=extras, heading=f"Estado de cuenta de {month_label(first, True)}")


# ---------------------------------------------------------------- Tarjetas emitidas

ISSUED_COLUMNS = (
    Column("Mes", 14, TEXT),
    Column("Nominadas", 12, INTEGER),
    Column("Innominadas", 12, INTEGER),
    Column("Reposiciones", 12, INTEGER),
    Column("Total", 12, INTEGER),
)
CLASSES = {"nominadas": ("EMI",), "innominadas": ("INN",), "reposiciones": ("REP",)}
CLASS_NAMES = {"nominadas": "nominadas", "innominadas": "innominadas", "reposiciones": "de reposición"}
ISSUED_CARD_COLUMNS = (
    Column("Fecha de emisión", 18, DATETIME),
    Column("Nro. de lote", 12, TEXT),
    Column("Tarjeta", 20, TEXT),
    Column("Documento", 14, TEXT),
    Column("Nombre", 30, TEXT),
    Column("Estado", 20, TEXT),
    Column("Estado del plástico", 22, TEXT),
)


def _issued_query(product: Product):
    return (
        Card.select()
        .join(BatchRecord, JOIN.LEFT_OUTER, on=(Card.record == BatchRecord.id))
        .join(Batch, JOIN.LEFT_OUTER, on=(BatchRecord.batch == Batch.id))
        .where(Card.product == product.id)
    )


def cards_issued(product: Product, params: dict) -> Table:
    if _text(params, "clase"):
        return issued_cards(product, params)
    year, errors = year_from(params)
    if errors:
        return Table(ISSUED_COLUMNS, errors)
    low, high = utc_bound(date(year, 1, 1)), utc_bound(date(year + 1, 1, 1))
    month = month_of(Card.created_at)
    counted = (
        _issued_query(product)
        .select(month.alias("month"), Batch.kind, fn.COUNT(Card.id))
        .where((Card.created_at >= low) & (Card.created_at < high))
        .group_by(month, Batch.kind)
        .tuples()
    )
    per_month: dict[str, dict[str, int]] = {}
    for key, kind, count in counted:
        per_month.setdefault(key, {})[_class_of(kind, product)] = count
    today = local_today()
    rows = []
    for number in range(1, 13):
        first = date(year, number, 1)
        if first > today:
            break
        found = per_month.get(_month_key(first), {})
        named, unnamed, replaced = (found.get(c, 0) for c in CLASSES)
        rows.append((month_label(first), named, unnamed, replaced, named + unnamed + replaced))

    def extras():
        totals = [
            ("Nominadas", str(sum(r[1] for r in rows))),
            ("Innominadas", str(sum(r[2] for r in rows))),
            ("Reposiciones", str(sum(r[3] for r in rows))),
            ("Total", str(sum(r[4] for r in rows))),
        ]
        chart = BarChart(
            f"Tarjetas emitidas por mes, {year}",
            tuple(r[0] for r in rows),
            tuple(Series(name.capitalize(), tuple(r[i] for r in rows)) for i, name in enumerate(CLASSES, start=1)),
        )
        return totals, chart

    def month_link(index):
        def link(row):
            number = MONTH_NAMES.index(row[0].split()[0]) + 1
            return {"clase": list(CLASSES)[index - 1], "mes": f"{number:02d}/{year}"} if row[index] else {}

        return link

    return Table(
        ISSUED_COLUMNS, rows=rows, extras=extras, heading=f"Tarjetas emitidas en {year}",
        links={i: month_link(i) for i in (1, 2, 3)},
    )  # fmt: skip


def _class_of(kind: str | None, product: Product) -> str:
    for name, kinds in CLASSES.items():
        if kind in kinds:
            return name
    return "nominadas" if product.named else "innominadas"  # a card issued outside a batch (the demo, an operator)


def issued_cards(product: Product, params: dict) -> Table:
    """The cards a count of Tarjetas emitidas opens: a class of cards issued in a month."""
    name = _text(params, "clase")
    first = read_month(_text(params, "mes"))
    if name not in CLASSES or first is None:
        return Table(ISSUED_CARD_COLUMNS, ["Selecciona un mes (MM/AAAA) y una clase de tarjeta válidos"])
    low, high = utc_bound(first), utc_bound(add_months(first, 1))
    query = (
        _issued_query(product)
        .select(Card, Person, _batch_number_of_card().alias("batch_number"))
        .join_from(Card, Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where((Card.created_at >= low) & (Card.created_at < high))
    )
    kinds = CLASSES[name]
    default = "nominadas" if product.named else "innominadas"
    query = query.where(Batch.kind.in_(kinds) | (Batch.kind.is_null() if name == default else SQL("1 = 0")))
    query = _person_search(query, _text(params, "q", 60))

    def to_row(card):
        person = card.person if card.person_id else None
        return (
            local(card.created_at), getattr(card, "batch_number", None) or "", card.masked_pan,
            person.id_number if person else "", person.full_name if person else "", card_label(card.status),
            plastic_label(card.plastic_status),
        )  # fmt: skip

    return Table(
        ISSUED_CARD_COLUMNS, query=query, key=(Card.id,), to_row=to_row, count_limit=COUNT_LIMIT,
        heading=f"Tarjetas {CLASS_NAMES[name]} emitidas en {month_label(first, True)}",
    )  # fmt: skip


def _batch_number_of_card():
    """A correlated subquery: the number of the batch that issued the card."""
    record, batch = BatchRecord.alias("issuing_record"), Batch.alias("issuing_batch")
    return (
        batch.select(batch.number).join(record, on=(record.batch == batch.id)).where(record.id == Card.record).limit(1)
    )


def _person_search(query, text: str):
    """«Buscar…» among cardholders: a document number, or part of a name."""
    if not text:
        return query
    if text.isascii() and text.isalnum():
        return query.where(
            (Person.id_number == text)
            | fn.LOWER(Person.first_name).contains(text.lower())
            | fn.LOWER(Person.first_surname).contains(text.lower())
        )
    words = text.lower().split()[:3]
    for word in words:
        query = query.where(
            fn.LOWER(Person.first_name).contains(word)
            | fn.LOWER(Person.first_surname).contains(word)
            | fn.LOWER(Person.second_surname).contains(word)
        )
    return query


# ---------------------------------------------------------------- Recargas realizadas

RECHARGE_COLUMNS = (Column("Mes", 14, TEXT), Column("Recargas", 12, INTEGER), Column("Monto", 20, MONEY))


def recharges(product: Product, params: dict) -> Table:
    """The chosen month and the two before it: how many recharges reached cards, for how much."""
    first, errors = month_from(params)
    if errors:
        return Table(RECHARGE_COLUMNS, errors)
    rows = []
    for back in (2, 1, 0):
        month = add_months(first, -back)
        low, high = utc_bound(month), utc_bound(add_months(month, 1))
        count, amount = (
            BatchRecord.select(fn.COUNT(BatchRecord.id), fn.COALESCE(fn.SUM(BatchRecord.amount), 0))
            .join(Batch, on=(BatchRecord.batch == Batch.id))
            .where(
                (Batch.product == product.id)
                & (Batch.kind == "REC")
                & (BatchRecord.status == BatchRecord.PROCESSED)
                & (Batch.processed_at >= low)
                & (Batch.processed_at < high)
            )  # fmt: skip
            .tuples()
            .first()
        )
        rows.append((month_label(month), int(count or 0), int(amount or 0)))

    def extras():
        totals = [
            ("Total recargas", str(sum(r[1] for r in rows))),
            ("Monto total", format_cop(sum(r[2] for r in rows))),
        ]
        chart = BarChart(
            "Monto recargado por mes",
            tuple(r[0] for r in rows),
            (Series("Monto", tuple(r[2] for r in rows)),),
            money=True,
        )
        return totals, chart

    return Table(RECHARGE_COLUMNS, rows=rows, extras=extras, heading=f"Recargas hasta {month_label(first, True)}")


# ---------------------------------------------------------------- Estado de lotes

BATCH_COLUMNS = (
    Column("Tipo de lote", 28, TEXT),
    Column("Nro. de lote", 12, TEXT),
    Column("Estado", 20, TEXT),
    Column("Fecha de carga", 18, DATETIME),
    Column("Fecha de autorización", 18, DATETIME),
    Column("Registros", 10, INTEGER),
    Column("Monto", 18, MONEY),
)


def batch_status(product: Product, params: dict) -> Table:
    start, end, errors = period_from(params)
    if errors:
        return Table(BATCH_COLUMNS, errors)
    low, high = _bounds(start, end)
    query = Batch.select().where((Batch.product == product.id) & (Batch.created_at >= low) & (Batch.created_at < high))
    text = _text(params, "q", 60)
    if text:
        labels = [s for s, name in Batch.STATUS_LABELS.items() if text.lower() in name.lower()]
        query = query.where((Batch.number == text) | Batch.status.in_(labels or ["-"]))

    def to_row(batch):
        return (
            BATCH_TYPE_NAMES.get(batch.kind, batch.kind), batch.number, batch.status_label, local(batch.created_at),
            local(batch.authorized_at), batch.total_records, batch.amount,
        )  # fmt: skip

    def extras():
        count, amount = (
            Batch.select(fn.COUNT(Batch.id), fn.COALESCE(fn.SUM(Batch.amount), 0))
            .where((Batch.product == product.id) & (Batch.created_at >= low) & (Batch.created_at < high))
            .tuples()
            .first()
        )
        return [("Lotes", str(count or 0)), ("Monto total", format_cop(int(amount or 0)))], None

    return Table(
        BATCH_COLUMNS, query=query, key=(Batch.id,), newest_first=True, to_row=to_row, extras=extras,
        heading=f"Lotes cargados del {start.strftime('%d/%m/%Y')} al {end.strftime('%d/%m/%Y')}",
    )  # fmt: skip


# ---------------------------------------------------------------- Tarjetahabientes

HOLDER_COLUMNS = (
    Column("Documento", 14, TEXT),
    Column("Tarjeta", 20, TEXT),
    Column("Tarjetahabiente", 32, TEXT),
    Column("Estado", 20, TEXT),
    Column("Saldo", 16, MONEY),
    Column("Saldo al", 18, DATETIME),
)


def _last_posting(column, moment: datetime | None = None):
    """A correlated subquery: `column` of the card account's last posting (before `moment`)."""
    inner = LedgerPosting.alias("last_posting")
    query = inner.select(getattr(inner, column)).where(inner.account == Card.account)
    if moment is not None:
        query = query.where(inner.created_at < moment)
    return query.order_by(inner.id.desc()).limit(1)


def cardholders(product: Product, params: dict) -> Table:
    query = (
        Card.select(
            Card,
            Person,
            _last_posting("balance_after").alias("known_balance"),
            _last_posting("created_at").alias("known_at"),
        )  # fmt: skip
        .join(Person, on=(Card.person == Person.id))
        .where(Card.product == product.id)
    )
    query = _person_search(query, _text(params, "q", 60))

    def to_row(card):
        known = getattr(card, "known_balance", None)
        return (
            card.person.id_number, card.masked_pan, card.person.full_name, card_label(card.status),
            int(known or 0), local(_as_datetime(getattr(card, "known_at", None))),
        )  # fmt: skip

    return Table(
        HOLDER_COLUMNS, query=query, key=(Card.id,), newest_first=True, to_row=to_row, count_limit=COUNT_LIMIT,
        heading="Tarjetahabientes del producto", note="Saldo: el último conocido, con su fecha.",
    )  # fmt: skip


def _as_datetime(value):
    """A timestamp read through a subquery (SQLite answers it as text)."""
    if value is None or isinstance(value, datetime):
        return value
    text = str(value)
    for shape in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, shape)
        except ValueError:
            continue
    return None


# ---------------------------------------------------------------- Saldo al cierre

CLOSING_COLUMNS = (
    Column("Tarjeta", 20, TEXT),
    Column("Documento", 14, TEXT),
    Column("Tarjetahabiente", 32, TEXT),
    Column("Saldo al cierre", 18, MONEY),
    Column("Última actividad", 18, DATETIME),
)


def _default_closing_day() -> date:
    return local_today() - timedelta(days=1)


def closing_day_from(params: dict) -> tuple[date | None, list[str]]:
    text = _text(params, "fecha")
    if not text:
        return _default_closing_day(), []
    day = read_day(text)
    if day is None:
        return None, ["La fecha debe tener el formato DD/MM/AAAA y existir en el calendario"]
    if day > local_today():
        return None, ["La fecha de cierre no puede ser posterior a hoy"]
    return day, []


def closing_balances(product: Product, params: dict) -> Table:
    """The balance of every card of the product at the end of a day, from the postings."""
    day, errors = closing_day_from(params)
    if errors:
        return Table(CLOSING_COLUMNS, errors)
    moment = utc_bound(day + timedelta(days=1))
    query = (
        Card.select(
            Card,
            Person,
            _last_posting("balance_after", moment).alias("closing"),
            _last_posting("created_at", moment).alias("last_activity"),
        )  # fmt: skip
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where((Card.product == product.id) & (Card.created_at < moment))
    )
    query = _person_search(query, _text(params, "q", 60))

    def to_row(card):
        person = card.person if card.person_id else None
        return (
            card.masked_pan, person.id_number if person else "", person.full_name if person else "",
            int(getattr(card, "closing", None) or 0), local(_as_datetime(getattr(card, "last_activity", None))),
        )  # fmt: skip

    def extras():
        return [("Saldo total en tarjetas", format_cop(total_on_cards(product, moment)))], None

    return Table(
        CLOSING_COLUMNS, query=query, key=(Card.id,), to_row=to_row, extras=extras, count_limit=COUNT_LIMIT,
        heading=f"Saldos al cierre del {day.strftime('%d/%m/%Y')}",
    )  # fmt: skip


def total_on_cards(product: Product, moment: datetime) -> int:
    """Σ of every card account's balance of the product just before `moment` (its last posting)."""
    inner = LedgerPosting.alias("p")
    last = (
        inner.select(fn.MAX(inner.id))
        .join(LedgerAccount, on=(inner.account == LedgerAccount.id))
        .where((LedgerAccount.product == product.id) & (LedgerAccount.kind == LedgerAccount.CARD) & (inner.created_at < moment))
        .group_by(inner.account)
    )  # fmt: skip
    total = LedgerPosting.select(fn.COALESCE(fn.SUM(LedgerPosting.balance_after), 0)).where(LedgerPosting.id.in_(last))
    return int(total.scalar() or 0)


# ---------------------------------------------------------------- Reposiciones

REPLACEMENT_COLUMNS = (
    Column("Fecha", 18, DATETIME),
    Column("Tarjeta anterior", 20, TEXT),
    Column("Tarjeta nueva", 20, TEXT),
    Column("Documento", 14, TEXT),
    Column("Tarjetahabiente", 30, TEXT),
    Column("Motivo", 14, TEXT),
)
REASONS = {"BLOQUEO_EXTRAVIO": "Extravío", "BLOQUEO_ROBO": "Robo"}


def replacements(product: Product, params: dict) -> Table:
    new = Card.alias("new_card")
    new_pan = new.select(new.masked_pan).where(new.id == Card.replaced_by)
    query = (
        Card.select(Card, Person, new_pan.alias("new_pan"))
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where((Card.product == product.id) & Card.replaced_by.is_null(False))
    )
    if _text(params, "periodo"):
        start, end, errors = period_from(params)
        if errors:
            return Table(REPLACEMENT_COLUMNS, errors)
        low, high = _bounds(start, end)
        query = query.where((Card.status_changed_at >= low) & (Card.status_changed_at < high))
    query = _person_search(query, _text(params, "q", 60))

    def to_row(card):
        person = card.person if card.person_id else None
        return (
            local(card.status_changed_at), card.masked_pan, getattr(card, "new_pan", ""),
            person.id_number if person else "", person.full_name if person else "",
            REASONS.get(card.replaced_reason, "Bloqueo"),
        )  # fmt: skip

    return Table(
        REPLACEMENT_COLUMNS, query=query, key=(Card.id,), newest_first=True, to_row=to_row,
        heading="Tarjetas reemplazadas",
    )  # fmt: skip


# ---------------------------------------------------------------- Actividad por usuario

USER_COLUMNS = (
    Column("Usuario", 16, TEXT),
    Column("Nombre", 30, TEXT),
    Column("Estado", 12, TEXT),
    Column("Última conexión", 18, DATETIME),
)
ACTION_COLUMNS = (
    Column("Fecha", 18, DATETIME),
    Column("Módulo", 18, TEXT),
    Column("Función", 30, TEXT),
    Column("Objeto", 24, TEXT),
    Column("IP", 16, TEXT),
)
# An audit tag's module and function as a user reads them (services.audit.Event).
MODULES = {
    "login": "Acceso", "logout": "Acceso", "session": "Acceso", "terms": "Acceso", "password": "Acceso",
    "user": "Usuarios", "product": "Empresas", "batch": "Lotes", "innominate": "Lotes", "card": "Tarjetas",
    "master": "Cuenta maestra", "order": "Órdenes de servicio", "personal-data": "Consultas",
}  # fmt: skip
FUNCTIONS = {
    "login:success": "Ingreso", "login:failure": "Ingreso fallido", "login:blocked": "Usuario bloqueado",
    "login:rate-limited": "Ingreso limitado", "logout": "Salida", "session:expired": "Sesión expirada",
    "terms:accept": "Aceptación de términos", "password:change": "Cambio de contraseña",
    "password:change-failure": "Cambio de contraseña fallido", "password:recheck-failure": "Contraseña errada",
    "password:recovery-request": "Recuperación de contraseña", "password:recovery-sent": "Contraseña temporal enviada",
    "user:unblock": "Desbloqueo", "user:create": "Crear usuario", "user:permissions": "Editar permisos",
    "user:block": "Bloquear usuario", "user:unblock-admin": "Desbloquear usuario", "user:inactivate": "Inactivar usuario",
    "user:activate": "Activar usuario", "user:reset": "Restablecer contraseña", "product:select": "Selección de producto", "batch:upload": "Carga de lote",
    "batch:confirm": "Confirmación de lote", "batch:delete": "Eliminación de lote", "batch:sign": "Firma de lote",
    "batch:unsign": "Desasociar firma", "innominate:request": "Solicitud de innominadas",
    "card:affiliate": "Afiliación", "master:operation": "Operación con tarjetas", "master:fund": "Recarga cuenta maestra",
    "card:state": "Cambio de estado", "card:plastic": "Entrega del plástico", "card:contact": "Actualizar datos",
    "card:replace": "Reposición", "card:replace-request": "Solicitud de reposición", "order:create": "Autorización",
    "order:void": "Anulación de orden", "order:pay": "Pago de orden", "order:pay-refused": "Pago rechazado",
    "order:code-sent": "Código de pago enviado", "personal-data:view": "Consulta de datos personales",
}  # fmt: skip


def company_users(product: Product):
    return (
        User.select()
        .join(UserCompany, on=(UserCompany.user == User.id))
        .where(UserCompany.company == product.company_id)
    )


def user_activity(product: Product, params: dict) -> Table:
    chosen = _text(params, "usuario")
    if chosen:
        return user_actions(product, chosen, params)
    query = company_users(product)
    text = _text(params, "q", 60).lower()
    if text:
        query = query.where(
            fn.LOWER(User.username).contains(text) | fn.LOWER(User.first_name).contains(text)
            | fn.LOWER(User.last_name).contains(text)
        )  # fmt: skip

    def to_row(user):
        return user.username, user.full_name, user.status_label, local(user.last_login_at)

    return Table(
        USER_COLUMNS, query=query, key=(User.id,), to_row=to_row, heading="Usuarios de la empresa",
        links={0: lambda user: {"usuario": str(user.id)}},
    )  # fmt: skip


def user_actions(product: Product, chosen: str, params: dict) -> Table:
    """A user's actions from the audit log: those on this company and their logins."""
    user = (
        company_users(product).where(User.id == int(chosen)).first() if chosen.isdigit() and len(chosen) <= 12 else None
    )
    if user is None:
        return Table(ACTION_COLUMNS, ["El usuario no existe o no pertenece a la empresa"])
    query = AuditEvent.select().where(
        (AuditEvent.user == user.id) & ((AuditEvent.company == product.company_id) | AuditEvent.company.is_null())
    )
    text = _text(params, "q", 60).lower()
    if text:
        tags = [tag for tag, name in FUNCTIONS.items() if text in name.lower()]
        query = query.where(AuditEvent.tag.in_(tags) | fn.LOWER(AuditEvent.object_ref).contains(text))

    def to_row(event):
        module = MODULES.get(event.tag.split(":")[0], "")
        return local(event.created_at), module, FUNCTIONS.get(event.tag, event.tag), event.object_ref, event.ip

    return Table(
        ACTION_COLUMNS, query=query, key=(AuditEvent.id,), newest_first=True, to_row=to_row,
        count_limit=COUNT_LIMIT, heading=f"Acciones de {user.username} ({user.full_name})",
    )  # fmt: skip


# ---------------------------------------------------------------- the catalog, in the menu's order

_register(
    "cuenta-maestra", "Cuenta maestra", "Cargos y abonos de la cuenta maestra con el saldo después de cada uno.",
    master_lines,
)  # fmt: skip
_register(
    "estado-de-cuenta-maestra", "Estado de cuenta maestra",
    "El extracto de un mes: saldo inicial, movimientos por tipo y saldo final, en PDF.", master_statement,
)  # fmt: skip
_register(
    "tarjetas-emitidas", "Tarjetas emitidas", "Tarjetas nominadas, innominadas y de reposición emitidas por mes.",
    cards_issued, personal_data=True,
)  # fmt: skip
_register(
    "recargas-realizadas", "Recargas realizadas", "Cantidad y monto de las recargas de un mes y los dos anteriores.",
    recharges,
)  # fmt: skip
_register("estado-de-lotes", "Estado de lotes", "Los lotes cargados en un periodo y su estado.", batch_status)
_register(
    "tarjetahabientes", "Tarjetahabientes", "Cada tarjeta con su tarjetahabiente, su estado y su último saldo.",
    cardholders, personal_data=True,
)  # fmt: skip
_register(
    "saldo-al-cierre", "Saldo al cierre", "El saldo de cada tarjeta al final de un día, calculado con sus movimientos.",
    closing_balances, personal_data=True,
)  # fmt: skip
_register(
    "reposiciones", "Reposiciones", "Las tarjetas reemplazadas por extravío o robo y la tarjeta que las reemplazó.",
    replacements, personal_data=True,
)  # fmt: skip
_register(
    "actividad-por-usuario", "Actividad por usuario", "Los usuarios de la empresa, su última conexión y sus acciones.",
    user_activity,
)  # fmt: skip


def years() -> list[int]:
    """The years «Consolidado anual» and Tarjetas emitidas offer: this one and the 4 before."""
    this_year = local_today().year
    return list(range(this_year, this_year - YEARS_BACK, -1))
