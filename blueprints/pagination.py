"""Pagination of the portal's tables: 10 rows a page, the manual's "Mostrando registro(s)…"
summary, and page links that keep the search."""

from dataclasses import dataclass

from flask import request as flask_request
from flask import url_for

# The query arguments a table's pager carries to the next page: search text and criteria.
PAGE_ARGS = ("q", "periodo", "fecha_inicial", "fecha_final", "estado")


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
        return min(self.total, self.number * self.per_page)

    @property
    def summary(self) -> str:
        if self.total == 0:
            return "Sin registros que mostrar"
        return (
            f"Mostrando registro(s) del {self.first_index} al {self.last_index} de un total de {self.total} registro(s)"
        )


def paginate(query, args=None, per_page: int = 10) -> Page:
    """Paginate a peewee query by the `pagina` argument (out-of-range pages clamp)."""
    total = query.count()
    pages = max(1, -(-total // per_page))
    args = flask_request.args if args is None else args
    number = min(max(args.get("pagina", 1, type=int) or 1, 1), pages)
    return Page(list(query.paginate(number, per_page)), number, per_page, total)


def page_url(endpoint, number, params=None, args=None):
    """URL of page `number` of a table, keeping the search text and criteria (and nothing else a user
    could put in the query string)."""
    args = flask_request.args if args is None else args
    kept = {k: args[k][:60] for k in PAGE_ARGS if args.get(k)}
    return url_for(endpoint, **(params or {}), **kept, pagina=number)
