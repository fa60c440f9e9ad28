"""Ledger rules without a database: postings, balanced operations, running balances."""

import pytest

from domain.ledger import (
    InvalidOperation,
    LedgerError,
    NegativeBalance,
    Operation,
    Posting,
    Unbalanced,
    UnknownAccount,
    apply,
)


def op(key, *postings):
    return Operation(key, f"operación {key}", tuple(Posting(a, amount) for a, amount in postings))


def test_a_posting_is_signed_integer_centavos():
    assert Posting(1, -500).amount == -500
    for bad in (0, 1.5, 100.0, True, "100", None):
        with pytest.raises(InvalidOperation) as error:
            Posting(1, bad)
        assert error.value.message  # Spanish text for whoever reads it


def test_a_posting_needs_an_account_id():
    with pytest.raises(InvalidOperation):
        Posting("1", 100)


def test_an_operation_needs_a_key_of_at_most_120_characters():
    for key in ("", "   ", None, "k" * 121):
        with pytest.raises(InvalidOperation):
            op(key, (1, -1), (2, 1))
    assert op("k" * 120, (1, -1), (2, 1)).key == "k" * 120


def test_an_operation_needs_two_postings():
    with pytest.raises(InvalidOperation) as error:
        Operation("k", "", (Posting(1, 5),))
    assert error.value.message == "La operación necesita al menos dos movimientos"
    with pytest.raises(InvalidOperation):
        Operation("k", "", ())


def test_an_operation_must_balance():
    with pytest.raises(Unbalanced) as error:
        op("k", (1, -100), (2, 60), (3, 39))
    assert error.value.total == -1
    assert "no está balanceada" in error.value.message
    assert isinstance(error.value, LedgerError)
    balanced = op("k", (1, -100), (2, 60), (3, 40))
    assert [p.amount for p in balanced.postings] == [-100, 60, 40]


def test_postings_given_as_a_list_become_a_tuple():
    operation = Operation("k", "", [Posting(1, -1), Posting(2, 1)])
    assert operation.postings == (Posting(1, -1), Posting(2, 1))


def test_transfer_builds_the_two_postings():
    operation = Operation.transfer("rec:1", "Recarga", 7, 9, 2500)
    assert operation.postings == (Posting(7, -2500), Posting(9, 2500))


def test_apply_gives_running_balances_in_order():
    balances = {1: 1000, 2: 0, 3: 50}
    results = apply(
        balances,
        set(),
        [op("a", (1, -300), (2, 300)), op("b", (1, -200), (2, 150), (3, 50)), op("c", (2, -450), (1, 450))],
    )
    assert [(operation.key, lines) for operation, lines in results] == [
        ("a", [(1, -300, 700), (2, 300, 300)]),
        ("b", [(1, -200, 500), (2, 150, 450), (3, 50, 100)]),
        ("c", [(2, -450, 0), (1, 450, 950)]),
    ]
    assert balances == {1: 950, 2: 0, 3: 100}  # updated in place once all applied


def test_apply_refuses_to_go_negative_and_applies_nothing():
    balances = {1: 100, 2: 0}
    with pytest.raises(NegativeBalance) as error:
        apply(balances, set(), [op("a", (1, -100), (2, 100)), op("b", (1, -1), (2, 1))])
    assert error.value.account_id == 1
    assert "Saldo insuficiente" in error.value.message
    assert balances == {1: 100, 2: 0}  # the first operation isn't applied either


def test_an_account_allowed_to_go_negative_may():
    balances = {1: 0, 2: 0}
    results = apply(balances, {1}, [op("pago", (1, -5000), (2, 5000))])
    assert results[0][1] == [(1, -5000, -5000), (2, 5000, 5000)]
    assert balances == {1: -5000, 2: 5000}


def test_an_account_may_not_dip_below_zero_even_inside_an_operation():
    with pytest.raises(NegativeBalance):
        apply({1: 0, 2: 0}, set(), [op("a", (1, -10), (1, 10), (2, 5), (2, -5))])


def test_an_unknown_account_is_refused():
    with pytest.raises(UnknownAccount) as error:
        apply({1: 100}, set(), [op("a", (1, -10), (2, 10))])
    assert error.value.account_id == 2
