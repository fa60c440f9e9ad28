"""Password rules, lockout and temporary credentials (SPEC §2): domain/passwords.py."""

from datetime import datetime, timedelta

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from domain import passwords
from domain.passwords import (
    BLOCKED,
    INVALID,
    LAST_WARNING,
    MISMATCH,
    REUSED,
    change_errors,
    is_expired,
    register_failure,
    rule_errors,
    temporary_expiry,
    temporary_password,
)

LENGTH = "La contraseña debe tener de 8 a 15 caracteres"
LOWER = "La contraseña debe tener al menos una letra minúscula"
UPPER = "La contraseña debe tener al menos una letra mayúscula"
DIGITS = "La contraseña debe tener de 1 a 3 números"
SPECIAL = "La contraseña debe tener al menos un carácter especial (! @ * - ? ¡ ¿ + / . , _ #)"
REPEATED = "La contraseña no debe tener más de 2 caracteres iguales consecutivos"

VALID = "Clave*123"


def fast_hash(plain: str) -> str:
    return generate_password_hash(plain, method="pbkdf2:sha256:1000")


# ---------------------------------------------------------------- messages and labels


def test_messages_are_the_spanish_texts_of_the_spec():
    assert INVALID == "Usuario o contraseña inválido"
    assert LAST_WARNING == "Al siguiente intento fallido tu usuario será bloqueado"
    assert BLOCKED == "Usuario bloqueado por intentos fallidos"
    assert REUSED == "La contraseña nueva debe ser diferente a las últimas 5 contraseñas"
    assert MISMATCH == "La confirmación no coincide con la contraseña nueva"


def test_requirements_shown_beside_the_form():
    assert passwords.REQUIREMENTS == [
        "De 8 a 15 caracteres",
        "Al menos una letra minúscula",
        "Al menos una letra mayúscula",
        "De 1 a 3 números",
        "Al menos un carácter especial (ej: ! @ * - ? ¡ ¿ + / . , _ #)",
        "No debe tener más de 2 caracteres iguales consecutivos",
        "Diferente a las últimas 5 contraseñas",
    ]


# ---------------------------------------------------------------- composition rules


@pytest.mark.parametrize(
    "password",
    [
        VALID,
        "Ab1*cdef",  # 8, the minimum
        "Ab1*cdefghijklm",  # 15, the maximum
        "aB1!xyzw",
        "Empresas*24",
        "Temporal*01",
        "Ñandú*12",  # Spanish letters count as upper/lower case
        "Abcd1*!!",  # two equal consecutive characters are fine
        "AAbbcc1*",
        "Aa1*Aa1*Aa1*",  # equal characters that are not consecutive
        "11Abcde*",  # two equal digits in a row
    ],
)
def test_valid_passwords_break_no_rule(password):
    assert rule_errors(password) == []


@pytest.mark.parametrize(
    "password, length_ok",
    [
        ("Ab1*cde", False),  # 7
        ("Ab1*cdef", True),  # 8
        ("Ab1*cdefghijklm", True),  # 15
        ("Ab1*cdefghijklmn", False),  # 16
        ("Ab1*", False),
        ("Ab1*cdefghijklmnopqrstuvwxyz", False),
    ],
)
def test_length_must_be_8_to_15(password, length_ok):
    assert rule_errors(password) == ([] if length_ok else [LENGTH])


def test_lowercase_required():
    assert rule_errors("ABC*1DEF") == [LOWER]


def test_uppercase_required():
    assert rule_errors("abc*1def") == [UPPER]


@pytest.mark.parametrize(
    "password, digits_ok",
    [
        ("Abcdef*gh", False),  # 0 digits
        ("Abcdef*g1", True),  # 1
        ("Abcdef*12", True),  # 2
        ("Abcdef*123", True),  # 3
        ("Abcdef*1234", False),  # 4
        ("A1b2c3d4*e", False),  # 4, not consecutive
        ("A1bcdefg*9", True),  # 2, apart
    ],
)
def test_one_to_three_digits(password, digits_ok):
    assert rule_errors(password) == ([] if digits_ok else [DIGITS])


@pytest.mark.parametrize("special", list("!@*-?¡¿+/.,_#"))
def test_each_special_character_is_accepted(special):
    assert rule_errors(f"Abcdef1{special}") == []
    assert rule_errors(f"{special}Abcdef1") == []


def test_the_special_characters_are_exactly_the_spec_list():
    assert set(passwords.SPECIALS) == set("! @ * - ? ¡ ¿ + / . , _ #".split())


@pytest.mark.parametrize("symbol", list("$%&=~()'\";:<>[]{}|\\^`") + [" ", "€", "°"])
def test_other_symbols_are_not_special_characters(symbol):
    assert rule_errors(f"Abcdef1{symbol}") == [SPECIAL]


def test_a_password_with_only_other_symbols_fails():
    assert rule_errors("Abcd1$%&") == [SPECIAL]


@pytest.mark.parametrize(
    "password",
    ["Abbbcd1*", "AAAbcd1*", "Abcd1*eee", "Ab111cd*", "Abcd1***", "Abcd1*eeee"],
)
def test_three_equal_consecutive_characters_fail(password):
    assert rule_errors(password) == [REPEATED]


@pytest.mark.parametrize("password", ["Abbcd1*e", "AAbcd1*e", "Abcd1*ee", "Ab11cd*e", "Abcd1**e"])
def test_two_equal_consecutive_characters_pass(password):
    assert rule_errors(password) == []


def test_case_matters_for_repeated_characters():
    assert rule_errors("AaAbcd1*") == []


@pytest.mark.parametrize("password", ["", None])
def test_empty_password_lists_every_broken_rule_in_order(password):
    assert rule_errors(password) == [LENGTH, LOWER, UPPER, DIGITS, SPECIAL]


def test_several_broken_rules_are_all_reported_in_rule_order():
    assert rule_errors("aaaa") == [LENGTH, UPPER, DIGITS, SPECIAL, REPEATED]
    assert rule_errors("ABCDEFGH12345") == [LOWER, DIGITS, SPECIAL]


# ---------------------------------------------------------------- change_errors


def test_change_accepted_without_history():
    assert change_errors(VALID, VALID, [], check_password_hash) == []


def test_change_with_mismatched_confirmation():
    assert change_errors(VALID, "Clave*124", [], check_password_hash) == [MISMATCH]


def test_change_reports_rule_errors_then_mismatch():
    assert change_errors("abc", "abd", [], check_password_hash) == [LENGTH, UPPER, DIGITS, SPECIAL, MISMATCH]


def test_change_with_invalid_password_and_matching_confirmation():
    assert change_errors("Abcdefgh1", "Abcdefgh1", [], check_password_hash) == [SPECIAL]


OLD = ["Vieja*101", "Vieja*102", "Vieja*103", "Vieja*104", "Vieja*105", "Vieja*106"]


@pytest.fixture(scope="module")
def history():
    """Hashes of OLD, newest first (index 0 is the current password)."""
    return [fast_hash(p) for p in OLD]


@pytest.mark.parametrize("index", range(5))
def test_reuse_of_any_of_the_last_five_passwords_is_refused(history, index):
    reused = OLD[index]
    assert change_errors(reused, reused, history, check_password_hash) == [REUSED]


def test_the_sixth_oldest_password_may_be_used_again(history):
    sixth = OLD[5]
    assert change_errors(sixth, sixth, history, check_password_hash) == []


def test_a_new_password_not_in_history_is_accepted(history):
    assert change_errors("Nueva*778", "Nueva*778", history, check_password_hash) == []


def test_history_may_be_any_iterable(history):
    assert change_errors(OLD[2], OLD[2], iter(history), check_password_hash) == [REUSED]
    assert change_errors(OLD[5], OLD[5], (h for h in history), check_password_hash) == []


def test_reuse_check_uses_the_verify_function():
    calls = []

    def verify(stored, plain):
        calls.append((stored, plain))
        return stored == "h3"

    assert change_errors(VALID, VALID, ["h1", "h2", "h3"], verify) == [REUSED]
    assert ("h3", VALID) in calls


# ---------------------------------------------------------------- register_failure


@pytest.mark.parametrize(
    "previous, attempts, blocked, message",
    [
        (0, 1, False, "Usuario o contraseña inválido"),
        (1, 2, False, "Usuario o contraseña inválido. Al siguiente intento fallido tu usuario será bloqueado"),
        (2, 3, True, "Usuario bloqueado por intentos fallidos"),
        (3, 4, True, "Usuario bloqueado por intentos fallidos"),
    ],
)
def test_register_failure(previous, attempts, blocked, message):
    outcome = register_failure(previous)
    assert outcome.attempts == attempts
    assert outcome.blocked is blocked
    assert outcome.message == message


def test_three_failures_in_a_row_block():
    attempts, outcomes = 0, []
    for _ in range(3):
        outcome = register_failure(attempts)
        attempts = outcome.attempts
        outcomes.append(outcome)
    assert [o.blocked for o in outcomes] == [False, False, True]
    assert "Al siguiente intento fallido tu usuario será bloqueado" not in outcomes[0].message
    assert "Al siguiente intento fallido tu usuario será bloqueado" in outcomes[1].message
    assert outcomes[2].message == "Usuario bloqueado por intentos fallidos"


# ---------------------------------------------------------------- expiry


NOW = datetime(2024, 6, 30, 12, 0, 0)


@pytest.mark.parametrize(
    "age, max_days, expired",
    [
        (timedelta(0), 90, False),
        (timedelta(days=89, hours=23), 90, False),
        (timedelta(days=90), 90, False),
        (timedelta(days=90, seconds=1), 90, True),
        (timedelta(days=91), 90, True),
        (timedelta(days=400), 90, True),
        (timedelta(days=30, seconds=1), 30, True),
        (timedelta(days=29), 30, False),
        (-timedelta(days=1), 90, False),  # clock skew: changed "in the future"
    ],
)
def test_is_expired(age, max_days, expired):
    assert is_expired(NOW - age, NOW, max_days) is expired


# ---------------------------------------------------------------- temporary credentials


def test_temporary_passwords_satisfy_every_rule():
    drawn = [temporary_password() for _ in range(100)]
    for password in drawn:
        assert rule_errors(password) == [], password
        assert 8 <= len(password) <= 15
    assert len(set(drawn)) > 95  # random, not a constant


def test_temporary_password_is_accepted_as_a_new_password():
    temp = temporary_password()
    assert change_errors(temp, temp, [], check_password_hash) == []


def test_temporary_expiry_is_24_hours():
    assert passwords.TEMPORARY_VALID_HOURS == 24
    assert temporary_expiry(NOW) == NOW + timedelta(hours=24)
    assert temporary_expiry(datetime(2024, 12, 31, 23, 30)) == datetime(2025, 1, 1, 23, 30)


# ---------------------------------------------------------------- history through services.accounts


PASSWORDS = ["Clave*101", "Clave*102", "Clave*103", "Clave*104", "Clave*105", "Clave*106"]


@pytest.fixture
def user_after_four_changes(db, monkeypatch):
    """A user created with PASSWORDS[0] who then changed it to [1], [2], [3] and [4]."""
    from models import User
    from services import accounts

    monkeypatch.setattr(accounts, "HASH_METHOD", "pbkdf2:sha256:1000")  # scrypt is slow on purpose
    user, _ = accounts.create_user(
        "historia", "Ana", "Pérez", "ana@example.com", password=PASSWORDS[0], must_change=False
    )
    for previous, new in zip(PASSWORDS, PASSWORDS[1:5], strict=False):
        assert accounts.change_password(User.get_by_id(user.id), previous, new, new) == []
    return User.get_by_id(user.id)


@pytest.mark.parametrize(
    "index",
    [
        0,
        1,
        2,
        3,
        4,
    ],
)
def test_account_refuses_each_of_its_last_five_passwords(user_after_four_changes, index):
    from services import accounts

    current = PASSWORDS[4]
    reused = PASSWORDS[index]
    assert accounts.change_password(user_after_four_changes, current, reused, reused) == [REUSED]


def test_account_accepts_the_sixth_oldest_password(db, user_after_four_changes):
    from models import User
    from services import accounts

    assert accounts.change_password(user_after_four_changes, PASSWORDS[4], PASSWORDS[5], PASSWORDS[5]) == []
    user = User.get_by_id(user_after_four_changes.id)
    # Now the last five are [1]..[5]; [0] is the sixth oldest.
    assert accounts.change_password(user, PASSWORDS[5], PASSWORDS[0], PASSWORDS[0]) == []


def test_the_hash_method_follows_the_app_setting(make_app, db):
    from services import accounts

    app = make_app(PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with app.app_context():
        assert accounts.hash_password("Clave*101").startswith("pbkdf2:sha256:1000$")
        # The unknown-user path checks a hash of the same method: the same cost as a real user.
        assert accounts._dummy_hash().startswith("pbkdf2:sha256:1000$")
    assert accounts.hash_password("Clave*101").startswith(f"{accounts.HASH_METHOD}$")
