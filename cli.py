"""Operator command line: `flask db upgrade`, `flask company|branch|product|user ...`, `flask seed-demo`."""

import re
from decimal import Decimal, InvalidOperation

import click
from flask.cli import AppGroup

import models
from domain.money import format_cop, to_cents
from domain.permissions import parse_permissions
from models import Branch, Company, OutboxMessage, Product, User, UserCompany, UserPermission
from services import accounts
from services.bank import SimulatedBank

db_cli = AppGroup("db", help="Esquema de la base de datos.")
company_cli = AppGroup("company", help="Empresas.")
branch_cli = AppGroup("branch", help="Sucursales.")
product_cli = AppGroup("product", help="Productos, tarifas y límites.")
user_cli = AppGroup("user", help="Usuarios.")

NIT_RE = re.compile(r"^[0-9]{9,10}(-?[0-9])?$")


def register_cli(app):
    for group in (db_cli, company_cli, branch_cli, product_cli, user_cli):
        app.cli.add_command(group)
    app.cli.add_command(seed_demo)
    app.cli.add_command(outbox)


class Money(click.ParamType):
    """An amount in pesos ('1500', '1500.50'), stored as centavos."""

    name = "monto"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().replace(",", ".")
        try:
            exact = Decimal(text)
            cents = to_cents(text)
        except (ValueError, InvalidOperation):
            self.fail(f"monto inválido: {value}", param, ctx)
        if exact.as_tuple().exponent < -2:
            # "12.000" is twelve thousand for a Colombian, twelve for Python: refuse the doubt.
            self.fail(
                f"monto inválido: {value} (usa punto decimal y máximo 2 decimales, sin separador de miles)", param, ctx
            )
        if cents < 0:
            self.fail("el monto no puede ser negativo", param, ctx)
        return cents


class Rate(click.ParamType):
    """A rate as a decimal fraction ('0.19') or a percent ('19%')."""

    name = "tasa"

    def convert(self, value, param, ctx):
        if isinstance(value, Decimal):
            return value
        text = str(value).strip()
        try:
            rate = Decimal(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        except InvalidOperation:
            self.fail(f"tasa inválida: {value}", param, ctx)
        if not rate.is_finite():
            self.fail(f"tasa inválida: {value}", param, ctx)
        if not Decimal(0) <= rate <= Decimal(1):
            self.fail("la tasa debe estar entre 0 y 1 (o 0% y 100%)", param, ctx)
        return rate


MONEY, RATE = Money(), Rate()


def _company(nit: str) -> Company:
    company = Company.get_or_none(Company.nit == nit)
    if company is None:
        raise click.ClickException(f"No existe una empresa con NIT {nit}")
    return company


@db_cli.command("upgrade")
def db_upgrade():
    """Crea o actualiza el esquema de la base de datos."""
    applied = models.upgrade()
    click.echo(f"Migraciones aplicadas: {applied}" if applied else "El esquema ya está al día.")


@company_cli.command("create")
@click.option("--nit", required=True, help="9 o 10 dígitos, con dígito de verificación opcional")
@click.option("--name", required=True, help="Nombre")
@click.option("--legal-name", help="Razón social (por defecto, el nombre)")
@click.option("--contact", default="")
@click.option("--address", default="", help="Dirección fiscal")
@click.option("--billing-address", default="")
@click.option("--phone1", default="")
@click.option("--phone2", default="")
@click.option("--phone3", default="")
@click.option("--signatures", type=click.IntRange(1, 2), default=1, show_default=True)
@click.option("--bank-account", help="Número de la cuenta bancaria que paga las órdenes")
@click.option("--opening-balance", type=MONEY, default="0", help="Saldo inicial en el banco simulado (pesos)")
def company_create(
    nit,
    name,
    legal_name,
    contact,
    address,
    billing_address,
    phone1,
    phone2,
    phone3,
    signatures,
    bank_account,
    opening_balance,
):
    """Crea una empresa y su cuenta en el banco simulado."""
    company = create_company(
        nit=nit,
        name=name,
        legal_name=legal_name or name,
        contact=contact,
        address=address,
        billing_address=billing_address,
        phone1=phone1,
        phone2=phone2,
        phone3=phone3,
        signatures=signatures,
        bank_account=bank_account,
        opening_balance=opening_balance,
    )
    click.echo(f"Empresa creada: {company.name} (NIT {company.nit}), cuenta {company.bank_account}")


def create_company(nit, name, opening_balance=0, bank_account=None, **fields) -> Company:
    nit = (nit or "").strip()
    if not NIT_RE.match(nit):
        raise click.ClickException("NIT inválido: debe tener 9 o 10 dígitos y un dígito de verificación opcional")
    if Company.get_or_none(Company.nit == nit):
        raise click.ClickException(f"Ya existe una empresa con NIT {nit}")
    if not name.strip():
        raise click.ClickException("El nombre es obligatorio")
    bank_account = bank_account or f"SIM-{nit}"
    if models.BankAccount.get_or_none(models.BankAccount.number == bank_account):
        raise click.ClickException(f"La cuenta bancaria {bank_account} ya existe")
    with models.db.atomic():
        company = Company.create(nit=nit, name=name.strip(), bank_account=bank_account, **fields)
        SimulatedBank().open_account(bank_account, nit, fields.get("legal_name") or name, opening_balance)
    return company


@branch_cli.command("create")
@click.option("--company", "nit", required=True, help="NIT de la empresa")
@click.option("--code", required=True, help="Código de 1 a 3 dígitos")
@click.option("--name", required=True)
@click.option("--address", default="")
@click.option("--city", default="")
@click.option("--contact", default="")
@click.option("--phone", default="")
def branch_create(nit, code, name, **fields):
    """Crea una sucursal de una empresa."""
    branch = create_branch(_company(nit), code, name, **fields)
    click.echo(f"Sucursal creada: {branch.code} {branch.name}")


def create_branch(company, code, name, **fields) -> Branch:
    code = (code or "").strip()
    if not re.fullmatch(r"[0-9]{1,3}", code):
        raise click.ClickException("Código de sucursal inválido: de 1 a 3 dígitos")
    if Branch.get_or_none((Branch.company == company) & (Branch.code == code)):
        raise click.ClickException(f"La sucursal {code} ya existe en {company.name}")
    return Branch.create(company=company, code=code, name=name, **fields)


PRODUCT_OPTIONS = [
    click.option("--validity-months", type=click.IntRange(1, 120)),
    click.option("--max-innominate", type=click.IntRange(1, 100000), help="Máximo de innominadas por solicitud"),
    click.option("--bin", "bin_", help="BIN de 6 a 8 dígitos"),
    click.option("--card-price-named", type=MONEY, help="Precio por tarjeta nominada (pesos)"),
    click.option("--card-price-unnamed", type=MONEY, help="Precio por tarjeta innominada (pesos)"),
    click.option("--distribution-cost", type=MONEY, help="Costo de distribución por lote de tarjetas"),
    click.option("--recharge-rate", type=RATE, help="Comisión de recarga (0.01 o 1%)"),
    click.option("--recharge-min", type=MONEY, help="Comisión mínima por registro de recarga"),
    click.option("--iva-rate", type=RATE, help="IVA (por defecto 19%)"),
    click.option("--gmf-rate", type=RATE, help="GMF (por defecto 4 por mil)"),
    click.option("--card-limit", type=MONEY, help="Monto máximo por tarjeta en una recarga"),
    click.option("--transfer-fee", type=MONEY, help="Comisión por transferencia de cuenta maestra"),
    click.option("--inquiry-fee", type=MONEY, help="Comisión por consulta de saldo"),
    click.option("--operation-min", type=MONEY),
    click.option("--operation-max", type=MONEY),
    click.option("--daily-amount-max", type=MONEY),
    click.option("--daily-count-max", type=click.IntRange(1, 100000)),
]


def _product_options(f):
    for option in reversed(PRODUCT_OPTIONS):
        f = option(f)
    return f


def _product_fields(values: dict) -> dict:
    fields = {k: v for k, v in values.items() if v is not None}
    if "bin_" in fields:
        if not re.fullmatch(r"[0-9]{6,8}", fields["bin_"]):
            raise click.ClickException("BIN inválido: de 6 a 8 dígitos")
        fields["bin"] = fields.pop("bin_")
    return fields


@product_cli.command("create")
@click.option("--company", "nit", required=True, help="NIT de la empresa")
@click.option("--name", required=True, help='Nombre, p. ej. "Clásica / Visa"')
@click.option("--unnamed", is_flag=True, help="Producto de tarjetas innominadas")
@_product_options
def product_create(nit, name, unnamed, **values):
    """Crea un producto con su tarifa y sus límites."""
    product = create_product(_company(nit), name, named=not unnamed, **_product_fields(values))
    click.echo(f"Producto creado: {product.name} ({product.kind_label}) id {product.id}")
    _echo_product(product)


def create_product(company, name, **fields) -> Product:
    name = (name or "").strip()
    if not name:
        raise click.ClickException("El nombre del producto es obligatorio")
    if Product.get_or_none((Product.company == company) & (Product.name == name)):
        raise click.ClickException(f"El producto {name} ya existe en {company.name}")
    return Product.create(company=company, name=name, **fields)


@product_cli.command("update")
@click.option("--company", "nit", required=True, help="NIT de la empresa")
@click.option("--name", required=True, help="Nombre del producto")
@_product_options
def product_update(nit, name, **values):
    """Cambia la tarifa o los límites de un producto."""
    product = Product.get_or_none((Product.company == _company(nit)) & (Product.name == name))
    if product is None:
        raise click.ClickException(f"No existe el producto {name}")
    fields = _product_fields(values)
    if not fields:
        raise click.ClickException("Indica al menos un valor para cambiar")
    Product.update(**fields).where(Product.id == product.id).execute()
    _echo_product(Product.get_by_id(product.id))


def _echo_product(p: Product):
    click.echo(
        f"  tarjeta nominada {format_cop(p.card_price_named)}, innominada {format_cop(p.card_price_unnamed)}, "
        f"distribución {format_cop(p.distribution_cost)}, recarga {p.recharge_rate * 100}% "
        f"(mín. {format_cop(p.recharge_min)}), IVA {p.iva_rate * 100}%, GMF {p.gmf_rate * 1000} por mil"
    )


@user_cli.command("create")
@click.option("--username", required=True)
@click.option("--first-name", required=True, help="Nombre")
@click.option("--last-name", default="", help="Apellido")
@click.option("--email", required=True)
@click.option("--position", default="", help="Cargo")
@click.option("--area", default="", help="Área")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    required=True,
    help='NIT:PRODUCTO:PERMISOS, p. ej. "900291499:Clásica / Visa:batch.upload,order.view" '
    'o "900291499:*:all"; repetible',
)
def user_create(username, first_name, last_name, email, position, area, grants):
    """Crea un usuario con sus empresas y permisos; imprime su contraseña temporal."""
    user, temp = create_user_with_grants(username, first_name, last_name, email, position, area, grants)
    click.echo(f"Usuario creado: {user.username}")
    click.echo(f"Contraseña temporal (debe cambiarla al ingresar): {temp}")


def create_user_with_grants(username, first_name, last_name, email, position, area, grants, **kwargs):
    username = (username or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9._-]{3,40}", username):
        raise click.ClickException("Usuario inválido: de 3 a 40 letras, dígitos, '.', '_' o '-'")
    if User.get_or_none(User.username == username):
        raise click.ClickException(f"El usuario {username} ya existe")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email or ""):
        raise click.ClickException(f"Correo electrónico inválido: {email}")
    plan = [_parse_grant(g) for g in grants]
    with models.db.atomic():
        user, temp = accounts.create_user(username, first_name, last_name, email, position, area, **kwargs)
        for company, products, perms in plan:
            UserCompany.get_or_create(user=user, company=company)
            for product in products:
                for perm in sorted(perms):
                    UserPermission.get_or_create(user=user, product=product, permission=perm)
    return user, temp


def _parse_grant(text: str):
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise click.ClickException(f"Permiso mal escrito: {text!r} (usa NIT:PRODUCTO:PERMISOS)")
    nit, product_name, perm_text = (p.strip() for p in parts)
    company = _company(nit)
    if product_name == "*":
        products = list(company.products)
    else:
        product = Product.get_or_none((Product.company == company) & (Product.name == product_name))
        if product is None:
            raise click.ClickException(f"No existe el producto {product_name} en {company.name}")
        products = [product]
    try:
        perms = parse_permissions(perm_text)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    return company, products, perms


@user_cli.command("unblock")
@click.argument("username")
def user_unblock(username):
    """Desbloquea un usuario y le da una contraseña temporal."""
    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.ClickException(f"No existe el usuario {username}")
    temp = accounts.unblock(user)
    click.echo(f"Usuario {username} desbloqueado.")
    click.echo(f"Contraseña temporal (vence en 7 días, debe cambiarla al ingresar): {temp}")


@click.command("outbox")
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
def outbox(limit):
    """Muestra los últimos correos del buzón de salida."""
    messages = list(OutboxMessage.select().order_by(OutboxMessage.id.desc()).limit(limit))
    if not messages:
        click.echo("El buzón de salida está vacío.")
    for m in messages:
        click.echo(f"--- #{m.id} {m.created_at:%Y-%m-%d %H:%M:%S} UTC [{m.status}] para {m.recipient}")
        click.echo(f"Asunto: {m.subject}")
        click.echo(m.body.rstrip())
        click.echo("")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="No hace nada si ya hay empresas")
def seed_demo(if_empty):
    """Carga los datos de demostración (empresas, productos, usuarios)."""
    from seed import seed

    models.upgrade()
    if if_empty and Company.select().exists():
        click.echo("La base de datos ya tiene datos; no se cargó la demostración.")
    else:
        seed()
        click.echo("Datos de demostración cargados.")
    from seed import DEMO_USERS_TEXT

    click.echo(DEMO_USERS_TEXT)
