"""Empresas y productos: the figures of the product page (manual 3.1)."""

from peewee import Case, Value, fn

import models
from bulk import Prepared
from models import Batch, Card, CardTally, ServiceOrder


def _tally(model, product, *conditions):
    """One row of the counters query: `model`'s rows of `product` matching each condition, summed
    with CASE (padded to three columns, tagged by the model's table so the rows can't be mixed up)."""
    sums = [fn.COALESCE(fn.SUM(Case(None, [(c, 1)], 0)), 0) for c in conditions]
    sums += [Value(0)] * (3 - len(sums))
    return model.select(Value(model._meta.table_name).alias("tag"), *sums).where(model.product == product)


def _card_tally(product):
    """The card row of the counters query: (activas, las demás), summed from card_tally, which
    the database keeps (migration 11), not by counting the product's cards."""
    sums = [
        fn.COALESCE(fn.SUM(Case(None, [(condition, CardTally.n)], 0)), 0)
        for condition in (CardTally.status == Card.ACTIVE, CardTally.status != Card.ACTIVE)
    ]
    return CardTally.select(Value("card").alias("tag"), *sums, Value(0)).where(CardTally.product_id == product)


def _counters_query(tables: tuple[bool, bool, bool]) -> Prepared:
    """The counters query of one combination of (batches, orders, cards) shown."""
    if tables not in _COUNTERS:

        def build(product):
            parts = []
            if tables[0]:
                parts.append(_tally(Batch, product, Batch.status == Batch.TO_AUTHORIZE, Batch.status == Batch.TO_SIGN))
            if tables[1]:
                parts.append(
                    _tally(
                        ServiceOrder,
                        product,
                        ServiceOrder.status == ServiceOrder.PENDING_PAYMENT,
                        ServiceOrder.status.in_(ServiceOrder.PAID),
                    )  # fmt: skip
                )
            if tables[2]:
                parts.append(_card_tally(product))
            query = parts[0]
            for part in parts[1:]:
                query = query.union_all(part)
            return query

        _COUNTERS[tables] = Prepared(build)
    return _COUNTERS[tables]


_COUNTERS: dict[tuple, Prepared] = {}


def product_counts(product_id: int, batches: bool, orders: bool, cards: bool) -> dict[str, list[int]]:
    """{table: its three counts} for the tables asked, in one query (a UNION ALL of one CASE/SUM
    row per table): batch → (por autorizar, por firmar, 0); service_order → (por pagar, pagadas,
    0); card → (activas, inactivas, 0)."""
    if not (batches or orders or cards):
        return {}
    rows = _counters_query((batches, orders, cards)).tuples(product_id)
    return {row[0]: [int(v or 0) for v in row[1:]] for row in rows}


def fold_card_tallies() -> int:
    """Fold card_tally's rows into one per (product, state), and drop the zeros; returns the rows
    removed. PostgreSQL's triggers append a row per statement (see migration 11); SQLite's keep
    one row each already, so there is nothing to fold. The DELETE … RETURNING and the INSERT are
    one statement: a reader sees the rows before or after, both with the same sums."""
    if models._is_sqlite(models.db):
        return 0
    cursor = models.db.execute_sql(
        "WITH gone AS (DELETE FROM card_tally RETURNING product_id, status, n), "
        "kept AS (INSERT INTO card_tally (product_id, status, n) SELECT product_id, status, SUM(n) FROM gone "
        "GROUP BY product_id, status HAVING SUM(n) <> 0 RETURNING 1) "
        "SELECT (SELECT COUNT(*) FROM gone) - (SELECT COUNT(*) FROM kept)"
    )
    return int(cursor.fetchone()[0])
