"""Peewee models and the database connection (SQLite by default, PostgreSQL by DATABASE_URL)."""

import os
import threading
from datetime import UTC, datetime
from decimal import Decimal

from peewee import (
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    DeferredForeignKey,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)
from playhouse.db_url import connect

from domain.card_states import LABELS as CARD_LABELS
from domain.card_states import CardState, plastic_label, takes_money
from domain.permissions import PERMISSIONS

db = DatabaseProxy()


def utcnow() -> datetime:
    """Naive UTC timestamp: both SQLite and PostgreSQL store it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


# Connections are pooled: a request (or a job's run) checks one out and gives it back, instead
# of opening a connection (and, on SQLite, setting four PRAGMAs) every time. Unbounded, as
# opening one per request was; an idle one is closed after STALE_SECONDS. A pooled connection
# holds no state between requests (PostgreSQL's is rolled back if a transaction was left open).
STALE_SECONDS = 300


def _pooled(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return url if scheme.endswith("+pool") else f"{scheme}+pool{sep}{rest}"


def open_database(url: str):
    """Connect the proxy to the database named by `url` (pooled connections) and return it."""
    previous = db.obj
    if previous is not None and hasattr(previous, "close_idle"):
        previous.close_idle()  # the proxy moves to another database: the old pool keeps nothing open
    pool = {"max_connections": None, "stale_timeout": STALE_SECONDS}
    if url.startswith("sqlite"):
        database = connect(
            _pooled(url),
            **pool,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 10000,
                "synchronous": "normal",
            },
            check_same_thread=False,
            # Transactions take the write lock up front, so two writers queue on
            # busy_timeout instead of failing with "database is locked" mid-transaction.
            lock_type="IMMEDIATE",
        )
    else:
        database = connect(_pooled(url), **pool)
    db.initialize(database)
    return database


# A forked child (a gunicorn worker of a preloaded app, a job's subprocess) must not use, nor
# close, the connections it inherited: they are its parent's sockets (closing a PostgreSQL one
# would end the parent's session). The child forgets them and opens its own.
_INHERITED = []  # kept referenced, so the garbage collector never closes them in the child


def _forget_inherited_connections() -> None:
    database = db.obj
    if database is None:
        return
    state = database._state
    if state.conn is not None:
        _INHERITED.append(state.conn)
    state.reset()
    database._lock = threading.Lock()  # a lock some other thread of the parent held stays held
    if hasattr(database, "_in_use"):
        _INHERITED.extend(c.connection for c in database._in_use.values())
        _INHERITED.extend(conn for _ts, _n, conn in database._connections)
        database._in_use, database._connections = {}, []
        database._pool_lock = threading.RLock()
        database._pool_available = threading.Condition(database._pool_lock)


os.register_at_fork(after_in_child=_forget_inherited_connections)


class RateField(CharField):
    """A rate or percentage kept exactly, as the text of a Decimal (never a float)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(*args, **kwargs)

    def db_value(self, value):
        return None if value is None else str(Decimal(str(value)))

    def python_value(self, value):
        return None if value is None else Decimal(value)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Labelled:
    """A model with a `status` column and its STATUS_LABELS: `status_label` is what a user reads."""

    STATUS_LABELS: dict[str, str] = {}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class Company(BaseModel):
    nit = CharField(max_length=12, unique=True)
    name = CharField(max_length=120)
    legal_name = CharField(max_length=160)
    contact = CharField(max_length=120, default="")
    address = CharField(max_length=160, default="")
    billing_address = CharField(max_length=160, default="")
    phone1 = CharField(max_length=20, default="")
    phone2 = CharField(max_length=20, default="")
    phone3 = CharField(max_length=20, default="")
    signatures = IntegerField(default=1)
    bank_account = CharField(max_length=30, default="")
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def search(cls, query, text=""):
        text = (text or "").strip()
        if text:
            query = query.where(cls.name.contains(text) | cls.legal_name.contains(text) | cls.nit.contains(text))
        return query


class Branch(BaseModel):
    company = ForeignKeyField(Company, backref="branches", on_delete="CASCADE")
    code = CharField(max_length=3)
    name = CharField(max_length=120)
    address = CharField(max_length=160, default="")
    city = CharField(max_length=60, default="")
    contact = CharField(max_length=120, default="")
    phone = CharField(max_length=20, default="")

    class Meta:
        indexes = ((("company", "code"), True),)


class Product(BaseModel):
    """A card product of one company, with its fee schedule (SPEC §7) and limits (SPEC §9)."""

    company = ForeignKeyField(Company, backref="products", on_delete="CASCADE")
    name = CharField(max_length=80)
    named = BooleanField(default=True)
    bin = CharField(max_length=8, default="450714")
    validity_months = IntegerField(default=36)
    max_innominate = IntegerField(default=500)
    affiliation_fee = BigIntegerField(default=0)  # per card affiliated (AFI); 0: affiliating is free (migration 5)
    replacement_fee = BigIntegerField(default=0)  # per card replaced by a new named card (REP, migration 8)
    low_balance_alert = BigIntegerField(
        default=0
    )  # notify the treasurers below this master balance; 0: off (migration 10)
    # Fee schedule: money in centavos, rates as exact decimals.
    card_price_named = BigIntegerField(default=0)
    card_price_unnamed = BigIntegerField(default=0)
    distribution_cost = BigIntegerField(default=0)
    recharge_rate = RateField(default=Decimal("0"))
    recharge_min = BigIntegerField(default=0)
    iva_rate = RateField(default=Decimal("0.19"))
    gmf_rate = RateField(default=Decimal("0.004"))
    # Limits.
    card_limit = BigIntegerField(default=1_000_000_000)
    transfer_fee = BigIntegerField(default=0)
    inquiry_fee = BigIntegerField(default=0)
    operation_min = BigIntegerField(default=100)
    operation_max = BigIntegerField(default=500_000_000)
    daily_amount_max = BigIntegerField(default=2_000_000_000)
    daily_count_max = IntegerField(default=100)
    # Cuenta maestra (migration 7): card operations per week, and the funding of the master
    # account from the company's bank account per deposit, day and month.
    weekly_amount_max = BigIntegerField(default=10_000_000_000)
    fund_max = BigIntegerField(default=2_000_000_000)
    fund_daily_max = BigIntegerField(default=5_000_000_000)
    fund_monthly_max = BigIntegerField(default=50_000_000_000)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("company", "name"), True),)

    @property
    def kind_label(self) -> str:
        return "Nominada" if self.named else "Innominada"


class User(Labelled, BaseModel):
    ACTIVE, BLOCKED, INACTIVE = "ACTIVO", "BLOQUEADO", "INACTIVO"
    STATUS_LABELS = {ACTIVE: "Activo", BLOCKED: "Bloqueado", INACTIVE: "Inactivo"}

    username = CharField(max_length=40, unique=True)
    password_hash = CharField(max_length=255)
    first_name = CharField(max_length=80)
    last_name = CharField(max_length=80, default="")
    position = CharField(max_length=80, default="")
    area = CharField(max_length=80, default="")
    email = CharField(max_length=200)
    status = CharField(max_length=12, default=ACTIVE)
    terms_accepted_at = DateTimeField(null=True)
    must_change_password = BooleanField(default=True)
    password_changed_at = DateTimeField(default=utcnow)
    temp_password_hash = CharField(max_length=255, null=True)  # a pending recovery password
    temp_password_expires_at = DateTimeField(null=True)
    failed_attempts = IntegerField(default=0)
    last_login_at = DateTimeField(null=True)
    session_version = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    # flask-login protocol
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.status == self.ACTIVE

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def companies(self):
        return Company.select().join(UserCompany).where(UserCompany.user == self).order_by(Company.name)

    def permissions_for(self, product) -> frozenset:
        return frozenset(r.permission for r in UserPermission.of(self, product))


class PasswordHistory(BaseModel):
    user = ForeignKeyField(User, backref="password_history", on_delete="CASCADE")
    password_hash = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)


class UserCompany(BaseModel):
    user = ForeignKeyField(User, on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "company"), True),)


class UserPermission(BaseModel):
    user = ForeignKeyField(User, on_delete="CASCADE")
    product = ForeignKeyField(Product, on_delete="CASCADE")
    permission = CharField(max_length=40, choices=[(p, p) for p in PERMISSIONS])

    class Meta:
        indexes = ((("user", "product", "permission"), True),)

    @classmethod
    def of(cls, user, product):
        """The permissions `user` holds on `product` (services/access.py runs it once per request)."""
        return cls.select(cls.permission).where((cls.user == user) & (cls.product == product))


class AuditEvent(BaseModel):
    tag = CharField(max_length=40, index=True)
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    username = CharField(max_length=40, default="")
    company = ForeignKeyField(Company, null=True, on_delete="SET NULL")
    object_ref = CharField(max_length=80, default="")
    ip = CharField(max_length=45, default="")
    detail = TextField(default="")
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("user", "id"), False),)  # a user's actions (Actividad por usuario, migration 9)


class LoginAttempt(BaseModel):
    """One row per login or recovery attempt, for the per-IP rate limit shared by all app nodes."""

    ip = CharField(max_length=45, index=True)
    username = CharField(max_length=40, default="", index=True)
    created_at = DateTimeField(default=utcnow, index=True)


class OutboxMessage(BaseModel):
    STORED, PENDING, SENT, FAILED = "GUARDADO", "PENDIENTE", "ENVIADO", "FALLIDO"

    recipient = CharField(max_length=200)
    subject = CharField(max_length=200)
    body = TextField()
    status = CharField(max_length=12, default=STORED, index=True)
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    claimed_at = DateTimeField(null=True)
    claimed_by = CharField(max_length=120, null=True)  # the lease holder, "host:pid:start" (services/leases.py)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)


class BankAccount(BaseModel):
    """An account at the simulated bank (the external system that pays service orders)."""

    number = CharField(max_length=30, unique=True)
    holder_nit = CharField(max_length=12)
    holder_name = CharField(max_length=160)
    balance = BigIntegerField(default=0)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)


class BankMovement(BaseModel):
    """Append-only movements of the simulated bank; `key` makes each operation happen once."""

    account = ForeignKeyField(BankAccount, backref="movements", on_delete="CASCADE")
    key = CharField(max_length=80, unique=True)
    amount = BigIntegerField()
    balance_after = BigIntegerField()
    description = CharField(max_length=160)
    created_at = DateTimeField(default=utcnow)


class Person(BaseModel):
    """A cardholder, identified by document type and number."""

    id_type = CharField(max_length=3)
    id_number = CharField(max_length=15)
    first_surname = CharField(max_length=100, default="")
    second_surname = CharField(max_length=100, default="")
    first_name = CharField(max_length=100, default="")
    second_name = CharField(max_length=100, default="")
    birth_date = DateField(null=True)
    marital_status = CharField(max_length=12, default="")
    sex = CharField(max_length=1, default="")
    address = CharField(max_length=100, default="")
    city = CharField(max_length=40, default="")
    phone = CharField(max_length=10, default="")
    mobile = CharField(max_length=10, default="")
    email = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    # Optional fields of the issuer's 17-column emission layout (migration 3).
    postal_code = CharField(max_length=10, default="")
    correspondence_address = CharField(max_length=100, default="")
    correspondence_postal_code = CharField(max_length=10, default="")

    class Meta:
        indexes = ((("id_type", "id_number"), True),)

    @property
    def full_name(self) -> str:
        parts = (self.first_name, self.second_name, self.first_surname, self.second_surname)
        return " ".join(p for p in parts if p)


class Card(Labelled, BaseModel):
    """A prepaid card of a product. An innominate (stock) card is NO_AFILIADA, with no person,
    until an AFI batch gives it one: then it is ACTIVA (SPEC §8, §10a)."""

    ACTIVE = CardState.ACTIVE.value
    NOT_AFFILIATED = CardState.NOT_AFFILIATED.value
    STATUS_LABELS = {state.value: text for state, text in CARD_LABELS.items()}

    product = ForeignKeyField(Product, backref="cards", on_delete="CASCADE")
    person = ForeignKeyField(Person, null=True, backref="cards", on_delete="SET NULL")
    masked_pan = CharField(max_length=19)
    status = CharField(max_length=20, index=True)  # domain/card_states.py (20 since migration 7)
    created_at = DateTimeField(default=utcnow)
    # Set by the card processor (adapters/processor.py); never the full card number.
    serial = BigIntegerField(null=True)
    expires_on = DateField(null=True)
    account = DeferredForeignKey("LedgerAccount", null=True, on_delete="SET NULL")
    record = DeferredForeignKey("BatchRecord", null=True, unique=True, on_delete="SET NULL")
    # Innominate cards (migration 5): the embossed lines, the branch the stock belongs to, and
    # when the card was given to its cardholder.
    # Consulta de tarjetas (migration 8): the plastic's delivery (domain/card_states.py
    # PLASTIC_*), when the card last changed state, and the card that replaced it.
    last4 = CharField(max_length=4, default="")  # the number's last 4 digits: searched, with the product, by an index
    plastic_status = CharField(max_length=20, default="EN_ELABORACION")
    plastic_at = DateTimeField(null=True)
    status_changed_at = DateTimeField(null=True)
    replaced_by = ForeignKeyField("self", null=True, on_delete="SET NULL", backref="replaced")
    replaced_reason = CharField(max_length=20, default="")  # the block it was replaced for (migration 9)
    emboss_line1 = CharField(max_length=25, default="")
    emboss_line2 = CharField(max_length=25, default="")
    branch = ForeignKeyField(Branch, null=True, on_delete="SET NULL", backref="cards")
    affiliated_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("product", "status"), False), (("product", "last4"), False), (("product", "person"), False))

    def save(self, *args, **kwargs):
        if not self.last4 and self.masked_pan:
            self.last4 = self.masked_pan[-4:]
        return super().save(*args, **kwargs)

    @property
    def is_affiliated(self) -> bool:
        return self.person_id is not None

    @property
    def plastic_label(self) -> str:
        return plastic_label(self.plastic_status)

    @property
    def takes_money(self) -> bool:
        """Credits, debits and balance inquiries (the cuenta maestra) are for active cards only."""
        return takes_money(self.status)

    @property
    def masked_account(self) -> str:
        """Número de cuenta as the issuer shows it: BIN, four asterisks, the last 4 digits."""
        return f"{self.masked_pan[:6]}****{self.masked_pan[-4:]}"


class Batch(Labelled, BaseModel):
    """A batch (lote): an uploaded file (EMI, REC, AFI) or an innominate request (INN).

    Status changes only through the step that makes it (services/batches.py: upload, validation,
    confirm, delete; services/authorization.py: sign, authorize; services/orders.py and
    services/processing.py: void, pay, process), each a conditional UPDATE."""

    VALIDATING, VALID, PARTIAL, INVALID = "VALIDANDO", "VALIDO", "VALIDO_PARCIAL", "NO_VALIDO"
    TO_SIGN, TO_AUTHORIZE, IN_ORDER = "POR_FIRMAR", "POR_AUTORIZAR", "EN_ORDEN"
    IN_PROCESS, PROCESSED, VOIDED, DELETED = "EN_PROCESO", "PROCESADO", "ANULADO", "ELIMINADO"

    company = ForeignKeyField(Company, backref="batches", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="batches", on_delete="CASCADE")
    number = CharField(max_length=12)
    kind = CharField(max_length=3)
    status = CharField(max_length=16)
    filename = CharField(max_length=255, default="")
    file_format = CharField(max_length=8, default="")
    file_hash = CharField(max_length=64, default="", index=True)
    total_records = IntegerField(default=0)
    processed_records = IntegerField(default=0)
    valid_records = IntegerField(default=0)
    error_records = IntegerField(default=0)
    amount = BigIntegerField(default=0)
    file_errors = TextField(default="")
    observations = CharField(max_length=200, default="")
    uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="uploaded_batches")
    created_at = DateTimeField(default=utcnow)
    validated_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)
    claimed_at = DateTimeField(null=True)
    claimed_by = CharField(max_length=120, null=True)  # the lease holder, "host:pid:start" (services/leases.py)
    attempts = IntegerField(default=0)  # validation runs started; a batch that keeps failing ends NO_VALIDO
    confirmed_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="confirmed_batches")
    confirmed_at = DateTimeField(null=True)
    deleted_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="deleted_batches")
    deleted_at = DateTimeField(null=True)
    # Authorization (SPEC §6) and the costs frozen into its service order (SPEC §7).
    signed_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="signed_batches")
    signed_at = DateTimeField(null=True)
    authorized_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="authorized_batches")
    authorized_at = DateTimeField(null=True)
    order = DeferredForeignKey("ServiceOrder", null=True, on_delete="SET NULL", backref="batches")
    unit_price = BigIntegerField(default=0)
    card_price_total = BigIntegerField(default=0)
    distribution = BigIntegerField(default=0)
    recharge_commission = BigIntegerField(default=0)
    commission = BigIntegerField(default=0)
    gmf = BigIntegerField(default=0)
    deposited = BigIntegerField(default=0)  # Monto abonado a tarjetas: Σ credited to cards when processed
    processed_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("company", "number"), True),
            (("product", "status"), False),
            (("status",), False),  # the validation job's look for new uploads (migration 12)
        )

    STATUS_LABELS = {
        VALIDATING: "Validando",
        VALID: "Válido",
        PARTIAL: "Válido con errores",
        INVALID: "No válido",
        TO_SIGN: "Por firmar",
        TO_AUTHORIZE: "Por autorizar",
        IN_ORDER: "En orden de servicio",
        IN_PROCESS: "En proceso",
        PROCESSED: "Procesado",
        VOIDED: "Anulado",
        DELETED: "Eliminado",
    }
    PENDING = (VALIDATING, VALID, PARTIAL, INVALID)  # Lotes pendientes of Carga de lotes
    CONFIRMABLE = (VALID, PARTIAL)
    DELETABLE = (*PENDING, TO_SIGN, TO_AUTHORIZE)  # any state before the service order
    NOT_ALIVE = (DELETED, VOIDED)  # its file may be uploaded again

    @classmethod
    def of_product(cls, product, batch_id: int):
        """The batch if it belongs to `product` (already checked against the user's companies), else None."""
        return cls.get_or_none((cls.id == batch_id) & (cls.product == product))

    @property
    def is_validating(self) -> bool:
        return self.status == self.VALIDATING

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def is_confirmable(self) -> bool:
        return self.status in self.CONFIRMABLE

    @property
    def is_deletable(self) -> bool:
        return self.status in self.DELETABLE

    @property
    def has_errors(self) -> bool:
        """Validated with rejected lines (Válido con errores, No válido)."""
        return self.status in (self.PARTIAL, self.INVALID)

    @property
    def is_waiting_signature(self) -> bool:
        return self.status in (self.TO_SIGN, self.TO_AUTHORIZE)

    @property
    def confirm_observations(self) -> str:
        """The Observaciones of Confirmación de lote (kept on the batch when confirmed)."""
        if self.status == self.PARTIAL:
            return (
                f"El lote tiene {self.error_records} registro(s) con error; "
                f"solo se confirmarán los {self.valid_records} válidos"
            )
        return "Lote cargado exitosamente"


class BatchFile(BaseModel):
    """The uploaded file as received, and its header row (JSON) for the error report."""

    batch = ForeignKeyField(Batch, unique=True, backref="files", on_delete="CASCADE")
    content = BlobField()
    header = TextField(default="[]")


class BatchRecord(Labelled, BaseModel):
    """A valid record of a batch; processing marks it PROCESADO or RECHAZADO (with a reason)."""

    VALID, PROCESSED, REJECTED = "VALIDO", "PROCESADO", "RECHAZADO"
    STATUS_LABELS = {VALID: "Por procesar", PROCESSED: "Procesado", REJECTED: "Rechazado"}

    batch = ForeignKeyField(Batch, backref="records", on_delete="CASCADE", index=False)  # (batch, line) leads
    line = IntegerField()
    id_type = CharField(max_length=3)
    id_number = CharField(max_length=15)
    amount = BigIntegerField(default=0)
    data = TextField()
    status = CharField(max_length=12, default="VALIDO")
    reason = CharField(max_length=200, default="")

    class Meta:
        indexes = ((("batch", "line"), True),)


class BatchError(BaseModel):
    """A rejected line of a batch: its messages and the user's original values (JSON)."""

    batch = ForeignKeyField(Batch, backref="errors", on_delete="CASCADE", index=False)  # (batch, line) leads
    line = IntegerField()
    messages = TextField()
    raw = TextField(default="[]")

    class Meta:
        indexes = ((("batch", "line"), True),)


class ServiceOrder(Labelled, BaseModel):
    """A service order (SPEC §7): the authorized batches of one company-product and their
    costs, frozen at authorization. Status changes only through services/orders.py (void, pay)
    and services/processing.py, each one a conditional UPDATE on the expected status."""

    PENDING_PAYMENT, PAYING = "PENDIENTE_PAGO", "PAGANDO"
    IN_PROCESS, PROCESSED, VOIDED = "EN_PROCESO", "PROCESADO", "ANULADO"
    PAID = (IN_PROCESS, PROCESSED)

    company = ForeignKeyField(Company, backref="orders", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="orders", on_delete="CASCADE")
    kind = CharField(max_length=3, default="")  # the batch type when all its batches share one
    status = CharField(max_length=16, index=True)
    commission = BigIntegerField(default=0)  # Monto comisión (Σ commission + GMF)
    iva = BigIntegerField(default=0)  # Monto IVA
    os_total = BigIntegerField(default=0)  # Monto OS
    amount = BigIntegerField(default=0)  # Monto
    total_to_pay = BigIntegerField(default=0)  # Total a pagar
    deposited = BigIntegerField(default=0)  # Monto depositado: what the company paid (the bank debit)
    iva_rate = RateField(default=Decimal("0"))
    iva_base = BigIntegerField(default=0)
    card_price_total = BigIntegerField(default=0)
    distribution = BigIntegerField(default=0)
    recharge_commission = BigIntegerField(default=0)
    gmf = BigIntegerField(default=0)
    records = IntegerField(default=0)
    done_records = IntegerField(default=0)  # processing progress
    authorized_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="authorized_orders")
    created_at = DateTimeField(default=utcnow, index=True)  # Fecha (de autorización)
    paid_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="paid_orders")
    paid_at = DateTimeField(null=True)
    pay_message = CharField(max_length=200, default="")  # the bank's last refusal
    voided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="voided_orders")
    voided_at = DateTimeField(null=True)
    processed_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)
    claimed_at = DateTimeField(null=True)
    claimed_by = CharField(max_length=120, null=True)  # the lease holder, "host:pid:start" (services/leases.py)
    attempts = IntegerField(default=0)
    failures = IntegerField(default=0)  # processing runs that raised; ORDER_MAX_FAILURES marks it for attention
    last_error = TextField(default="")
    attention_at = DateTimeField(null=True)  # marked for the operator (flask jobs status); no longer retried

    class Meta:
        indexes = ((("product", "created_at"), False), (("product", "status", "created_at"), False))

    STATUS_LABELS = {
        PENDING_PAYMENT: "Autorizado",
        PAYING: "En pago",
        IN_PROCESS: "En proceso",
        PROCESSED: "Procesado",
        VOIDED: "Anulado",
    }
    # The Estado choices of the search form (SPEC §7); "En pago" is a moment, shown but not searched.
    SEARCHABLE = (PENDING_PAYMENT, IN_PROCESS, PROCESSED, VOIDED)

    @property
    def number(self) -> int:
        """Nro. de orden."""
        return self.id

    @property
    def is_payable(self) -> bool:
        """Authorized and not paid yet: it may be paid or voided."""
        return self.status == self.PENDING_PAYMENT

    @property
    def is_busy(self) -> bool:
        """Being paid or processed right now (its row refreshes itself)."""
        return self.status in (self.PAYING, self.IN_PROCESS)

    @property
    def is_processing(self) -> bool:
        return self.status == self.IN_PROCESS

    @property
    def commission_without_gmf(self) -> int:
        """Monto comisión as the PDF shows it, GMF apart (`commission` holds Σ commission + GMF)."""
        return self.commission - self.gmf


class LedgerAccount(BaseModel):
    """An account of the double-entry ledger (domain/ledger.py). Balances are never negative,
    except for EXTERNAL accounts: the outside world (a company's bank account as seen from our
    books), whose balance is minus what the program has taken from it."""

    EXTERNAL, REVENUE, TAX, FUNDING, CARD, MASTER = "EXTERNA", "INGRESO", "IMPUESTO", "FONDEO", "TARJETA", "MAESTRA"
    PURCHASES = "COMPRAS"  # what cards paid merchants, settled by the purchases job

    code = CharField(max_length=80, unique=True)
    name = CharField(max_length=160)
    kind = CharField(max_length=12)
    company = ForeignKeyField(Company, null=True, on_delete="CASCADE")
    product = ForeignKeyField(Product, null=True, on_delete="CASCADE")
    balance = BigIntegerField(default=0)
    allow_negative = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class LedgerOperation(BaseModel):
    """One balanced operation; its unique key makes a retried operation post nothing twice."""

    key = CharField(max_length=120, unique=True)
    description = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)


class LedgerPosting(BaseModel):
    """Append-only: one line of an operation, with the account's balance right after it."""

    operation = ForeignKeyField(LedgerOperation, backref="postings", on_delete="RESTRICT")
    account = ForeignKeyField(LedgerAccount, backref="postings", on_delete="RESTRICT", index=False)  # (account, id)
    amount = BigIntegerField()  # signed centavos: + into the account, - out of it
    balance_after = BigIntegerField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "id"), False), (("account", "created_at"), False))  # the second since migration 9


class MasterOperation(Labelled, BaseModel):
    """One operation of Servicios > Cuenta maestra (SPEC §9), as the user asked for it: a funding
    of the master account, a balance inquiry, a credit or a debit of one card. Its key (carried
    by the dialog) is unique: a double submit or a retried request finds the first one and
    moves nothing again. Refused operations are kept too (with their message): the daily and
    weekly limits count what was done, the result dialog says what happened."""

    FUND, INQUIRY, CREDIT, DEBIT = "FONDEO", "CONSULTA", "ABONO", "CARGO"
    # A funding is recorded EN_CURSO before the bank is asked, then ends EXITOSA or RECHAZADA
    # (services/master.py): one the app died in the middle of is finished by a job.
    OK, REFUSED, IN_PROGRESS = "EXITOSA", "RECHAZADA", "EN_CURSO"
    STATUS_LABELS = {OK: "Transacción exitosa", REFUSED: "Rechazada", IN_PROGRESS: "En proceso"}

    key = CharField(max_length=120, unique=True)
    product = ForeignKeyField(Product, on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    kind = CharField(max_length=10)
    card = ForeignKeyField(Card, null=True, on_delete="SET NULL")
    amount = BigIntegerField(default=0)  # centavos moved (0 for an inquiry)
    fee = BigIntegerField(default=0)  # the commission charged to the master account
    status = CharField(max_length=10)
    message = CharField(max_length=200, default="")
    balance = BigIntegerField(null=True)  # the card's (or, for a funding, the master account's) balance after it
    description = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("product", "created_at"), False),)

    @property
    def ok(self) -> bool:
        return self.status == self.OK


class ExportJob(Labelled, BaseModel):
    """«Exportar Excel» of a list (services/exports.py): small ones are built in the request,
    large ones (over EXPORT_INLINE_ROWS) by the export job, which claims the row as a lease,
    writes the .xlsx in constant memory and keeps it here until it is downloaded or expires."""

    PENDING, RUNNING, READY, FAILED = "PENDIENTE", "EN_PROCESO", "LISTO", "ERROR"
    STATUS_LABELS = {PENDING: "En cola", RUNNING: "Generando", READY: "Listo", FAILED: "Error"}

    user = ForeignKeyField(User, on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")
    product = ForeignKeyField(Product, null=True, on_delete="CASCADE")
    kind = CharField(max_length=40)  # which list (services/exports.py EXPORTS)
    params = TextField(default="{}")  # its criteria, JSON
    status = CharField(max_length=12, default=PENDING, index=True)
    total = IntegerField(default=0)
    done = IntegerField(default=0)
    filename = CharField(max_length=120, default="")
    content = BlobField(null=True)
    error = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)
    claimed_at = DateTimeField(null=True)
    claimed_by = CharField(max_length=120, null=True)
    attempts = IntegerField(default=0)
    format = CharField(max_length=4, default="xlsx")  # "xlsx" or "pdf" (migration 9)


class UserNotice(BaseModel):
    """A user's setting of one kind of e-mail notice (services/notices.py): on or off (no row: on),
    and when one was last sent (at most one per kind every 15 minutes)."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    kind = CharField(max_length=20)
    enabled = BooleanField(default=True)
    last_sent_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "kind"), True),)


class Notice(BaseModel):
    """Something waiting for a user (a batch to authorize, an order to pay…), to be grouped into
    the next e-mail of its kind; `sent_at` once an e-mail carried it (claimed with `claim_token`)."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    kind = CharField(max_length=20)
    company = ForeignKeyField(Company, null=True, on_delete="CASCADE")
    product = ForeignKeyField(Product, null=True, on_delete="CASCADE")
    text = CharField(max_length=300)
    url = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)

    class Meta:
        indexes = ((("sent_at", "user", "kind"), False),)


class CardPurchase(BaseModel):
    """A purchase the (simulated) card processor authorized: it lowers the card's live balance at
    once and reaches the ledger (card → purchases settlement) when the settlement job posts it."""

    card = ForeignKeyField(Card, on_delete="CASCADE")
    amount = BigIntegerField()
    merchant = CharField(max_length=80, default="")
    created_at = DateTimeField(default=utcnow)
    settled_at = DateTimeField(null=True, index=True)


class VerificationCode(BaseModel):
    """A 6-digit code e-mailed to confirm a payment (SPEC §2): hashed, 10 minutes, single use,
    3 tries; issuing a new one for the same purpose retires the previous."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    purpose = CharField(max_length=60)
    code_hash = CharField(max_length=255)
    expires_at = DateTimeField()
    attempts = IntegerField(default=0)
    used_at = DateTimeField(null=True)
    retired = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "purpose"), False),)


class JobHeartbeat(BaseModel):
    """One row per background job, written by the job process (jobs/__init__.py): after each
    run, and every few seconds while one runs. GET /salud and `flask jobs status` read it."""

    name = CharField(max_length=40, unique=True)
    interval_seconds = IntegerField(default=0)
    holder = CharField(max_length=120, default="")  # the process that wrote it last, "host:pid:start"
    beat_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(null=True)  # the run in progress, if any
    last_run_at = DateTimeField(null=True)
    last_ok_at = DateTimeField(null=True)
    last_error = TextField(default="")
    last_error_at = DateTimeField(null=True)
    runs = IntegerField(default=0)
    failures = IntegerField(default=0)


class CardTally(BaseModel):
    """A product's count of cards in one state, as signed rows whose SUM is the count. Kept by
    triggers on `card` (migration 11), never written by the application, except
    services/companies.fold_card_tallies, which folds PostgreSQL's appended rows into one."""

    product_id = IntegerField()
    status = CharField(max_length=20)
    n = BigIntegerField()

    class Meta:
        table_name = "card_tally"
        indexes = ((("product_id", "status"), False),)


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)


ALL_MODELS = [
    Company,
    Branch,
    Product,
    User,
    PasswordHistory,
    UserCompany,
    UserPermission,
    AuditEvent,
    LoginAttempt,
    OutboxMessage,
    BankAccount,
    BankMovement,
    Person,
    Card,
    Batch,
    BatchFile,
    BatchRecord,
    BatchError,
    ServiceOrder,
    JobHeartbeat,
]

# Tables created by migration 2 (tests/conftest.py empties ALL_MODELS + LEDGER_MODELS).
LEDGER_MODELS = [LedgerAccount, LedgerOperation, LedgerPosting, VerificationCode]
# Tables created by migrations 7 and 8.
MASTER_MODELS = [MasterOperation, CardPurchase, ExportJob]
# Tables created by migration 10.
NOTICE_MODELS = [UserNotice, Notice]
# Tables created by migration 11 (kept by triggers on card: emptied after it).
TALLY_MODELS = [CardTally]
# Every table, in creation order (a table only references tables before it).
SCHEMA_MODELS = ALL_MODELS + LEDGER_MODELS + MASTER_MODELS + NOTICE_MODELS + TALLY_MODELS

# The schema is built by the frozen migrations of the migrations/ package (one module per
# version, never derived from the classes above); tests/test_migrations.py checks that they
# end at exactly what these models declare. Imported here, after the models, on purpose.
import migrations  # noqa: E402

MIGRATIONS = migrations.MIGRATIONS


def upgrade(database=None) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; returns the versions applied."""
    return migrations.upgrade(_unwrap(database or db))


def drop_all(database=None):
    database = database or db
    database.drop_tables([SchemaVersion, *reversed(SCHEMA_MODELS)], cascade=not _is_sqlite(database))


def _unwrap(database):
    return database.obj if isinstance(database, DatabaseProxy) else database


def _is_sqlite(database) -> bool:
    from peewee import SqliteDatabase

    return isinstance(_unwrap(database), SqliteDatabase)
