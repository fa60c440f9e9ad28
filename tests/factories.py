"""Test data builders: make_company(), make_product(), make_user(perms=...)."""

from decimal import Decimal

from models import Product, User
from services.provisioning import create_branch, create_company, create_product, create_user_with_grants

PASSWORD = "Prueba*204"
_counter = {"nit": 800000000}


def make_company(name="EMPRESA UNO", nit=None, signatures=1, balance=0, branches=("1",)):
    _counter["nit"] += 1
    company = create_company(
        nit=nit or str(_counter["nit"]),
        name=name,
        legal_name=name,
        contact="Contacto",
        address="Calle 1 #2-3",
        phone1="6011234567",
        signatures=signatures,
        opening_balance=balance,
    )
    for code in branches:
        create_branch(company, code, f"Sucursal {code}")
    return company


def make_product(company, name="Clásica / Visa", named=True, **fees):
    fees.setdefault("iva_rate", Decimal("0.19"))
    return create_product(company, name, named=named, **fees)


def make_user(
    username="usuario1", perms=None, password=PASSWORD, terms=True, must_change=False, email=None, companies=()
):
    """perms: {product: "perm1,perm2" | "all"}; companies: extra companies with no permissions."""
    grants = [f"{p.company.nit}:{p.name}:{spec}" for p, spec in (perms or {}).items()]
    for company in companies:
        product = Product.select().where(Product.company == company).first()
        if product is None:
            product = make_product(company)
        grants.append(f"{company.nit}:{product.name}:order.view")
    user, _temp = create_user_with_grants(
        username,
        "Nombre",
        "Apellido",
        email or f"{username}@example.com",
        "Cargo",
        "Área",
        grants,
        password=password,
        must_change=must_change,
        terms_accepted=terms,
    )
    return User.get_by_id(user.id)
