"""Card numbers: Luhn, PANs from BIN and serial, masking, expiry."""

from datetime import date

import pytest

from domain.cards import capacity, expiry, luhn_check_digit, luhn_valid, make_pan, mask


def test_luhn_check_digit_of_known_numbers():
    assert luhn_check_digit("7992739871") == 3  # the classic example: 79927398713
    assert luhn_check_digit("411111111111111") == 1  # the Visa test card 4111 1111 1111 1111
    assert luhn_check_digit("0") == 0


def test_luhn_valid():
    assert luhn_valid("79927398713")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("79927398710")
    for bad in ("", "7", "4111-1111-1111-1111", "４１１１", None):
        assert not luhn_valid(bad)


def test_every_single_digit_error_is_caught():
    pan = "4111111111111111"
    for position in range(len(pan)):
        for digit in "0123456789":
            if digit != pan[position]:
                assert not luhn_valid(pan[:position] + digit + pan[position + 1 :])


def test_make_pan_is_bin_account_and_check_digit():
    pan = make_pan("450714", 1)
    assert len(pan) == 16 and pan.startswith("450714") and pan.isdigit()
    assert luhn_valid(pan)
    assert make_pan("450714", 1) == pan  # deterministic: the simulator can rebuild it
    eight = make_pan("45071499", 7)
    assert len(eight) == 16 and eight.startswith("45071499") and luhn_valid(eight)


def test_consecutive_serials_do_not_give_consecutive_numbers():
    first, second = make_pan("450714", 100), make_pan("450714", 101)
    assert abs(int(first[6:15]) - int(second[6:15])) > 1000


def test_pans_are_unique_per_bin_and_serial():
    pans = {make_pan("450714", serial) for serial in range(20_000)}
    assert len(pans) == 20_000
    assert make_pan("450714", 5) != make_pan("450715", 5)


def test_a_thousand_consecutive_cards_have_different_masked_numbers():
    masked = {mask(make_pan("450714", serial)) for serial in range(5_000, 6_000)}
    assert len(masked) == 1000


def test_serial_range_and_bin_are_checked():
    assert capacity("450714") == 10**9
    make_pan("450714", 10**9 - 1)
    for serial in (-1, 10**9, 1.0):
        with pytest.raises(ValueError):
            make_pan("450714", serial)
    for bin_ in ("4507", "450714123", "45O714", ""):
        with pytest.raises(ValueError):
            make_pan(bin_, 1)


def test_mask_keeps_the_first_six_and_last_four():
    assert mask("4507141234569053") == "450714******9053"
    assert mask(make_pan("450714", 3))[6:12] == "******"
    with pytest.raises(ValueError):
        mask("1234")


def test_expiry_is_the_last_day_of_the_month_validity_months_later():
    assert expiry(date(2025, 1, 15), 36) == date(2028, 1, 31)
    assert expiry(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert expiry(date(2027, 2, 1), 12) == date(2028, 2, 29)  # leap year
    assert expiry(date(2025, 12, 31), 0) == date(2025, 12, 31)
    assert expiry(date(2025, 12, 1), 1) == date(2026, 1, 31)
    with pytest.raises(ValueError):
        expiry(date(2025, 1, 1), -1)
