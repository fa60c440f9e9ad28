"""Version 10 (issue 14): e-mail notifications of waiting work. Each user's choice per kind of
notice (on by default: no row), the last time a notice of that kind was sent to them (at most one
every 15 minutes), the notices waiting to be grouped into the next e-mail, and each product's
low-balance threshold of its master account."""

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField

from migrations._base import FrozenModel, add_columns, create_tables, utcnow


class User(FrozenModel):
    """Only referenced."""


class Company(FrozenModel):
    """Only referenced."""


class Product(FrozenModel):
    """The column this version adds to product."""

    low_balance_alert = BigIntegerField(default=0)


class UserNotice(FrozenModel):
    user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
    kind = CharField(max_length=20)
    enabled = BooleanField(default=True)
    last_sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "user_notice"
        indexes = ((("user", "kind"), True),)


class Notice(FrozenModel):
    user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
    kind = CharField(max_length=20)
    company = ForeignKeyField(Company, null=True, on_delete="CASCADE", backref="+")
    product = ForeignKeyField(Product, null=True, on_delete="CASCADE", backref="+")
    text = CharField(max_length=300)
    url = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    claim_token = CharField(max_length=36, null=True)

    class Meta:
        indexes = ((("sent_at", "user", "kind"), False),)


def up(database):
    add_columns(database, Product)
    create_tables(database, [UserNotice, Notice])
