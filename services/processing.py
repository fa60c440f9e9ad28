"""Processing of paid service orders (SPEC §7): the job that sends their records to the card
processor. EMI/INN create cards, REC credit balances, AFI assign cardholders; each record
becomes PROCESADO or RECHAZADO (with a reason), then each batch and the order PROCESADO.

An order is claimed as a lease (services/leases.py, like services/batches.claim_next). Its records
go in chunks of CHUNK, one transaction each holding the chunk's effects (cards, postings), the
records' new status and the order's progress. The transaction starts by re-checking the claim
(a conditional UPDATE on claim_token, which on PostgreSQL also locks the order's row until the
commit, so nobody can take the order over mid-chunk) and re-checks it at the end: a lost claim
rolls the chunk back. A run killed at any moment leaves whole chunks only, and the next run
(once the lease expired, or at once if it is the dead holder's restarted successor) goes on with the records still VALIDO; cards are unique per record
(Card.record) and recharges per ledger key ("rec:<record id>"), so nothing is done twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date

import orjson
import peewee
from flask import current_app, has_app_context

from adapters.processor import (
    AssignRequest,
    CardProcessor,
    CreditRequest,
    Holder,
    IssueRequest,
    ProductTerms,
    default_processor,
    product_terms,
)
from bulk import is_sqlite, unhurried_commit
from models import Batch, BatchRecord, ServiceOrder, db, utcnow
from services import leases, notices, replacement
from services.batches import no_cyclic_gc
from services.mail import send_mail

log = logging.getLogger("jobs.processing")

CHUNK = 5_000
STALE_CLAIM = leases.LEASE  # renewed with each chunk and by the lease thread (services/leases.py)
MAX_FAILURES = 5  # failed runs before an order is marked for attention (ORDER_MAX_FAILURES)

VALID, PROCESSED, REJECTED = BatchRecord.VALID, BatchRecord.PROCESSED, BatchRecord.REJECTED
# Raw SQL: peewee would spend longer turning 5,000 rows into tuples than SQLite takes to read them.
# A chunk is the records still VALIDO in a window of CHUNK lines: bounded on both sides, so the
# database reads those lines only, whatever its planner believes (PostgreSQL, without statistics
# on a table just filled, read every remaining line of the batch and sorted it, for every chunk).
RECORDS_SQL = (
    "SELECT id, line, id_type, id_number, amount, data FROM batch_record "
    "WHERE batch_id = ? AND status = ? AND line > ? AND line <= ? ORDER BY line"
)
NEXT_LINE_SQL = "SELECT MIN(line) FROM batch_record WHERE batch_id = ? AND status = ? AND line > ?"
DESCRIPTION_MAX = 200


def process_paid_orders(limit: int = 5, processor: CardProcessor | None = None) -> int:
    """Job body: process paid orders (EN_PROCESO) one after another; returns how many it finished."""
    processor = processor or default_processor()
    finished = 0
    with no_cyclic_gc():
        for _ in range(limit):
            claim = claim_next()
            if claim is None:
                break
            order, token = claim
            try:
                with leases.held(ServiceOrder, order.id, token):
                    if run_order(order, token, processor):
                        finished += 1
            except Exception as exc:  # the lease goes stale: a later run retries, up to max_failures()
                _count_failure(order, token, exc)
                raise  # the job's run fails (its heartbeat records the error); other orders go on next run
    return finished


def max_failures() -> int:
    return current_app.config.get("ORDER_MAX_FAILURES", MAX_FAILURES) if has_app_context() else MAX_FAILURES


def _count_failure(order: ServiceOrder, token: str, exc: Exception) -> None:
    """One more failed run of a paid order; at max_failures() it is marked for attention (no
    longer claimed: `flask jobs status` lists it, `flask jobs retry` puts it back) and OPS_EMAIL
    is told once. The company keeps seeing it "En proceso"."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    ServiceOrder.update(failures=ServiceOrder.failures + 1, last_error=error).where(_ours(order, token)).execute()
    marked = (
        ServiceOrder.update(attention_at=utcnow(), claimed_at=None, claim_token=None, claimed_by=None)
        .where(_ours(order, token) & (ServiceOrder.failures >= max_failures()) & ServiceOrder.attention_at.is_null())
        .execute()
    )
    if marked:
        _tell_operations(ServiceOrder.get_by_id(order.id))


def _tell_operations(order: ServiceOrder) -> None:
    recipient = current_app.config.get("OPS_EMAIL", "") if has_app_context() else ""
    if not recipient:
        log.error("order %s needs attention (%s failures); OPS_EMAIL is not set", order.id, order.failures)
        return
    body = (
        f"La orden de servicio {order.id} (empresa {order.company_id}, producto {order.product_id}) está pagada "
        f"y su procesamiento falló {order.failures} veces; ya no se reintenta sola.\n\n"
        f"Último error:\n{order.last_error}\n\n"
        f"Registros procesados: {order.done_records} de {order.records}. La empresa la ve «En proceso».\n"
        f"Revísala con `flask jobs status` y, corregida la causa, reintenta con `flask jobs retry {order.id}`."
    )
    send_mail(recipient, f"Orden de servicio {order.id}: el procesamiento requiere atención", body)


def retry(order_id: int) -> bool:
    """An order marked for attention is claimable again, its failure count from zero."""
    return bool(
        ServiceOrder.update(attention_at=None, failures=0, claimed_at=None, claim_token=None)
        .where(
            (ServiceOrder.id == order_id)
            & (ServiceOrder.status == ServiceOrder.IN_PROCESS)
            & ServiceOrder.attention_at.is_null(False)
        )
        .execute()
    )


def claim_next() -> tuple[ServiceOrder, str] | None:
    """Claim one paid order nobody is processing (or whose lease expired: its holder died), not
    marked for attention, as a lease held by this process (services/leases.py)."""
    stale = utcnow() - STALE_CLAIM
    free = (
        (ServiceOrder.status == ServiceOrder.IN_PROCESS)
        & ServiceOrder.attention_at.is_null()
        & (ServiceOrder.claimed_at.is_null() | (ServiceOrder.claimed_at < stale))
    )
    token = str(uuid.uuid4())
    claimed = leases.claim_one(ServiceOrder, free, {"claim_token": token, "attempts": ServiceOrder.attempts + 1})
    return None if claimed is None else (ServiceOrder.get_by_id(claimed), token)


def run_order(order: ServiceOrder, token: str, processor: CardProcessor) -> bool:
    """Process every batch of a claimed order, then mark it PROCESADO. False if the claim was lost."""
    terms = product_terms(order.product)
    batches = Batch.select().where((Batch.order == order.id) & (Batch.status == Batch.IN_PROCESS)).order_by(Batch.id)
    for batch in list(batches):
        if not run_batch(order, token, batch, terms, processor):
            return False
    return _finish_order(order, token)


def run_batch(order: ServiceOrder, token: str, batch: Batch, terms: ProductTerms, processor: CardProcessor) -> bool:
    handler = HANDLERS[batch.kind]
    after = -1  # the last line done in this run: later chunks don't rescan the done records
    while True:
        outcome = _process_chunk(order, token, batch, terms, processor, handler, after)
        if outcome is False:
            return False
        if outcome is None:
            return _finish_batch(order, token, batch)
        after = outcome


def _process_chunk(order, token, batch, terms, processor, handler, after: int):
    """One chunk in one transaction: the last line done, None when no record is left, False if
    the claim was lost (everything of the chunk rolled back)."""
    with db.atomic() as transaction:
        unhurried_commit()
        if not _keep_claim(order, token):
            transaction.rollback()
            return False
        rows = _next_records(batch, after)
        if not rows:
            return None
        results = handler(processor, terms, batch, rows)
        rejected = [(result.reason, result.reference) for result in results if not result.ok]
        _mark_records(batch, rows[0][1], rows[-1][1], rejected)
        progressed = (
            ServiceOrder.update(done_records=ServiceOrder.done_records + len(rows), claimed_at=utcnow())
            .where(_ours(order, token))
            .execute()
        )
        if not progressed:
            transaction.rollback()
            return False
    return rows[-1][1]


def _next_records(batch: Batch, after: int) -> list[tuple]:
    """The next chunk: the VALIDO records of the CHUNK lines after `after` or, if that window
    has none (lines done before a crash, or lines that were errors) or this is the run's first
    chunk (`after` -1), of the window starting at the next VALIDO line. Empty when none is left."""
    sql = RECORDS_SQL.replace("?", db.param)
    if after >= 0:  # the first chunk of a run starts at the first VALIDO line
        rows = db.execute_sql(sql, (batch.id, VALID, after, after + CHUNK)).fetchall()
        if rows:
            return rows
    (first,) = db.execute_sql(NEXT_LINE_SQL.replace("?", db.param), (batch.id, VALID, after)).fetchone()
    if first is None:
        return []
    return db.execute_sql(sql, (batch.id, VALID, first - 1, first - 1 + CHUNK)).fetchall()


def _ours(order, token):
    return (
        (ServiceOrder.id == order.id)
        & (ServiceOrder.claim_token == token)
        & (ServiceOrder.status == ServiceOrder.IN_PROCESS)
    )


def _keep_claim(order, token) -> bool:
    return bool(ServiceOrder.update(claimed_at=utcnow()).where(_ours(order, token)).execute())


def _mark_records(batch: Batch, first_line: int, last_line: int, rejected: list[tuple[str, int]]) -> None:
    """The rejected records with their reasons, then every other record of the chunk PROCESADO
    (the chunk is exactly the VALIDO records between its first and last line)."""
    if rejected:
        with peewee.__exception_wrapper__:
            if is_sqlite():
                db.connection().executemany(
                    f"UPDATE batch_record SET status = '{REJECTED}', reason = ? WHERE id = ?", rejected
                )
            else:
                from psycopg2.extras import execute_values

                with db.connection().cursor() as cursor:
                    execute_values(
                        cursor,
                        f"UPDATE batch_record AS r SET status = '{REJECTED}', reason = v.reason "
                        "FROM (VALUES %s) AS v(reason, id) WHERE r.id = v.id",
                        rejected,
                        page_size=len(rejected),
                    )
    BatchRecord.update(status=PROCESSED).where(
        (BatchRecord.batch == batch.id)
        & (BatchRecord.status == VALID)
        & (BatchRecord.line >= first_line)
        & (BatchRecord.line <= last_line)
    ).execute()


def _finish_batch(order: ServiceOrder, token: str, batch: Batch) -> bool:
    with db.atomic() as transaction:
        if not _keep_claim(order, token):
            transaction.rollback()
            return False
        deposited = (
            BatchRecord.select(peewee.fn.COALESCE(peewee.fn.SUM(BatchRecord.amount), 0))
            .where((BatchRecord.batch == batch.id) & (BatchRecord.status == PROCESSED))
            .scalar()
        )
        Batch.update(status=Batch.PROCESSED, processed_at=utcnow(), deposited=deposited).where(
            (Batch.id == batch.id) & (Batch.status == Batch.IN_PROCESS)
        ).execute()
    return True


def _finish_order(order: ServiceOrder, token: str) -> bool:
    with db.atomic() as transaction:
        if Batch.select().where((Batch.order == order.id) & (Batch.status == Batch.IN_PROCESS)).exists():
            transaction.rollback()  # a batch is still in process (moved in meanwhile): the next run
            return False
        finished = (
            ServiceOrder.update(status=ServiceOrder.PROCESSED, processed_at=utcnow(), claim_token=None, claimed_at=None)
            .where(_ours(order, token))
            .execute()
        )
    if finished:
        notices.order_processed(order.id)  # to the uploaders of its batches
    return bool(finished)


# ---------------------------------------------------------------- one handler per batch kind
# rows are (record id, line, id_type, id_number, amount, data JSON)


def _issue_named(processor: CardProcessor, terms: ProductTerms, batch: Batch, rows: list):
    requests = [IssueRequest(row[0], Holder.from_record(orjson.loads(row[5]))) for row in rows]
    return processor.issue(terms, requests)


def _issue_innominate(processor: CardProcessor, terms: ProductTerms, batch: Batch, rows: list):
    """INN: a stock card per record, with the request's embossed lines and branch (the same in
    every record of the request: services/innominate.py)."""
    requests = []
    for record_id, *_rest, data in rows:
        record = orjson.loads(data)
        shown = record.get("expires_on")  # requests made before it travelled with them: None
        requests.append(
            IssueRequest(
                record_id, None, record.get("line1", ""), record.get("line2", ""), record.get("branch_id"),
                date.fromisoformat(shown) if shown else None,
            )
        )  # fmt: skip
    return processor.issue(terms, requests)


def _credit(processor: CardProcessor, terms: ProductTerms, batch: Batch, rows: list):
    label = f"Recarga lote {batch.number}"
    requests = []
    for record_id, _line, id_type, id_number, amount, data in rows:
        note = orjson.loads(data).get("description") or ""
        description = f"{label}: {note}" if note else label
        requests.append(CreditRequest(record_id, id_type, id_number, amount, description[:DESCRIPTION_MAX]))
    return processor.credit(terms, requests)


def _assign(processor: CardProcessor, terms: ProductTerms, batch: Batch, rows: list):
    requests = []
    for record_id, *_rest, data in rows:
        record = orjson.loads(data)
        serial = record.get("serial")
        requests.append(
            AssignRequest(
                record_id, str(record.get("card") or ""), Holder.from_record(record), int(serial) if serial else None
            )
        )
    return processor.assign(terms, requests)


def _replace(processor: CardProcessor, terms: ProductTerms, batch: Batch, rows: list):
    """REP: a new named card for the holder of a card blocked for loss or theft, which gets the
    old card's balance (services/replacement.py)."""
    return replacement.process_records(processor, terms, rows)


HANDLERS = {"EMI": _issue_named, "INN": _issue_innominate, "REC": _credit, "AFI": _assign, "REP": _replace}
