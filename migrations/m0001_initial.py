"""Version 1: the schema the code at commit 0bb7f41 created on a fresh database.

Frozen copies of that version's models (never import models.py here): companies, users and
permissions, audit, outbox, simulated bank, cardholders and cards, batches, and a
placeholder service_order that migration 2 rebuilds. Rates were RateField, a CharField of 20.
"""

from peewee import (
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from migrations._base import FrozenModel, create_tables, utcnow


class Company(FrozenModel):
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


class Branch(FrozenModel):
    company = ForeignKeyField(Company, backref="+", on_delete="CASCADE")
    code = CharField(max_length=3)
    name = CharField(max_length=120)
    address = CharField(max_length=160, default="")
    city = CharField(max_length=60, default="")
    contact = CharField(max_length=120, default="")
    phone = CharField(max_length=20, default="")

    class Meta:
        indexes = ((("company", "code"), True),)


class Product(FrozenModel):
    company = ForeignKeyField(Company, backref="+", on_delete="CASCADE")
    name = CharField(max_length=80)
    named = BooleanField(default=True)
    bin = CharField(max_length=8, default="450714")
    validity_months = IntegerField(default=36)
    max_innominate = IntegerField(default=500)
    card_price_named = BigIntegerField(default=0)
    card_price_unnamed = BigIntegerField(default=0)
    distribution_cost = BigIntegerField(default=0)
    recharge_rate = CharField(max_length=20, default="0")
    recharge_min = BigIntegerField(default=0)
    iva_rate = CharField(max_length=20, default="0.19")
    gmf_rate = CharField(max_length=20, default="0.004")
    card_limit = BigIntegerField(default=1_000_000_000)
    transfer_fee = BigIntegerField(default=0)
    inquiry_fee = BigIntegerField(default=0)
    operation_min = BigIntegerField(default=100)
    operation_max = BigIntegerField(default=500_000_000)
    daily_amount_max = BigIntegerField(default=2_000_000_000)
    daily_count_max = IntegerField(default=100)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("company", "name"), True),)


class User(FrozenModel):
    username = CharField(max_length=40, unique=True)
    password_hash = CharField(max_length=255)
    first_name = CharField(max_length=80)
    last_name = CharField(max_length=80, default="")
    position = CharField(max_length=80, default="")
    area = CharField(max_length=80, default="")
    email = CharField(max_length=200)
    status = CharField(max_length=12, default="ACTIVO")
    terms_accepted_at = DateTimeField(null=True)
    must_change_password = BooleanField(default=True)
    password_changed_at = DateTimeField(default=utcnow)
    temp_password_hash = CharField(max_length=255, null=True)
    temp_password_expires_at = DateTimeField(null=True)
    failed_attempts = IntegerField(default=0)
    last_login_at = DateTimeField(null=True)
    session_version = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)


class PasswordHistory(FrozenModel):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    password_hash = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)


class UserCompany(FrozenModel):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    company = ForeignKeyField(Company, backref="+", on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "company"), True),)


class UserPermission(FrozenModel):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="+", on_delete="CASCADE")
    permission = CharField(max_length=40)

    class Meta:
        indexes = ((("user", "product", "permission"), True),)


class AuditEvent(FrozenModel):
    tag = CharField(max_length=40, index=True)
    user = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    username = CharField(max_length=40, default="")
    company = ForeignKeyField(Company, null=True, backref="+", on_delete="SET NULL")
    object_ref = CharField(max_length=80, default="")
    ip = CharField(max_length=45, default="")
    detail = TextField(default="")
    created_at = DateTimeField(default=utcnow, index=True)


class LoginAttempt(FrozenModel):
    ip = CharField(max_length=45, index=True)
    username = CharField(max_length=40, default="", index=True)
    created_at = DateTimeField(default=utcnow, index=True)


class OutboxMessage(FrozenModel):
    recipient = CharField(max_length=200)
    subject = CharField(max_length=200)
    body = TextField()
    status = CharField(max_length=12, default="GUARDADO", index=True)
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)


class BankAccount(FrozenModel):
    number = CharField(max_length=30, unique=True)
    holder_nit = CharField(max_length=12)
    holder_name = CharField(max_length=160)
    balance = BigIntegerField(default=0)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)


class BankMovement(FrozenModel):
    account = ForeignKeyField(BankAccount, backref="+", on_delete="CASCADE")
    key = CharField(max_length=80, unique=True)
    amount = BigIntegerField()
    balance_after = BigIntegerField()
    description = CharField(max_length=160)
    created_at = DateTimeField(default=utcnow)


class Person(FrozenModel):
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

    class Meta:
        indexes = ((("id_type", "id_number"), True),)


class Card(FrozenModel):
    product = ForeignKeyField(Product, backref="+", on_delete="CASCADE")
    person = ForeignKeyField(Person, null=True, backref="+", on_delete="SET NULL")
    masked_pan = CharField(max_length=19)
    status = CharField(max_length=12, index=True)
    created_at = DateTimeField(default=utcnow)


class Batch(FrozenModel):
    company = ForeignKeyField(Company, backref="+", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="+", on_delete="CASCADE")
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
    uploaded_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    validated_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)
    claimed_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    confirmed_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    confirmed_at = DateTimeField(null=True)
    deleted_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    deleted_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("company", "number"), True),
            (("product", "status"), False),
        )


class BatchFile(FrozenModel):
    batch = ForeignKeyField(Batch, unique=True, backref="+", on_delete="CASCADE")
    content = BlobField()
    header = TextField(default="[]")


class BatchParsed(FrozenModel):
    batch = ForeignKeyField(Batch, unique=True, backref="+", on_delete="CASCADE")
    data = BlobField()


class BatchRecord(FrozenModel):
    batch = ForeignKeyField(Batch, backref="+", on_delete="CASCADE")
    line = IntegerField()
    id_type = CharField(max_length=3)
    id_number = CharField(max_length=15)
    amount = BigIntegerField(default=0)
    data = TextField()
    status = CharField(max_length=12, default="VALIDO")
    reason = CharField(max_length=200, default="")

    class Meta:
        indexes = ((("batch", "line"), True),)


class BatchError(FrozenModel):
    batch = ForeignKeyField(Batch, backref="+", on_delete="CASCADE")
    line = IntegerField()
    messages = TextField()
    raw = TextField(default="[]")

    class Meta:
        indexes = ((("batch", "line"), True),)


class ServiceOrder(FrozenModel):
    """The placeholder of version 1 (migration 2 drops and rebuilds it)."""

    product = ForeignKeyField(Product, backref="+", on_delete="CASCADE")
    status = CharField(max_length=16, index=True)
    created_at = DateTimeField(default=utcnow)


TABLES = [
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
    BatchParsed,
    BatchRecord,
    BatchError,
    ServiceOrder,
]


def up(database):
    create_tables(database, TABLES)
    # The same file content can't be alive twice for a product, even with two uploads at once.
    database.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS batch_alive_file ON batch (product_id, file_hash) "
        "WHERE file_hash <> '' AND status NOT IN ('ELIMINADO', 'ANULADO')"
    )
