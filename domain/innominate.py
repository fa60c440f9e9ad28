"""Tarjetas innominadas - Solicitud (SPEC §8): the rules of a request for stock cards.

A request names how many cards (1 to the product's maximum), the two lines embossed on each
card and the branch that receives them; its cards expire `validity_months` after this month.
Embossers print only A–Z, digits and spaces, so a line is stored in upper case with its spaces
collapsed, and a letter with an accent (or ñ) is refused rather than silently changed: the
user decides how the name should read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from domain.cards import expiry

EMBOSS_MIN, EMBOSS_MAX = 3, 25
_EMBOSSABLE = re.compile(r"[A-Z0-9 ]*").fullmatch
_SPACES = re.compile(r"\s+")

QUANTITY = "quantity"
LINE1, LINE2 = "line1", "line2"
BRANCH = "branch"
LABELS = {QUANTITY: "Cantidad de tarjetas", LINE1: "Línea de embozo 1", LINE2: "Línea de embozo 2", BRANCH: "Sucursal"}


def expiry_label(today: date, validity_months: int) -> str:
    """Fecha de vencimiento as the form shows it (MM/AAAA): the month the cards expire."""
    return expiry(today, validity_months).strftime("%m/%Y")


def normalize_line(text: str) -> str:
    """An embossing line as it is stored and printed: upper case, spaces collapsed."""
    return _SPACES.sub(" ", (text or "").strip()).upper()


def line_error(label: str, text: str) -> str | None:
    """What is wrong with an embossing line (already normalized), or None."""
    if not text:
        return f"{label} es obligatoria"
    if not _EMBOSSABLE(text):
        return f"{label}: usa solo letras de la A a la Z (sin tildes ni ñ), números y espacios"
    if not EMBOSS_MIN <= len(text) <= EMBOSS_MAX:
        return f"{label} debe tener entre {EMBOSS_MIN} y {EMBOSS_MAX} caracteres"
    return None


@dataclass(frozen=True)
class CardRequest:
    quantity: int
    line1: str
    line2: str
    branch_code: str


def check_request(
    quantity: str, line1: str, line2: str, branch_code: str, *, branch_codes, maximum: int
) -> tuple[CardRequest | None, dict[str, str]]:
    """(the request, {}) when every field is right, else (None, {field: message})."""
    errors: dict[str, str] = {}
    text = (quantity or "").strip()
    count = int(text) if text.isascii() and text.isdigit() and len(text) <= 7 else None
    if not text:
        errors[QUANTITY] = f"{LABELS[QUANTITY]} es obligatoria. Máximo {maximum}"
    elif count is None or not 1 <= count <= maximum:
        errors[QUANTITY] = f"{LABELS[QUANTITY]} debe ser un número entre 1 y {maximum}. Máximo {maximum}"
    lines = {LINE1: normalize_line(line1), LINE2: normalize_line(line2)}
    for field, value in lines.items():
        problem = line_error(LABELS[field], value)
        if problem:
            errors[field] = problem
    if not branch_code:
        errors[BRANCH] = "Selecciona la sucursal"
    elif branch_code not in set(branch_codes):
        errors[BRANCH] = "La sucursal no pertenece a la empresa"
    if errors:
        return None, errors
    return CardRequest(count, lines[LINE1], lines[LINE2], branch_code), {}
