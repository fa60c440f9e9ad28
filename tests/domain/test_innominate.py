"""Tarjetas innominadas - Solicitud: the request's rules (domain/innominate.py), and the AFI rules
that match a row to a stock card by its REFERENCIA or by its masked number."""

from datetime import date

import pytest

from domain.batch_validation import (
    MSG_CARD_AFFILIATED,
    MSG_CARD_AMBIGUOUS,
    MSG_REFERENCE,
    MSG_REFERENCE_CARD,
    msg_repeated,
)
from domain.innominate import check_request, expiry_label, line_error, normalize_line
from tests import batchfiles as b
from tests.domain.test_batch_validation import check, run


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: no app or database."""
    yield


def request(quantity="10", line1="Empresa Coop", line2="9013434540", branch="73", maximum=500):
    return check_request(quantity, line1, line2, branch, branch_codes={"1", "73"}, maximum=maximum)


def test_a_valid_request_is_normalized():
    result, errors = request(line1="  empresa   coop ", line2="nit 9013434540")
    assert errors == {}
    assert (result.quantity, result.line1, result.line2, result.branch_code) == (
        10,
        "EMPRESA COOP",
        "NIT 9013434540",
        "73",
    )


@pytest.mark.parametrize("quantity", ["0", "501", "-1", "1.5", "diez", "１０", "99999999"])
def test_the_quantity_is_1_to_the_products_maximum_and_the_message_names_it(quantity):
    result, errors = request(quantity=quantity)
    assert result is None
    assert errors["quantity"].endswith("Máximo 500")


def test_the_maximum_is_the_products():
    assert request(quantity="20", maximum=20)[1] == {}
    assert request(quantity="21", maximum=20)[1]["quantity"].endswith("Máximo 20")
    assert request(quantity="", maximum=20)[1]["quantity"] == "Cantidad de tarjetas es obligatoria. Máximo 20"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "es obligatoria"),
        ("AB", "entre 3 y 25"),
        ("A" * 26, "entre 3 y 25"),
        ("PEÑA", "sin tildes ni ñ"),
        ("JOSÉ", "sin tildes ni ñ"),
        ("ACME S.A.", "sin tildes ni ñ"),
        ("ACME-1", "sin tildes ni ñ"),
    ],
)
def test_an_embossing_line_is_3_to_25_letters_digits_and_spaces(text, problem):
    _result, errors = request(line1=text)
    assert problem in errors["line1"] and errors["line1"].startswith("Línea de embozo 1")
    assert "line2" not in errors


def test_spaces_are_collapsed_before_the_length_is_counted():
    assert normalize_line("  a   b  ") == "A B"
    assert line_error("Línea", normalize_line("a" + " " * 30 + "b")) is None  # "A B": 3 characters
    assert line_error("Línea", normalize_line("a      ")) is not None  # "A": too short


def test_the_branch_must_be_the_companys():
    assert request(branch="")[1]["branch"] == "Selecciona la sucursal"
    assert request(branch="99")[1]["branch"] == "La sucursal no pertenece a la empresa"


def test_every_wrong_field_is_reported_at_once():
    _result, errors = request(quantity="0", line1="", line2="Ñ", branch="")
    assert set(errors) == {"quantity", "line1", "line2", "branch"}


@pytest.mark.parametrize(
    "today, months, label",
    [(date(2026, 12, 1), 36, "12/2029"), (date(2026, 1, 31), 13, "02/2027"), (date(2026, 5, 5), 0, "05/2026")],
)
def test_the_expiry_is_this_month_plus_the_validity(today, months, label):
    assert expiry_label(today, months) == label


# ---------------------------------------------------------------- AFI by reference

MASKED, OTHER = b.masked_card(1), b.masked_card(2)


def afi(card="", reference="", **facts):
    return check("AFI", facts=b.facts(**facts), **{"NO._TARJETA": card, "REFERENCIA": reference})


def test_a_row_names_its_card_by_reference_and_the_masked_number_may_be_left_out():
    outcome = afi("", "1042", references={"1042": (OTHER, False)})
    assert outcome.errors == []
    assert (outcome.record["card"], outcome.record["serial"]) == (OTHER, 1042)


@pytest.mark.parametrize("written", ["1042", "001042", 1042, 1042.0])
def test_the_reference_as_excel_may_write_it(written):
    outcome = afi(OTHER, written, references={"1042": (OTHER, False)})
    assert outcome.errors == [] and outcome.record["serial"] == 1042


def test_a_reference_must_be_a_stock_card_of_the_product_not_affiliated_and_agree_with_the_number():
    assert afi("", "7", references={"1042": (OTHER, False)}).errors == [MSG_REFERENCE]
    assert afi("", "1042", references={"1042": (OTHER, True)}).errors == [MSG_CARD_AFFILIATED]
    assert afi(MASKED, "1042", references={"1042": (OTHER, False)}).errors == [MSG_REFERENCE_CARD]


def test_without_reference_a_masked_number_naming_one_stock_card_is_enough():
    outcome = afi(MASKED, unaffiliated_cards=frozenset({MASKED}), unaffiliated_serials={MASKED: 77})
    assert outcome.errors == [] and outcome.record["serial"] == 77


def test_without_reference_a_masked_number_shared_by_two_stock_cards_is_ambiguous():
    outcome = afi(MASKED, unaffiliated_cards=frozenset({MASKED}), ambiguous_cards=frozenset({MASKED}))
    assert outcome.errors == [MSG_CARD_AMBIGUOUS]


def test_a_card_named_twice_in_the_file_is_refused_both_times():
    rows = b.afi_rows(3)
    rows[0]["REFERENCIA"], rows[1]["REFERENCIA"], rows[2]["REFERENCIA"] = "1042", "1042", "1043"
    for row in rows:
        row["NO. TARJETA"] = ""
    facts = b.facts(references={"1042": (OTHER, False), "1043": (MASKED, False)})
    _errors, outcomes = run("AFI", rows, facts)
    assert [o.errors for o in outcomes] == [[msg_repeated("NO. TARJETA")]] * 2 + [[]]


def test_one_card_per_person_in_the_file_the_second_card_for_the_same_person_is_refused():
    rows = b.afi_rows(2)
    rows[1]["NRO ID"] = rows[0]["NRO ID"]
    _errors, outcomes = run("AFI", rows, b.facts(unaffiliated_cards=b.cards(rows)))
    assert outcomes[0].errors == []
    assert outcomes[1].errors == ["El campo identificador está repetido en el archivo: ya aparece en la línea 2"]
