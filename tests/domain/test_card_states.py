"""The life of a card (domain/card_states.py, SPEC §10a) and how amounts are typed (parse_pesos)."""

import pytest

from domain.card_states import CardState, InvalidMove, is_blocked, label, move, takes_money
from domain.money import parse_pesos


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: no app or database."""
    yield


@pytest.mark.parametrize(
    "state, action, after",
    [
        ("NO_AFILIADA", "affiliate", "ACTIVA"),
        ("ACTIVA", "block_temporary", "BLOQUEO_TEMPORAL"),
        ("BLOQUEO_TEMPORAL", "unblock", "ACTIVA"),
        ("ACTIVA", "block_loss", "BLOQUEADA_EXTRAVIO"),
        ("BLOQUEO_TEMPORAL", "block_theft", "BLOQUEADA_ROBO"),
        ("BLOQUEADA_EXTRAVIO", "replace", "REEMPLAZADA"),
        ("ACTIVA", "cancel", "CANCELADA"),
    ],
)
def test_the_moves_of_a_card(state, action, after):
    assert move(state, action) == after


@pytest.mark.parametrize(
    "state, action",
    [("BLOQUEADA_ROBO", "unblock"), ("CANCELADA", "unblock"), ("REEMPLAZADA", "block_temporary"), ("ACTIVA", "replace"),
     ("NO_AFILIADA", "block_loss"), ("INVENTADO", "cancel")],
)  # fmt: skip
def test_loss_theft_cancel_and_replace_are_permanent(state, action):
    with pytest.raises(InvalidMove):
        move(state, action)


def test_only_an_active_card_takes_money():
    assert [s for s in CardState if takes_money(s)] == [CardState.ACTIVE]
    assert [s for s in CardState if is_blocked(s)] == [
        CardState.TEMPORARY_BLOCK, CardState.BLOCKED_LOSS, CardState.BLOCKED_THEFT, CardState.CANCELLED,
    ]  # fmt: skip
    assert label("BLOQUEADA_EXTRAVIO") == "Bloqueada por extravío" and label("OTRO") == "OTRO"


@pytest.mark.parametrize(
    "text, cents",
    [("50000", 5_000_000), ("50.000", 5_000_000), ("50.000,50", 5_000_050), ("50000,5", 5_000_050),
     ("50000.50", 5_000_050), ("1.5", 150), ("12.000.000", 1_200_000_000), ("$ 1.000", 100_000), ("0", 0)],
)  # fmt: skip
def test_amounts_as_people_type_them(text, cents):
    assert parse_pesos(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "-5", "1,2,3", "1.00.0", "1,234", "10.5.000", "1e5", "１０", "1" * 25])
def test_what_is_not_an_amount(text):
    assert parse_pesos(text) is None
