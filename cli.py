"""Operator command line: `flask db upgrade|backup|restore`, `flask company|branch|product|user ...`, `flask seed-demo`,
`flask jobs status|retry`, `flask ledger check`, `flask demo purchases`."""

from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

import models
from domain.money import format_cop, to_cents
from models import Company, OutboxMessage, Product, User
from services import Refused, accounts, provisioning

db_cli = AppGroup("db", help="Esquema de la base de datos.")
company_cli = AppGroup("company", help="Empresas.")
branch_cli = AppGroup("branch", help="Sucursales.")
product_cli = AppGroup("product", help="Productos, tarifas y límites.")
user_cli = AppGroup("user", help="Usuarios.")
jobs_cli = AppGroup("jobs", help="Trabajos en segundo plano: estado, reclamos en curso, fallas.")
ledger_cli = AppGroup("ledger", help="Libro contable: comprobación de sus invariantes.")
demo_cli = AppGroup("demo", help="Simulaciones para la demostración (compras con tarjetas).")


def register_cli(app):
    for group in (db_cli, company_cli, branch_cli, product_cli, user_cli, jobs_cli, ledger_cli, demo_cli):
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


@contextmanager
def _refusals():
    """A provisioning refusal becomes the command's error message (exit status 1)."""
    try:
        yield
    except provisioning.ProvisioningError as exc:
        raise click.ClickException(exc.message) from None


@db_cli.command("upgrade")
def db_upgrade():
    """Crea o actualiza el esquema de la base de datos."""
    applied = models.upgrade()
    click.echo(f"Migraciones aplicadas: {applied}" if applied else "El esquema ya está al día.")


@db_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(path):
    """Copia consistente de la base de datos SQLite en PATH, con el portal funcionando."""
    from services import backup

    try:
        copied = backup.backup(path)
    except Refused as refused:
        raise click.ClickException(refused.message) from None
    click.echo(f"Copia guardada en {copied.path} ({copied.bytes / 1_048_576:.1f} MB, {copied.tables} tablas).")


@db_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restaurar aunque haya trabajos o reclamos activos")
def db_restore(path, force):
    """Restaura la copia PATH sobre la base de datos SQLite (se niega si está en uso)."""
    from services import backup

    try:
        copied = backup.restore(path, force=force)
    except Refused as refused:
        raise click.ClickException(refused.message) from None
    click.echo(f"Base de datos restaurada desde {path} ({copied.tables} tablas). Inicia de nuevo los servidores.")


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
    with _refusals():
        company = provisioning.create_company(
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
    with _refusals():
        branch = provisioning.create_branch(provisioning.company_by_nit(nit), code, name, **fields)
    click.echo(f"Sucursal creada: {branch.code} {branch.name}")


PRODUCT_OPTIONS = [
    click.option("--validity-months", type=click.IntRange(1, 120)),
    click.option("--max-innominate", type=click.IntRange(1, 100000), help="Máximo de innominadas por solicitud"),
    click.option("--bin", "bin_", help="BIN de 6 a 8 dígitos"),
    click.option("--card-price-named", type=MONEY, help="Precio por tarjeta nominada (pesos)"),
    click.option("--card-price-unnamed", type=MONEY, help="Precio por tarjeta innominada (pesos)"),
    click.option("--distribution-cost", type=MONEY, help="Costo de distribución por lote de tarjetas"),
    click.option("--affiliation-fee", type=MONEY, help="Tarifa por tarjeta innominada afiliada (0: sin costo)"),
    click.option("--replacement-fee", type=MONEY, help="Tarifa por reposición con tarjeta nueva nominada"),
    click.option("--recharge-rate", type=RATE, help="Comisión de recarga (0.01 o 1%)"),
    click.option("--recharge-min", type=MONEY, help="Comisión mínima por registro de recarga"),
    click.option("--iva-rate", type=RATE, help="IVA (por defecto 19%)"),
    click.option("--gmf-rate", type=RATE, help="GMF (por defecto 4 por mil)"),
    click.option("--card-limit", type=MONEY, help="Saldo máximo de una tarjeta"),
    click.option("--transfer-fee", type=MONEY, help="Comisión por transferencia de cuenta maestra"),
    click.option("--inquiry-fee", type=MONEY, help="Comisión por consulta de saldo"),
    click.option("--operation-min", type=MONEY),
    click.option("--operation-max", type=MONEY),
    click.option("--daily-amount-max", type=MONEY),
    click.option("--daily-count-max", type=click.IntRange(1, 100000)),
    click.option("--weekly-amount-max", type=MONEY, help="Monto máximo de abonos y cargos por semana"),
    click.option("--fund-max", type=MONEY, help="Monto máximo por recarga de la cuenta maestra"),
    click.option("--fund-daily-max", type=MONEY, help="Recargas de la cuenta maestra por día"),
    click.option("--fund-monthly-max", type=MONEY, help="Recargas de la cuenta maestra por mes"),
    click.option(
        "--low-balance-alert",
        type=MONEY,
        help="Saldo de la cuenta maestra bajo el cual se avisa al tesorero (0: nunca)",
    ),
]


def _product_options(f):
    for option in reversed(PRODUCT_OPTIONS):
        f = option(f)
    return f


def _product_fields(values: dict) -> dict:
    fields = {k: v for k, v in values.items() if v is not None}
    if "bin_" in fields:
        fields["bin"] = fields.pop("bin_")
    return fields


@product_cli.command("create")
@click.option("--company", "nit", required=True, help="NIT de la empresa")
@click.option("--name", required=True, help='Nombre, p. ej. "Clásica / Visa"')
@click.option("--unnamed", is_flag=True, help="Producto de tarjetas innominadas")
@_product_options
def product_create(nit, name, unnamed, **values):
    """Crea un producto con su tarifa y sus límites."""
    with _refusals():
        company = provisioning.company_by_nit(nit)
        product = provisioning.create_product(company, name, named=not unnamed, **_product_fields(values))
    click.echo(f"Producto creado: {product.name} ({product.kind_label}) id {product.id}")
    _echo_product(product)


@product_cli.command("update")
@click.option("--company", "nit", required=True, help="NIT de la empresa")
@click.option("--name", required=True, help="Nombre del producto")
@_product_options
def product_update(nit, name, **values):
    """Cambia la tarifa o los límites de un producto."""
    with _refusals():
        product = provisioning.product_by_name(provisioning.company_by_nit(nit), name)
        product = provisioning.update_product(product, **_product_fields(values))
    _echo_product(product)


def _echo_product(p: Product):
    click.echo(
        f"  tarjeta nominada {format_cop(p.card_price_named)}, innominada {format_cop(p.card_price_unnamed)}, "
        f"distribución {format_cop(p.distribution_cost)}, afiliación {format_cop(p.affiliation_fee)}, "
        f"recarga {p.recharge_rate * 100}% "
        f"(mín. {format_cop(p.recharge_min)}), IVA {p.iva_rate * 100}%, GMF {p.gmf_rate * 1000} por mil"
    )
    if p.low_balance_alert:
        click.echo(f"  aviso de saldo bajo de la cuenta maestra: por debajo de {format_cop(p.low_balance_alert)}")


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
    with _refusals():
        user, temp = provisioning.create_user_with_grants(
            username, first_name, last_name, email, position, area, grants
        )
    click.echo(f"Usuario creado: {user.username}")
    click.echo(f"Contraseña temporal (debe cambiarla al ingresar): {temp}")


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


def _when(at) -> str:
    return "nunca" if at is None else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _age(seconds) -> str:
    return "sin reclamar" if seconds is None else f"hace {seconds:.0f} s"


@jobs_cli.command("status")
def jobs_status():
    """Cada trabajo (último latido, última ejecución, fallas), los reclamos en curso y las órdenes que requieren atención."""
    from services import health

    beats = health.beats()
    click.echo("Trabajos:")
    if not beats:
        click.echo("  ningún trabajo ha registrado un latido (¿está corriendo `python -m jobs`?)")
    for b in beats:
        state = "VENCIDO" if b.stale else "ok"
        click.echo(
            f"  {b.name:<18} [{state}] latido hace {b.age:.0f} s (cada {b.interval} s) en {b.holder or '-'}; "
            f"última ejecución {_when(b.last_run_at)}, última correcta {_when(b.last_ok_at)}; "
            f"{b.runs} ejecuciones, {b.failures} fallidas"
        )
        if b.running_since:
            click.echo(f"  {'':<18} en curso desde {_when(b.running_since)}")
        if b.last_error:
            click.echo(f"  {'':<18} último error ({_when(b.last_error_at)}): {b.last_error.splitlines()[0][:200]}")
    claims = health.claims_in_progress()
    click.echo("Reclamos en curso:")
    if not claims:
        click.echo("  ninguno")
    for c in claims:
        if c.holder and c.lease_age is not None:
            click.echo(f"  {c.label} — {c.holder}, renovado {_age(c.lease_age)}")
        else:
            click.echo(f"  {c.label} — en espera")
    attention = health.orders_needing_attention()
    click.echo("Órdenes que requieren atención:")
    if not attention:
        click.echo("  ninguna")
    for o in attention:
        error = (o.last_error.splitlines() or [""])[0][:200]
        click.echo(
            f"  orden {o.id}: {o.failures} fallas, marcada {_when(o.attention_at)}, "
            f"{o.done_records} / {o.records} registros; último error: {error}"
        )
        click.echo(f"    (corregida la causa: flask jobs retry {o.id})")


@jobs_cli.command("retry")
@click.argument("order_id", type=int)
def jobs_retry(order_id):
    """Vuelve a poner en proceso una orden marcada para atención (su contador de fallas desde cero)."""
    from services import processing

    if not processing.retry(order_id):
        raise click.ClickException(f"La orden {order_id} no está en proceso ni marcada para atención.")
    click.echo(f"La orden {order_id} se procesará de nuevo en la próxima ejecución del trabajo.")


@ledger_cli.command("check")
def ledger_check():
    """Comprueba el libro contable: saldos, operaciones balanceadas y conciliación con el banco."""
    from services import ledger_check as checks

    problems = checks.check()
    for line in problems:
        click.echo(line)
    if problems:
        raise click.ClickException(f"El libro contable tiene {len(problems)} problema(s).")
    accounts, operations = checks.counts()
    click.echo(f"Libro contable correcto: {accounts} cuentas, {operations} operaciones")


@demo_cli.command("purchases")
@click.option("--count", type=click.IntRange(1, 100_000), default=10, show_default=True, help="Compras a simular")
@click.option("--product-id", type=int, help="Solo tarjetas de este producto (por omisión, de todos)")
def demo_purchases(count, product_id):
    """El procesador simulado autoriza compras al azar con tarjetas activas que tienen saldo."""
    from services import purchases

    if product_id is not None and Product.get_or_none(Product.id == product_id) is None:
        raise click.ClickException(f"No existe el producto {product_id}.")
    made, total = purchases.simulate(count, product_id)
    if made is None:
        raise click.ClickException("No hay tarjetas activas con saldo disponible.")
    click.echo(f"Compras autorizadas: {made} de {count}, por {format_cop(total)}.")
    click.echo("El trabajo settle_purchases las lleva al libro contable (cada 60 s).")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="No hace nada si ya hay empresas")
@with_appcontext
def seed_demo(if_empty):
    """Carga los datos de demostración (empresas, productos, usuarios)."""
    from seed import seed

    models.upgrade()
    if if_empty and Company.select().exists():
        click.echo("La base de datos ya tiene datos; no se cargó la demostración.")
    else:
        with _refusals():
            seed()
        click.echo("Datos de demostración cargados.")
    from seed import demo_users_text

    click.echo(demo_users_text(current_app.config["HOST"], current_app.config["PORT"]))
