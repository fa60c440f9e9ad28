"""What the current user may reach: its companies, a product with its company's other products
(the selector lists them), its permissions on a product. The views ask these once per request
(blueprints/helpers.py keeps them on flask.g for that request only, so a permission change
applies on the next one); each query is compiled once (bulk.Prepared), since building peewee's
SQL cost more than SQLite running it."""

from bulk import Prepared
from models import Company, Product, User, UserCompany, UserPermission

_USER_COMPANIES = Prepared(
    lambda user: Company.select().join(UserCompany).where(UserCompany.user == user).order_by(Company.name)
)
# A product and the other products of its company (the selector lists them): one query.
_PRODUCT_AND_SIBLINGS = Prepared(
    lambda product: (
        Product.select()
        .where(Product.company == Product.select(Product.company).where(Product.id == product))
        .order_by(Product.name)
    )
)
_PERMISSIONS = Prepared(UserPermission.of)
_USER = Prepared(lambda user: User.select().where(User.id == user))


def user(user_id: int) -> User | None:
    """The user of a session (read on every request: a block or a password change applies at once)."""
    rows = _USER.models(user_id)
    return rows[0] if rows else None


def user_companies(user_id: int) -> list[Company]:
    return _USER_COMPANIES.models(user_id)


def product_and_siblings(product_id: int) -> list[Product]:
    """The product and every other product of its company, by name ([] if there is none)."""
    return _PRODUCT_AND_SIBLINGS.models(product_id)


def permissions(user_id: int, product_id: int) -> frozenset:
    return frozenset(row[0] for row in _PERMISSIONS.tuples(user_id, product_id))
