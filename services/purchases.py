"""Settlement of card purchases (SPEC §9): what the card processor authorized reaches the ledger.

A purchase (CardPurchase, made by the processor: adapters/processor.py, SimulatedProcessor.purchase)
lowers the card's live balance at once; this job posts it as one ledger operation, card → the
product's purchases account (ledger.purchases_account), key "compra:<purchase id>", and marks
it settled.

Chunks of CHUNK purchases, each one transaction that claims its rows, posts them and marks them:

- two job processes: on PostgreSQL the chunk's rows are claimed with SELECT … FOR UPDATE SKIP
  LOCKED (a second process takes other rows); on SQLite the transaction began IMMEDIATE, so
  one writer at a time. Rows are locked before the accounts (the accounts in id order, by
  ledger.lock_balances), and a purchase being authorized locks only its card's account, so
  no two of them wait for each other in a circle;
- idempotent: the post and the mark commit together, and the operation's key is unique, so a
  purchase is posted once whatever happens; one whose key is found posted is only marked;
- the mark is a conditional UPDATE (settled_at IS NULL); if it does not change exactly the
  rows claimed, the chunk rolls back.

Never negative. A purchase was bounded by the card's live balance (ledger balance minus the
unsettled purchases), so it normally fits. If the ledger balance has dropped meanwhile (a debit
that did not read the live balance), the job settles what the balance allows and leaves the
rest: a purchase larger than the balance is split, its row keeps the part posted (settled) and
a new unsettled row, with the same card, merchant and time, holds the remainder, which the job
settles once the card has money again (until then the card's live balance is negative: what it
owes). A card with nothing left settles nothing; its purchases wait.
"""

from __future__ import annotations

import logging
import random

import ledger
from adapters.processor import SimulatedProcessor, product_terms
from bulk import is_sqlite, select_in
from domain.ledger import Operation
from models import Card, CardPurchase, LedgerAccount, Product, db, utcnow

log = logging.getLogger("jobs.purchases")

CHUNK = 1_000

PENDING_SQL = (
    "SELECT p.id, p.card_id, p.amount, p.merchant, p.created_at, c.product_id, c.account_id, c.masked_pan "
    "FROM card_purchase p JOIN card c ON c.id = p.card_id "
    "WHERE p.settled_at IS NULL AND p.id > ? ORDER BY p.id LIMIT ?"
)


def purchase_key(purchase_id: int) -> str:
    return f"compra:{purchase_id}"


def settle_purchases(limit: int = 10_000) -> int:
    """Job body: post up to `limit` unsettled purchases, oldest first; returns how many were
    posted (wholly or in part)."""
    settled, after, seen = 0, 0, 0
    while seen < limit:
        size = min(CHUNK, limit - seen)
        claimed, posted, last = _settle_chunk(after, size)
        settled += posted
        seen += claimed
        if claimed < size:
            break
        after = last  # the rows left waiting (no money) are not read again in this run
    return settled


def _settle_chunk(after: int, size: int) -> tuple[int, int, int]:
    """One chunk in one transaction: (rows claimed, purchases posted, last id claimed)."""
    with db.atomic():
        sql = PENDING_SQL.replace("?", db.param)
        if not is_sqlite():
            sql += " FOR UPDATE OF p SKIP LOCKED"
        rows = db.execute_sql(sql, (after, size)).fetchall()
        if not rows:
            return 0, 0, after
        settlement = {pid: ledger.purchases_account(Product.get_by_id(pid)).id for pid in {r[5] for r in rows}}
        cards = {r[6] for r in rows if r[6] is not None}
        balances, negative = ledger.lock_balances(sorted(cards | set(settlement.values())))
        locked = (dict(balances), negative)
        keys = [purchase_key(r[0]) for r in rows]
        posted_before = {key for (key,) in select_in("SELECT key FROM ledger_operation WHERE key IN {in}", keys)}
        now = utcnow()
        operations, whole, parts = [], [], []
        for (purchase_id, card_id, amount, merchant, created_at, product_id, account_id, masked), key in zip(
            rows, keys, strict=True
        ):
            if key in posted_before:
                whole.append(purchase_id)
                continue
            available = balances.get(account_id, 0) if account_id is not None else 0
            take = min(amount, available)
            if take <= 0:
                continue  # nothing on the card: the purchase waits for its money
            balances[account_id] -= take
            operations.append(
                Operation.transfer(
                    key, f"Compra en {merchant} con tarjeta {masked}", account_id, settlement[product_id], take
                )
            )
            if take == amount:
                whole.append(purchase_id)
            else:
                parts.append((purchase_id, take, amount - take, card_id, merchant, created_at))
        ledger.post_many(operations, locked=locked, keys_checked=True)
        _mark(whole, parts, now)
    return len(rows), len(operations), rows[-1][0]


def _mark(whole: list[int], parts: list[tuple], now) -> None:
    """Mark the purchases settled (conditionally: a row settled meanwhile rolls the chunk back);
    a purchase settled in part keeps the part posted and leaves a new row with the rest."""
    marked = 0
    for start in range(0, len(whole), 500):
        ids = whole[start : start + 500]
        marked += (
            CardPurchase.update(settled_at=now)
            .where(CardPurchase.id.in_(ids) & CardPurchase.settled_at.is_null())
            .execute()
        )
    for purchase_id, take, rest, card_id, merchant, created_at in parts:
        marked += (
            CardPurchase.update(amount=take, settled_at=now)
            .where((CardPurchase.id == purchase_id) & CardPurchase.settled_at.is_null())
            .execute()
        )
        CardPurchase.create(card=card_id, amount=rest, merchant=merchant, created_at=created_at)
        log.warning("purchase %s settled in part: %s of %s centavos, the rest waits", purchase_id, take, take + rest)
    if marked != len(whole) + len(parts):
        raise RuntimeError("purchases settled meanwhile by someone else; the chunk is rolled back")


# ---------------------------------------------------------------- the demo's purchases

MERCHANTS = ("Supermercado La 14", "Droguería Alemana", "Restaurante El Corral", "Estación Terpel", "Almacén Éxito")


def simulate(count: int, product_id: int | None = None) -> tuple[int | None, int]:
    """`flask demo purchases`: the simulated processor authorizes `count` purchases at random
    on active cards with a live balance (of one product, or of all), each at most what the card
    has left. (purchases made, their total); (None, 0) when no card has money."""
    query = (
        Card.select(Card.id, Card.product)
        .join(LedgerAccount, on=(Card.account == LedgerAccount.id))
        .where((Card.status == Card.ACTIVE) & (LedgerAccount.balance > 0))
    )
    if product_id is not None:
        query = query.where(Card.product == product_id)
    processor, live, terms = SimulatedProcessor(), {}, {}
    by_product: dict[int, list[int]] = {}
    for card in query:
        by_product.setdefault(card.product_id, []).append(card.id)
    for pid, card_ids in by_product.items():
        terms[pid] = product_terms(Product.get_by_id(pid))
        for card_id, amount in processor.live_balances(terms[pid], card_ids).items():
            if amount > 0:
                live[card_id] = (pid, amount)
    if not live:
        return None, 0
    made, total, pool = 0, 0, list(live)
    for _ in range(count):
        if not pool:
            break
        index = random.randrange(len(pool))
        card_id = pool[index]
        pid, available = live[card_id]
        # Whole pesos, at most the live balance (the processor checks it again, under the card's lock).
        amount = available if available < 100 else max(100, random.randint(1, available) // 100 * 100)
        if processor.purchase(terms[pid], card_id, amount, random.choice(MERCHANTS)):
            made, total = made + 1, total + amount
            available -= amount
        else:
            available = 0  # its balance changed meanwhile: leave the card alone
        live[card_id] = (pid, available)
        if available <= 0:
            pool[index] = pool[-1]
            pool.pop()
    return made, total
