"""Operator command line (cli.py, seed.py): `flask db|company|branch|product|user|seed-demo|outbox`."""

import re
import warnings
from datetime import timedelta
from decimal import Decimal

import pytest
from werkzeug.security import check_password_hash

import models
from adapters.bank import SimulatedBank
from app import pending_step
from domain.passwords import rule_errors
from domain.permissions import ALL
from models import (
    AuditEvent,
    BankAccount,
    BankMovement,
    Batch,
    BatchRecord,
    Branch,
    Card,
    Company,
    MasterOperation,
    OutboxMessage,
    PasswordHistory,
    Product,
    SchemaVersion,
    ServiceOrder,
    User,
    UserCompany,
    UserPermission,
    utcnow,
)

NIT = "900123456"
TEMP_RE = re.compile(r"Contraseña temporal \(debe cambiarla al ingresar\): (\S+)$", re.M)
UNBLOCK_RE = re.compile(r"Contraseña temporal \(vence en 7 días, debe cambiarla al ingresar\): (\S+)$", re.M)


@pytest.fixture
def cli(runner):
    """cli("company", "create", ...) -> click Result; unexpected exceptions fail loudly."""

    def invoke(*args):
        result = runner.invoke(args=[str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def company(cli):
    result = cli("company", "create", "--nit", NIT, "--name", "ACME SAS", "--opening-balance", "1000")
    assert result.exit_code == 0, result.output
    return Company.get(Company.nit == NIT)


@pytest.fixture
def product(cli, company):
    result = cli("product", "create", "--company", NIT, "--name", "Clásica / Visa")
    assert result.exit_code == 0, result.output
    return Product.get((Product.company == company) & (Product.name == "Clásica / Visa"))


def error_line(result) -> str:
    """The 'Error: ...' line click prints for a ClickException or a bad parameter."""
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert lines, result.output
    return lines[-1]


# ---------------------------------------------------------------- db upgrade


def test_db_upgrade_is_idempotent(cli):
    first = cli("db", "upgrade")
    second = cli("db", "upgrade")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.output == "El esquema ya está al día.\n"
    assert second.output == "El esquema ya está al día.\n"
    assert [v.version for v in SchemaVersion.select()] == list(range(1, len(models.MIGRATIONS) + 1))


def test_db_upgrade_applies_missing_migrations_and_keeps_data(cli, company):
    SchemaVersion.delete().execute()
    result = cli("db", "upgrade")
    assert result.exit_code == 0
    assert result.output == f"Migraciones aplicadas: {list(range(1, len(models.MIGRATIONS) + 1))}\n"
    assert Company.get(Company.nit == NIT).name == "ACME SAS"  # existing tables untouched
    again = cli("db", "upgrade")
    assert again.output == "El esquema ya está al día.\n"
    assert [v.version for v in SchemaVersion.select()] == list(range(1, len(models.MIGRATIONS) + 1))


def test_opening_the_database_emits_no_deprecation_warning(database_url):
    """Regression: open_database passed peewee 4's deprecated autorollback=True for PostgreSQL."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        models.open_database(database_url)


# ---------------------------------------------------------------- company create


def test_company_create(cli):
    result = cli(
        "company", "create", "--nit", NIT, "--name", "ACME SAS", "--legal-name", "ACME S.A.S.",
        "--contact", "Ana Gómez", "--address", "Calle 1 #2-3", "--billing-address", "Calle 4 #5-6",
        "--phone1", "6011234567", "--phone2", "3001234567", "--phone3", "3101234567",
        "--signatures", "2", "--bank-account", "0123-4567", "--opening-balance", "1500000.50",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == "Empresa creada: ACME SAS (NIT 900123456), cuenta 0123-4567\n"
    company = Company.get(Company.nit == NIT)
    assert (company.name, company.legal_name, company.contact) == ("ACME SAS", "ACME S.A.S.", "Ana Gómez")
    assert (company.address, company.billing_address) == ("Calle 1 #2-3", "Calle 4 #5-6")
    assert (company.phone1, company.phone2, company.phone3) == ("6011234567", "3001234567", "3101234567")
    assert company.signatures == 2
    assert company.bank_account == "0123-4567"
    account = BankAccount.get(BankAccount.number == "0123-4567")
    assert (account.holder_nit, account.holder_name, account.active) == (NIT, "ACME S.A.S.", True)
    assert SimulatedBank().balance("0123-4567") == 150_000_050


def test_company_create_defaults(cli):
    result = cli("company", "create", "--nit", NIT, "--name", "ACME SAS")
    assert result.exit_code == 0, result.output
    assert result.output == "Empresa creada: ACME SAS (NIT 900123456), cuenta SIM-900123456\n"
    company = Company.get(Company.nit == NIT)
    assert company.legal_name == "ACME SAS"
    assert company.signatures == 1
    assert company.bank_account == "SIM-900123456"
    assert SimulatedBank().balance("SIM-900123456") == 0
    assert BankMovement.select().count() == 0


@pytest.mark.parametrize(
    "opening, cents",
    [("1000", 100_000), ("10000000", 1_000_000_000), ("1500,75", 150_075), ("100000000", 10_000_000_000)],
)
def test_opening_balance_lands_in_the_simulated_bank(cli, opening, cents):
    result = cli("company", "create", "--nit", NIT, "--name", "ACME SAS", "--opening-balance", opening)
    assert result.exit_code == 0, result.output
    company = Company.get(Company.nit == NIT)
    assert SimulatedBank().balance(company.bank_account) == cents
    movement = BankMovement.get()
    assert (movement.amount, movement.balance_after, movement.description) == (cents, cents, "Saldo inicial")


@pytest.mark.parametrize("nit", ["900123456", "9001234567", "900123456-7", "9001234567-8", "9001234567 "])
def test_company_nit_forms_accepted(cli, nit):
    result = cli("company", "create", "--nit", nit, "--name", "ACME SAS")
    assert result.exit_code == 0, result.output
    assert Company.get().nit == nit.strip()


def test_company_duplicate_nit(cli, company):
    result = cli("company", "create", "--nit", NIT, "--name", "OTRA SAS")
    assert result.exit_code != 0
    assert error_line(result) == "Error: Ya existe una empresa con NIT 900123456"
    assert Company.select().count() == 1
    assert Company.get().name == "ACME SAS"
    assert BankAccount.select().count() == 1


@pytest.mark.parametrize(
    "nit",
    [
        "12345678",
        "90012345",
        "123456789012",
        "90012345A",
        "ABCDEFGHI",
        "900.123.456",
        "900123456-78",
        "-900123456",
        "",
        "٩٠٠١٢٣٤٥٦",  # Arabic-Indic digits are not 0-9
    ],
)
def test_company_bad_nit(cli, nit):
    result = cli("company", "create", "--nit", nit, "--name", "ACME SAS")
    assert result.exit_code != 0
    assert error_line(result) == "Error: NIT inválido: debe tener 9 o 10 dígitos y un dígito de verificación opcional"
    assert Company.select().count() == 0
    assert BankAccount.select().count() == 0


@pytest.mark.parametrize("signatures", ["0", "3", "-1", "dos"])
def test_company_signatures_out_of_range(cli, signatures):
    result = cli("company", "create", "--nit", NIT, "--name", "ACME SAS", "--signatures", signatures)
    assert result.exit_code == 2
    assert "--signatures" in error_line(result)
    assert Company.select().count() == 0


@pytest.mark.parametrize("signatures", ["1", "2"])
def test_company_signatures_in_range(cli, signatures):
    assert cli("company", "create", "--nit", NIT, "--name", "ACME", "--signatures", signatures).exit_code == 0
    assert Company.get().signatures == int(signatures)


def test_company_blank_name(cli):
    result = cli("company", "create", "--nit", NIT, "--name", "   ")
    assert result.exit_code != 0
    assert error_line(result) == "Error: El nombre es obligatorio"
    assert Company.select().count() == 0


def test_company_bank_account_already_used(cli):
    assert cli("company", "create", "--nit", NIT, "--name", "ACME", "--bank-account", "CTA-1").exit_code == 0
    result = cli("company", "create", "--nit", "900999999", "--name", "OTRA", "--bank-account", "CTA-1")
    assert result.exit_code != 0
    assert error_line(result) == "Error: La cuenta bancaria CTA-1 ya existe"
    assert Company.select().count() == 1


@pytest.mark.parametrize(
    "opening, message",
    [
        ("-5", "el monto no puede ser negativo"),
        ("abc", "monto inválido: abc"),
        ("NaN", "monto inválido: NaN"),
        ("Infinity", "monto inválido: Infinity"),
        ("-Infinity", "monto inválido: -Infinity"),
        ("sNaN", "monto inválido: sNaN"),
        ("0.005", "máximo 2 decimales"),
        ("12.000", "sin separador de miles"),  # twelve thousand to a Colombian: refused, not read as 12
    ],
)
def test_company_bad_opening_balance(runner, opening, message):
    result = runner.invoke(args=["company", "create", "--nit", NIT, "--name", "ACME", "--opening-balance", opening])
    assert result.exit_code == 2, repr(result.exception)
    assert message in error_line(result)
    assert Company.select().count() == 0


# ---------------------------------------------------------------- branch create


def test_branch_create(cli, company):
    result = cli(
        "branch", "create", "--company", NIT, "--code", "73", "--name", "Sucursal única",
        "--address", "Calle 26 #69-76", "--city", "Bogotá", "--contact", "Luis", "--phone", "6017423000",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == "Sucursal creada: 73 Sucursal única\n"
    branch = Branch.get()
    assert branch.company_id == company.id
    assert (branch.code, branch.name, branch.address, branch.city, branch.contact, branch.phone) == (
        "73", "Sucursal única", "Calle 26 #69-76", "Bogotá", "Luis", "6017423000",
    )  # fmt: skip


@pytest.mark.parametrize("code, stored", [("1", "1"), ("12", "12"), ("123", "123"), ("007", "007"), (" 9 ", "9")])
def test_branch_codes_of_one_to_three_digits(cli, company, code, stored):
    result = cli("branch", "create", "--company", NIT, "--code", code, "--name", "Sucursal")
    assert result.exit_code == 0, result.output
    assert Branch.get().code == stored


def test_branch_unknown_company(cli):
    result = cli("branch", "create", "--company", "111111111", "--code", "1", "--name", "Principal")
    assert result.exit_code != 0
    assert error_line(result) == "Error: No existe una empresa con NIT 111111111"
    assert Branch.select().count() == 0


def test_branch_duplicate_code(cli, company):
    assert cli("branch", "create", "--company", NIT, "--code", "1", "--name", "Principal").exit_code == 0
    result = cli("branch", "create", "--company", NIT, "--code", "1", "--name", "Otra")
    assert result.exit_code != 0
    assert error_line(result) == "Error: La sucursal 1 ya existe en ACME SAS"
    assert Branch.select().count() == 1


def test_same_branch_code_in_two_companies(cli, company):
    assert cli("company", "create", "--nit", "900999999", "--name", "OTRA").exit_code == 0
    assert cli("branch", "create", "--company", NIT, "--code", "1", "--name", "A").exit_code == 0
    assert cli("branch", "create", "--company", "900999999", "--code", "1", "--name", "B").exit_code == 0
    assert Branch.select().count() == 2


@pytest.mark.parametrize("code", ["1234", "", "A1", "-1", "1.5", "1 2", "٣"])  # ٣: an Arabic-Indic digit
def test_branch_bad_code(cli, company, code):
    result = cli("branch", "create", "--company", NIT, "--code", code, "--name", "Principal")
    assert result.exit_code != 0
    assert error_line(result) == "Error: Código de sucursal inválido: de 1 a 3 dígitos"
    assert Branch.select().count() == 0


# ---------------------------------------------------------------- product create / update


def test_product_create_with_fees(cli, company):
    result = cli(
        "product", "create", "--company", NIT, "--name", "Clásica / Visa",
        "--card-price-named", "12000", "--iva-rate", "19%", "--gmf-rate", "0.004", "--recharge-rate", "1%",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    product = Product.get()
    assert result.output.startswith(f"Producto creado: Clásica / Visa (Nominada) id {product.id}\n")
    assert "tarjeta nominada $ 12.000,00" in result.output
    assert product.company_id == company.id
    assert product.named is True
    assert product.card_price_named == 1_200_000 and type(product.card_price_named) is int
    for field, rate in [("iva_rate", "0.19"), ("gmf_rate", "0.004"), ("recharge_rate", "0.01")]:
        value = getattr(product, field)
        assert isinstance(value, Decimal), field
        assert value == Decimal(rate), field


def test_product_defaults(cli, company):
    assert cli("product", "create", "--company", NIT, "--name", "Básica").exit_code == 0
    product = Product.get()
    assert product.iva_rate == Decimal("0.19")
    assert product.gmf_rate == Decimal("0.004")
    assert product.recharge_rate == Decimal("0")
    assert product.card_price_named == 0


def test_unnamed_product(cli, company):
    result = cli(
        "product",
        "create",
        "--company",
        NIT,
        "--name",
        "Clásica In / Visa",
        "--unnamed",
        "--card-price-unnamed",
        "10000",
    )
    assert result.exit_code == 0, result.output
    assert "(Innominada)" in result.output
    product = Product.get()
    assert product.named is False
    assert product.card_price_unnamed == 1_000_000


MONEY_OPTIONS = [
    ("--card-price-unnamed", "card_price_unnamed"),
    ("--distribution-cost", "distribution_cost"),
    ("--affiliation-fee", "affiliation_fee"),
    ("--replacement-fee", "replacement_fee"),
    ("--recharge-min", "recharge_min"),
    ("--card-limit", "card_limit"),
    ("--transfer-fee", "transfer_fee"),
    ("--inquiry-fee", "inquiry_fee"),
    ("--operation-min", "operation_min"),
    ("--operation-max", "operation_max"),
    ("--daily-amount-max", "daily_amount_max"),
    ("--weekly-amount-max", "weekly_amount_max"),
    ("--fund-max", "fund_max"),
    ("--fund-daily-max", "fund_daily_max"),
    ("--fund-monthly-max", "fund_monthly_max"),
]


@pytest.mark.parametrize("option, field", MONEY_OPTIONS)
@pytest.mark.parametrize("pesos, cents", [("25000", 2_500_000), ("55.5", 5_550), ("60,25", 6_025), ("0", 0)])
def test_product_money_options_are_stored_in_centavos(cli, company, option, field, pesos, cents):
    result = cli("product", "create", "--company", NIT, "--name", "P", option, pesos)
    assert result.exit_code == 0, result.output
    value = getattr(Product.get(), field)
    assert value == cents and type(value) is int


@pytest.mark.parametrize(
    "text, rate",
    [
        ("19%", "0.19"),
        ("0.19", "0.19"),
        ("12%", "0.12"),
        ("0.4%", "0.004"),
        ("0", "0"),
        ("100%", "1"),
        ("1", "1"),
        (" 19% ", "0.19"),
    ],
)
@pytest.mark.parametrize(
    "option, field", [("--iva-rate", "iva_rate"), ("--gmf-rate", "gmf_rate"), ("--recharge-rate", "recharge_rate")]
)
def test_product_rate_options(cli, company, option, field, text, rate):
    result = cli("product", "create", "--company", NIT, "--name", "P", option, text)
    assert result.exit_code == 0, result.output
    assert getattr(Product.get(), field) == Decimal(rate)


def test_product_other_options(cli, company):
    result = cli(
        "product", "create", "--company", NIT, "--name", "P", "--validity-months", "48",
        "--max-innominate", "250", "--bin", "45071400", "--daily-count-max", "30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    product = Product.get()
    assert (product.validity_months, product.max_innominate, product.bin, product.daily_count_max) == (
        48,
        250,
        "45071400",
        30,
    )


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--iva-rate", "abc", "tasa inválida: abc"),
        ("--iva-rate", "150%", "la tasa debe estar entre 0 y 1 (o 0% y 100%)"),
        ("--gmf-rate", "-0.1", "la tasa debe estar entre 0 y 1 (o 0% y 100%)"),
        ("--recharge-rate", "1.5", "la tasa debe estar entre 0 y 1 (o 0% y 100%)"),
        ("--iva-rate", "NaN", "tasa inválida: NaN"),
        ("--gmf-rate", "Infinity", "tasa inválida: Infinity"),
        ("--recharge-rate", "sNaN%", "tasa inválida: sNaN%"),
        ("--card-price-named", "Infinity", "monto inválido: Infinity"),
        ("--card-price-named", "doce mil", "monto inválido: doce mil"),
        ("--card-price-named", "-1", "el monto no puede ser negativo"),
        ("--validity-months", "0", "--validity-months"),
        ("--max-innominate", "0", "--max-innominate"),
    ],
)
def test_product_bad_option_values(runner, company, option, value, message):
    result = runner.invoke(args=["product", "create", "--company", NIT, "--name", "P", option, value])
    assert result.exit_code == 2, repr(result.exception)
    assert message in error_line(result)
    assert Product.select().count() == 0


@pytest.mark.parametrize("bin_", ["12345", "123456789", "45071A", "", "٤٥٠٧١٤"])  # Arabic-Indic digits
def test_product_bad_bin(cli, company, bin_):
    result = cli("product", "create", "--company", NIT, "--name", "P", "--bin", bin_)
    assert result.exit_code != 0
    assert error_line(result) == "Error: BIN inválido: de 6 a 8 dígitos"
    assert Product.select().count() == 0


def test_product_duplicate_name(cli, product):
    result = cli("product", "create", "--company", NIT, "--name", "Clásica / Visa")
    assert result.exit_code != 0
    assert error_line(result) == "Error: El producto Clásica / Visa ya existe en ACME SAS"
    assert Product.select().count() == 1


def test_product_blank_name(cli, company):
    result = cli("product", "create", "--company", NIT, "--name", "  ")
    assert result.exit_code != 0
    assert error_line(result) == "Error: El nombre del producto es obligatorio"


def test_product_unknown_company(cli):
    result = cli("product", "create", "--company", "111111111", "--name", "P")
    assert result.exit_code != 0
    assert error_line(result) == "Error: No existe una empresa con NIT 111111111"


def test_product_update_changes_only_given_values(cli, company):
    cli(
        "product",
        "create",
        "--company",
        NIT,
        "--name",
        "Clásica / Visa",
        "--card-price-named",
        "12000",
        "--distribution-cost",
        "25000",
        "--iva-rate",
        "19%",
    )
    result = cli(
        "product",
        "update",
        "--company",
        NIT,
        "--name",
        "Clásica / Visa",
        "--card-price-named",
        "15000.50",
        "--iva-rate",
        "12%",
    )
    assert result.exit_code == 0, result.output
    assert "tarjeta nominada $ 15.000,50" in result.output
    product = Product.get()
    assert product.card_price_named == 1_500_050
    assert product.iva_rate == Decimal("0.12")
    assert product.distribution_cost == 2_500_000
    assert product.gmf_rate == Decimal("0.004")


def test_product_update_without_values(cli, product):
    result = cli("product", "update", "--company", NIT, "--name", "Clásica / Visa")
    assert result.exit_code != 0
    assert error_line(result) == "Error: Indica al menos un valor para cambiar"


def test_product_update_unknown_product(cli, product):
    result = cli("product", "update", "--company", NIT, "--name", "Oro / Mastercard", "--iva-rate", "0.12")
    assert result.exit_code != 0
    assert error_line(result) == "Error: No existe el producto Oro / Mastercard"


def test_product_update_unknown_company(cli, product):
    result = cli("product", "update", "--company", "111111111", "--name", "Clásica / Visa", "--iva-rate", "0.12")
    assert result.exit_code != 0
    assert error_line(result) == "Error: No existe una empresa con NIT 111111111"


def test_product_update_bad_bin_changes_nothing(cli, product):
    result = cli("product", "update", "--company", NIT, "--name", "Clásica / Visa", "--bin", "12", "--iva-rate", "0.12")
    assert result.exit_code != 0
    assert error_line(result) == "Error: BIN inválido: de 6 a 8 dígitos"
    assert Product.get().iva_rate == Decimal("0.19")


# ---------------------------------------------------------------- user create


def create_user(cli, *grants, username="ana", email="ana@example.com", extra=()):
    args = [
        "user",
        "create",
        "--username",
        username,
        "--first-name",
        "Ana",
        "--last-name",
        "Pérez",
        "--email",
        email,
        *extra,
    ]
    for grant in grants:
        args += ["--grant", grant]
    return cli(*args)


def test_user_create(app, cli, product):
    result = create_user(
        cli, f"{NIT}:Clásica / Visa:batch.upload,order.view", extra=("--position", "Analista", "--area", "Tesorería")
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usuario creado: ana\n")
    temp = TEMP_RE.search(result.output).group(1)
    assert rule_errors(temp) == []
    user = User.get(User.username == "ana")
    assert (user.first_name, user.last_name, user.email, user.position, user.area) == (
        "Ana", "Pérez", "ana@example.com", "Analista", "Tesorería",
    )  # fmt: skip
    assert user.status == User.ACTIVE
    assert user.failed_attempts == 0
    assert check_password_hash(user.password_hash, temp)
    assert temp not in user.password_hash
    assert PasswordHistory.select().where(PasswordHistory.user == user).count() == 1
    # First login: terms, then the forced password change.
    assert user.must_change_password is True
    assert user.terms_accepted_at is None
    assert pending_step(user) == "auth.terms"
    User.update(terms_accepted_at=utcnow()).where(User.id == user.id).execute()
    assert pending_step(User.get_by_id(user.id)) == "auth.change_password"
    # Grants.
    assert [c.nit for c in user.companies()] == [NIT]
    assert user.permissions_for(product) == frozenset({"batch.upload", "order.view"})
    rows = {(p.product_id, p.permission) for p in UserPermission.select().where(UserPermission.user == user)}
    assert rows == {(product.id, "batch.upload"), (product.id, "order.view")}


def test_user_temporary_password_logs_in(app, cli, product):
    from services import accounts

    result = create_user(cli, f"{NIT}:*:order.view")
    temp = TEMP_RE.search(result.output).group(1)
    with app.test_request_context():
        login = accounts.authenticate("ana", temp)
        assert login.user is not None and login.user.username == "ana"
        assert accounts.authenticate("ana", temp + "x").user is None


def test_user_create_all_permissions_on_every_product(cli, company, product):
    cli("product", "create", "--company", NIT, "--name", "Clásica In / Visa", "--unnamed")
    unnamed = Product.get(Product.name == "Clásica In / Visa")
    result = create_user(cli, f"{NIT}:*:all")
    assert result.exit_code == 0, result.output
    user = User.get(User.username == "ana")
    assert user.permissions_for(product) == ALL
    assert user.permissions_for(unnamed) == ALL
    assert UserPermission.select().count() == 2 * len(ALL)


def test_user_grants_in_two_companies(cli, product):
    cli("company", "create", "--nit", "900999999", "--name", "BETA SAS")
    cli("product", "create", "--company", "900999999", "--name", "Oro / Visa")
    beta_product = Product.get(Product.name == "Oro / Visa")
    result = create_user(cli, f"{NIT}:Clásica / Visa:reports.view", "900999999:Oro / Visa:order.view,order.pay")
    assert result.exit_code == 0, result.output
    user = User.get(User.username == "ana")
    assert sorted(c.name for c in user.companies()) == ["ACME SAS", "BETA SAS"]
    assert user.permissions_for(product) == frozenset({"reports.view"})
    assert user.permissions_for(beta_product) == frozenset({"order.view", "order.pay"})


def test_user_grant_repeated_is_stored_once(cli, product):
    result = create_user(cli, f"{NIT}:Clásica / Visa:order.view", f"{NIT}:Clásica / Visa:order.view,reports.view")
    assert result.exit_code == 0, result.output
    assert UserPermission.select().count() == 2
    assert UserCompany.select().count() == 1


@pytest.mark.parametrize(
    "grant, message",
    [
        (f"{NIT}:Clásica / Visa:foo.bar", "Error: Permiso desconocido: foo.bar"),
        (f"{NIT}:Clásica / Visa:order.view,zzz", "Error: Permiso desconocido: zzz"),
        (f"{NIT}:Clásica / Visa:", "Error: Indica al menos un permiso"),
        (f"{NIT}:Oro / Mastercard:all", "Error: No existe el producto Oro / Mastercard en ACME SAS"),
        ("111111111:*:all", "Error: No existe una empresa con NIT 111111111"),
        (f"{NIT}:all", f"Error: Permiso mal escrito: '{NIT}:all' (usa NIT:PRODUCTO:PERMISOS)"),
    ],
)
def test_user_create_bad_grant(cli, product, grant, message):
    result = create_user(cli, grant)
    assert result.exit_code != 0
    assert error_line(result) == message
    assert User.select().count() == 0
    assert UserPermission.select().count() == 0


def test_user_create_second_grant_bad_creates_nothing(cli, product):
    result = create_user(cli, f"{NIT}:*:all", f"{NIT}:*:nope")
    assert result.exit_code != 0
    assert error_line(result) == "Error: Permiso desconocido: nope"
    assert User.select().count() == 0
    assert UserCompany.select().count() == 0
    assert PasswordHistory.select().count() == 0


def test_user_create_duplicate_username(cli, product):
    assert create_user(cli, f"{NIT}:*:order.view").exit_code == 0
    result = create_user(cli, f"{NIT}:*:all", email="otra@example.com")
    assert result.exit_code != 0
    assert error_line(result) == "Error: El usuario ana ya existe"
    assert User.select().count() == 1
    assert User.get().email == "ana@example.com"


@pytest.mark.parametrize("email", ["bad", "ana@example", "ana example@x.co", "@example.com", "ana@@example.com", ""])
def test_user_create_bad_email(cli, product, email):
    result = create_user(cli, f"{NIT}:*:order.view", email=email)
    assert result.exit_code != 0
    assert error_line(result) == f"Error: Correo electrónico inválido: {email}"
    assert User.select().count() == 0


@pytest.mark.parametrize("username", ["ab", "a b", "ana!", "x" * 41, "", "josé"])
def test_user_create_bad_username(cli, product, username):
    result = create_user(cli, f"{NIT}:*:order.view", username=username)
    assert result.exit_code != 0
    assert error_line(result) == "Error: Usuario inválido: de 3 a 40 letras, dígitos, '.', '_' o '-'"
    assert User.select().count() == 0


def test_user_create_requires_a_grant(cli, product):
    result = create_user(cli)
    assert result.exit_code == 2
    assert "--grant" in error_line(result)
    assert User.select().count() == 0


# ---------------------------------------------------------------- user unblock


def test_user_unblock(cli, product):
    create_user(cli, f"{NIT}:*:order.view")
    User.update(
        status=User.BLOCKED, failed_attempts=3, must_change_password=False, terms_accepted_at=utcnow()
    ).execute()
    before = User.get()
    result = cli("user", "unblock", "ana")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usuario ana desbloqueado.\n")
    temp = UNBLOCK_RE.search(result.output).group(1)
    assert rule_errors(temp) == []
    user = User.get()
    assert user.status == User.ACTIVE
    assert user.failed_attempts == 0
    assert user.must_change_password is True
    assert check_password_hash(user.password_hash, temp)
    assert not check_password_hash(user.password_hash, "anything-else")
    assert user.session_version == before.session_version + 1  # other sessions end
    expires = user.temp_password_expires_at
    assert utcnow() + timedelta(days=7) - timedelta(minutes=1) < expires <= utcnow() + timedelta(days=7)
    event = AuditEvent.get(AuditEvent.tag == "user:unblock")
    assert event.user_id == user.id


def test_user_unblock_unknown(cli):
    result = cli("user", "unblock", "nadie")
    assert result.exit_code != 0
    assert error_line(result) == "Error: No existe el usuario nadie"


# ---------------------------------------------------------------- seed-demo


SEED_PERMS = {
    "jhomez": ("900291499", ALL),
    "firmante": (
        "9013434540",
        {
            "batch.upload",
            "batch.confirm",
            "batch.delete",
            "batch.sign",
            "order.view",
            "innominate.request",
            "innominate.affiliate",
        },
    ),  # fmt: skip
    "autorizador": (
        "9013434540",
        {
            "batch.authorize",
            "order.view",
            "order.void",
            "order.pay",
            "master.balance",
            "master.credit",
            "master.debit",
            "master.fund",
            "reports.view",
        },
    ),  # fmt: skip
    "nuevo": ("900291499", {"order.view", "reports.view"}),
}


def test_seed_demo(cli):
    result = cli("seed-demo")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Datos de demostración cargados.\n")
    assert "jhomez       Empresas*24" in result.output

    jahc = Company.get(Company.nit == "900291499")
    assert (jahc.name, jahc.signatures) == ("JAHC TECHNOLOGIES", 1)
    assert sorted(b.code for b in jahc.branches) == ["1", "73"]
    assert SimulatedBank().balance(jahc.bank_account) == 10_000_000_000 - _paid(jahc)

    coop = Company.get(Company.nit == "9013434540")
    assert (coop.name, coop.signatures) == ("EMPRESA DE PRUEBA COOP", 2)
    assert SimulatedBank().balance(coop.bank_account) == 5_000_000_000 - _paid(coop)
    assert Company.select().count() == 2

    for company in (jahc, coop):
        products = {p.name: p for p in company.products}
        assert set(products) == {"Clásica / Visa", "Clásica In / Visa"}
        assert products["Clásica / Visa"].named is True
        assert products["Clásica In / Visa"].named is False
        # The unnamed product's stock: one processed request of 20 cards, 3 of them affiliated.
        inn = (Batch.product == products["Clásica In / Visa"]) & (Batch.kind == "INN")
        request = Batch.select().where(inn).order_by(Batch.id.desc()).first()  # today's; the history has more
        cards = Card.select().join(BatchRecord, on=(Card.record == BatchRecord.id)).where(BatchRecord.batch == request)
        assert cards.count() == 20
        assert [c.status for c in cards if c.person_id] == [Card.ACTIVE] * 3
        assert {c.status for c in cards if not c.person_id} == {Card.NOT_AFFILIATED}
        assert {(c.emboss_line1, c.emboss_line2) for c in cards} == {(company.name[:25], company.nit)}
        named = products["Clásica / Visa"]
        # The demo fees: $ 10,00 per card, $ 5.000,00 distribution, 1 % recharge (min $ 100,00).
        assert (named.card_price_named, named.distribution_cost, named.recharge_min) == (1_000, 500_000, 10_000)
        assert (named.iva_rate, named.gmf_rate, named.recharge_rate) == (
            Decimal("0.19"),
            Decimal("0.004"),
            Decimal("0.01"),
        )

    assert sorted(u.username for u in User.select()) == ["autorizador", "firmante", "jhomez", "nuevo"]
    for username, (nit, perms) in SEED_PERMS.items():
        user = User.get(User.username == username)
        assert [c.nit for c in user.companies()] == [nit], username
        company = Company.get(Company.nit == nit)
        for product in company.products:
            assert user.permissions_for(product) == frozenset(perms), (username, product.name)
        other = Product.select().join(Company).where(Company.nit != nit)
        assert all(user.permissions_for(p) == frozenset() for p in other), username


@pytest.mark.parametrize(
    "username, password, must_change, terms",
    [
        ("jhomez", "Empresas*24", False, True),
        ("firmante", "Empresas*24", False, True),
        ("autorizador", "Empresas*24", False, True),
        ("nuevo", "Temporal*01", True, False),
    ],
)
def test_seed_demo_credentials(cli, username, password, must_change, terms):
    cli("seed-demo")
    user = User.get(User.username == username)
    assert check_password_hash(user.password_hash, password)
    assert user.must_change_password is must_change
    assert (user.terms_accepted_at is not None) is terms
    assert user.status == User.ACTIVE


def _paid(company) -> int:
    """What the demo took from the company's bank account: its orders (the stock cards' request)
    and the funding of each product's master account."""
    orders = ServiceOrder.select().where(ServiceOrder.company == company)
    total = sum(o.total_to_pay for o in orders if o.status == ServiceOrder.PROCESSED)
    assert total > 0 and all(o.status in (ServiceOrder.PROCESSED, ServiceOrder.VOIDED) for o in orders)
    fundings = (
        MasterOperation.select()
        .join(Product)
        .where((Product.company == company) & (MasterOperation.kind == MasterOperation.FUND))
    )
    assert fundings.count() >= 2  # the history's and today's
    return total + sum(f.amount for f in fundings)


def _counts():
    return [
        m.select().count()
        for m in (Company, Branch, Product, User, UserCompany, UserPermission, BankAccount, BankMovement)
    ]


def test_seed_demo_prints_the_address_really_served(make_app, db):
    """`make run` prints the demo users with the address of HOST and PORT, not always :5000."""
    result = make_app(PORT=5055).test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Usuarios de demostración (http://127.0.0.1:5055):" in result.output
    assert "http://127.0.0.1:5055/demo/correos" in result.output and ":5000" not in result.output


def test_seed_demo_if_empty_twice_does_not_duplicate(cli):
    first = cli("seed-demo", "--if-empty")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Datos de demostración cargados.\n")
    counts = _counts()
    assert counts[:4] == [2, 3, 4, 4]
    second = cli("seed-demo", "--if-empty")
    assert second.exit_code == 0, second.output
    assert second.output.startswith("La base de datos ya tiene datos; no se cargó la demostración.\n")
    assert _counts() == counts
    jahc = Company.get(Company.nit == "900291499")
    assert SimulatedBank().balance(jahc.bank_account) == 10_000_000_000 - _paid(jahc)


def test_seed_demo_if_empty_leaves_an_existing_database_alone(cli, company):
    result = cli("seed-demo", "--if-empty")
    assert result.exit_code == 0
    assert "no se cargó la demostración" in result.output
    assert [c.nit for c in Company.select()] == [NIT]
    assert User.select().count() == 0


def test_seed_demo_twice_without_if_empty_fails_cleanly(cli):
    cli("seed-demo")
    counts = _counts()
    result = cli("seed-demo")
    assert result.exit_code != 0
    assert error_line(result) == "Error: Ya existe una empresa con NIT 900291499"
    assert _counts() == counts


# ---------------------------------------------------------------- outbox


def test_outbox_empty(cli):
    result = cli("outbox")
    assert result.exit_code == 0
    assert result.output == "El buzón de salida está vacío.\n"


def test_outbox_prints_messages_newest_first(app, cli):
    from services.mail import send_mail

    with app.app_context():
        first = send_mail(
            "ana@example.com", "Conexión Empresas: contraseña temporal", "Hola Ana,\nTu clave: Ab1*cdef\n"
        )
        second = send_mail("luis@example.com", "Código de verificación", "Tu código es 123456")
    result = cli("outbox")
    assert result.exit_code == 0, result.output
    out = result.output
    header = re.compile(r"^--- #(\d+) \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \[GUARDADO\] para (\S+)$", re.M)
    assert [(int(i), r) for i, r in header.findall(out)] == [
        (second.id, "luis@example.com"),
        (first.id, "ana@example.com"),
    ]
    assert "Asunto: Conexión Empresas: contraseña temporal\nHola Ana,\nTu clave: Ab1*cdef\n" in out
    assert "Asunto: Código de verificación\nTu código es 123456\n" in out
    assert out.index("luis@example.com") < out.index("ana@example.com")


def test_outbox_limit(cli):
    for i in range(3):
        OutboxMessage.create(recipient=f"u{i}@example.com", subject=f"Asunto {i}", body=f"Cuerpo {i}")
    result = cli("outbox", "--limit", "2")
    assert result.exit_code == 0
    assert "u2@example.com" in result.output and "u1@example.com" in result.output
    assert "u0@example.com" not in result.output
    assert cli("outbox", "--limit", "0").exit_code == 2


def test_migration_2_keeps_existing_service_orders(cli, company):
    """Migration 2 rebuilds only migration 1's placeholder order table, never one with orders."""
    from tests.factories import make_product

    product = make_product(company)
    order = models.ServiceOrder.create(company=company, product=product, status="PENDIENTE_PAGO", total_to_pay=123)
    SchemaVersion.delete().where(SchemaVersion.version == 2).execute()
    assert cli("db", "upgrade").output == "Migraciones aplicadas: [2]\n"
    assert models.ServiceOrder.get_by_id(order.id).total_to_pay == 123


# ---------------------------------------------------------------- jobs status


def test_jobs_status_lists_heartbeats_claims_and_orders_needing_attention(cli, product):
    from datetime import timedelta

    from models import Batch, JobHeartbeat, ServiceOrder, utcnow

    now = utcnow()
    JobHeartbeat.create(
        name="process_orders", interval_seconds=2, holder="nodo-1:41:1700000000", beat_at=now, last_run_at=now,
        last_ok_at=now, runs=7, failures=1, last_error="RuntimeError: el procesador no responde", last_error_at=now,
    )  # fmt: skip
    JobHeartbeat.create(name="validate_batches", interval_seconds=1, beat_at=now - timedelta(minutes=5))
    Batch.create(
        company=product.company_id, product=product, number="25011501", kind="EMI", status=Batch.VALIDATING,
        total_records=20000, processed_records=5000, claimed_by="nodo-2:77:1700000001", claimed_at=now,
    )  # fmt: skip
    order = ServiceOrder.create(
        company=product.company_id, product=product, status=ServiceOrder.IN_PROCESS, records=10, done_records=4,
        failures=5, last_error="RuntimeError: el procesador no responde", attention_at=now,
    )  # fmt: skip
    result = cli("jobs", "status")
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "process_orders" in out
        and "[ok]" in out
        and "nodo-1:41:1700000000" in out
        and "7 ejecuciones, 1 fallidas" in out
    )
    assert "validate_batches" in out and "[VENCIDO]" in out
    assert "lote 25011501 (EMI): 5000 / 20000 — nodo-2:77:1700000001, renovado hace 0 s" in out
    assert f"orden {order.id}: 4 / 10" not in out.split("Órdenes que requieren atención:")[0]
    assert f"orden {order.id}: 5 fallas" in out and "el procesador no responde" in out
    assert f"flask jobs retry {order.id}" in out

    result = cli("jobs", "retry", order.id)
    assert result.exit_code == 0, result.output
    assert ServiceOrder.get_by_id(order.id).attention_at is None
    assert "ninguna" in cli("jobs", "status").output.split("Órdenes que requieren atención:")[1]
    assert cli("jobs", "retry", order.id).exit_code == 1


def test_jobs_status_without_any_job_says_so(cli):
    result = cli("jobs", "status")
    assert (
        "ningún trabajo ha registrado un latido" in result.output and "Reclamos en curso:\n  ninguno" in result.output
    )
