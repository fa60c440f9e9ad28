"""Money (domain/money.py) and permission parsing (domain/permissions.py)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import format_cop, from_cents, to_cents
from domain.permissions import ALL, PERMISSIONS, parse_permissions


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: replaces conftest's clean_db so these tests need no app or database."""
    yield


# ---------------------------------------------------------------- to_cents


@pytest.mark.parametrize(
    "amount, cents",
    [
        ("100000000", 10_000_000_000),
        ("1500.50", 150_050),
        ("1500.5", 150_050),
        ("12000", 1_200_000),
        ("0", 0),
        ("0.00", 0),
        ("0.01", 1),
        (" 12 ", 1_200),
        ("-1234.5", -123_450),
        ("1E+2", 10_000),
        (Decimal("2500.75"), 250_075),
        (Decimal("-0.01"), -1),
        (7, 700),
        (0, 0),
        (-3, -300),
        (10**12, 10**14),
    ],
)
def test_to_cents(amount, cents):
    result = to_cents(amount)
    assert result == cents
    assert type(result) is int


@pytest.mark.parametrize(
    "amount, cents",
    [
        ("0.005", 1),
        (Decimal("0.005"), 1),
        ("0.004", 0),
        ("0.0049999", 0),
        ("0.015", 2),
        ("0.025", 3),  # half-up, not banker's rounding (which would give 2)
        ("2.675", 268),
        ("1.005", 101),
        ("1.0049", 100),
        ("-0.005", -1),  # half away from zero
        ("-0.004", 0),
        ("-2.675", -268),
    ],
)
def test_to_cents_rounds_half_up(amount, cents):
    assert to_cents(amount) == cents


@pytest.mark.parametrize("amount", [1.5, 0.0, 100.0, -0.01, float("nan")])
def test_to_cents_refuses_floats(amount):
    with pytest.raises(TypeError):
        to_cents(amount)


@pytest.mark.parametrize(
    "amount",
    [
        "abc",
        "",
        "   ",
        "1,5",
        "1.000,50",
        "12.3.4",
        "$100",
        "100 pesos",
        None,
        "NaN",
        "Infinity",
        "-Infinity",
        "inf",
        "sNaN",
        Decimal("Infinity"),
        Decimal("NaN"),
    ],
)
def test_to_cents_refuses_garbage_with_value_error(amount):
    with pytest.raises(ValueError):
        to_cents(amount)


@pytest.mark.parametrize(
    "amount, message",
    [("abc", "monto inválido: 'abc'"), ("Infinity", "monto inválido: 'Infinity'"), ("NaN", "monto inválido: 'NaN'")],
)
def test_to_cents_error_names_the_amount(amount, message):
    with pytest.raises(ValueError) as excinfo:
        to_cents(amount)
    assert str(excinfo.value) == message


# ---------------------------------------------------------------- from_cents


@pytest.mark.parametrize(
    "cents, amount",
    [
        (150_050, "1500.50"),
        (5, "0.05"),
        (0, "0.00"),
        (-1, "-0.01"),
        (10_000_000_000, "100000000.00"),
        (100, "1.00"),
    ],
)
def test_from_cents(cents, amount):
    result = from_cents(cents)
    assert isinstance(result, Decimal)
    assert result == Decimal(amount)
    assert str(result) == amount  # always two decimals


@pytest.mark.parametrize("cents", [0, 1, 99, 100, 150_050, -123_450, 10_000_000_000, 123_456_789_012])
def test_round_trip(cents):
    assert to_cents(from_cents(cents)) == cents


# ---------------------------------------------------------------- format_cop


@pytest.mark.parametrize(
    "cents, text",
    [
        (10_000_000_000, "$ 100.000.000,00"),
        (12_345_678, "$ 123.456,78"),
        (1_200_000, "$ 12.000,00"),
        (100_000, "$ 1.000,00"),
        (99_999, "$ 999,99"),
        (100, "$ 1,00"),
        (1, "$ 0,01"),
        (0, "$ 0,00"),
        (123_456_789_012, "$ 1.234.567.890,12"),
        (-150, "-$ 1,50"),
        (-123_450, "-$ 1.234,50"),
        (-10_000_000_000, "-$ 100.000.000,00"),
    ],
)
def test_format_cop(cents, text):
    assert format_cop(cents) == text


@given(st.integers(min_value=-(10**15), max_value=10**15))
@settings(max_examples=300, derandomize=True, deadline=None)
def test_format_cop_writes_what_babel_writes(cents):
    """The hand-written format is the es-CO currency format Babel gives (spaces made plain)."""
    from decimal import Decimal

    from babel.numbers import format_currency

    expected = format_currency(Decimal(cents) / 100, "COP", locale="es_CO", format="¤ #,##0.00", currency_digits=False)
    assert format_cop(cents) == expected.replace("\xa0", " ")


def test_format_cop_uses_plain_spaces():
    assert "\xa0" not in format_cop(12_345_678)
    assert "\u202f" not in format_cop(12_345_678)


# ---------------------------------------------------------------- permissions

SPEC_PERMISSIONS = {
    "batch.upload",
    "batch.confirm",
    "batch.delete",
    "batch.sign",
    "batch.authorize",
    "order.view",
    "order.void",
    "order.pay",
    "innominate.request",
    "innominate.affiliate",
    "master.balance",
    "master.credit",
    "master.debit",
    "master.fund",
    "cards.view",
    "cards.manage",
    "reports.view",
    "users.manage",
}


def test_permission_codes_are_the_spec_table():
    assert set(PERMISSIONS) == SPEC_PERMISSIONS
    assert ALL == frozenset(SPEC_PERMISSIONS)
    assert all(PERMISSIONS[code] for code in PERMISSIONS)  # every code has a Spanish label


@pytest.mark.parametrize("text", ["all", "ALL", " all ", "All", "todos", "*"])
def test_all_permissions(text):
    assert parse_permissions(text) == ALL


@pytest.mark.parametrize(
    "text, expected",
    [
        ("batch.upload", {"batch.upload"}),
        ("batch.upload,order.view", {"batch.upload", "order.view"}),
        (" batch.upload , order.view ,", {"batch.upload", "order.view"}),
        ("order.view,order.view", {"order.view"}),
        (",,reports.view,,", {"reports.view"}),
        (",".join(sorted(SPEC_PERMISSIONS)), SPEC_PERMISSIONS),
    ],
)
def test_permission_list(text, expected):
    result = parse_permissions(text)
    assert isinstance(result, frozenset)
    assert result == frozenset(expected)


@pytest.mark.parametrize(
    "text, message",
    [
        ("foo", "Permiso desconocido: foo"),
        ("batch.upload,foo.bar", "Permiso desconocido: foo.bar"),
        ("zeta,batch.upload,alfa", "Permiso desconocido: alfa, zeta"),
        ("Batch.Upload", "Permiso desconocido: Batch.Upload"),
        ("batch", "Permiso desconocido: batch"),
        ("all,batch.upload", "Permiso desconocido: all"),
    ],
)
def test_unknown_permission_is_named(text, message):
    with pytest.raises(ValueError) as excinfo:
        parse_permissions(text)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("text", ["", "   ", None, ",", " , , "])
def test_empty_permission_list(text):
    with pytest.raises(ValueError) as excinfo:
        parse_permissions(text)
    assert str(excinfo.value) == "Indica al menos un permiso"
