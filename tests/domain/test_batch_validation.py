"""Validation of batch rows (domain/batch_validation.py, SPEC §5.1–5.4): every rule with good
and bad values and its exact message, duplicates, database facts, the fixed-width control."""

import types
from datetime import date, datetime

import pytest

from domain.batch_files import Sheet, read_batch
from domain.batch_validation import cell_text, parse_amount, validate
from domain.layouts import ID_TYPES, REC_TXT_CONTROL, layout, rec_txt_lines
from tests import batchfiles as b


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: replaces conftest's clean_db so these tests need no app or database."""
    yield


def sheet_of(kind, rows, source="xlsx", header=None):
    names = tuple(header or layout(kind).column_names)
    values = [(n + 2, tuple(None if r.get(c) == "" else r.get(c) for c in names)) for n, r in enumerate(rows)]
    columns = {c: i for i, c in enumerate(names) if c in layout(kind).column_names}
    return Sheet(kind, source, names, columns, values)


def default_facts(kind, **overrides):
    if kind == "REC":
        overrides.setdefault("active_holders", frozenset({("CC", b.id_number(1))}))
    if kind == "AFI":
        overrides.setdefault("unaffiliated_cards", frozenset({b.masked_card(1)}))
    return b.facts(**overrides)


def base_row(kind):
    return {"EMI": b.emi_rows, "REC": b.rec_rows, "AFI": b.afi_rows}[kind](1)[0]


def check(kind, facts=None, **changes):
    """The Outcome of one row: the builder's valid row 1 with some columns changed."""
    row = base_row(kind)
    row.update({k.replace("_", " "): v for k, v in changes.items()})
    errors, outcomes = validate(sheet_of(kind, [row]), facts or default_facts(kind))
    assert errors == []
    (outcome,) = list(outcomes)
    assert (outcome.record is None) == bool(outcome.errors)
    return outcome


def run(kind, rows, facts=None, **kw):
    errors, outcomes = validate(sheet_of(kind, rows, **kw), facts or default_facts(kind))
    return errors, list(outcomes)


def col(name):
    """check(**{col("TIPO ID"): …}) for column names with spaces."""
    return name.replace(" ", "_")


def with_(kind, **columns):
    return check(kind, **{col(k): v for k, v in columns.items()})


def one(kind, column, value, facts=None):
    return check(kind, facts=facts, **{col(column): value})


# ---------------------------------------------------------------- a valid row


def test_valid_emi_row_gives_the_normalized_record():
    outcome = with_(
        "EMI",
        **{
            "SUCURSAL": "073",
            "TIPO ID": "cc",
            "NRO ID": " 1020304050 ",
            "PRIMER APELLIDO": "  DE LA   CRUZ ",
            "SEGUNDO APELLIDO": "",
            "PRIMER NOMBRE": "Ana",
            "SEGUNDO NOMBRE": "MARÍA",
            "FECHA DE NACIMIENTO": "5/3/1990",
            "ESTADO CIVIL": "Unión libre",
            "SEXO": "femenino",
            "DIRECCION DE RESIDENCIA": " Calle 45 # 12-30 ",
            "CIUDAD DE RESIDENCIA": "Bogotá",
            "TELEFONO FIJO": "",
            "TELEFONO CELULAR": "3001234567",
            "CORREO ELECTRONICO": " Ana.Gomez@Ejemplo.COM ",
        },
    )
    assert outcome.errors == []
    assert outcome.line == 2
    assert outcome.record == {
        "id_type": "CC",
        "id_number": "1020304050",
        "amount": 0,
        "branch": "73",
        "first_surname": "DE LA CRUZ",
        "second_surname": "",
        "first_name": "Ana",
        "second_name": "MARÍA",
        "birth_date": "1990-03-05",
        "marital_status": "UNION LIBRE",
        "sex": "F",
        "address": "Calle 45 # 12-30",
        "city": "Bogotá",
        "postal_code": "",
        "correspondence_address": "",
        "correspondence_postal_code": "",
        "phone": "",
        "mobile": "3001234567",
        "email": "ana.gomez@ejemplo.com",
    }


def test_valid_afi_row_has_the_card():
    outcome = check("AFI")
    assert outcome.errors == [] and outcome.record["card"] == b.masked_card(1)
    assert set(outcome.record) == set(check("EMI").record) | {"card", "serial"}


def test_valid_rec_row():
    outcome = with_("REC", **{"MONTO": "150000.5", "DESCRIPCION": " Bono  "})
    assert outcome.record == {"id_type": "CC", "id_number": b.id_number(1), "amount": 15_000_050, "description": "Bono"}


# ---------------------------------------------------------------- §5.1 EMI, column by column

REQ = "El campo {} es obligatorio"
INV = "El campo {} es inválido"


@pytest.mark.parametrize(
    "value, errors, branch",
    [
        ("1", [], "1"),
        ("73", [], "73"),
        ("0073", [], "73"),
        (1.0, [], "1"),
        (73, [], "73"),
        (" 1 ", [], "1"),
        ("2", ["La sucursal no pertenece a la empresa"], None),
        ("ABC", ["La sucursal no pertenece a la empresa"], None),
        ("1.5", ["La sucursal no pertenece a la empresa"], None),
        ("", ["El campo SUCURSAL es obligatorio"], None),
        ("   ", ["El campo SUCURSAL es obligatorio"], None),
    ],
)
def test_sucursal(value, errors, branch):
    outcome = one("EMI", "SUCURSAL", value)
    assert outcome.errors == errors
    if branch:
        assert outcome.record["branch"] == branch


def test_branch_codes_with_leading_zeros_in_the_database():
    outcome = one("EMI", "SUCURSAL", "7", facts=b.facts(branch_codes=frozenset({"007"})))
    assert outcome.errors == [] and outcome.record["branch"] == "007"


@pytest.mark.parametrize("id_type", ID_TYPES)
def test_every_document_type_is_accepted(id_type):
    number = "1020304050" if id_type in ("CC", "CE", "TI") else "AB1234567"
    outcome = with_("EMI", **{"TIPO ID": id_type, "NRO ID": number})
    assert outcome.errors == [] and outcome.record["id_type"] == id_type


@pytest.mark.parametrize(
    "value, errors, stored",
    [
        ("cc", [], "CC"),
        ("C.C.", [], "CC"),
        (" Pa ", [], "PA"),
        ("XX", ["Tipo de documento inválido"], None),
        ("CEDULA", ["Tipo de documento inválido"], None),
        (1, ["Tipo de documento inválido"], None),
        ("", ["El campo TIPO ID es obligatorio"], None),
    ],
)
def test_tipo_id(value, errors, stored):
    outcome = with_("EMI", **{"TIPO ID": value, "NRO ID": "12345"})
    assert outcome.errors == errors
    if stored:
        assert outcome.record["id_type"] == stored


@pytest.mark.parametrize(
    "id_type, number, errors, stored",
    [
        ("CC", "123", [], "123"),
        ("CC", "123456789012345", [], "123456789012345"),
        ("CC", 1020304050.0, [], "1020304050"),
        ("CC", 1020304050, [], "1020304050"),
        ("TI", "0012345", [], "0012345"),
        ("CE", " 98765 ", [], "98765"),
        ("CC", "12", ["El campo NRO ID es inválido"], None),
        ("CC", "1234567890123456", ["El campo NRO ID es inválido"], None),
        ("CC", "12A45", ["El campo NRO ID es inválido"], None),
        ("CC", "1.020.304", ["El campo NRO ID es inválido"], None),
        ("CC", 1020304050.5, ["El campo NRO ID es inválido"], None),
        ("CC", "١٢٣٤٥", ["El campo NRO ID es inválido"], None),  # digits, but not ASCII
        ("PA", "AB123", [], "AB123"),
        ("PA", "ab12345", [], "AB12345"),
        ("PEP", "123456789012345", [], "123456789012345"),
        ("PPT", "X1Y2Z3", [], "X1Y2Z3"),
        ("PA", "AB12", ["El campo NRO ID es inválido"], None),
        ("PA", "AB-1234", ["El campo NRO ID es inválido"], None),
        ("PPT", "A" * 16, ["El campo NRO ID es inválido"], None),
        ("CC", "", ["El campo NRO ID es obligatorio"], None),
        ("XX", "123", ["Tipo de documento inválido"], None),
        ("XX", "1", ["Tipo de documento inválido", "El campo NRO ID es inválido"], None),
    ],
)
def test_nro_id(id_type, number, errors, stored):
    outcome = with_("EMI", **{"TIPO ID": id_type, "NRO ID": number})
    assert outcome.errors == errors
    if stored:
        assert outcome.record["id_number"] == stored


NAME_COLUMNS = ["PRIMER APELLIDO", "SEGUNDO APELLIDO", "PRIMER NOMBRE", "SEGUNDO NOMBRE"]


@pytest.mark.parametrize("column", NAME_COLUMNS)
@pytest.mark.parametrize(
    "value, stored",
    [
        ("GÓMEZ", "GÓMEZ"),
        ("Peña", "Peña"),
        ("O'NEILL", "O'NEILL"),
        ("PÉREZ-ÁLVAREZ", "PÉREZ-ÁLVAREZ"),
        ("  DE LA   CRUZ  ", "DE LA CRUZ"),
        ("ANA\u00a0MARÍA", "ANA MARÍA"),
        ("Jose\u0301", "José"),  # decomposed accent (macOS) stored composed
        ("Ü", "Ü"),
        ("A" * 100, "A" * 100),
    ],
)
def test_names_good(column, value, stored):
    outcome = one("EMI", column, value)
    assert outcome.errors == []
    key = {
        "PRIMER APELLIDO": "first_surname",
        "SEGUNDO APELLIDO": "second_surname",
        "PRIMER NOMBRE": "first_name",
        "SEGUNDO NOMBRE": "second_name",
    }[column]
    assert outcome.record[key] == stored


@pytest.mark.parametrize("column", NAME_COLUMNS)
@pytest.mark.parametrize(
    "value",
    [
        "ANA3",
        "-ANA",
        "'ANA",
        "ANA_MARIA",
        "<script>alert(1)</script>",
        "=cmd|' /C calc'!A0",
        "@SUM(A1)",
        "ANA.",
        "李",
        12,
    ],
)
def test_names_bad(column, value):
    assert one("EMI", column, value).errors == [INV.format(column)]


@pytest.mark.parametrize("column", NAME_COLUMNS)
def test_names_too_long(column):
    assert one("EMI", column, "A" * 101).errors == [f"El campo {column} supera los 100 caracteres"]


@pytest.mark.parametrize(
    "column, required",
    [("PRIMER APELLIDO", True), ("SEGUNDO APELLIDO", False), ("PRIMER NOMBRE", True), ("SEGUNDO NOMBRE", False)],
)
def test_names_required_or_optional(column, required):
    for empty in ("", None, "   "):
        outcome = one("EMI", column, empty)
        assert outcome.errors == ([REQ.format(column)] if required else [])


@pytest.mark.parametrize(
    "value, stored",
    [
        ("15/03/1990", "1990-03-15"),
        ("5/3/1990", "1990-03-05"),
        ("15-03-1990", "1990-03-15"),
        ("1990-03-15", "1990-03-15"),
        ("15/03/1990 00:00:00", "1990-03-15"),
        (" 29/02/2000 ", "2000-02-29"),
        (date(1990, 3, 15), "1990-03-15"),
        (datetime(1990, 3, 15, 8, 30), "1990-03-15"),
    ],
)
def test_birth_date_good(value, stored):
    outcome = one("EMI", "FECHA DE NACIMIENTO", value)
    assert outcome.errors == [] and outcome.record["birth_date"] == stored


@pytest.mark.parametrize(
    "value",
    [
        "31/02/1990",
        "15/13/1990",
        "00/01/1990",
        "15/03/90",
        "1990/03/15",
        "15.03.1990",
        "ayer",
        "29/02/2001",
        32947.0,
        32947,
        True,
    ],
)
def test_birth_date_bad(value):
    assert one("EMI", "FECHA DE NACIMIENTO", value).errors == ["El campo fecha es inválido"]


def test_birth_date_required():
    assert one("EMI", "FECHA DE NACIMIENTO", "").errors == ["El campo FECHA DE NACIMIENTO es obligatorio"]
    assert one("EMI", "FECHA DE NACIMIENTO", None).errors == ["El campo FECHA DE NACIMIENTO es obligatorio"]


@pytest.mark.parametrize(
    "born, ok",
    [
        ("15/01/2011", True),  # 14 today (TODAY = 2025-01-15)
        ("16/01/2011", False),  # 14 tomorrow
        ("15/01/1915", True),  # 110 today
        ("14/01/1914", False),  # 111
        ("15/01/1914", False),  # 111 today
        ("16/01/1914", True),  # 110 until tomorrow
        ("15/01/2025", False),  # born today
        ("15/01/2030", False),  # in the future
    ],
)
def test_age_between_14_and_110(born, ok):
    assert b.TODAY == date(2025, 1, 15)
    assert one("EMI", "FECHA DE NACIMIENTO", born).errors == ([] if ok else ["La edad debe estar entre 14 y 110 años"])


def test_age_of_a_date_cell():
    assert one("EMI", "FECHA DE NACIMIENTO", date(2011, 1, 16)).errors == ["La edad debe estar entre 14 y 110 años"]


@pytest.mark.parametrize(
    "value, stored",
    [
        ("SOLTERO", "SOLTERO"),
        ("casado", "CASADO"),
        ("UNION LIBRE", "UNION LIBRE"),
        ("Unión  Libre", "UNION LIBRE"),
        ("VIUDA", "VIUDO"),
        ("Divorciada", "DIVORCIADO"),
        ("soltera", "SOLTERO"),
        ("", ""),
    ],
)
def test_estado_civil_good(value, stored):
    outcome = one("EMI", "ESTADO CIVIL", value)
    assert outcome.errors == [] and outcome.record["marital_status"] == stored


@pytest.mark.parametrize("value", ["SEPARADO", "S", "CASADX", 1])
def test_estado_civil_bad(value):
    assert one("EMI", "ESTADO CIVIL", value).errors == ["El campo ESTADO CIVIL es inválido"]


@pytest.mark.parametrize(
    "value, stored",
    [
        ("MASCULINO", "M"),
        ("FEMENINO", "F"),
        ("masculino", "M"),
        ("Femenino", "F"),
        ("M", "M"),
        ("f", "F"),
        (" F ", "F"),
    ],
)
def test_sexo_good(value, stored):
    outcome = one("EMI", "SEXO", value)
    assert outcome.errors == [] and outcome.record["sex"] == stored


@pytest.mark.parametrize("value, message", [("X", INV), ("HOMBRE", INV), ("MF", INV), ("", REQ), (None, REQ)])
def test_sexo_bad(value, message):
    assert one("EMI", "SEXO", value).errors == [message.format("SEXO")]


@pytest.mark.parametrize("column, limit", [("DIRECCION DE RESIDENCIA", 100), ("CIUDAD DE RESIDENCIA", 40)])
def test_address_and_city_lengths(column, limit):
    assert one("EMI", column, "x" * limit).errors == []
    assert one("EMI", column, "  " + "x" * limit + "  ").errors == []
    assert one("EMI", column, "x" * (limit + 1)).errors == [f"El campo {column} supera los {limit} caracteres"]
    assert one("EMI", column, "").errors == []


def test_address_keeps_any_text():
    outcome = one("EMI", "DIRECCION DE RESIDENCIA", "<script>alert(1)</script>")
    assert outcome.errors == [] and outcome.record["address"] == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    "value, ok, stored",
    [
        ("", True, ""),
        ("1234567", True, "1234567"),
        ("6013456789", True, "6013456789"),
        (6013456789.0, True, "6013456789"),
        ("123456", False, None),
        ("12345678901", False, None),
        ("601-345-6789", False, None),
        ("601 3456789", False, None),
    ],
)
def test_telefono_fijo(value, ok, stored):
    outcome = one("EMI", "TELEFONO FIJO", value)
    assert outcome.errors == ([] if ok else ["El campo TELEFONO FIJO es inválido"])
    if ok:
        assert outcome.record["phone"] == stored


@pytest.mark.parametrize(
    "value, errors",
    [
        ("3001234567", []),
        (3001234567, []),
        (3001234567.0, []),
        ("300123456", ["El campo TELEFONO CELULAR es inválido"]),
        ("30012345678", ["El campo TELEFONO CELULAR es inválido"]),
        ("2001234567", ["El campo TELEFONO CELULAR es inválido"]),
        ("+573001234567", ["El campo TELEFONO CELULAR es inválido"]),
        ("", ["El campo TELEFONO CELULAR es obligatorio"]),
    ],
)
def test_telefono_celular(value, errors):
    assert one("EMI", "TELEFONO CELULAR", value).errors == errors


@pytest.mark.parametrize(
    "value, stored",
    [
        ("ana@ejemplo.com", "ana@ejemplo.com"),
        ("Ana.Gomez+nomina@Sub.Ejemplo.COM.CO", "ana.gomez+nomina@sub.ejemplo.com.co"),
        ("o'neill@ejemplo.co", "o'neill@ejemplo.co"),
        ("x" * 187 + "@ejemplo.com", "x" * 187 + "@ejemplo.com"),  # 199 characters
    ],
)
def test_correo_good(value, stored):
    outcome = one("EMI", "CORREO ELECTRONICO", value)
    assert outcome.errors == [] and outcome.record["email"] == stored


@pytest.mark.parametrize(
    "value, message",
    [
        ("ana", "El campo CORREO ELECTRONICO es inválido"),
        ("ana@ejemplo", "El campo CORREO ELECTRONICO es inválido"),
        ("ana@@ejemplo.com", "El campo CORREO ELECTRONICO es inválido"),
        ("ana gomez@ejemplo.com", "El campo CORREO ELECTRONICO es inválido"),
        ("ana..gomez@ejemplo.com", "El campo CORREO ELECTRONICO es inválido"),
        (".ana@ejemplo.com", "El campo CORREO ELECTRONICO es inválido"),
        ("ana@-ejemplo.com", "El campo CORREO ELECTRONICO es inválido"),
        ("<script>@x.co", "El campo CORREO ELECTRONICO es inválido"),
        ("x" * 189 + "@ejemplo.com", "El campo CORREO ELECTRONICO supera los 200 caracteres"),
        ("", "El campo CORREO ELECTRONICO es obligatorio"),
    ],
)
def test_correo_bad(value, message):
    assert one("EMI", "CORREO ELECTRONICO", value).errors == [message]


def test_a_row_lists_all_its_errors_in_column_order():
    outcome = with_(
        "EMI",
        **{
            "SUCURSAL": "9",
            "TIPO ID": "XX",
            "PRIMER NOMBRE": "",
            "FECHA DE NACIMIENTO": "31/02/1990",
            "SEXO": "Z",
            "TELEFONO CELULAR": "1",
            "CORREO ELECTRONICO": "malo",
        },
    )
    assert outcome.errors == [
        "La sucursal no pertenece a la empresa",
        "Tipo de documento inválido",
        "El campo PRIMER NOMBRE es obligatorio",
        "El campo fecha es inválido",
        "El campo SEXO es inválido",
        "El campo TELEFONO CELULAR es inválido",
        "El campo CORREO ELECTRONICO es inválido",
    ]
    assert outcome.record is None


def test_an_entirely_wrong_row():
    sheet = sheet_of("EMI", [{"SUCURSAL": "x"}])
    (_errors, outcomes) = validate(sheet, b.facts())
    assert list(outcomes)[0].errors == [
        "La sucursal no pertenece a la empresa",
        "El campo TIPO ID es obligatorio",
        "El campo NRO ID es obligatorio",
        "El campo PRIMER APELLIDO es obligatorio",
        "El campo PRIMER NOMBRE es obligatorio",
        "El campo FECHA DE NACIMIENTO es obligatorio",
        "El campo SEXO es obligatorio",
        "El campo TELEFONO CELULAR es obligatorio",
        "El campo CORREO ELECTRONICO es obligatorio",
    ]


def test_optional_columns_missing_from_the_file():
    required = [c.name for c in layout("EMI").columns if c.required]
    row = b.emi_rows(1)[0]
    errors, outcomes = validate(sheet_of("EMI", [row], header=required), b.facts())
    (outcome,) = list(outcomes)
    assert outcome.errors == []
    assert outcome.record["second_name"] == "" and outcome.record["phone"] == "" and outcome.record["city"] == ""


# ---------------------------------------------------------------- duplicates and the database


REPEATED_ID = "El campo identificador está repetido en el archivo: ya aparece en la línea {}"


def test_repeated_id_rejects_the_repeats_only():
    rows = b.emi_rows(4)
    rows[2]["NRO ID"] = rows[0]["NRO ID"]
    rows[3]["NRO ID"] = float(rows[0]["NRO ID"])  # the same ID as an Excel number
    _errors, outcomes = run("EMI", rows)  # sheet_of numbers the rows from line 2
    assert [o.errors for o in outcomes] == [[], [], [REPEATED_ID.format(2)], [REPEATED_ID.format(2)]]
    assert outcomes[0].record["id_number"] == rows[0]["NRO ID"]  # the first occurrence stays valid


def test_repeated_id_points_to_the_first_line_even_if_that_row_has_other_errors():
    rows = b.emi_rows(3)
    rows[0]["SUCURSAL"] = "999"
    rows[2]["NRO ID"] = rows[0]["NRO ID"].lower()
    _errors, outcomes = run("EMI", rows)
    assert [o.errors for o in outcomes] == [["La sucursal no pertenece a la empresa"], [], [REPEATED_ID.format(2)]]


def test_repeated_id_line_numbers_are_the_files():
    # Line numbers as the user sees them: title row 1, header row 2, data from row 3.
    rows = b.emi_rows(12)
    rows[9]["NRO ID"] = rows[2]["NRO ID"]  # Excel row 12 repeats row 5
    sheet = read_batch("l.xlsx", b.xlsx_bytes("EMI", rows), "EMI")
    _errors, outcomes = validate(sheet, b.facts())
    bad = [(o.line, o.errors) for o in outcomes if o.errors]
    assert bad == [(12, [REPEATED_ID.format(5)])]


def test_repeated_email_ignores_case_and_spaces_and_rejects_the_repeats_only():
    rows = b.emi_rows(3)
    rows[1]["CORREO ELECTRONICO"] = " " + rows[0]["CORREO ELECTRONICO"].upper()
    _errors, outcomes = run("EMI", rows)
    message = "El campo CORREO ELECTRONICO está repetido en el archivo: ya aparece en la línea 2"
    assert [o.errors for o in outcomes] == [[], [message], []]


def test_holder_of_the_product_cannot_be_issued_again():
    holders = frozenset({("CC", b.id_number(1))})
    outcome = check("EMI", facts=b.facts(holders=holders))
    assert outcome.errors == ["El empleado ya está asociado a la empresa para el producto dado"]
    # The same number under another document type is another person.
    outcome = check("EMI", facts=b.facts(holders=frozenset({("CE", b.id_number(1))})))
    assert outcome.errors == []


def test_holder_check_uses_the_normalized_id():
    holders = frozenset({("PA", "AB12345")})
    outcome = check("EMI", facts=b.facts(holders=holders), **{col("TIPO ID"): "pa", col("NRO ID"): "ab12345"})
    assert outcome.errors == ["El empleado ya está asociado a la empresa para el producto dado"]


# ---------------------------------------------------------------- §5.3 AFI


@pytest.mark.parametrize(
    "card, affiliated, errors",
    [
        (b.masked_card(1), False, []),
        (" " + b.masked_card(1) + " ", False, []),
        (b.masked_card(1), True, ["La tarjeta ya está afiliada"]),
        ("*****000000", False, ["El número de tarjeta es inválido"]),
        ("", False, ["El campo NO. TARJETA es obligatorio"]),
    ],
)
def test_afi_card(card, affiliated, errors):
    cards = frozenset({b.masked_card(1)})
    facts = b.facts(affiliated_cards=cards) if affiliated else b.facts(unaffiliated_cards=cards)
    assert check("AFI", facts=facts, **{"NO. TARJETA": card}).errors == errors


def test_afi_repeated_card_and_person_rules():
    rows = b.afi_rows(3)
    rows[1]["NO. TARJETA"] = rows[0]["NO. TARJETA"]
    facts = b.facts(unaffiliated_cards=b.cards(rows), holders=frozenset({("CC", b.id_number(3))}))
    _errors, outcomes = run("AFI", rows, facts)
    assert [o.errors for o in outcomes] == [
        ["El campo NO. TARJETA está repetido en el archivo"],
        ["El campo NO. TARJETA está repetido en el archivo"],
        ["El empleado ya está asociado a la empresa para el producto dado"],
    ]


def test_afi_checks_the_emi_columns():
    outcome = check("AFI", **{"SUCURSAL": "5", col("TIPO ID"): "ZZ"})
    assert outcome.errors == ["La sucursal no pertenece a la empresa", "Tipo de documento inválido"]


# ---------------------------------------------------------------- §5.2 REC


@pytest.mark.parametrize(
    "value, errors, cents",
    [
        ("150000", [], 15_000_000),
        ("150000.5", [], 15_000_050),
        ("150000.50", [], 15_000_050),
        ("0.01", [], 1),
        (" 1500.00 ", [], 150_000),
        (1500, [], 150_000),
        (1500.5, [], 150_050),
        (1500.25, [], 150_025),
        (5_000_000, [], 500_000_000),  # the per-card limit itself
        ("5000000.01", ["El monto supera el límite por tarjeta"], None),
        (5000000.01, ["El monto supera el límite por tarjeta"], None),
        ("0", ["El monto debe ser mayor que 0"], None),
        ("0.00", ["El monto debe ser mayor que 0"], None),
        ("-5", ["El monto debe ser mayor que 0"], None),
        (-5.0, ["El monto debe ser mayor que 0"], None),
        ("1500,50", ["El campo MONTO es inválido"], None),
        ("1.500.000", ["El campo MONTO es inválido"], None),
        ("1,500.00", ["El campo MONTO es inválido"], None),
        ("1500.505", ["El campo MONTO es inválido"], None),
        (1500.505, ["El campo MONTO es inválido"], None),
        (0.1 + 0.2, ["El campo MONTO es inválido"], None),
        ("$1500", ["El campo MONTO es inválido"], None),
        ("1500.", ["El campo MONTO es inválido"], None),
        ("1e3", ["El campo MONTO es inválido"], None),
        ("NaN", ["El campo MONTO es inválido"], None),
        (True, ["El campo MONTO es inválido"], None),
        ("", ["El campo MONTO es obligatorio"], None),
        (None, ["El campo MONTO es obligatorio"], None),
    ],
)
def test_monto(value, errors, cents):
    outcome = one("REC", "MONTO", value)
    assert outcome.errors == errors
    if cents is not None:
        assert outcome.record["amount"] == cents


def test_descripcion():
    assert one("REC", "DESCRIPCION", "x" * 38).record["description"] == "x" * 38
    assert one("REC", "DESCRIPCION", "").record["description"] == ""
    assert one("REC", "DESCRIPCION", "x" * 39).errors == ["El campo DESCRIPCION supera los 38 caracteres"]


def test_recharge_needs_an_active_card():
    outcome = check("REC", facts=b.facts(active_holders=frozenset()))
    assert outcome.errors == ["El empleado no está asociado a la empresa para el producto dado"]
    other_type = b.facts(active_holders=frozenset({("CE", b.id_number(1))}))
    assert check("REC", facts=other_type).errors == ["El empleado no está asociado a la empresa para el producto dado"]


def test_recharge_checks_document_type_and_number():
    assert one("REC", "TIPO ID", "XX").errors == ["Tipo de documento inválido"]
    assert one("REC", "NRO ID", "12").errors == ["El campo NRO ID es inválido"]
    assert one("REC", "NRO ID", "").errors == ["El campo NRO ID es obligatorio"]
    assert one("REC", "TIPO ID", "").errors == ["El campo TIPO ID es obligatorio"]


def test_recharge_repeated_id():
    rows = b.rec_rows(3)
    rows[2]["NRO ID"] = rows[0]["NRO ID"]
    facts = b.facts(active_holders=b.holders(rows))
    _errors, outcomes = run("REC", rows, facts)
    assert [o.errors for o in outcomes] == [[], [], [REPEATED_ID.format(2)]]
    assert outcomes[0].record is not None and outcomes[2].record is None


def test_recharge_with_several_errors():
    outcome = with_("REC", **{"TIPO ID": "XX", "MONTO": "abc", "DESCRIPCION": "y" * 40})
    assert outcome.errors == [
        "Tipo de documento inválido",
        "El campo MONTO es inválido",
        "El campo DESCRIPCION supera los 38 caracteres",
    ]


# ---------------------------------------------------------------- §5.4 fixed-width recharges


def fixed_sheet(details, **kwargs):
    return read_batch("r.txt", b.fixed_txt_bytes(details, **kwargs), "REC")


def fixed_facts(details, **overrides):
    return b.facts(active_holders=frozenset(("CC", pid) for pid, _ in details), **overrides)


DETAILS = [("1020304050", 15_000_000), ("52123456", 20_000_050)]


def test_fixed_width_valid():
    errors, outcomes = validate(fixed_sheet(DETAILS), fixed_facts(DETAILS))
    outcomes = list(outcomes)
    assert errors == []
    assert [(o.line, o.record) for o in outcomes] == [
        (2, {"id_type": "CC", "id_number": "1020304050", "amount": 15_000_000, "description": ""}),
        (3, {"id_type": "CC", "id_number": "52123456", "amount": 20_000_050, "description": ""}),
    ]


def patched(details, position, text):
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), details)
    lines[0] = lines[0][:position] + text + lines[0][position + len(text) :]
    return read_batch("r.txt", "\r\n".join(lines).encode(), "REC")


def test_fixed_width_count_mismatch():
    sheet = patched(DETAILS, 24, "00003")
    errors, _ = validate(sheet, fixed_facts(DETAILS))
    assert errors == [(1, "El número de registros indicado no corresponde con los registros en el archivo")]


def test_fixed_width_total_mismatch():
    sheet = patched(DETAILS, 38, "000000000035000051")
    errors, _ = validate(sheet, fixed_facts(DETAILS))
    assert errors == [(1, "El monto indicado no corresponde con la sumatoria de los registros")]


def test_fixed_width_nit_of_another_company():
    errors, _ = validate(fixed_sheet(DETAILS, nit="800123456"), fixed_facts(DETAILS))
    assert errors == [(1, "La empresa no está registrada")]


def test_fixed_width_all_control_mismatches_together():
    control = REC_TXT_CONTROL.format_line("0", "24031501", "800123456", 5, "2", "20240315", 1)
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), DETAILS)
    sheet = read_batch("r.txt", "\n".join([control, *lines[1:]]).encode(), "REC")
    errors, _ = validate(sheet, fixed_facts(DETAILS))
    assert errors == [
        (1, "El número de registros indicado no corresponde con los registros en el archivo"),
        (1, "El monto indicado no corresponde con la sumatoria de los registros"),
        (1, "La empresa no está registrada"),
    ]


@pytest.mark.parametrize(
    "company_nit, file_nit, ok",
    [
        ("900291499", "900291499", True),
        ("900291499-1", "900291499", True),
        ("900291499-1", "9002914991", True),
        ("9002914991", "9002914991", True),
        ("9002914991", "900291499", True),
        ("9013434540", "9013434540", True),
        ("900291499", "900291498", False),
        ("900291499-1", "9002914992", False),
    ],
)
def test_fixed_width_nit_variants(company_nit, file_nit, ok):
    errors, _ = validate(fixed_sheet(DETAILS, nit=file_nit), fixed_facts(DETAILS, company_nit=company_nit))
    assert errors == ([] if ok else [(1, "La empresa no está registrada")])


def test_fixed_width_line_errors_become_outcomes():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), DETAILS + [("777", 100)])
    lines[2] = lines[2][:-1]  # 41 characters
    sheet = read_batch("r.txt", "\n".join(lines).encode(), "REC")
    facts = fixed_facts(DETAILS)  # 777 holds no card
    errors, outcomes = validate(sheet, facts)
    # The control total counts what could be read: the short line is missing from it.
    assert errors == [(1, "El monto indicado no corresponde con la sumatoria de los registros")]
    assert [(o.line, o.errors) for o in outcomes] == [
        (2, []),
        (3, ["La línea no tiene el tamaño correcto"]),
        (4, ["El empleado no está asociado a la empresa para el producto dado"]),
    ]


def test_fixed_width_broken_control_is_a_file_error():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), DETAILS)
    sheet = read_batch("r.txt", "\n".join([lines[0] + "0", *lines[1:]]).encode(), "REC")
    errors, outcomes = validate(sheet, fixed_facts(DETAILS))
    assert errors == [(1, "La línea no tiene el tamaño correcto")]
    assert [o.errors for o in outcomes] == [[], []]


def test_fixed_width_detail_ids_and_amounts():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("0", 0), ("12", 5)])
    sheet = read_batch("r.txt", "\n".join(lines).encode(), "REC")
    _errors, outcomes = validate(sheet, b.facts(active_holders=frozenset({("CC", "12")})))
    assert [o.errors for o in outcomes] == [
        ["El campo NRO ID es inválido", "El monto debe ser mayor que 0"],
        ["El campo NRO ID es inválido"],
    ]


# ---------------------------------------------------------------- the API


def test_outcomes_are_a_lazy_generator_in_file_order():
    rows = b.emi_rows(7, bad_every=3)
    errors, outcomes = validate(sheet_of("EMI", rows), b.facts())
    assert errors == [] and isinstance(outcomes, types.GeneratorType)
    outcomes = list(outcomes)
    assert [o.line for o in outcomes] == list(range(2, 9))
    assert all(o.values == sheet_of("EMI", rows).rows[i][1] for i, o in enumerate(outcomes))


@pytest.mark.parametrize("kind, builder", [("EMI", b.emi_rows), ("AFI", b.afi_rows), ("REC", b.rec_rows)])
def test_builders_bad_rows_have_exactly_their_message(kind, builder):
    rows = builder(80, bad_every=7)
    facts = b.facts(active_holders=b.holders(rows), unaffiliated_cards=b.cards(rows) if kind == "AFI" else frozenset())
    _errors, outcomes = validate(sheet_of(kind, rows), facts)
    for i, outcome in enumerate(outcomes, start=1):
        expected = b.bad_message(kind, i, 7)
        assert outcome.errors == ([expected] if expected else []), (i, outcome.values)


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_same_records_from_every_format(fmt):
    rows = b.emi_rows(30)
    rows[3]["FECHA DE NACIMIENTO"] = date(1980, 1, 2)
    rows[4]["NRO ID"] = 1_000_000_005
    builder = {"xlsx": b.xlsx_bytes, "xls": b.xls_bytes, "csv": b.csv_bytes}[fmt]
    sheet = read_batch(f"l.{fmt}", builder("EMI", rows), "EMI")
    _errors, outcomes = validate(sheet, b.facts())
    records = [o.record for o in outcomes]
    expected = [o.record for o in validate(sheet_of("EMI", rows), b.facts())[1]]
    if fmt == "csv":
        expected[3]["birth_date"] = records[3]["birth_date"]  # a date object written to CSV is ISO text
    assert records == expected and all(records)


def test_cell_text_and_parse_amount():
    assert cell_text(None) == "" and cell_text("  a ") == "a" and cell_text(12.0) == "12" and cell_text(12.5) == "12.5"
    assert (
        cell_text(date(2024, 1, 2)) == "02/01/2024"
        and cell_text(datetime(2024, 1, 2, 3, 4, 5)) == "02/01/2024 03:04:05"
    )
    assert cell_text(True) == "VERDADERO"
    assert parse_amount("12.3") == 1230 and parse_amount("-0.01") == -1 and parse_amount(12.34) == 1234
    assert parse_amount(1e20) == 10**22 and parse_amount(float("inf")) is None and parse_amount(None) is None


# ---------------------------------------------------------------- the issuer's layouts (SPEC §5.1)

ISSUER_EMI = [n for n in layout("EMI").column_names if n != "CIUDAD DE RESIDENCIA"] + [
    "CODIGO POSTAL DIRECCION RESIDENCIA",
    "DIRECCION DE CORRESPONDENCIA",
    "CODIGO POSTAL DIRECCION CORRESPONDENCIA",
]


def issuer_rows(n, **changes):
    rows = []
    for row in b.emi_rows(n):
        row.pop("CIUDAD DE RESIDENCIA")
        row.update(
            {
                "CODIGO POSTAL DIRECCION RESIDENCIA": "110111",
                "DIRECCION DE CORRESPONDENCIA": "Carrera 7 # 71-21",
                "CODIGO POSTAL DIRECCION CORRESPONDENCIA": "050001",
            }
        )
        row.update(changes)
        rows.append(row)
    return rows


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_issuer_emission_layout_carries_its_extra_fields(fmt):
    rows = issuer_rows(2)
    content = (
        b.xlsx_bytes("EMI", rows, header=ISSUER_EMI) if fmt == "xlsx" else b.csv_bytes("EMI", rows, header=ISSUER_EMI)
    )
    sheet = read_batch(f"l.{fmt}", content, "EMI")
    assert len(sheet.header) == 17
    errors, outcomes = validate(sheet, b.facts())
    outcomes = list(outcomes)
    assert errors == [] and [o.errors for o in outcomes] == [[], []]
    record = outcomes[0].record
    assert record["postal_code"] == "110111"
    assert record["correspondence_address"] == "Carrera 7 # 71-21"
    assert record["correspondence_postal_code"] == "050001"
    assert record["city"] == ""


def test_issuer_postal_code_as_an_excel_number():
    rows = issuer_rows(1, **{"CODIGO POSTAL DIRECCION RESIDENCIA": 110111})
    sheet = read_batch("l.xlsx", b.xlsx_bytes("EMI", rows, header=ISSUER_EMI), "EMI")
    (outcome,) = list(validate(sheet, b.facts())[1])
    assert outcome.record["postal_code"] == "110111"


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("CODIGO POSTAL DIRECCION RESIDENCIA", "11011A", "El campo CODIGO POSTAL DIRECCION RESIDENCIA es inválido"),
        (
            "CODIGO POSTAL DIRECCION RESIDENCIA",
            "12345678901",
            "El campo CODIGO POSTAL DIRECCION RESIDENCIA es inválido",
        ),
        (
            "CODIGO POSTAL DIRECCION CORRESPONDENCIA",
            "11-0111",
            "El campo CODIGO POSTAL DIRECCION CORRESPONDENCIA es inválido",
        ),
        ("DIRECCION DE CORRESPONDENCIA", "x" * 101, "El campo DIRECCION DE CORRESPONDENCIA supera los 100 caracteres"),
    ],
)
def test_issuer_extra_fields_are_validated(column, value, message):
    rows = issuer_rows(1, **{column: value})
    sheet = read_batch("l.csv", b.csv_bytes("EMI", rows, header=ISSUER_EMI), "EMI")
    (outcome,) = list(validate(sheet, b.facts())[1])
    assert outcome.errors == [message] and outcome.record is None


@pytest.mark.parametrize("column", ["CODIGO POSTAL DIRECCION RESIDENCIA", "DIRECCION DE CORRESPONDENCIA"])
def test_issuer_extra_fields_are_optional(column):
    rows = issuer_rows(1, **{column: "", "DIRECCION DE CORRESPONDENCIA": "x" * 100})
    sheet = read_batch("l.csv", b.csv_bytes("EMI", rows, header=ISSUER_EMI), "EMI")
    (outcome,) = list(validate(sheet, b.facts())[1])
    assert outcome.errors == []


def test_our_layout_without_the_issuer_columns_is_still_valid():
    (outcome,) = list(validate(read_batch("l.xlsx", b.xlsx_bytes("EMI", b.emi_rows(1)), "EMI"), b.facts())[1])
    assert outcome.errors == []
    assert (outcome.record["postal_code"], outcome.record["correspondence_postal_code"]) == ("", "")


def test_afi_reads_the_issuer_columns_too():
    rows = [{"NO. TARJETA": b.masked_card(1), **issuer_rows(1)[0]}]
    header = ["NO. TARJETA", *ISSUER_EMI]
    sheet = read_batch("l.xlsx", b.xlsx_bytes("AFI", rows, header=header), "AFI")
    facts = b.facts(unaffiliated_cards=frozenset({b.masked_card(1)}))
    (outcome,) = list(validate(sheet, facts)[1])
    assert outcome.errors == [] and outcome.record["correspondence_postal_code"] == "050001"


def test_issuer_recharge_layout_under_a_title_row_without_description():
    header = ["TIPO DE DOCUMENTO", "NÚMERO DE DOCUMENTO", "MONTO"]
    rows = [["CC", b.id_number(1), "150000.00"], ["CC", b.id_number(2), 2500]]
    content = b.xlsx_bytes("REC", rows, header=header, title="ARCHIVO DE RECARGA")
    sheet = read_batch("recarga.xlsx", content, "REC")
    assert sheet.columns == {"TIPO ID": 0, "NRO ID": 1, "MONTO": 2}
    assert [line for line, _values in sheet.rows] == [3, 4]
    facts = b.facts(active_holders=frozenset({("CC", b.id_number(1)), ("CC", b.id_number(2))}))
    errors, outcomes = validate(sheet, facts)
    assert errors == []
    assert [o.record for o in outcomes] == [
        {"id_type": "CC", "id_number": b.id_number(1), "amount": 15_000_000, "description": ""},
        {"id_type": "CC", "id_number": b.id_number(2), "amount": 250_000, "description": ""},
    ]
