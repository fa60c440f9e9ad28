"""Money: integer centavos inside, Decimal at the edges, es-CO text for people."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency

CENT = Decimal("0.01")


def to_cents(amount) -> int:
    """Decimal/str/int pesos -> integer centavos, rounded half-up; floats are refused."""
    if isinstance(amount, float):
        raise TypeError("money never travels as float")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation as exc:
        raise ValueError(f"monto inválido: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"monto inválido: {amount!r}")
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(CENT)


def format_cop(cents: int) -> str:
    """12345678 -> '$ 123.456,78' (es-CO)."""
    text = format_currency(from_cents(cents), "COP", locale="es_CO", format="¤ #,##0.00", currency_digits=False)
    return text.replace("\xa0", " ")
