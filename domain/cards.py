"""Card numbers and dates: Luhn check digit, PANs built from a BIN and a serial, masking, expiry.

A PAN (16 digits) is the product's BIN, the account digits and a Luhn check digit. The account
digits are the card's serial passed through a bijection of 0..10^k-1 (multiply by a constant
coprime to 10, add an offset, modulo 10^k), so each (BIN, serial) gives its own number and
consecutive cards don't get consecutive numbers. The last m account digits depend only on the
serial modulo 10^m, so any 1,000 consecutive serials have different last-3 account digits:
the masked numbers of the cards of one request (innominate cards are affiliated by masked
number) don't repeat.
"""

from __future__ import annotations

import calendar
from datetime import date

PAN_LENGTH = 16
# Any multiplier coprime to 10 makes the map a bijection modulo 10^k.
_MULTIPLIER = 982_451_653
_OFFSET = 271_828_182


def _digits_of(text: str) -> str:
    if not isinstance(text, str) or not text or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a string of digits: {text!r}")
    return text


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # 2·d with its digits added (Luhn)
_VALUE = {str(d): d for d in range(10)}
_VALUE_DOUBLED = {str(d): _DOUBLED[d] for d in range(10)}


def luhn_check_digit(digits: str) -> int:
    """The digit that, appended to `digits`, makes a Luhn-valid number."""
    _digits_of(digits)
    # Counting from the right, the digits at even positions (the rightmost first) are doubled:
    # the check digit will sit to their right.
    total = sum(map(_VALUE_DOUBLED.__getitem__, digits[::-2])) + sum(map(_VALUE.__getitem__, digits[-2::-2]))
    return (10 - total % 10) % 10


def luhn_valid(pan: str) -> bool:
    if not isinstance(pan, str) or len(pan) < 2 or not pan.isascii() or not pan.isdigit():
        return False
    return luhn_check_digit(pan[:-1]) == ord(pan[-1]) - 48


def capacity(bin_: str) -> int:
    """How many serials a BIN has room for: 10 ** (number of account digits)."""
    return 10 ** (PAN_LENGTH - 1 - len(_check_bin(bin_)))


def _check_bin(bin_: str) -> str:
    if not 6 <= len(_digits_of(bin_)) <= 8:
        raise ValueError(f"a BIN has 6 to 8 digits: {bin_!r}")
    return bin_


def make_pan(bin_: str, serial: int) -> str:
    """The 16-digit card number of the `serial`-th card of a BIN (serial from 0 to capacity - 1)."""
    width = PAN_LENGTH - 1 - len(_check_bin(bin_))
    modulus = 10**width
    if type(serial) is not int or not 0 <= serial < modulus:
        raise ValueError(f"serial out of range for BIN {bin_}: {serial!r}")
    account = (serial * _MULTIPLIER + _OFFSET) % modulus
    body = f"{bin_}{account:0{width}d}"
    return body + str(luhn_check_digit(body))


def mask(pan: str) -> str:
    """'4507141234569053' -> '450714******9053': the first 6 and last 4 digits only."""
    if len(pan) < 11:
        raise ValueError("a card number has at least 11 digits")
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def expiry(from_date: date, validity_months: int) -> date:
    """The last day of the month `validity_months` after `from_date` (cards expire at month end)."""
    if validity_months < 0:
        raise ValueError("validity_months must not be negative")
    months = from_date.year * 12 + (from_date.month - 1) + validity_months
    year, month = divmod(months, 12)
    month += 1
    return date(year, month, calendar.monthrange(year, month)[1])
