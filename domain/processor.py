"""What the program asks of a card processor, and what it answers; no database here.

The processing job (services/processing.py) sends the records of a paid order in chunks: one
call per chunk and kind, each request carrying `reference` (the batch record's id). A
processor must answer one result per request, in the same order, and treat a request whose
reference it has already seen as the same request (answer it again, do it only once): after
a crash the job may send a chunk again. The built-in implementation is
services/processor.py's SimulatedProcessor, which keeps cards in our own database.

Full card numbers (PAN) never leave the processor: results carry the masked number only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import ClassVar, Protocol

# Reasons a processor gives when it refuses a request (shown to the company on the record).
HAS_ACTIVE_CARD = "El tarjetahabiente ya tiene una tarjeta activa de este producto"
NO_ACTIVE_CARD = "El tarjetahabiente no tiene una tarjeta activa"
OVER_LIMIT = "El saldo superaría el límite de la tarjeta"
CARD_NOT_FOUND = "El número de tarjeta es inválido"
CARD_AFFILIATED = "La tarjeta ya está afiliada"
AMOUNT_NOT_POSITIVE = "El monto debe ser mayor que 0"
CARD_AMBIGUOUS = "El número de tarjeta corresponde a más de una tarjeta sin afiliar; comunícate con soporte"


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """What a processor needs to know of a product."""

    id: int
    company_id: int
    name: str
    bin: str
    validity_months: int
    card_limit: int  # centavos: a card's balance may not go above it


@dataclass(frozen=True, slots=True)
class Holder:
    """A cardholder as a validated record describes them (keys of domain/batch_validation.py)."""

    id_type: str
    id_number: str
    first_surname: str = ""
    second_surname: str = ""
    first_name: str = ""
    second_name: str = ""
    birth_date: date | None = None
    marital_status: str = ""
    sex: str = ""
    address: str = ""
    city: str = ""
    phone: str = ""
    mobile: str = ""
    email: str = ""

    @classmethod
    def from_record(cls, data: dict) -> Holder:
        """From a validated record (BatchRecord.data, decoded): dates come as ISO text."""
        values = {}
        for name in _HOLDER_TEXT:
            value = data.get(name)
            values[name] = "" if value is None else str(value)
        born = data.get("birth_date")
        if isinstance(born, str) and born:
            born = date.fromisoformat(born[:10])
        values["birth_date"] = born if isinstance(born, date) else None
        return cls(**values)


_HOLDER_TEXT = tuple(f.name for f in fields(Holder) if f.name != "birth_date")


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """Issue a card: to `holder`, or an innominate card (no holder yet) when it is None."""

    reference: int
    holder: Holder | None


@dataclass(frozen=True, slots=True)
class CreditRequest:
    """Credit `amount` centavos to the holder's active card of the product."""

    reference: int
    id_type: str
    id_number: str
    amount: int
    description: str = ""  # for the card's statement


@dataclass(frozen=True, slots=True)
class AssignRequest:
    """Affiliate the unaffiliated (innominate) card shown as `masked_pan` to `holder`."""

    reference: int
    masked_pan: str
    holder: Holder


@dataclass(frozen=True, slots=True)
class Issued:
    ok: ClassVar[bool] = True
    reference: int
    masked_pan: str
    serial: int  # the processor's reference of the card
    expires_on: date


@dataclass(frozen=True, slots=True)
class Credited:
    ok: ClassVar[bool] = True
    reference: int
    masked_pan: str
    amount: int
    balance: int  # the card's balance right after this credit


@dataclass(frozen=True, slots=True)
class Assigned:
    ok: ClassVar[bool] = True
    reference: int
    masked_pan: str


@dataclass(frozen=True, slots=True)
class Rejected:
    ok: ClassVar[bool] = False
    reference: int
    reason: str  # Spanish, for the company


class CardProcessor(Protocol):
    """A card processor. Each method takes one chunk of requests of one product and returns one
    result per request, in order; a repeated reference is answered, not done again. Calls run
    inside the job's chunk transaction: an implementation that writes to our database writes
    in it, one that calls out must make its effects idempotent by reference."""

    def issue(self, product: ProductTerms, requests: Sequence[IssueRequest]) -> list[Issued | Rejected]: ...

    def credit(self, product: ProductTerms, requests: Sequence[CreditRequest]) -> list[Credited | Rejected]: ...

    def assign(self, product: ProductTerms, requests: Sequence[AssignRequest]) -> list[Assigned | Rejected]: ...
