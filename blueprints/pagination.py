"""Pagination of the portal's tables: 10 rows a page, the manual's "Mostrando registro(s)…"
summary, and page links that keep the search.

Two ways to reach a page:
- `paginate`: by page number (LIMIT/OFFSET), for the short lists (companies, pending batches,
  service orders of a product).
- `keyset`: for the tables that grow without bound (cards, batch records and errors, ledger
  postings, the audit trail). A page is reached from the one the user is looking at by a cursor,
  the key of its last row (`despues`) or of its first row (`antes`), so the database seeks to it
  through the index instead of counting OFFSET rows; `ultima=1` is the last page, read backwards.
  The pager's neighbouring numbers (two on each side) are the cursor plus a skip of at most two
  pages. The page number travels along (`pagina`) for the summary only. Every link is a plain
  GET URL keeping the search criteria (PAGE_ARGS), so the same links work as an htmx table
  (hx-get) and without JavaScript. A bare `pagina` without a cursor (a bookmark, a hand-written
  URL) still answers, by OFFSET.

The pager template (`_macros.html`) is the same for both: it asks `page_url(endpoint, n, …)`,
which builds the cursor link when the table of `endpoint` was read with `keyset` in this request.
"""

from dataclasses import dataclass

from flask import g, url_for
from flask import request as flask_request
from peewee import Tuple

from services import LIST_CRITERIA

# The query arguments a table's pager carries to the next page: search text and criteria.
PAGE_ARGS = LIST_CRITERIA  # the criteria a page link keeps (services.LIST_CRITERIA)
MAX_SKIP_PAGES = 2  # how far from the current page a cursor link reaches (the pager shows ±2)


@dataclass(frozen=True)
class Page:
    """One page of a table: 10 rows, with the manual's "Mostrando registro(s)…" summary."""

    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.number - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, (self.number - 1) * self.per_page + len(self.items))

    @property
    def summary(self) -> str:
        if self.total == 0:
            return "Sin registros que mostrar"
        return (
            f"Mostrando registro(s) del {self.first_index} al {self.last_index} de un total de {self.total} registro(s)"
        )


@dataclass(frozen=True)
class KeysetPage(Page):
    """A page read by `keyset`: also the keys of its first and last rows, the cursors of its
    neighbours; `more` when the rows were counted only up to `total` (there are more)."""

    first_key: str = ""
    last_key: str = ""
    more: bool = False

    @property
    def summary(self) -> str:
        if not self.more:
            return super().summary
        total = f"{self.total:,}".replace(",", ".")
        return f"Mostrando registro(s) del {self.first_index} al {self.last_index} de más de {total} registro(s)"

    def link_args(self, number: int) -> dict:
        """The cursor arguments of page `number`, reached from this one."""
        if number <= 1:
            return {}
        if number >= self.pages:
            return {"ultima": 1, "pagina": self.pages}
        if number > self.number and self.last_key:
            skip = min(number - self.number - 1, MAX_SKIP_PAGES) * self.per_page
            return {"despues": self.last_key, **({"saltar": skip} if skip else {}), "pagina": number}
        if number < self.number and self.first_key:
            skip = min(self.number - 1 - number, MAX_SKIP_PAGES) * self.per_page
            return {"antes": self.first_key, **({"saltar": skip} if skip else {}), "pagina": number}
        return {"pagina": number}


def _page_number(args, pages: int) -> int:
    value = args.get("pagina", "")
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 30 else 1
    return min(max(number, 1), pages)


def paginate(query, args=None, per_page: int = 10) -> Page:
    """Paginate a peewee query of models by the `pagina` argument (out-of-range pages clamp).
    The page's rows, then a COUNT (none when the first page is not full: its rows are all).
    Not one query with COUNT(*) OVER (): the window makes the database read and sort every
    matching row, with all its columns, to return ten (2,500 orders: 6 ms against 0.1 ms)."""
    args = flask_request.args if args is None else args
    number = _page_number(args, 10**12)
    items = list(query.paginate(number, per_page))
    if number == 1 and len(items) < per_page:
        return Page(items, 1, per_page, len(items))
    total = query.count()
    if items:
        return Page(items, number, per_page, total)
    pages = max(1, -(-total // per_page))
    number = min(number, pages)
    return Page(list(query.paginate(number, per_page)) if total else [], number, per_page, total)


def paginate_list(rows: list, args=None, per_page: int = 10) -> Page:
    """Paginate rows already in memory (a short list the request read anyway) by `pagina`."""
    args = flask_request.args if args is None else args
    total = len(rows)
    number = _page_number(args, max(1, -(-total // per_page)))
    return Page(rows[(number - 1) * per_page : number * per_page], number, per_page, total)


def _parse_key(value: str, size: int) -> tuple[int, ...] | None:
    """A cursor: `size` integers joined by '.'; anything else is no cursor."""
    parts = (value or "").split(".")
    if len(parts) != size or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _key_of(row, key) -> str:
    return ".".join(str(getattr(row, field.name)) for field in key)


def keyset(
    query, key, args=None, per_page: int = 10, endpoint: str | None = None, *, newest_first: bool = False,
    count_limit: int | None = None, count_query=None, total: int | None = None,
) -> KeysetPage:  # fmt: skip
    """Paginate a peewee query by cursor over `key`, a tuple of integer fields that orders the
    rows and is unique among them (e.g. `(BatchRecord.line,)` within a batch; its index makes the
    seek cheap). The query's own ORDER BY is replaced by the key's (descending with
    `newest_first`). Two queries: the COUNT of the summary and the page; with `count_limit` the
    rows are counted only that far ("más de 10.000": counting a million rows would cost more
    than the page); `count_query` counts instead of `query` (the same rows without its joins).
    `endpoint` (default: the request's) is the table's, for `page_url`. A caller that knows the
    row count already (the reports' kept sums) passes it as `total`: nothing is counted."""
    args = flask_request.args if args is None else args
    key = tuple(key)
    more = False
    counted = query if count_query is None else count_query
    if total is not None:
        pass
    elif count_limit is None:
        total = counted.count()
    else:
        total = counted.order_by().limit(count_limit + 1).count()
        more = total > count_limit
        total = min(total, count_limit)
    pages = max(1, -(-total // per_page))
    number = _page_number(args, pages)
    ascending = [f.asc() for f in key]
    descending = [f.desc() for f in key]
    if newest_first:
        ascending, descending = descending, ascending
    columns = key[0] if len(key) == 1 else Tuple(*key)

    def bound(values):
        return values[0] if len(key) == 1 else Tuple(*values)

    def past(values):  # rows after the cursor, in the list's order
        return columns < bound(values) if newest_first else columns > bound(values)

    def before_(values):
        return columns > bound(values) if newest_first else columns < bound(values)

    skip = args.get("saltar", "")
    skip = min(int(skip), MAX_SKIP_PAGES * per_page) if skip.isascii() and skip.isdigit() and len(skip) <= 6 else 0
    after, before = _parse_key(args.get("despues", ""), len(key)), _parse_key(args.get("antes", ""), len(key))

    def last_page():
        rows = list(query.order_by(*descending).limit(total - (pages - 1) * per_page or per_page))
        return rows[::-1], pages

    if total == 0:
        items, number = [], 1
    elif args.get("ultima") == "1":
        items, number = last_page()
    elif after is not None:
        items = list(query.where(past(after)).order_by(*ascending).offset(skip or None).limit(per_page))
        if items:
            number = max(number, 2)  # there are rows before these
        else:  # past the end (rows went away meanwhile): the last page
            items, number = last_page()
    elif before is not None:
        seek = query.where(before_(before)).order_by(*descending).offset(skip or None).limit(per_page)
        items = list(seek)[::-1]
        if len(items) < per_page:  # reached the start: the first page, whole
            items, number = list(query.order_by(*ascending).limit(per_page)), 1
    elif number > 1:  # a page number without a cursor: by OFFSET
        items = list(query.order_by(*ascending).paginate(number, per_page))
    else:
        items = list(query.order_by(*ascending).limit(per_page))
    page = KeysetPage(
        items, number, per_page, total,
        first_key=_key_of(items[0], key) if items else "", last_key=_key_of(items[-1], key) if items else "",
        more=more,
    )  # fmt: skip
    g.setdefault("keyset_pages", {})[endpoint or flask_request.endpoint] = page
    return page


def page_url(endpoint, number, params=None, args=None):
    """URL of page `number` of a table, keeping the search text and criteria (and nothing else a user
    could put in the query string); for a table read with `keyset`, the cursor that reaches it."""
    args = flask_request.args if args is None else args
    kept = {k: args[k][:60] for k in PAGE_ARGS if args.get(k)}
    page = g.get("keyset_pages", {}).get(endpoint)
    if page is not None:
        return url_for(endpoint, **(params or {}), **kept, **page.link_args(number))
    return url_for(endpoint, **(params or {}), **kept, pagina=number)
