"""Version 8 (issue 12, Consulta de tarjetas): a card's last 4 digits as an indexed column (the
search by them with a million cards), its plastic delivery status and its date,
when its state last changed and the card that replaced it; and the export jobs of «Exportar
Excel» for lists too large to build in the request; a product's fee for replacing a card with a
new named one."""

from peewee import BigIntegerField, BlobField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from migrations._base import FrozenModel, add_columns, create_tables, utcnow


class CardRef(FrozenModel):
    """Only referenced: the card table."""

    class Meta:
        table_name = "card"


class Card(FrozenModel):
    """The columns this version adds to card."""

    last4 = CharField(max_length=4, default="")
    plastic_status = CharField(max_length=20, default="EN_ELABORACION")
    plastic_at = DateTimeField(null=True)
    status_changed_at = DateTimeField(null=True)
    replaced_by = ForeignKeyField(CardRef, null=True, on_delete="SET NULL", backref="+")


class User(FrozenModel):
    """Only referenced."""


class Company(FrozenModel):
    """Only referenced."""


class Product(FrozenModel):
    """The column this version adds to product (and referenced by export_job)."""

    replacement_fee = BigIntegerField(default=0)


class ExportJob(FrozenModel):
    user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
    company = ForeignKeyField(Company, on_delete="CASCADE", backref="+")
    product = ForeignKeyField(Product, null=True, on_delete="CASCADE", backref="+")
    kind = CharField(max_length=40)
    params = TextField(default="{}")
    status = CharField(max_length=12, default="PENDIENTE", index=True)
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


def up(database):
    add_columns(database, Card)
    add_columns(database, Product)
    database.execute_sql("UPDATE card SET last4 = substr(masked_pan, length(masked_pan) - 3, 4) WHERE last4 = ''")
    database.execute_sql("CREATE INDEX IF NOT EXISTS card_product_id_last4 ON card (product_id, last4)")
    database.execute_sql("CREATE INDEX IF NOT EXISTS card_product_id_person_id ON card (product_id, person_id)")
    create_tables(database, [ExportJob])
