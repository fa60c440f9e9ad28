"""Archivos lotes operativos: the .zip of .xlsx templates and the TXT layout description."""

import io
import zipfile

import openpyxl
import pytest

from domain.batch_templates import FILE_NAMES, TXT_NAME, template_xlsx_bytes, templates_zip_bytes
from domain.layouts import REC_TXT_EXAMPLE, ColumnKind, layout


@pytest.fixture(scope="module")
def archive():
    return zipfile.ZipFile(io.BytesIO(templates_zip_bytes()))


def load(archive, kind):
    return openpyxl.load_workbook(io.BytesIO(archive.read(FILE_NAMES[kind])))


def header_row(ws, names):
    """The number and values of the first row, within the first 10, that holds the headers."""
    for number, row in enumerate(ws.iter_rows(min_row=1, max_row=10, values_only=True), start=1):
        values = [v for v in row if v is not None]
        if values and values[0] == names[0]:
            return number, values
    raise AssertionError("no header row within the first 10 rows")


def test_the_zip_holds_one_template_per_uploadable_type_and_the_txt(archive):
    assert archive.namelist() == [FILE_NAMES["EMI"], FILE_NAMES["REC"], FILE_NAMES["AFI"], TXT_NAME]
    assert archive.testzip() is None


@pytest.mark.parametrize("kind", ["EMI", "REC", "AFI"])
def test_template_header_is_the_layout(archive, kind):
    spec = layout(kind)
    ws = load(archive, kind).worksheets[0]
    number, values = header_row(ws, spec.column_names)
    assert values == list(spec.column_names)
    assert number > 1 and ws.cell(1, 1).value == spec.title
    assert ws.cell(number, 1).font.b
    assert ws.max_row == number, "the template must not carry data rows"


@pytest.mark.parametrize("kind", ["EMI", "REC", "AFI"])
def test_id_columns_are_text_formatted(archive, kind):
    spec = layout(kind)
    ws = load(archive, kind).worksheets[0]
    for index, column in enumerate(spec.columns, start=1):
        letter = openpyxl.utils.get_column_letter(index)
        is_text = ws.column_dimensions[letter].number_format == "@"
        assert is_text == (column.kind is ColumnKind.CODE), column.name
        assert ws.column_dimensions[letter].width >= len(column.name)
    assert ws.column_dimensions["A" if kind == "REC" else "B"].number_format == "@"


@pytest.mark.parametrize("kind", ["EMI", "REC", "AFI"])
def test_notes_sheet_explains_every_column(archive, kind):
    spec = layout(kind)
    wb = load(archive, kind)
    assert wb.sheetnames[1] == "Notas"
    rows = [r for r in wb["Notas"].iter_rows(values_only=True) if r[0] is not None]
    start = next(i for i, r in enumerate(rows) if r[:4] == ("Columna", "Obligatorio / opcional", "Regla", "Ejemplo"))
    documented = {r[0]: r[1:4] for r in rows[start + 1 :]}
    assert list(documented) == list(spec.column_names)
    for column in spec.columns:
        assert documented[column.name] == (column.requirement, column.rule, column.example)


def test_txt_describes_the_fixed_width_layout(archive):
    text = archive.read(TXT_NAME).decode("utf-8")
    assert "56 caracteres" in text and "42 caracteres" in text
    assert "Número de identificación" in text and "AAAAMMDD" in text
    for line in REC_TXT_EXAMPLE:
        assert line in text.splitlines()


def test_the_zip_is_byte_for_byte_stable(archive):
    assert all(info.date_time == (2024, 1, 1, 0, 0, 0) for info in archive.infolist())
    assert template_xlsx_bytes("EMI") == template_xlsx_bytes("EMI")
    assert template_xlsx_bytes("EMI") == archive.read(FILE_NAMES["EMI"])
