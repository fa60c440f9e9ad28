"""The errors workbook (domain/error_report.py): the user's rows back with an ERRORES column,
hostile text never a formula, and a file that uploads again once fixed."""

import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from domain.batch_files import read_batch
from domain.batch_validation import validate
from domain.error_report import error_workbook
from domain.layouts import layout
from tests import batchfiles as b


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: replaces conftest's clean_db so these tests need no app or database."""
    yield


def load(content):
    return openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]


def cells(ws):
    return [list(row) for row in ws.iter_rows()]


def values(ws):
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_header_errors_column_and_rows():
    header = ("TIPO ID", "NRO ID", "MONTO", "DESCRIPCION")
    content = error_workbook(
        header,
        [(("XX", "123", "10", None), "Tipo de documento inválido"), (("CC", "1", "0", "x"), "a; b")],
        title="Errores del lote 24031501",
    )
    ws = load(content)
    assert values(ws) == [
        ["Errores del lote 24031501", None, None, None, None],
        ["TIPO ID", "NRO ID", "MONTO", "DESCRIPCION", "ERRORES"],
        ["XX", "123", "10", None, "Tipo de documento inválido"],
        ["CC", "1", "0", "x", "a; b"],
    ]
    assert ws["A2"].font.b and ws["E2"].font.b


def test_without_title_the_header_is_row_1():
    ws = load(error_workbook(("A", "B"), [(("1", "2"), "m")]))
    assert values(ws) == [["A", "B", "ERRORES"], ["1", "2", "m"]]


def test_messages_may_come_as_a_list():
    ws = load(error_workbook(("A",), [(("1",), ["uno", "dos"])]))
    assert ws["B2"].value == "uno; dos"


HOSTILE = [
    "=cmd|' /C calc'!A0",
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1:A2)",
    '=HYPERLINK("http://evil","x")',
    "\t=1",
    "#N/A",
    "#REF!",
    "<script>alert(1)</script>",
]


def test_hostile_text_is_written_as_string_cells():
    header = ("NOMBRE", "OTRO")
    ws = load(error_workbook(header, [((text, text), "=mensaje") for text in HOSTILE], title="=titulo"))
    rows = cells(ws)[2:]
    assert [[c.value for c in row] for row in rows] == [[t, t, "=mensaje"] for t in HOSTILE]
    assert all(c.data_type == "s" for row in rows for c in row)
    assert cells(ws)[0][0].value == "=titulo" and cells(ws)[0][0].data_type == "s"
    for row, text in zip(rows, HOSTILE, strict=True):
        # Text a spreadsheet would parse once the cell is edited carries the quote prefix.
        assert row[0].quotePrefix == text.lstrip().startswith(("=", "+", "-", "@")) or text.startswith("\t")


# Formula text behind characters a worksheet cannot hold (removed when written) or behind
# whitespace: what is written must carry the quote prefix, whatever came before the trigger.
HIDDEN_FORMULAS = [
    ("\x01=cmd|' /C calc'!A0", "=cmd|' /C calc'!A0"),
    ("\x00\x02\x1f+1+1", "+1+1"),
    ("\x0b-2+3", "-2+3"),
    ("\x0c@SUM(A1:A2)", "@SUM(A1:A2)"),
    ("\x1b\t=1", "\t=1"),
    ("\x07\r=1", "\r=1"),
    ('   =HYPERLINK("http://evil","x")', '   =HYPERLINK("http://evil","x")'),
    (" \x01 +1", "  +1"),
    ("\t\x03 -1", "\t -1"),
    ("\n@x", "\n@x"),
    ("\u00a0=1", "\u00a0=1"),
]


@pytest.mark.parametrize("raw, written", HIDDEN_FORMULAS)
def test_formula_text_behind_control_characters_or_spaces_gets_the_quote_prefix(raw, written):
    ws = load(error_workbook(("NOMBRE",), [((raw,), raw)], title=raw))
    for cell in (ws["A1"], ws["A3"], ws["B3"]):  # title, value, message
        assert cell.value == written
        assert cell.data_type == "s" and cell.quotePrefix, repr(raw)


@pytest.mark.parametrize("text", ["abc", " abc", "\x01abc", "a=b", "1-2", "ana@correo.com"])
def test_ordinary_text_has_no_quote_prefix(text):
    ws = load(error_workbook(("NOMBRE",), [((text,), "m")]))
    assert ws["A2"].value == text.replace("\x01", "") and not ws["A2"].quotePrefix


def test_no_formula_or_error_cell_in_the_xml():
    content = error_workbook(("A",), [((text,), "m") for text in HOSTILE])
    xml = zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml and 't="e"' not in xml


def test_dates_numbers_and_empty_cells_keep_their_types():
    ws = load(
        error_workbook(
            ("F", "D", "N", "I", "E"), [((date(1990, 3, 15), datetime(2020, 1, 2, 3, 4), 12.5, 7, None), "m")]
        )
    )
    row = cells(ws)[1]
    assert row[0].value == datetime(1990, 3, 15) and row[0].is_date and row[0].number_format == "DD/MM/YYYY"
    assert row[1].value == datetime(2020, 1, 2, 3, 4) and row[1].number_format == "DD/MM/YYYY HH:MM:SS"
    assert row[2].value == 12.5 and row[2].data_type == "n"
    assert row[3].value == 7 and row[4].value is None


def test_control_characters_and_huge_text():
    ws = load(error_workbook(("A", "B"), [(("a\x00b\x01c\x1fd", "x" * 40_000), "m\x02")]))
    assert ws["A2"].value == "abcd" and len(ws["B2"].value) == 32_767 and ws["C2"].value == "m"


def test_rows_shorter_or_longer_than_the_header():
    ws = load(error_workbook(("A", "B", "C"), [(("1",), "corta"), (("1", "2", "3", "4"), "larga")]))
    assert values(ws)[1:] == [["1", None, None, "corta"], ["1", "2", "3", "larga"]]


def test_an_errors_column_already_in_the_file_is_replaced():
    header = ("TIPO ID", "ERRORES", "NRO ID")
    ws = load(error_workbook(header, [(("CC", "viejo", "12"), "nuevo")]))
    assert values(ws) == [["TIPO ID", "NRO ID", "ERRORES"], ["CC", "12", "nuevo"]]


def test_empty_report():
    ws = load(error_workbook(("A",), [], title="t"))
    assert values(ws) == [["t", None], ["A", "ERRORES"]]


# ---------------------------------------------------------------- round trip through the upload


def report_for(sheet, facts):
    _errors, outcomes = validate(sheet, facts)
    bad = [(o.values, "; ".join(o.errors)) for o in outcomes if o.errors]
    return error_workbook(sheet.header, bad, title="Errores del lote 25011500"), bad


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_the_report_uploads_again_and_fixed_rows_validate(fmt):
    rows = b.emi_rows(12, bad_every=4)
    rows[0]["PRIMER NOMBRE"] = "=cmd|' /C calc'!A0"
    rows[1]["FECHA DE NACIMIENTO"] = date(1985, 6, 7)
    rows[2]["NRO ID"] = 1_000_000_003
    builder = {"xlsx": b.xlsx_bytes, "xls": b.xls_bytes, "csv": b.csv_bytes}[fmt]
    sheet = read_batch(f"lote.{fmt}", builder("EMI", rows), "EMI")
    content, bad = report_for(sheet, b.facts())
    assert len(bad) == 4  # rows 1, 4, 8, 12

    again = read_batch("errores.xlsx", content, "EMI")
    assert again.header == (*layout("EMI").column_names, "ERRORES")
    assert again.columns == sheet.columns
    assert [values[:-1] for _line, values in again.rows] == [tuple(v) for v, _m in bad]
    assert [values[-1] for _line, values in again.rows] == [m for _v, m in bad]
    assert again.rows[0][0] == 3  # title, header, then the rows

    # The user fixes the rows in the report and uploads it again.
    wb = openpyxl.load_workbook(io.BytesIO(content))
    ws = wb.worksheets[0]
    fixes = {
        "PRIMER NOMBRE": "ANA",
        "CORREO ELECTRONICO": None,
        "TIPO ID": "CC",
        "FECHA DE NACIMIENTO": "01/02/1990",
        "TELEFONO CELULAR": "3109876543",
        "SUCURSAL": "1",
        "PRIMER APELLIDO": "PÉREZ",
    }
    names = [c.value for c in ws[2]]
    for r in range(3, ws.max_row + 1):
        for column, value in fixes.items():
            ws.cell(r, names.index(column) + 1).value = value or f"corregido{r}@ejemplo.com"
    out = io.BytesIO()
    wb.save(out)
    fixed = read_batch("corregido.xlsx", out.getvalue(), "EMI")
    _errors, outcomes = validate(fixed, b.facts())
    assert [o.errors for o in outcomes] == [[]] * 4


def test_a_date_cell_survives_the_report():
    rows = b.emi_rows(1)
    rows[0]["FECHA DE NACIMIENTO"] = date(2015, 6, 7)  # too young
    sheet = read_batch("l.xlsx", b.xlsx_bytes("EMI", rows), "EMI")
    content, bad = report_for(sheet, b.facts())
    assert bad[0][1] == "La edad debe estar entre 14 y 110 años"
    again = read_batch("e.xlsx", content, "EMI")
    assert again.rows[0][1][7] == date(2015, 6, 7)
    _errors, outcomes = validate(again, b.facts())
    assert next(outcomes).errors == ["La edad debe estar entre 14 y 110 años"]


def test_fixed_width_report_has_the_original_line_and_uploads_as_a_recharge():
    details = [("1020304050", 15_000_000), ("52123456", 20_000_000)]
    content = b.fixed_txt_bytes(details)
    sheet = read_batch("r.txt", content, "REC")
    facts = b.facts(active_holders=frozenset({("CC", "1020304050")}))
    report, bad = report_for(sheet, facts)
    ws = load(report)
    assert values(ws)[1] == ["TIPO ID", "NRO ID", "MONTO", "DESCRIPCION", "REGISTRO ORIGINAL", "ERRORES"]
    assert values(ws)[2] == [
        "CC",
        "52123456",
        "200000.00",
        None,
        content.decode().split("\r\n")[2],
        "El empleado no está asociado a la empresa para el producto dado",
    ]
    again = read_batch("e.xlsx", report, "REC")
    _errors, outcomes = validate(again, b.facts(active_holders=frozenset({("CC", "52123456")})))
    assert [o.record for o in outcomes] == [
        {"id_type": "CC", "id_number": "52123456", "amount": 20_000_000, "description": ""}
    ]
