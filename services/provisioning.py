"""Provisioning: companies, branches, products and users with their grants (SPEC §3–§4).

Used by the operator's command line (cli.py), the demo data (seed.py), the tests' factories and
the benchmarks; the company administrator's user screens will call it too. Every refusal is a
ProvisioningError with the Spanish message, and nothing is half-created.
"""

import re

from peewee import fn

from adapters.bank import SimulatedBank
from domain.permissions import parse_permissions
from models import BankAccount, Branch, Company, Product, User, UserCompany, UserPermission, db
from services import Refused
from services.accounts import create_user

NIT_RE = re.compile(r"^[0-9]{9,10}(-?[0-9])?$")
USERNAME_RE = re.compile(r"[A-Za-z0-9._-]{3,40}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ProvisioningError(Refused):
    """A company, branch, product or user that can't be created or changed as asked."""


def company_by_nit(nit: str) -> Company:
    company = Company.get_or_none(Company.nit == (nit or "").strip())
    if company is None:
        raise ProvisioningError(f"No existe una empresa con NIT {nit}")
    return company


def create_company(nit, name, opening_balance=0, bank_account=None, **fields) -> Company:
    """A company and its account at the simulated bank (with `opening_balance` centavos)."""
    nit = (nit or "").strip()
    if not NIT_RE.match(nit):
        raise ProvisioningError("NIT inválido: debe tener 9 o 10 dígitos y un dígito de verificación opcional")
    if Company.get_or_none(Company.nit == nit):
        raise ProvisioningError(f"Ya existe una empresa con NIT {nit}")
    if not (name or "").strip():
        raise ProvisioningError("El nombre es obligatorio")
    bank_account = bank_account or f"SIM-{nit}"
    if BankAccount.get_or_none(BankAccount.number == bank_account):
        raise ProvisioningError(f"La cuenta bancaria {bank_account} ya existe")
    with db.atomic():
        company = Company.create(nit=nit, name=name.strip(), bank_account=bank_account, **fields)
        SimulatedBank().open_account(bank_account, nit, fields.get("legal_name") or name, opening_balance)
    return company


def create_branch(company, code, name, **fields) -> Branch:
    code = (code or "").strip()
    if not re.fullmatch(r"[0-9]{1,3}", code):
        raise ProvisioningError("Código de sucursal inválido: de 1 a 3 dígitos")
    if Branch.get_or_none((Branch.company == company) & (Branch.code == code)):
        raise ProvisioningError(f"La sucursal {code} ya existe en {company.name}")
    return Branch.create(company=company, code=code, name=name, **fields)


def _check_product_fields(fields: dict) -> None:
    if "bin" in fields and not re.fullmatch(r"[0-9]{6,8}", fields["bin"] or ""):
        raise ProvisioningError("BIN inválido: de 6 a 8 dígitos")
    # The master balance below which the treasurers are e-mailed (services/notices.py); 0: never.
    if "low_balance_alert" in fields and not (
        isinstance(fields["low_balance_alert"], int) and fields["low_balance_alert"] >= 0
    ):
        raise ProvisioningError("El saldo de alerta de la cuenta maestra debe ser un monto de 0 o más (0: sin alerta)")


def create_product(company, name, **fields) -> Product:
    """A card product of `company` with its fee schedule and limits (`fields`: Product columns)."""
    name = (name or "").strip()
    if not name:
        raise ProvisioningError("El nombre del producto es obligatorio")
    if Product.get_or_none((Product.company == company) & (Product.name == name)):
        raise ProvisioningError(f"El producto {name} ya existe en {company.name}")
    _check_product_fields(fields)
    return Product.create(company=company, name=name, **fields)


def product_by_name(company, name) -> Product:
    product = Product.get_or_none((Product.company == company) & (Product.name == name))
    if product is None:
        raise ProvisioningError(f"No existe el producto {name}")
    return product


def update_product(product: Product, **fields) -> Product:
    """Change a product's fee schedule or limits."""
    if not fields:
        raise ProvisioningError("Indica al menos un valor para cambiar")
    _check_product_fields(fields)
    Product.update(**fields).where(Product.id == product.id).execute()
    return Product.get_by_id(product.id)


def create_user_with_grants(username, first_name, last_name, email, position, area, grants, **kwargs):
    """A user with its companies and permissions; `grants` are "NIT:PRODUCTO:PERMISOS" texts
    ("*" for every product, "all" for every permission). Returns (user, temporary password)."""
    username = (username or "").strip()
    if not USERNAME_RE.fullmatch(username):
        raise ProvisioningError("Usuario inválido: de 3 a 40 letras, dígitos, '.', '_' o '-'")
    if User.get_or_none(User.username == username):
        raise ProvisioningError(f"El usuario {username} ya existe")
    if not EMAIL_RE.fullmatch(email or ""):
        raise ProvisioningError(f"Correo electrónico inválido: {email}")
    plan = [parse_grant(g) for g in grants]
    with db.atomic():
        user, temp = create_user(username, first_name, last_name, email, position, area, **kwargs)
        for company, products, perms in plan:
            UserCompany.get_or_create(user=user, company=company)
            for product in products:
                for perm in sorted(perms):
                    UserPermission.get_or_create(user=user, product=product, permission=perm)
    return user, temp


def create_company_user(company: Company, fields: dict) -> tuple[User, str]:
    """A user of `company` created by its administrator (services/users_admin.py), without
    permissions yet: usuario, nombre, apellido, cargo, área and correo checked; a temporary
    password to change at the first login, after accepting the terms. Returns (user, password)."""
    username = (fields.get("username") or "").strip()
    first_name, last_name = (fields.get("first_name") or "").strip(), (fields.get("last_name") or "").strip()
    email = (fields.get("email") or "").strip()
    if not USERNAME_RE.fullmatch(username):
        raise ProvisioningError("Usuario inválido: de 3 a 40 letras, dígitos, '.', '_' o '-'")
    if not first_name or len(first_name) > 80 or len(last_name) > 80:
        raise ProvisioningError("Escribe el nombre (y el apellido), de hasta 80 caracteres cada uno")
    if not EMAIL_RE.fullmatch(email) or len(email) > 200:
        raise ProvisioningError("Escribe un correo electrónico válido")
    if User.select().where(fn.LOWER(User.username) == username.lower()).exists():
        raise ProvisioningError(f"El usuario {username} ya existe: elige otro")
    position, area = (fields.get("position") or "").strip()[:80], (fields.get("area") or "").strip()[:80]
    with db.atomic():
        user, temp = create_user(username, first_name, last_name, email, position, area)
        UserCompany.create(user=user, company=company)
    return user, temp


def parse_grant(text: str):
    """ "NIT:PRODUCTO:PERMISOS" → (company, [products], {permissions})."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ProvisioningError(f"Permiso mal escrito: {text!r} (usa NIT:PRODUCTO:PERMISOS)")
    nit, product_name, perm_text = (p.strip() for p in parts)
    company = company_by_nit(nit)
    if product_name == "*":
        products = list(company.products)
    else:
        product = Product.get_or_none((Product.company == company) & (Product.name == product_name))
        if product is None:
            raise ProvisioningError(f"No existe el producto {product_name} en {company.name}")
        products = [product]
    try:
        perms = parse_permissions(perm_text)
    except ValueError as exc:
        raise ProvisioningError(str(exc)) from exc
    return company, products, perms
