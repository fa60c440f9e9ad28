"""Version 2 (issue 4, the code at commit 69a3b63): service orders, ledger, verification codes;
batch signatures and costs; card serial, expiry, account and record.

service_order replaces version 1's placeholder. card.account_id, card.record_id and
batch.order_id were peewee DeferredForeignKeys, which create_tables leaves without a FOREIGN
KEY constraint: they are frozen here as the plain indexed integer columns version 2 created.
"""

from peewee import BigIntegerField, BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField

from migrations._base import FrozenModel, add_columns, create_tables, utcnow


# Tables this version references but doesn't change (only their ids matter here).
class Company(FrozenModel):
    pass


class Product(FrozenModel):
    pass


class User(FrozenModel):
    pass


class ServiceOrder(FrozenModel):
    company = ForeignKeyField(Company, backref="+", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="+", on_delete="CASCADE")
    kind = CharField(max_length=3, default="")
    status = CharField(max_length=16, index=True)
    commission = BigIntegerField(default=0)
    iva = BigIntegerField(default=0)
    os_total = BigIntegerField(default=0)
    amount = BigIntegerField(default=0)
    total_to_pay = BigIntegerField(default=0)
    deposited = BigIntegerField(default=0)
    iva_rate = CharField(max_length=20, default="0")
    iva_base = BigIntegerField(default=0)
    card_price_total = BigIntegerField(default=0)
    distribution = BigIntegerField(default=0)
    recharge_commission = BigIntegerField(default=0)
    gmf = BigIntegerField(default=0)
    records = IntegerField(default=0)
    done_records = IntegerField(default=0)
    authorized_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow, index=True)
    paid_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    paid_at = DateTimeField(null=True)
    pay_message = CharField(max_length=200, default="")
    voided_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    voided_at = DateTimeField(null=True)
    processed_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)
    claimed_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)

    class Meta:
        indexes = ((("product", "created_at"), False),)


class LedgerAccount(FrozenModel):
    code = CharField(max_length=80, unique=True)
    name = CharField(max_length=160)
    kind = CharField(max_length=12)
    company = ForeignKeyField(Company, null=True, backref="+", on_delete="CASCADE")
    product = ForeignKeyField(Product, null=True, backref="+", on_delete="CASCADE")
    balance = BigIntegerField(default=0)
    allow_negative = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class LedgerOperation(FrozenModel):
    key = CharField(max_length=120, unique=True)
    description = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)


class LedgerPosting(FrozenModel):
    operation = ForeignKeyField(LedgerOperation, backref="+", on_delete="RESTRICT")
    account = ForeignKeyField(LedgerAccount, backref="+", on_delete="RESTRICT")
    amount = BigIntegerField()
    balance_after = BigIntegerField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "id"), False),)


class VerificationCode(FrozenModel):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    purpose = CharField(max_length=60)
    code_hash = CharField(max_length=255)
    expires_at = DateTimeField()
    attempts = IntegerField(default=0)
    used_at = DateTimeField(null=True)
    retired = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "purpose"), False),)


class Batch(FrozenModel):
    """The columns this version adds to batch, in version 2's column order."""

    signed_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    signed_at = DateTimeField(null=True)
    authorized_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    authorized_at = DateTimeField(null=True)
    unit_price = BigIntegerField(default=0)
    card_price_total = BigIntegerField(default=0)
    distribution = BigIntegerField(default=0)
    recharge_commission = BigIntegerField(default=0)
    commission = BigIntegerField(default=0)
    gmf = BigIntegerField(default=0)
    deposited = BigIntegerField(default=0)
    processed_at = DateTimeField(null=True)
    order = IntegerField(null=True, index=True, column_name="order_id")  # -> service_order, no constraint


class Card(FrozenModel):
    """The columns this version adds to card, in version 2's column order."""

    serial = BigIntegerField(null=True)
    expires_on = DateField(null=True)
    record = IntegerField(null=True, unique=True, column_name="record_id")  # -> batch_record, no constraint
    account = IntegerField(null=True, index=True, column_name="account_id")  # -> ledger_account, no constraint


def up(database):
    # Version 1's service_order was a placeholder nothing wrote to but tests: rebuilt in full
    # (only that placeholder: a table that already has the order columns is kept as it is).
    if "total_to_pay" not in {column.name for column in database.get_columns("service_order")}:
        database.execute_sql('DROP TABLE "service_order"')
    create_tables(database, [ServiceOrder, LedgerAccount, LedgerOperation, LedgerPosting, VerificationCode])
    add_columns(database, Batch)
    add_columns(database, Card)
