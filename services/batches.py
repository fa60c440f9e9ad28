"""Batches (lotes): upload, background validation, confirmation and deletion (SPEC §5).

Every status change is a conditional UPDATE on the expected status, so two requests or two
job processes can never move the same batch twice.
"""

import gc
import hashlib
import io
import threading
import uuid
from contextlib import contextmanager
from datetime import date, datetime
from itertools import islice
from typing import BinaryIO

import orjson
from flask import current_app
from peewee import JOIN, IntegrityError

from bulk import insert_row, insert_rows, unhurried_commit
from domain.batch_files import MAX_BYTES, MAX_RECORDS, FileRejected, Sheet, read_batch, read_head
from domain.batch_validation import Facts, validate
from domain.clock import local_today
from domain.layouts import BATCH_TYPE_NAMES
from models import (
    Batch,
    BatchError,
    BatchFile,
    BatchRecord,
    Branch,
    Card,
    Person,
    Product,
    db,
    utcnow,
)
from services import Refused, leases, notices
from services.accounts import require_password
from services.audit import Event, record_event

CHUNK = 10_000
STALE_CLAIM = leases.LEASE  # renewed with each chunk and by the lease thread (services/leases.py)
MAX_ATTEMPTS = 3
GAVE_UP = "No fue posible validar el archivo. Elimina el lote y cárgalo de nuevo; si se repite, comunícate con soporte."


def kinds_for(product: Product) -> list[tuple[str, str]]:
    """The batch types a product takes through Carga de lotes: EMI and REC if named, AFI if not."""
    codes = ("EMI", "REC") if product.named else ("AFI",)
    return [(code, BATCH_TYPE_NAMES[code]) for code in codes]


# ---------------------------------------------------------------- upload


def upload(user, product: Product, kind: str, filename: str, content: bytes | BinaryIO) -> Batch:
    """Check and store an uploaded file as a new batch in VALIDANDO; validation runs in a job.
    `content` is the file's bytes or a stream of them (the request's file, read once, here)."""
    with no_cyclic_gc():
        return _upload(user, product, kind, filename, content)


def _upload(user, product: Product, kind: str, filename: str, content: bytes | BinaryIO) -> Batch:
    if kind not in dict(kinds_for(product)):
        raise Refused("Selecciona un tipo de lote válido para este producto")
    config = current_app.config
    content, digest = _received(content, config["BATCH_MAX_BYTES"])
    try:
        # The checks and the header only: every row is read by the validation job.
        head = read_head(
            filename, content, kind, max_bytes=config["BATCH_MAX_BYTES"], max_records=config["BATCH_MAX_RECORDS"]
        )
    except FileRejected as exc:
        raise Refused(str(exc)) from exc
    digest = digest or hashlib.sha256(content).hexdigest()
    if _alive_with_hash(product, digest):
        raise Refused(ALREADY_REGISTERED)
    try:
        with db.atomic():  # all or nothing: the job never sees a batch without its file
            batch = create_numbered(
                company=product.company_id,
                product=product,
                kind=kind,
                status=Batch.VALIDATING,
                filename=filename[:255],
                file_format=head.source,
                file_hash=digest,
                total_records=0,  # counted by the job once it has read the file ("Leyendo archivo…")
                uploaded_by=user.id,
            )
            header = orjson.dumps(list(head.header)).decode()
            insert_row("batch_file", ("batch_id", "content", "header"), (batch.id, content, header))
            record_event(Event.BATCH_UPLOAD, user, product.company, obj=f"lote:{batch.number}", detail=filename[:200])
    except IntegrityError:
        if _alive_with_hash(product, digest):  # the same file uploaded twice at once
            raise Refused(ALREADY_REGISTERED) from None
        raise
    _wake_validation()
    return batch


READ_CHUNK = 1024 * 1024


def _received(content: bytes | BinaryIO, max_bytes: int) -> tuple[bytes, str]:
    """The upload's bytes, read from its stream in chunks into one buffer and hashed as they
    come (SHA-256, hex), so the file is held once; reading stops one byte past `max_bytes`,
    enough for read_head to refuse it. Bytes already read come back as they are, hashed
    later (a refused file is never hashed)."""
    if isinstance(content, bytes):
        return content, ""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    while buffer.tell() <= max_bytes:
        chunk = content.read(min(READ_CHUNK, max_bytes + 1 - buffer.tell()))
        if not chunk:
            break
        digest.update(chunk)
        buffer.write(chunk)
    return buffer.getvalue(), digest.hexdigest()


def _wake_validation() -> None:
    """Start the validation job now rather than on its next tick, where the app knows how
    (the in-process scheduler of `make run` registers WAKE_VALIDATION; see jobs/wakeup.py)."""
    wake = current_app.extensions.get(WAKE_VALIDATION)
    if wake is not None:
        try:
            wake()
        except Exception:  # the job still runs on its interval
            current_app.logger.exception("could not wake the validation job")


WAKE_VALIDATION = "wake_validation"


ALREADY_REGISTERED = "El lote ya está registrado"


def _alive_with_hash(product, digest) -> bool:
    return (
        Batch.select()
        .where((Batch.product == product) & (Batch.file_hash == digest) & (Batch.status.not_in(Batch.NOT_ALIVE)))
        .exists()
    )


def create_numbered(**fields) -> Batch:
    """Create a batch numbered AAMMDDnn (date + daily sequence per company), retrying on a race."""
    prefix = local_today().strftime("%y%m%d")
    for _attempt in range(10):
        numbers = Batch.select(Batch.number).where(
            (Batch.company == fields["company"]) & (Batch.number.startswith(prefix))
        )
        sequence = max((int(b.number[6:]) for b in numbers), default=-1) + 1
        number = f"{prefix}{sequence:02d}"
        if Batch.select().where((Batch.company == fields["company"]) & (Batch.number == number)).exists():
            continue
        try:
            with db.atomic():
                return Batch.create(number=number, **fields)
        except IntegrityError:
            if Batch.select().where((Batch.company == fields["company"]) & (Batch.number == number)).exists():
                continue  # another upload took this number: try the next one
            raise
    raise Refused("No fue posible asignar el número de lote; inténtalo de nuevo")


DATE_TAG = "\x00d:"  # marks a date cell in an error's stored values; no uploaded text contains NUL


def _untag(value):
    if isinstance(value, str) and value.startswith(DATE_TAG):
        text = value[len(DATE_TAG) :]
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    return value


def load_sheet(batch: Batch) -> Sheet:
    """Every row of the batch's file, read by the job (FileRejected if the file is unreadable)."""
    content = BatchFile.select(BatchFile.content).where(BatchFile.batch == batch).first().content
    config = current_app.config
    return read_batch(
        batch.filename,
        bytes(content),
        batch.kind,
        max_bytes=config.get("BATCH_MAX_BYTES", MAX_BYTES),
        max_records=config.get("BATCH_MAX_RECORDS", MAX_RECORDS),
        checked=True,  # read_head ran the safety checks on these bytes at the upload
    )


# ---------------------------------------------------------------- validation job


def claim_next() -> tuple[Batch, str] | None:
    """Claim one batch waiting for validation (or whose lease expired: its holder died) as a
    lease held by this process (services/leases.py: SKIP LOCKED on PostgreSQL)."""
    stale = utcnow() - STALE_CLAIM
    free = (Batch.status == Batch.VALIDATING) & (Batch.claimed_at.is_null() | (Batch.claimed_at < stale))
    token = str(uuid.uuid4())
    claimed = leases.claim_one(Batch, free, {"claim_token": token, "attempts": Batch.attempts + 1})
    return None if claimed is None else (Batch.get_by_id(claimed), token)


def facts_for(batch: Batch) -> Facts:
    """The database facts the validation rules need, looked up once per batch."""
    return facts_for_product(batch.product)


def facts_for_product(product: Product) -> Facts:
    """The facts of validating a file of `product` (the «Afiliar» dialog validates one row)."""
    cards = (
        Card.select(Card.masked_pan, Card.status, Card.serial, Person.id_type, Person.id_number)
        .join(Person, JOIN.LEFT_OUTER, on=(Card.person == Person.id))
        .where(Card.product == product)
    )
    holders, active, unaffiliated, affiliated = set(), set(), set(), set()
    references, serials, ambiguous = {}, {}, set()
    for row in cards.tuples():
        masked, status, serial, id_type, id_number = row
        if serial is not None:
            references[str(serial)] = (masked, id_type is not None)
        if id_type is None:
            if masked in unaffiliated:
                ambiguous.add(masked)
            unaffiliated.add(masked)
            serials[masked] = serial
            continue
        affiliated.add(masked)
        holders.add((id_type, id_number))
        if status == Card.ACTIVE:
            active.add((id_type, id_number))
    return Facts(
        company_nit=product.company.nit,
        branch_codes=frozenset(b.code for b in Branch.select(Branch.code).where(Branch.company == product.company_id)),
        card_limit=product.card_limit,
        holders=frozenset(holders),
        active_holders=frozenset(active),
        unaffiliated_cards=frozenset(unaffiliated),
        affiliated_cards=frozenset(affiliated),
        today=local_today(),
        references=references,
        unaffiliated_serials={m: s for m, s in serials.items() if m not in ambiguous},
        ambiguous_cards=frozenset(ambiguous),
    )


@contextmanager
def no_cyclic_gc():
    """Parsing and validating build millions of small objects and no cycles: the cyclic GC
    would only rescan them again and again (~10 % of the time). Reference counting still frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_validation(batch: Batch, token: str) -> bool:
    """Validate a claimed batch, storing records and errors in chunks (one transaction each).

    Progress is committed with each chunk, so a run killed mid-batch resumes after the last
    committed chunk with nothing stored twice. Returns False if the claim was lost."""
    with no_cyclic_gc():
        return _run_validation(batch, token)


def _run_validation(batch: Batch, token: str) -> bool:
    try:
        sheet = load_sheet(batch)
    except FileRejected as exc:  # what the upload would have said, had it read every row
        return _finish(batch, token, Batch.INVALID, file_errors=str(exc))
    if not _counted(batch, token, sheet):
        return False
    file_errors, outcomes = validate(sheet, facts_for(batch))
    if file_errors:
        text = "\n".join(f"Línea {line}: {message}" for line, message in file_errors)
        return _finish(batch, token, Batch.INVALID, file_errors=text)
    done = batch.processed_records
    valid, errors, amount = batch.valid_records, batch.error_records, batch.amount
    batch_id, dumps = batch.id, orjson.dumps
    record_rows, error_rows = [], []
    position = done
    writer = _ChunkWriter(batch, token)
    try:
        for outcome in islice(outcomes, done, None):  # the first `done` were stored by an earlier run
            position += 1
            if outcome.errors:
                error_rows.append((batch_id, outcome.line, "; ".join(outcome.errors), _raw_json(outcome.values)))
            else:
                r = outcome.record
                cents = r.get("amount", 0)
                data = dumps(r, default=str).decode()  # as record_json
                record_rows.append((batch_id, outcome.line, r["id_type"], r["id_number"], cents, data, *NEW_RECORD))
                amount += cents
            if len(record_rows) + len(error_rows) >= CHUNK:
                valid += len(record_rows)
                errors += len(error_rows)
                if not writer.store(record_rows, error_rows, position, valid, errors, amount):
                    return False
                record_rows, error_rows = [], []
        valid += len(record_rows)
        errors += len(error_rows)
        if (record_rows or error_rows) and not writer.store(record_rows, error_rows, position, valid, errors, amount):
            return False
        if not writer.wait():
            return False
    finally:
        writer.wait(quiet=True)
    status = Batch.VALID if errors == 0 and valid else Batch.PARTIAL if valid else Batch.INVALID
    return _finish(batch, token, status)


def _counted(batch: Batch, token: str, sheet: Sheet) -> bool:
    """Store the number of records and the header as read (the row leaves "Leyendo archivo…");
    False if the claim was lost."""
    with db.atomic():
        still_ours = (
            Batch.update(total_records=len(sheet.rows), claimed_at=utcnow())
            .where((Batch.id == batch.id) & (Batch.claim_token == token) & (Batch.status == Batch.VALIDATING))
            .execute()
        )
        if still_ours:
            header = orjson.dumps(list(sheet.header)).decode()
            BatchFile.update(header=header).where(BatchFile.batch == batch.id).execute()
    batch.total_records = len(sheet.rows)
    return bool(still_ours)


def _raw_json(values) -> str:
    return orjson.dumps([DATE_TAG + v.isoformat() if isinstance(v, date) else v for v in values], default=str).decode()


def record_json(record: dict) -> str:
    return orjson.dumps(record, default=str).decode()


# batch_record rows are (batch_id, line, id_type, id_number, amount, data, status, reason).
RECORD_COLUMNS = ("batch_id", "line", "id_type", "id_number", "amount", "data", "status", "reason")
NEW_RECORD = (BatchRecord.VALID, "")  # status and reason of every new record
ERROR_COLUMNS = ("batch_id", "line", "messages", "raw")


def _store_chunk(batch, token, record_rows, error_rows, position, valid, errors, amount) -> bool:
    """Insert one chunk (rows of RECORD_COLUMNS and ERROR_COLUMNS) and its progress in one
    transaction; abort if the claim was lost (batch deleted meanwhile, or re-claimed after we
    were presumed dead)."""
    with db.atomic() as transaction:
        unhurried_commit()  # lost in a server crash, the chunk is validated again (bulk.py)
        still_ours = (
            Batch.update(
                processed_records=position,
                valid_records=valid,
                error_records=errors,
                amount=amount,
                claimed_at=utcnow(),
            )
            .where((Batch.id == batch.id) & (Batch.claim_token == token) & (Batch.status == Batch.VALIDATING))
            .execute()
        )
        if not still_ours:
            transaction.rollback()
            return False
        insert_rows("batch_record", RECORD_COLUMNS, record_rows, nulls=False)
        insert_rows("batch_error", ERROR_COLUMNS, error_rows, nulls=False)
    return True


class _ChunkWriter:
    """Stores the chunks of one validation run in turn, each while the next one is validated.

    A chunk is stored by _store_chunk in a thread of its own, on that thread's own pooled
    connection: the same single transaction as ever (the claim checked, the chunk's records
    and errors and the progress written, all committed together or not at all), and chunk k+1
    is handed over only after chunk k's transaction has ended and said the claim was still
    ours. What overlaps is the database's work on chunk k (COPY, foreign-key and index checks,
    commit) with the validation of chunk k+1, which touches no database. A claim lost at chunk
    k costs the validation of one more chunk, never a row stored."""

    def __init__(self, batch, token):
        self.batch, self.token = batch, token
        self.thread = None
        self.outcome = None  # (stored, exception) of the chunk in flight

    def store(self, *chunk) -> bool:
        """Hand a chunk over (after the previous one ended); False if the claim was lost."""
        if not self.wait():
            return False
        self.outcome = None
        self.thread = threading.Thread(target=self._store, args=chunk, name=f"batch-{self.batch.id}-chunk")
        self.thread.start()
        return True

    def wait(self, quiet: bool = False) -> bool:
        """Wait for the chunk in flight: True if it was stored (or none was in flight), False
        if the claim was lost; its exception is raised here unless `quiet`."""
        if self.thread is None:
            return True
        self.thread.join()
        self.thread = None
        stored, exception = self.outcome
        if exception is not None and not quiet:
            raise exception
        return stored

    def _store(self, *chunk) -> None:
        try:
            self.outcome = (_store_chunk(self.batch, self.token, *chunk), None)
        except BaseException as exc:  # handed to the validating thread by wait()
            self.outcome = (False, exc)
        finally:
            if not db.is_closed():
                db.close()  # this thread's connection goes back to the pool


def _finish(batch, token, status, file_errors="") -> bool:
    finished = (
        Batch.update(status=status, file_errors=file_errors, validated_at=utcnow(), claim_token=None, claimed_at=None)
        .where((Batch.id == batch.id) & (Batch.claim_token == token) & (Batch.status == Batch.VALIDATING))
        .execute()
    )
    if finished:
        notices.validation_ended(batch.id)  # the uploader's e-mail, with the counts
    return bool(finished)


def upload_waiting() -> bool:
    """A new upload no job has claimed yet: the job's cheap look between runs."""
    return Batch.select().where((Batch.status == Batch.VALIDATING) & Batch.claimed_at.is_null()).exists()


def validate_waiting(limit: int = 10) -> int:
    """Job body: validate waiting batches one after another; returns how many it finished."""
    finished = 0
    for _ in range(limit):
        claim = claim_next()
        if claim is None:
            break
        batch, token = claim
        if batch.attempts > MAX_ATTEMPTS:
            # It failed every time (a bug, or a file that breaks the reader): tell the user.
            _finish(batch, token, Batch.INVALID, file_errors=GAVE_UP)
            finished += 1
            continue
        try:
            with leases.held(Batch, batch.id, token):  # renewed while it runs: parsing, long chunks
                if run_validation(batch, token):
                    finished += 1
        except Exception:
            # Leave the claim to go stale: the next run (or another process) retries it.
            current_app.logger.exception("validation of batch %s failed", batch.id)
            raise
    return finished


# ---------------------------------------------------------------- confirm / delete


def confirm(batch: Batch, user, password: str) -> Batch:
    """VALIDO / VALIDO_PARCIAL → POR_FIRMAR (two signatures) or POR_AUTORIZAR, after the password."""
    require_password(user, password)
    target = Batch.TO_SIGN if batch.company.signatures == 2 else Batch.TO_AUTHORIZE
    moved = (
        Batch.update(
            status=target, confirmed_by=user.id, confirmed_at=utcnow(), observations=batch.confirm_observations
        )
        .where((Batch.id == batch.id) & (Batch.status.in_(Batch.CONFIRMABLE)))
        .execute()
    )
    if not moved:
        raise Refused("El lote no se puede confirmar en su estado actual")
    record_event(Event.BATCH_CONFIRM, user, batch.company, obj=f"lote:{batch.number}")
    notices.batches_waiting(batch.product, [batch], user)  # to the signers or the authorizers
    return Batch.get_by_id(batch.id)


def delete(batch: Batch, user, password: str) -> Batch:
    """Any state before the service order → ELIMINADO, after the password."""
    require_password(user, password)
    moved = (
        Batch.update(status=Batch.DELETED, deleted_by=user.id, deleted_at=utcnow(), claim_token=None)
        .where((Batch.id == batch.id) & (Batch.status.in_(Batch.DELETABLE)))
        .execute()
    )
    if not moved:
        raise Refused("El lote no se puede eliminar en su estado actual")
    record_event(Event.BATCH_DELETE, user, batch.company, obj=f"lote:{batch.number}")
    return Batch.get_by_id(batch.id)


# ---------------------------------------------------------------- queries


def pending(product: Product, search: str = ""):
    """Lotes pendientes of a product: still validating or waiting for confirmation, newest first."""
    query = Batch.select().where((Batch.product == product) & (Batch.status.in_(Batch.PENDING)))
    text = (search or "").strip()
    if text:
        kinds = [code for code, name in BATCH_TYPE_NAMES.items() if text.lower() in name.lower()]
        labels = [s for s, label in Batch.STATUS_LABELS.items() if text.lower() in label.lower()]
        condition = Batch.number.contains(text)
        if kinds:
            condition |= Batch.kind.in_(kinds)
        if labels:
            condition |= Batch.status.in_(labels)
        query = query.where(condition)
    return query.order_by(Batch.created_at.desc(), Batch.id.desc())


def errors_of(batch: Batch):
    return BatchError.select().where(BatchError.batch == batch).order_by(BatchError.line)


def header_of(batch: Batch) -> tuple:
    """The header row of the batch's file, as the user wrote it."""
    return tuple(orjson.loads(BatchFile.select(BatchFile.header).where(BatchFile.batch == batch).first().header))


def error_rows(batch: Batch):
    """(values, messages) of every rejected line, for the error report."""
    for error in errors_of(batch).iterator():
        yield tuple(_untag(v) for v in orjson.loads(error.raw)), error.messages


def records_of(batch: Batch, text: str = ""):
    query = BatchRecord.select().where(BatchRecord.batch == batch.id)
    text = (text or "").strip()
    if text:
        query = query.where(BatchRecord.id_number.contains(text) | BatchRecord.data.contains(text.upper()))
    return query.order_by(BatchRecord.line)


def holder_names(records) -> dict[int, str]:
    """Nombre y apellido of each record: from the record itself (EMI, AFI) or, for a
    recharge, from the cardholder on file."""
    names, missing = {}, []
    for record in records:
        data = orjson.loads(record.data) if record.data else {}
        name = " ".join(p for p in (data.get("first_name"), data.get("first_surname")) if p)
        if name:
            names[record.id] = name
        else:
            missing.append(record)
    if missing:
        people = Person.select(Person.id_type, Person.id_number, Person.first_name, Person.first_surname).where(
            Person.id_number.in_([r.id_number for r in missing])
        )
        known = {(p.id_type, p.id_number): f"{p.first_name} {p.first_surname}".strip() for p in people}
        for record in missing:
            names[record.id] = known.get((record.id_type, record.id_number), "")
    return names
