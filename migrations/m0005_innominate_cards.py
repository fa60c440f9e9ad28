"""Version 5 (issue 10): innominate cards carry their embossed lines, the branch their stock
belongs to and the date they were affiliated; a product may charge a fee per affiliated card;
cards are looked up by product and status (the stock per branch)."""

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField

from migrations._base import FrozenModel, add_columns


class Branch(FrozenModel):
    """Only referenced: the table exists since version 1."""


class Card(FrozenModel):
    """The columns this version adds to card."""

    emboss_line1 = CharField(max_length=25, default="")
    emboss_line2 = CharField(max_length=25, default="")
    branch = ForeignKeyField(Branch, null=True, on_delete="SET NULL", backref="+")
    affiliated_at = DateTimeField(null=True)


class Product(FrozenModel):
    """The columns this version adds to product."""

    affiliation_fee = BigIntegerField(default=0)


def up(database):
    add_columns(database, Card)
    add_columns(database, Product)
    database.execute_sql("CREATE INDEX IF NOT EXISTS card_product_id_status ON card (product_id, status)")
