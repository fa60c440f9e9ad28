"""Version 7 (issue 11, Cuenta maestra): the journal of master-account operations (one row per
operation a user asked for, unique by the dialog's key), the purchases the card processor
authorized and the settlement job posts, and the product limits of the master account: card
operations per week, fundings per deposit, day and month. A card's status takes the states of
SPEC §10a ("BLOQUEADA_EXTRAVIO" needs 18 characters): 20 instead of 12."""

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField
from playhouse.migrate import SchemaMigrator, migrate

from migrations._base import FrozenModel, add_columns, create_tables, utcnow


class Product(FrozenModel):
    """The columns this version adds to product."""

    weekly_amount_max = BigIntegerField(default=10_000_000_000)
    fund_max = BigIntegerField(default=2_000_000_000)
    fund_daily_max = BigIntegerField(default=5_000_000_000)
    fund_monthly_max = BigIntegerField(default=50_000_000_000)


class User(FrozenModel):
    """Only referenced."""


class Card(FrozenModel):
    """Only referenced."""


class MasterOperation(FrozenModel):
    key = CharField(max_length=120, unique=True)
    product = ForeignKeyField(Product, on_delete="CASCADE", backref="+")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    kind = CharField(max_length=10)
    card = ForeignKeyField(Card, null=True, on_delete="SET NULL", backref="+")
    amount = BigIntegerField(default=0)
    fee = BigIntegerField(default=0)
    status = CharField(max_length=10)
    message = CharField(max_length=200, default="")
    balance = BigIntegerField(null=True)
    description = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("product", "created_at"), False),)


class CardPurchase(FrozenModel):
    card = ForeignKeyField(Card, on_delete="CASCADE", backref="+")
    amount = BigIntegerField()
    merchant = CharField(max_length=80, default="")
    created_at = DateTimeField(default=utcnow)
    settled_at = DateTimeField(null=True, index=True)


def up(database):
    status = next(c for c in database.get_columns("card") if c.name == "status")
    if "20" not in status.data_type:
        migrate(SchemaMigrator.from_database(database).alter_column_type("card", "status", CharField(max_length=20)))
    add_columns(database, Product)
    create_tables(database, [MasterOperation, CardPurchase])
