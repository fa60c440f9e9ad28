"""Batch layouts (SPEC §5): column names, requirements, examples and the fixed-width TXT."""

import re
from datetime import date

import pytest

from domain import layouts
from domain.layouts import REC_TXT_CONTROL, REC_TXT_DETAIL, REC_TXT_EXAMPLE, ColumnKind, layout, rec_txt_lines

EMI_NAMES = [
    "SUCURSAL",
    "TIPO ID",
    "NRO ID",
    "PRIMER APELLIDO",
    "SEGUNDO APELLIDO",
    "PRIMER NOMBRE",
    "SEGUNDO NOMBRE",
    "FECHA DE NACIMIENTO",
    "ESTADO CIVIL",
    "SEXO",
    "DIRECCION DE RESIDENCIA",
    "CIUDAD DE RESIDENCIA",
    "TELEFONO FIJO",
    "TELEFONO CELULAR",
    "CORREO ELECTRONICO",
]
EMI_OPTIONAL = {
    "SEGUNDO APELLIDO",
    "SEGUNDO NOMBRE",
    "ESTADO CIVIL",
    "DIRECCION DE RESIDENCIA",
    "CIUDAD DE RESIDENCIA",
    "TELEFONO FIJO",
}


def test_emi_columns_follow_the_spec():
    emi = layout("EMI")
    assert list(emi.column_names) == EMI_NAMES
    assert {c.name for c in emi.columns if not c.required} == EMI_OPTIONAL


def test_rec_columns_follow_the_spec():
    rec = layout("REC")
    assert list(rec.column_names) == ["TIPO ID", "NRO ID", "MONTO", "DESCRIPCION"]
    assert [c.required for c in rec.columns] == [True, True, True, False]
    assert rec.column("MONTO").kind is ColumnKind.AMOUNT
    assert rec.column("DESCRIPCION").max_length == 38


def test_afi_is_the_card_number_and_its_reference_then_the_emi_columns():
    afi = layout("AFI")
    assert list(afi.column_names) == ["NO. TARJETA", "REFERENCIA", *EMI_NAMES]
    assert afi.columns[0].required and not afi.columns[1].required  # the issuer's own file has no REFERENCIA
    assert afi.columns[2:] == layout("EMI").columns


def test_batch_type_names_and_codes():
    assert layouts.BATCH_TYPE_NAMES == {
        "EMI": "Emisión nominada (Id persona)",
        "REC": "Recarga (Id persona)",
        "AFI": "Afiliación (Id persona)",
        "INN": "Emisión innominada",
        "REP": "Reposición",
    }
    assert list(layouts.UPLOADABLE) == ["EMI", "REC", "AFI"]
    assert layout("REC").name == "Recarga (Id persona)"
    assert layouts.batch_type_name("INN") == "Emisión innominada"


def test_innominate_and_unknown_types_have_no_file_layout():
    with pytest.raises(KeyError):
        layout("INN")
    with pytest.raises(ValueError):
        layout("XYZ")


@pytest.mark.parametrize("kind", ["EMI", "REC", "AFI"])
def test_every_column_is_documented_with_a_consistent_example(kind):
    for column in layout(kind).columns:
        assert column.rule.strip() and column.example.strip(), column.name
        assert column.requirement == ("Obligatorio" if column.required else "Opcional")
        if column.choices:
            assert column.example in column.choices, column.name
        if column.max_length:
            assert len(column.example) <= column.max_length, column.name


def test_examples_satisfy_the_written_rules():
    emi = layout("EMI")
    assert re.fullmatch(r"3\d{9}", emi.column("TELEFONO CELULAR").example)
    assert re.fullmatch(r"\d{7,10}", emi.column("TELEFONO FIJO").example)
    assert re.fullmatch(r"\d{3,15}", emi.column("NRO ID").example)
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", emi.column("FECHA DE NACIMIENTO").example)
    assert set(emi.column("TIPO ID").choices) == {"CC", "CE", "TI", "PA", "PEP", "PPT"}
    assert re.fullmatch(r"\d+(\.\d{1,2})?", layout("REC").column("MONTO").example)


def test_fixed_width_records_have_the_spec_lengths():
    assert REC_TXT_CONTROL.length == 56
    assert REC_TXT_DETAIL.length == 42
    assert [(f.start, f.length) for f in REC_TXT_CONTROL.fields] == [
        (1, 1),
        (2, 8),
        (10, 15),
        (25, 5),
        (30, 1),
        (31, 8),
        (39, 18),
    ]
    assert [(f.start, f.length) for f in REC_TXT_DETAIL.fields] == [(1, 1), (2, 8), (10, 15), (25, 18)]


def test_field_examples_fit_their_width():
    for record in (REC_TXT_CONTROL, REC_TXT_DETAIL):
        for field in record.fields:
            assert len(field.example) == field.length, field.name


def test_a_record_whose_fields_do_not_add_up_is_refused():
    with pytest.raises(ValueError):
        layouts.FixedRecord("Roto", 10, (layouts.FixedField("A", 1, 4, "", "0000"),))


def test_rec_txt_lines_builds_control_and_details():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1020304050", 15_000_000), ("77", 5)])
    control, *details = lines
    assert len(control) == 56 and all(len(d) == 42 for d in details)
    fields = {f.name: f.slice(control) for f in REC_TXT_CONTROL.fields}
    assert fields == {
        "Tipo de registro": "0",
        "Número de lote": "24031501",
        "NIT de la empresa": "000000900291499",
        "Cantidad de registros": "00002",
        "Tipo de lote": "2",
        "Fecha": "20240315",
        "Monto total": "000000000015000005",
    }
    person = [f.slice(details[1]) for f in REC_TXT_DETAIL.fields]
    assert person == ["2", "24031501", "000000000000077", "000000000000000005"]


def test_a_value_too_long_for_its_field_is_refused():
    with pytest.raises(ValueError):
        REC_TXT_DETAIL.format_line("2", "123456789", "1", 1)


def test_the_published_example_is_consistent():
    control, *details = REC_TXT_EXAMPLE
    amount = REC_TXT_DETAIL.fields[-1]
    total = REC_TXT_CONTROL.fields[-1]
    count = REC_TXT_CONTROL.fields[3]
    assert int(count.slice(control)) == len(details)
    assert int(total.slice(control)) == sum(int(amount.slice(d)) for d in details)


ISSUER_PERSON = [
    "CODIGO POSTAL DIRECCION RESIDENCIA",
    "DIRECCION DE CORRESPONDENCIA",
    "CODIGO POSTAL DIRECCION CORRESPONDENCIA",
]


@pytest.mark.parametrize("kind", ["EMI", "AFI"])
def test_issuer_person_columns_are_read_but_not_in_our_layout(kind):
    spec = layout(kind)
    assert [c.name for c in spec.issuer_columns] == ISSUER_PERSON
    assert not any(c.required for c in spec.issuer_columns)
    assert [c.name for c in spec.read_columns] == [*spec.column_names, *ISSUER_PERSON]
    assert not set(ISSUER_PERSON) & set(spec.column_names)  # templates and help show our columns only
    assert spec.column("DIRECCION DE CORRESPONDENCIA").max_length == 100
    assert spec.column("CODIGO POSTAL DIRECCION RESIDENCIA").kind is ColumnKind.CODE


def test_issuer_recharge_headers_are_aliases_of_ours():
    rec = layout("REC")
    assert rec.issuer_columns == ()
    assert rec.column("TIPO ID").header_names == ("TIPO ID", "TIPO DE DOCUMENTO")
    assert rec.column("NRO ID").header_names == ("NRO ID", "NÚMERO DE DOCUMENTO")
    assert rec.column("MONTO").header_names == ("MONTO",)
    assert rec.required_names == ("TIPO ID", "NRO ID", "MONTO")


def test_required_names():
    assert layout("AFI").required_names[0] == "NO. TARJETA"
    assert "CIUDAD DE RESIDENCIA" not in layout("EMI").required_names
