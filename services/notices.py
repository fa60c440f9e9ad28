"""Notificaciones (issue 14): e-mails of the work waiting for a user, and the same work listed on
the product page.

A step that leaves work for others (a batch to sign or authorize, an order to pay, a validation or
a processing ended, the master account below its threshold) records a Notice per recipient with
`notify`: the active users of the product's company who hold the permission (or the users named,
e.g. the uploader), never the one who acted, never a user who turned that kind off in
Configuración > Usuario > Notificaciones. The hooks are called after the step committed and never
raise: a notice that could not be recorded is logged, the step stands.

The job (jobs/send_notices.py, `send_waiting`) sends at most one e-mail per user and kind every
GAP, grouping every notice recorded meanwhile. Two job processes may run it at once: each (user,
kind) slot is won with a conditional UPDATE of UserNotice.last_sent_at (compare-and-set on the
value read; the row created on first use, IntegrityError meaning another process won), and only
the winner claims the notices (claim_token, WHERE sent_at IS NULL), sends and marks them sent. A
process killed after winning leaves its notices unsent: the next winner, GAP later, takes them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, has_app_context
from peewee import JOIN, IntegrityError, fn

import ledger
from domain.layouts import batch_type_name
from domain.money import format_cop
from models import (
    Batch,
    BatchRecord,
    Company,
    Notice,
    Product,
    ServiceOrder,
    User,
    UserCompany,
    UserNotice,
    UserPermission,
    db,
    utcnow,
)
from services import access
from services import companies as counts_service
from services.mail import send_mail

log = logging.getLogger(__name__)

GAP = timedelta(minutes=15)  # at most one e-mail per user and kind in this time
MAX_LISTED = 50  # notices written out in one e-mail; the rest are counted

FIRMA, AUTORIZACION, PAGO = "FIRMA", "AUTORIZACION", "PAGO"
VALIDACION, PROCESO, SALDO = "VALIDACION", "PROCESO", "SALDO"

# Each kind with the label the user reads (the settings' check boxes, the e-mail's subject).
KINDS = {
    FIRMA: "Lotes por firmar",
    AUTORIZACION: "Lotes por autorizar",
    PAGO: "Órdenes de servicio por pagar",
    VALIDACION: "Validación de mis lotes terminada",
    PROCESO: "Órdenes de mis lotes procesadas",
    SALDO: "Saldo bajo de la cuenta maestra",
}
# The permission whose holders get each kind; the others go to the users a step names.
PERMISSION = {FIRMA: "batch.sign", AUTORIZACION: "batch.authorize", PAGO: "order.pay", SALDO: "master.fund"}
# The first lines of each kind's e-mail.
INTRO = {
    FIRMA: "Estos lotes esperan tu firma:",
    AUTORIZACION: "Estos lotes esperan tu autorización:",
    PAGO: "Estas órdenes de servicio esperan el pago:",
    VALIDACION: "Terminó la validación de estos lotes que cargaste:",
    PROCESO: "Estas órdenes de servicio, con lotes que cargaste, fueron procesadas:",
    SALDO: "La cuenta maestra quedó por debajo del saldo de alerta:",
}


def _quietly(hook):
    """A hook never breaks the step that called it: its failure is logged, 0 returned. Its
    statements run in a transaction (a savepoint inside another), rolled back on failure."""

    @wraps(hook)
    def wrapper(*args, **kwargs):
        if not has_app_context():  # a script without the app (the browser tests' bare seed): no portal, no links
            return 0
        try:
            with db.atomic():
                return hook(*args, **kwargs)
        except Exception:
            log.exception("notices: %s failed; the operation stands", hook.__name__)
            return 0

    return wrapper


# ---------------------------------------------------------------- recording


def _id(user) -> int | None:
    return None if user is None else (user if isinstance(user, int) else user.id)


def recipients(kind: str, product: Product, users_or_permission: str | Iterable, exclude=None) -> list[int]:
    """The ids of the users a notice of `kind` goes to: active, of the product's company, holding
    the permission (a str) or among the users given (users or ids), not `exclude` (the actor),
    not having turned `kind` off."""
    turned_off = UserNotice.select(UserNotice.user).where((UserNotice.kind == kind) & (UserNotice.enabled == False))  # noqa: E712
    members = UserCompany.select(UserCompany.user).where(UserCompany.company == product.company_id)
    query = User.select(User.id).where((User.status == User.ACTIVE) & User.id.in_(members) & User.id.not_in(turned_off))
    if isinstance(users_or_permission, str):
        holders = UserPermission.select(UserPermission.user).where(
            (UserPermission.product == product.id) & (UserPermission.permission == users_or_permission)
        )
        query = query.where(User.id.in_(holders))
    else:
        ids = {_id(u) for u in users_or_permission} - {None}
        if not ids:
            return []
        query = query.where(User.id.in_(sorted(ids)))
    if _id(exclude) is not None:
        query = query.where(User.id != _id(exclude))
    return [row[0] for row in query.order_by(User.id).tuples()]


def notify(kind: str, product: Product, users_or_permission: str | Iterable, text: str, url: str, exclude=None) -> int:
    """Record one Notice of `kind` per recipient (see `recipients`); returns how many."""
    return _record(kind, product, recipients(kind, product, users_or_permission, exclude), [(text, url)])


def _record(kind: str, product: Product, users: Sequence[int], items: Sequence[tuple[str, str]]) -> int:
    """One Notice per user and (text, url) item, in one INSERT."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    if not users or not items:
        return 0
    now = utcnow()
    rows = [
        {"user": u, "kind": kind, "company": product.company_id, "product": product.id,
         "text": text[:300], "url": url[:200], "created_at": now}
        for u in users
        for text, url in items
    ]  # fmt: skip
    Notice.insert_many(rows).execute()
    return len(rows)


def path(endpoint: str, **values) -> str:
    """The portal's path of a page, also outside a request (the jobs record notices too)."""
    adapter = current_app.url_map.bind("", script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return adapter.build(endpoint, values)


def _batch_line(batch: Batch, product: Product, company: Company) -> str:
    what = f"{batch.valid_records} registro(s)"
    if batch.amount:
        what += f" por {format_cop(batch.amount)}"
    return f"Lote {batch.number} ({batch_type_name(batch.kind)}) de {product.name}, {company.name}: {what}"


# ---------------------------------------------------------------- the hooks of each step


@_quietly
def batches_waiting(product: Product, batches: Sequence[Batch], actor=None) -> int:
    """Batches confirmed, signed, or back to signature: FIRMA to the signers (POR_FIRMAR) or
    AUTORIZACION to the authorizers (POR_AUTORIZAR), the one who moved them excepted."""
    ids = [b.id for b in batches]
    if not ids:
        return 0
    company = Company.get_by_id(product.company_id)
    url = path("authorization.index", product_id=product.id)
    items: dict[str, list[tuple[str, str]]] = {}
    for batch in Batch.select().where(Batch.id.in_(ids)).order_by(Batch.id):
        kind = {Batch.TO_SIGN: FIRMA, Batch.TO_AUTHORIZE: AUTORIZACION}.get(batch.status)
        if kind is not None:  # else moved on meanwhile
            items.setdefault(kind, []).append((_batch_line(batch, product, company), url))
    return sum(
        _record(kind, product, recipients(kind, product, PERMISSION[kind], actor), lines)
        for kind, lines in items.items()
    )


@_quietly
def validation_ended(batch_id: int) -> int:
    """VALIDACION to the uploader, with the counts."""
    batch = Batch.get_by_id(batch_id)
    if batch.uploaded_by_id is None:
        return 0
    product = Product.get_by_id(batch.product_id)
    company = Company.get_by_id(product.company_id)
    text = (
        f"Lote {batch.number} ({batch_type_name(batch.kind)}) de {product.name}, {company.name}: "
        f"{batch.status_label}; {batch.valid_records} registro(s) válido(s) y {batch.error_records} con errores"
    )
    if batch.file_errors:
        text += " (el archivo tiene errores)"
    url = path("batches.upload", product_id=product.id)
    return notify(VALIDACION, product, [batch.uploaded_by_id], text, url)


@_quietly
def orders_created(product: Product, orders: Sequence[ServiceOrder], actor=None) -> int:
    """PAGO to the payers, for each order with something to pay (a free one is settled without
    a payment: services/orders.settle_free)."""
    company = Company.get_by_id(product.company_id)
    sent = 0
    for order in orders:
        if order.total_to_pay <= 0:
            continue
        text = (
            f"Orden de servicio {order.id} de {product.name}, {company.name}: "
            f"{order.records} registro(s), total a pagar {format_cop(order.total_to_pay)}"
        )
        url = path("orders.detail", product_id=product.id, order_id=order.id)
        sent += notify(PAGO, product, PERMISSION[PAGO], text, url, actor)
    return sent


@_quietly
def order_processed(order_id: int) -> int:
    """PROCESO to the uploaders of the order's batches, each told about their own batches."""
    order = ServiceOrder.get_by_id(order_id)
    product = Product.get_by_id(order.product_id)
    company = Company.get_by_id(product.company_id)
    batches = list(Batch.select().where(Batch.order == order.id).order_by(Batch.id))
    rejected = dict(
        BatchRecord.select(BatchRecord.batch, fn.COUNT(BatchRecord.id))
        .where(BatchRecord.batch.in_([b.id for b in batches]) & (BatchRecord.status == BatchRecord.REJECTED))
        .group_by(BatchRecord.batch)
        .tuples()
    ) if batches else {}  # fmt: skip
    by_uploader: dict[int, list[str]] = {}
    for batch in batches:
        if batch.uploaded_by_id is None:
            continue
        bad = rejected.get(batch.id, 0)
        by_uploader.setdefault(batch.uploaded_by_id, []).append(
            f"lote {batch.number} ({batch_type_name(batch.kind)}): {batch.valid_records - bad} procesado(s)"
            f" y {bad} rechazado(s)"
        )
    url = path("orders.detail", product_id=product.id, order_id=order.id)
    sent = 0
    for uploader, lines in by_uploader.items():
        text = f"Orden de servicio {order.id} de {product.name}, {company.name}, procesada: " + "; ".join(lines)
        sent += notify(PROCESO, product, [uploader], text, url)
    return sent


@_quietly
def balance_fell(product: Product, before: int, after: int, actor=None) -> int:
    """SALDO to the treasurers when the master account went from at or above the product's
    low_balance_alert to below it (0: no alert)."""
    alert = Product.select(Product.low_balance_alert).where(Product.id == product.id).scalar() or 0
    if alert <= 0 or not (before >= alert > after):
        return 0
    company = Company.get_by_id(product.company_id)
    text = (
        f"Cuenta maestra de {product.name}, {company.name}: el saldo quedó en {format_cop(after)}, "
        f"por debajo de {format_cop(alert)}"
    )
    return notify(SALDO, product, PERMISSION[SALDO], text, path("master.index", product_id=product.id), actor)


class balance_watch:  # noqa: N801 - used as a `with` statement, like a function
    """`with balance_watch(product, user): …operations…` reads the master account's balance
    before and after the block and calls `balance_fell`; a failed read only skips the notice."""

    def __init__(self, product: Product, actor=None):
        self.product, self.actor, self.before = product, actor, None

    def _balance(self) -> int | None:
        try:
            return ledger.balance(ledger.master_account(self.product))
        except Exception:
            log.exception("notices: could not read the master balance of product %s", self.product.id)
            return None

    def __enter__(self):
        self.before = self._balance()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self.before is not None:
            after = self._balance()
            if after is not None:
                balance_fell(self.product, self.before, after, self.actor)
        return False


# ---------------------------------------------------------------- the settings


def preferences(user) -> list[tuple[str, str, bool]]:
    """(kind, label, enabled) of every kind, for the user's settings (no row: enabled)."""
    off = {
        kind
        for (kind,) in UserNotice.select(UserNotice.kind)
        .where((UserNotice.user == _id(user)) & (UserNotice.enabled == False))  # noqa: E712
        .tuples()
    }
    return [(kind, label, kind not in off) for kind, label in KINDS.items()]


def set_preferences(user, enabled: Iterable[str]) -> None:
    """Turn each kind on if it is in `enabled`, off otherwise; the unsent notices of a kind
    turned off are dropped (unknown codes are ignored)."""
    wanted = set(enabled) & set(KINDS)
    user_id = _id(user)
    with db.atomic():
        for kind in KINDS:
            on = kind in wanted
            changed = (
                UserNotice.update(enabled=on).where((UserNotice.user == user_id) & (UserNotice.kind == kind)).execute()
            )
            if not changed:
                try:
                    with db.atomic():
                        UserNotice.create(user=user_id, kind=kind, enabled=on)
                except IntegrityError:  # created meanwhile (a job's first e-mail, another tab)
                    UserNotice.update(enabled=on).where(
                        (UserNotice.user == user_id) & (UserNotice.kind == kind)
                    ).execute()
        off = [k for k in KINDS if k not in wanted]
        Notice.delete().where((Notice.user == user_id) & Notice.kind.in_(off) & Notice.sent_at.is_null()).execute()


# ---------------------------------------------------------------- the product page


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def waiting_work(user, product: Product, permissions: frozenset | None = None, counts: dict | None = None):
    """[(text, url)] of the work waiting on this product that the user's permissions let them
    do, counted now ("3 lotes por autorizar"). `permissions` and `counts` (services/companies
    product_counts, with batches and orders) may come from the caller, already read."""
    perms = access.permissions(_id(user), product.id) if permissions is None else permissions
    if not shows_waiting_work(perms, product):
        return []
    two = product.company.signatures == 2
    wants_batches = ("batch.sign" in perms and two) or "batch.authorize" in perms
    wants_orders = "order.pay" in perms
    if counts is None:
        counts = counts_service.product_counts(product.id, wants_batches, wants_orders, False)
    to_authorize, to_sign, _ = counts.get(Batch._meta.table_name, (0, 0, 0))
    to_pay, _paid, _ = counts.get(ServiceOrder._meta.table_name, (0, 0, 0))
    work, authorization = [], path("authorization.index", product_id=product.id)
    if two and "batch.sign" in perms and to_sign:
        work.append((_plural(to_sign, "lote por firmar", "lotes por firmar"), authorization))
    if "batch.authorize" in perms and to_authorize:
        work.append((_plural(to_authorize, "lote por autorizar", "lotes por autorizar"), authorization))
    if wants_orders and to_pay:
        url = path("orders.index", product_id=product.id) + f"?estado={ServiceOrder.PENDING_PAYMENT}"
        work.append((_plural(to_pay, "orden de servicio por pagar", "órdenes de servicio por pagar"), url))
    return work


def shows_waiting_work(permissions: frozenset, product: Product) -> bool:
    """Whether the product page has a «Pendientes» list for these permissions."""
    return (
        ("batch.sign" in permissions and product.company.signatures == 2)
        or "batch.authorize" in permissions
        or "order.pay" in permissions
    )


# ---------------------------------------------------------------- the job


def _link(url: str) -> str:
    """A notice's link as the e-mail writes it: absolute with BASE_URL, if the app has one."""
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    return f"{base}{url}" if url.startswith("/") else url


def _due_pairs(now: datetime) -> list[tuple[int, str]]:
    """(user id, kind) with unsent notices whose last e-mail of that kind is GAP old (or none)."""
    slot = UserNotice.alias()
    query = (
        Notice.select(Notice.user, Notice.kind)
        .join(slot, JOIN.LEFT_OUTER, on=((slot.user == Notice.user) & (slot.kind == Notice.kind)))
        .where(
            Notice.sent_at.is_null()
            & (
                slot.id.is_null()
                | ((slot.enabled == True) & (slot.last_sent_at.is_null() | (slot.last_sent_at <= now - GAP)))  # noqa: E712
            )
        )
        .distinct()
        .order_by(Notice.user, Notice.kind)
    )
    return list(query.tuples())


def _win_slot(user_id: int, kind: str, now: datetime):
    """Take the (user, kind) e-mail slot for `now`: the previous last_sent_at (None: never sent)
    wrapped in a 1-tuple if this process won it, None if it is not due or another one won."""
    row = UserNotice.get_or_none((UserNotice.user == user_id) & (UserNotice.kind == kind))
    if row is None:
        try:
            with db.atomic():
                UserNotice.create(user=user_id, kind=kind, enabled=True, last_sent_at=now)
            return (None,)
        except IntegrityError:  # another process created it first: it holds the slot
            return None
    if not row.enabled or (row.last_sent_at is not None and row.last_sent_at > now - GAP):
        return None
    previous = (
        UserNotice.last_sent_at.is_null() if row.last_sent_at is None else UserNotice.last_sent_at == row.last_sent_at
    )
    won = (
        UserNotice.update(last_sent_at=now)
        .where((UserNotice.id == row.id) & (UserNotice.enabled == True) & previous)  # noqa: E712
        .execute()
    )
    return (row.last_sent_at,) if won else None


def _give_back(user_id: int, kind: str, now: datetime, previous) -> None:
    """Nothing was left to send (another process sent it under an earlier slot): the slot goes
    back, so the next notice is not held for GAP."""
    UserNotice.update(last_sent_at=previous).where(
        (UserNotice.user == user_id) & (UserNotice.kind == kind) & (UserNotice.last_sent_at == now)
    ).execute()


def body_of(user: User, kind: str, notices: Sequence[Notice]) -> str:
    """The e-mail grouping `notices` of one kind for one user."""
    lines = [f"Hola {user.full_name},", "", INTRO[kind], ""]
    for notice in notices[:MAX_LISTED]:
        lines.append(f"- {notice.text}")
        if notice.url:
            lines.append(f"  En el portal: {_link(notice.url)}")
    if len(notices) > MAX_LISTED:
        lines.append(f"- … y {len(notices) - MAX_LISTED} más.")
    lines += [
        "",
        f"Recibes este correo porque tienes activa la notificación «{KINDS[kind]}». Puedes desactivarla en "
        "Configuración > Usuario > Notificaciones.",
    ]
    return "\n".join(lines) + "\n"


def subject_of(kind: str, count: int) -> str:
    return f"Conexión Empresas: {KINDS[kind]}" + (f" ({count})" if count > 1 else "")


def _send_one(user_id: int, kind: str, now: datetime) -> bool:
    """Claim the pair's unsent notices for this run, e-mail them in one message, mark them sent."""
    token = str(uuid.uuid4())
    claimed = (
        Notice.update(claim_token=token)
        .where((Notice.user == user_id) & (Notice.kind == kind) & Notice.sent_at.is_null())
        .execute()
    )
    if not claimed:
        return False
    notices = list(Notice.select().where(Notice.claim_token == token).order_by(Notice.created_at, Notice.id))
    user = User.get_or_none(User.id == user_id)
    if notices and user is not None and user.is_active:
        send_mail(user.email, subject_of(kind, len(notices)), body_of(user, kind, notices))
    # A user blocked or inactivated meanwhile gets nothing: the notices are dropped as sent.
    Notice.update(sent_at=now).where((Notice.claim_token == token) & Notice.sent_at.is_null()).execute()
    return bool(notices) and user is not None and user.is_active


def send_waiting(now: datetime | None = None) -> int:
    """Job body: one e-mail per (user, kind) that is due, grouping its unsent notices; returns
    how many e-mails were sent. Safe with several job processes at once (see the module's doc)."""
    now = now or utcnow()
    # The notices of a kind turned off after they were recorded are never sent.
    turned_off = UserNotice.select(UserNotice.id).where(
        (UserNotice.user == Notice.user) & (UserNotice.kind == Notice.kind) & (UserNotice.enabled == False)  # noqa: E712
    )
    Notice.delete().where(Notice.sent_at.is_null() & fn.EXISTS(turned_off)).execute()
    sent = 0
    for user_id, kind in _due_pairs(now):
        won = _win_slot(user_id, kind, now)
        if won is None:
            continue
        try:
            if _send_one(user_id, kind, now):
                sent += 1
            else:
                _give_back(user_id, kind, now, won[0])
        except Exception:  # the notices stay unsent: the next slot (GAP later) takes them
            log.exception("notices: e-mail of %s to user %s failed", kind, user_id)
    return sent
