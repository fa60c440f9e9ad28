"""Reading uploaded batch files (domain/batch_files/, SPEC §5 and §5.4): formats, header
detection, refusals at upload with their Spanish messages, hostile files."""

import io
import re
import struct
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from domain import batch_files as bf
from domain.batch_files import FileRejected, FixedControl, cfb, header, read_batch, workbook, xls_checks, xlsx_checks
from domain.layouts import layout, rec_txt_lines
from tests import batchfiles as b


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: replaces conftest's clean_db so these tests need no app or database."""
    yield


EMI = layout("EMI").column_names
REC = layout("REC").column_names
AFI = layout("AFI").column_names


def rejected(filename, content, kind="EMI", **limits) -> str:
    with pytest.raises(FileRejected) as info:
        read_batch(filename, content, kind, **limits)
    assert info.value.message == str(info.value)
    return info.value.message


def xlsx_of(rows_of_cells) -> bytes:
    """An .xlsx with exactly these rows (lists of cell values), written cell by cell."""
    wb = Workbook()
    ws = wb.active
    for r, cells in enumerate(rows_of_cells, start=1):
        for c, value in enumerate(cells, start=1):
            if value is not None:
                ws.cell(r, c, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def header_msg(kind, suffix=""):
    required = [c.name for c in layout(kind).columns if c.required]
    return (
        "No se encontró la fila de encabezados del lote en las primeras 10 filas "
        f"(columnas obligatorias: {', '.join(required)}){suffix}"
    )


# ---------------------------------------------------------------- formats and rows


@pytest.mark.parametrize("kind, builder", [("EMI", b.emi_rows), ("REC", b.rec_rows), ("AFI", b.afi_rows)])
@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_every_format_reads_every_layout(kind, builder, fmt):
    rows = builder(4)
    if fmt == "xlsx":
        content, first = b.xlsx_bytes(kind, rows), 3  # title row 1, header row 2
    elif fmt == "xls":
        content, first = b.xls_bytes(kind, rows), 3
    else:
        content, first = b.csv_bytes(kind, rows), 2
    sheet = read_batch(f"lote.{fmt}", content, kind)
    names = layout(kind).column_names
    assert (sheet.kind, sheet.source) == (kind, fmt)
    assert sheet.header == names
    assert sheet.columns == {name: i for i, name in enumerate(names)}
    assert [line for line, _ in sheet.rows] == [first, first + 1, first + 2, first + 3]
    assert sheet.rows[0][1] == tuple(rows[0][n] or None for n in names)
    assert sheet.control is None and sheet.line_errors == []


def test_extension_is_case_insensitive_and_paths_are_ignored():
    content = b.xlsx_bytes("EMI", b.emi_rows(1))
    assert read_batch("C:\\fakepath\\LOTE.XLSX", content, "EMI").source == "xlsx"
    assert read_batch("carpeta/lote.final.xlsx", content, "EMI").source == "xlsx"


def test_header_in_row_1_without_title():
    sheet = read_batch("l.xlsx", b.xlsx_bytes("EMI", b.emi_rows(2), title=False), "EMI")
    assert [line for line, _ in sheet.rows] == [2, 3]


def test_header_in_row_3_under_a_title_and_a_blank_row():
    content = b.xlsx_bytes("EMI", b.emi_rows(2), title="EMPRESA XYZ - NÓMINA", leading_rows=1)
    sheet = read_batch("l.xlsx", content, "EMI")
    assert [line for line, _ in sheet.rows] == [4, 5]


def test_header_in_row_10_is_found_but_not_in_row_11():
    rows = b.emi_rows(1)
    sheet = read_batch("l.xlsx", b.xlsx_bytes("EMI", rows, title=False, leading_rows=9), "EMI")
    assert sheet.rows[0][0] == 11
    assert rejected("l.xlsx", b.xlsx_bytes("EMI", rows, title=False, leading_rows=10)) == header_msg("EMI")


def test_header_names_ignore_case_accents_dots_and_spacing():
    header = list(EMI)
    header[1] = "Tipo Id"
    header[6] = "SEGUNDO  NOMBRE "
    header[7] = " Fecha de Nacimiento"
    header[13] = "Teléfono Celular"
    header[14] = "correo electrónico"
    header[2] = "Nro. Id"
    rows = [[r[n] for n in EMI] for r in b.emi_rows(2)]
    for content, name in (
        (b.xlsx_bytes("EMI", rows, header=header), "l.xlsx"),
        (b.csv_bytes("EMI", rows, header=header), "l.csv"),
    ):
        sheet = read_batch(name, content, "EMI")
        assert sheet.header == tuple(header)  # as written
        assert sheet.columns == {n: i for i, n in enumerate(EMI)}


@pytest.mark.parametrize("written", ["NO. TARJETA", "No. Tarjeta", "NO TARJETA", "no.tarjeta", "  No.  TARJETA"])
def test_card_column_name_variants(written):
    header = [written, *EMI]
    rows = [[r[n] for n in AFI] for r in b.afi_rows(1)]
    sheet = read_batch("l.xlsx", b.xlsx_bytes("AFI", rows, header=header), "AFI")
    assert sheet.columns["NO. TARJETA"] == 0 and sheet.rows[0][1][0] == b.masked_card(1)


def test_columns_in_another_order_with_extra_columns_and_missing_optionals():
    header = ["OBSERVACIÓN", "MONTO", "NRO ID", "ERRORES", "TIPO ID"]  # no DESCRIPCION (optional)
    rows = [["nota", "1500.50", "1020304050", "algo que ya estaba", "CC"]]
    sheet = read_batch("l.csv", b.csv_bytes("REC", rows, header=header), "REC")
    assert sheet.columns == {"MONTO": 1, "NRO ID": 2, "TIPO ID": 4}
    assert sheet.header == tuple(header)
    assert sheet.rows == [(2, ("nota", "1500.50", "1020304050", "algo que ya estaba", "CC"))]


def test_missing_required_column_says_which():
    header = [n for n in EMI if n not in ("SEXO", "PRIMER NOMBRE")]
    rows = [[r[n] for n in header] for r in b.emi_rows(1)]
    message = rejected("l.xlsx", b.xlsx_bytes("EMI", rows, header=header))
    assert message == header_msg("EMI", ". En la fila 2 faltan las columnas: PRIMER NOMBRE, SEXO")


def test_a_file_of_another_batch_type_is_not_recognized():
    message = rejected("l.xlsx", b.xlsx_bytes("REC", b.rec_rows(2)), "EMI")
    assert message.startswith(header_msg("EMI"))
    assert "faltan las columnas: SUCURSAL, PRIMER APELLIDO" in message
    # An emission file is not an affiliation file: the card column is missing.
    message = rejected("l.xlsx", b.xlsx_bytes("EMI", b.emi_rows(2)), "AFI")
    assert message == header_msg("AFI", ". En la fila 2 faltan las columnas: NO. TARJETA")


def test_no_header_at_all():
    assert rejected("l.xlsx", xlsx_of([["hola", "mundo"], [1, 2]])) == header_msg("EMI")
    assert rejected("l.csv", b"uno;dos\r\n1;2\r\n") == header_msg("EMI")
    assert rejected("l.csv", b"solo texto sin separadores\r\n") == header_msg("EMI")


def test_empty_rows_are_skipped_and_line_numbers_kept():
    cells = [
        ["ARCHIVO"],
        list(REC),
        ["CC", "111", "10", None],
        [],
        [None, None, None, None],
        ["  ", None, " ", None],
        ["CC", "222", "20", "x"],
    ]
    sheet = read_batch("l.xlsx", xlsx_of(cells), "REC")
    assert sheet.rows == [(3, ("CC", "111", "10", None)), (7, ("CC", "222", "20", "x"))]
    text = "TIPO ID;NRO ID;MONTO;DESCRIPCION\r\nCC;111;10;\r\n\r\n;;;\r\n  ; ;;\r\nCC;222;20;x\r\n"
    sheet = read_batch("l.csv", text.encode(), "REC")
    assert sheet.rows == [(2, ("CC", "111", "10", None)), (6, ("CC", "222", "20", "x"))]


def test_rows_are_cut_or_padded_to_the_header_width():
    cells = [list(REC) + [None, None], ["CC", "111", "10", "d", None, "fuera del encabezado"], ["CC", "222"]]
    sheet = read_batch("l.xlsx", xlsx_of(cells), "REC")
    assert sheet.header == REC
    assert sheet.rows == [(2, ("CC", "111", "10", "d")), (3, ("CC", "222", None, None))]
    sheet = read_batch("l.csv", b"TIPO ID;NRO ID;MONTO;DESCRIPCION\nCC;111;10;d;extra;mas\nCC;222\n", "REC")
    assert sheet.rows == [(2, ("CC", "111", "10", "d")), (3, ("CC", "222", None, None))]


def test_excel_cells_keep_their_types():
    cells = [
        list(EMI),
        [
            "1",
            "CC",
            1020304050,
            "GÓMEZ",
            None,
            "ANA",
            None,
            date(1990, 3, 15),
            None,
            "F",
            None,
            None,
            6013456789.0,
            3001234567,
            "A@B.CO",
        ],
        [
            73.0,
            "CC",
            "1020304051",
            "PÉREZ",
            None,
            "LUIS",
            None,
            datetime(1991, 4, 16, 10, 30),
            None,
            "M",
            None,
            None,
            None,
            "3001234568",
            "b@b.co",
        ],
    ]
    sheet = read_batch("l.xlsx", xlsx_of(cells), "EMI")
    first, second = sheet.rows[0][1], sheet.rows[1][1]
    assert first[2] == 1020304050 and isinstance(first[2], int | float)
    assert first[7] == date(1990, 3, 15) and not isinstance(first[7], datetime)
    assert second[0] == 73 and second[7] == datetime(1991, 4, 16, 10, 30)


def test_xls_cells_keep_their_types():
    rows = b.emi_rows(2)
    rows[0]["FECHA DE NACIMIENTO"] = date(1990, 3, 15)
    rows[0]["NRO ID"] = 1020304050
    sheet = read_batch("l.xls", b.xls_bytes("EMI", rows), "EMI")
    assert sheet.source == "xls"
    values = sheet.rows[0][1]
    assert values[7] == date(1990, 3, 15)
    assert values[2] == 1020304050
    assert values[3] == "PEÑA" and values[5] == "José"


def test_only_the_first_sheet_is_read():
    wb = Workbook()
    wb.active.append(list(REC))
    wb.active.append(["CC", "1", "2", None])
    other = wb.create_sheet("Notas")
    other.append(list(REC))
    for _ in range(5):
        other.append(["CC", "9", "9", None])
    out = io.BytesIO()
    wb.save(out)
    assert len(read_batch("l.xlsx", out.getvalue(), "REC").rows) == 1


# ---------------------------------------------------------------- delimited text


@pytest.mark.parametrize("sep", [";", ",", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_csv_separators_and_encodings(sep, encoding):
    rows = b.emi_rows(3)
    rows[0]["PRIMER APELLIDO"] = "NÚÑEZ"
    rows[0]["CIUDAD DE RESIDENCIA"] = "Bogotá, D.C."  # the separator inside a field gets quoted
    sheet = read_batch("l.csv", b.csv_bytes("EMI", rows, sep=sep, encoding=encoding), "EMI")
    values = sheet.rows[0][1]
    assert values[3] == "NÚÑEZ" and values[5] == "José" and values[11] == "Bogotá, D.C."
    assert sheet.header == EMI and len(sheet.rows) == 3


def test_txt_extension_reads_delimited_files_too():
    sheet = read_batch("lote.TXT", b.csv_bytes("REC", b.rec_rows(2)), "REC")
    assert sheet.source == "csv" and len(sheet.rows) == 2


def test_csv_title_line_above_the_header():
    sheet = read_batch("l.csv", b.csv_bytes("REC", b.rec_rows(2), title=True), "REC")
    assert [line for line, _ in sheet.rows] == [3, 4]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_csv_line_endings(newline):
    text = newline.join(["TIPO ID;NRO ID;MONTO", "CC;1;2", "CC;3;4"]) + newline
    sheet = read_batch("l.csv", text.encode(), "REC")
    assert sheet.rows == [(2, ("CC", "1", "2")), (3, ("CC", "3", "4"))]


def test_csv_quoted_fields_with_separators_quotes_and_line_breaks():
    text = (
        "TIPO ID;NRO ID;MONTO;DESCRIPCION\r\n"
        'CC;111;10;"uno; dos"\r\n'
        'CC;222;20;"dice ""hola"""\r\n'
        'CC;333;30;"dos\r\nlíneas"\r\n'
        "CC;444;40;\r\n"
    )
    sheet = read_batch("l.csv", text.encode(), "REC")
    assert sheet.rows == [
        (2, ("CC", "111", "10", "uno; dos")),
        (3, ("CC", "222", "20", 'dice "hola"')),
        (4, ("CC", "333", "30", "dos\nlíneas")),
        (6, ("CC", "444", "40", None)),
    ]


def test_latin1_and_utf8_give_the_same_text():
    text = "TIPO ID;NRO ID;MONTO;DESCRIPCION\r\nCC;1;2;Año nuevo, señor Ñandú: áéíóú ü\r\n"
    utf8 = read_batch("l.csv", text.encode("utf-8"), "REC").rows
    latin = read_batch("l.csv", text.encode("latin-1"), "REC").rows
    bom = read_batch("l.csv", b"\xef\xbb\xbf" + text.encode("utf-8"), "REC").rows
    assert utf8 == latin == bom
    assert utf8[0][1][3] == "Año nuevo, señor Ñandú: áéíóú ü"


def test_utf16_text_is_refused_with_the_encodings_we_take():
    text = "TIPO ID\tNRO ID\tMONTO\r\nCC\t1\t2\r\n"
    message = rejected("l.txt", text.encode("utf-16"), "REC")
    assert message == "El archivo de texto debe estar codificado en UTF-8 o Latin-1 (ISO-8859-1)"


# ---------------------------------------------------------------- fixed-width recharges (§5.4)


def fixed(details, **kwargs) -> bytes:
    return b.fixed_txt_bytes(details, **kwargs)


def test_fixed_width_file():
    content = fixed([("1020304050", 15_000_000), ("52123456", 20_000_050)])
    sheet = read_batch("recarga.txt", content, "REC")
    assert sheet.source == "fixed"
    assert sheet.control == FixedControl(
        line=1, batch_number="24031501", nit="900291499", count=2, batch_type="2", day="20240315", total=35_000_050
    )
    lines = content.decode().split("\r\n")
    assert sheet.header == ("TIPO ID", "NRO ID", "MONTO", "DESCRIPCION", "REGISTRO ORIGINAL")
    assert sheet.columns == {"TIPO ID": 0, "NRO ID": 1, "MONTO": 2, "DESCRIPCION": 3}
    assert sheet.rows == [
        (2, ("CC", "1020304050", "150000.00", None, lines[1])),
        (3, ("CC", "52123456", "200000.50", None, lines[2])),
    ]
    assert sheet.line_errors == []


def test_fixed_width_example_of_the_downloads_reads():
    from domain.layouts import REC_TXT_EXAMPLE

    sheet = read_batch("x.txt", "\n".join(REC_TXT_EXAMPLE).encode(), "REC")
    assert sheet.control.total == 35_000_000 and len(sheet.rows) == 2


def test_fixed_width_lines_of_the_wrong_length():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1", 100), ("2", 200), ("3", 300)])
    lines[1] = lines[1] + "9"  # 43 characters
    lines[2] = lines[2][:30]
    content = ("\n".join(lines) + "\n\n").encode()
    sheet = read_batch("r.txt", content, "REC")
    assert sheet.line_errors == [
        (2, "La línea no tiene el tamaño correcto"),
        (3, "La línea no tiene el tamaño correcto"),
    ]
    assert sheet.rows[0] == (2, (None, None, None, None, lines[1]))
    assert sheet.rows[2] == (4, ("CC", "3", "3.00", None, lines[3]))


def test_fixed_width_trailing_spaces_are_not_a_wrong_length():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1", 100)])
    sheet = read_batch("r.txt", "\r\n".join(line + "   " for line in lines).encode(), "REC")
    assert sheet.line_errors == [] and sheet.control.count == 1


def test_fixed_width_control_of_the_wrong_length_is_a_file_error():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1", 100)])
    sheet = read_batch("r.txt", "\n".join([lines[0][:-1], lines[1]]).encode(), "REC")
    assert sheet.control is None
    assert sheet.line_errors == [(1, "La línea no tiene el tamaño correcto")]
    assert [line for line, _ in sheet.rows] == [2]


def test_fixed_width_control_and_detail_record_codes():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1", 100), ("2", 200)])
    control = "1" + lines[0][1:29] + "3" + "20241399" + lines[0][38:]
    other_batch = lines[2][:1] + "99999999" + lines[2][9:]
    wrong_type = "5" + lines[1][1:]
    sheet = read_batch("r.txt", "\n".join([control, wrong_type, other_batch]).encode(), "REC")
    assert sheet.line_errors == [
        (1, "El registro de control debe empezar por 0"),
        (1, "El tipo de lote del registro de control debe ser 2 (recarga)"),
        (1, "La fecha del registro de control es inválida"),
        (2, "El registro de detalle debe empezar por 2"),
        (3, "El número de lote no corresponde con el del registro de control"),
    ]
    assert sheet.control.batch_type == "3" and sheet.control.day == "20241399"


def test_fixed_width_non_numeric_fields():
    lines = rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1", 100)])
    control = lines[0][:24] + "0000X" + lines[0][29:]
    detail = lines[1][:9] + "      ABC123456" + "00000000000000100A"
    sheet = read_batch("r.txt", "\n".join([control, detail]).encode(), "REC")
    assert sheet.control is None and sheet.line_errors == [(1, "El registro de control es inválido")]
    assert sheet.rows[0][1][:3] == ("CC", "ABC123456", "00000000000000100A")


def test_fixed_width_only_for_recharges_in_txt():
    content = fixed([("1", 100)])
    assert rejected("r.txt", content, "EMI") == header_msg("EMI")
    assert rejected("r.csv", content, "REC") == header_msg("REC")


def test_fixed_width_without_details():
    assert rejected("r.txt", fixed([]), "REC") == "El archivo no tiene registros"


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", ["lote.pdf", "lote", "lote.xlsm", "lote.ods", "lote.exe", "lote.xlsx.exe", ".xlsx"])
def test_wrong_extension(name):
    assert rejected(name, b"whatever") == "El archivo debe tener extensión .xlsx, .xls, .csv o .txt"


@pytest.mark.parametrize("name", ["l.xlsx", "l.xls", "l.csv", "l.txt"])
def test_empty_file(name):
    assert rejected(name, b"") == "El archivo está vacío"


@pytest.mark.parametrize("content", [b"   \r\n\r\n", b"\xef\xbb\xbf", b"\n"])
def test_blank_text_is_empty(content):
    assert rejected("l.csv", content) == "El archivo está vacío"


def test_a_workbook_without_values_is_empty():
    assert rejected("l.xlsx", xlsx_of([])) == "El archivo está vacío"
    assert rejected("l.xlsx", xlsx_of([[None, "  "], [None, None, ""]])) == "El archivo está vacío"
    assert rejected("l.xls", b.xls_bytes("REC", [], title=False, header=[])) == "El archivo está vacío"


@pytest.mark.parametrize("kind", ["INN", "XYZ"])
def test_a_batch_type_without_layout_is_a_programming_error(kind):
    with pytest.raises(ValueError):
        read_batch("l.csv", b"a;b", kind)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200)
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"
HTML = b"<html><body><table><tr><td>SUCURSAL</td></tr></table></body></html>"


def docx_like() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    return out.getvalue()


@pytest.mark.parametrize(
    "name, content",
    [
        ("l.xlsx", PNG),
        ("l.xlsx", PDF),
        ("l.xlsx", b"TIPO ID;NRO ID;MONTO\r\nCC;1;2\r\n"),
        ("l.xlsx", "xls"),
        ("l.xlsx", docx_like()),
        ("l.xls", PNG),
        ("l.xls", HTML),
        ("l.xls", "xlsx"),
        ("l.xls", b.cfb_bytes({"WordDocument": b"x"})),
        ("l.csv", "xlsx"),
        ("l.csv", "xls"),
        ("l.csv", EXE),
        ("l.csv", PNG),
        ("l.txt", PDF),
        ("l.txt", b"TIPO ID;NRO ID\x00;MONTO"),
    ],
)
def test_renamed_binaries(name, content):
    if content == "xlsx":
        content = b.xlsx_bytes("REC", b.rec_rows(1))
    elif content == "xls":
        content = b.xls_bytes("REC", b.rec_rows(1))
    assert rejected(name, content, "REC") == "El contenido del archivo no corresponde a su extensión"


def test_broken_zips():
    good = b.xlsx_bytes("EMI", b.emi_rows(50))
    damaged = "El archivo está dañado o no es un archivo Excel válido"
    assert rejected("l.xlsx", good[: len(good) // 2]) == damaged  # truncated: no central directory
    assert rejected("l.xlsx", b"PK\x03\x04" + bytes(range(256)) * 4) == damaged
    # Central directory intact, compressed sheet data scrambled.
    sheet = zipfile.ZipFile(io.BytesIO(good)).getinfo("xl/worksheets/sheet1.xml")
    start = sheet.header_offset + 30 + len(sheet.filename) + len(sheet.extra) + 10
    scrambled = good[:start] + bytes(255 - x for x in good[start : start + 200]) + good[start + 200 :]
    assert rejected("l.xlsx", scrambled) == damaged


def test_a_zip_that_lies_about_its_sizes_is_damaged():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 2_000_000)
    data = bytearray(out.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<I", data, info.header_offset + 22, 1000)  # local header: uncompressed size
    central = bytes(data).rfind(b"PK\x01\x02" + bytes(data[info.header_offset + 4 : info.header_offset + 6]))
    central = bytes(data).find(b"xl/worksheets/sheet1.xml", bytes(data).find(b"PK\x01\x02")) - 46
    struct.pack_into("<I", data, central + 24, 1000)  # central directory: uncompressed size
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml").file_size == 1000
    assert rejected("l.xlsx", bytes(data)) == "El archivo está dañado o no es un archivo Excel válido"


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 9, 99])
def test_members_compressed_with_a_method_excel_never_uses_are_damaged(method):
    """bzip2 and lzma zipfile could inflate; deflate64 (9) and AES (99) it can't: all refused
    before anything is inflated."""
    good = b.xlsx_bytes("EMI", b.emi_rows(3))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            written = zipfile.ZIP_BZIP2 if method not in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA) else method
            target.writestr(info.filename, source.read(info), compress_type=written)
    data = bytearray(out.getvalue())
    if method not in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):  # relabel the method in both headers
        for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            position = data.find(signature)
            while position != -1:
                struct.pack_into("<H", data, position + offset, method)
                position = data.find(signature, position + 4)
    assert rejected("l.xlsx", bytes(data)) == "El archivo está dañado o no es un archivo Excel válido"


def test_encrypted_xlsx_is_password_protected():
    message = "El archivo está protegido con contraseña"
    assert rejected("l.xlsx", b.encrypted_xlsx_bytes()) == message
    assert rejected("l.xls", b.encrypted_xlsx_bytes()) == message


def test_password_protected_xls_is_refused():
    content = b.xls_bytes("EMI", b.emi_rows(2))
    bof = re.search(rb"\x09\x08\x10\x00", content)
    after = bof.end() + 16  # the record after BOF becomes FILEPASS (0x002F), as Excel writes it
    protected = content[:after] + b"\x2f\x00" + content[after + 2 :]
    assert rejected("l.xls", protected) == "El archivo está protegido con contraseña"


def test_zip_level_encryption_is_password_protected():
    data = bytearray(b.xlsx_bytes("EMI", b.emi_rows(1)))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        while position != -1:
            struct.pack_into("<H", data, position + flag_offset, 1)
            position = data.find(signature, position + 4)
    assert rejected("l.xlsx", bytes(data)) == "El archivo está protegido con contraseña"


@pytest.fixture(scope="module")
def bomb_300mb():
    return b.zip_bomb_bytes(300 * 1024 * 1024)


def test_zip_bomb_over_the_uncompressed_cap(bomb_300mb):
    assert len(bomb_300mb) < 2 * 1024 * 1024
    assert rejected("l.xlsx", bomb_300mb) == "El archivo supera el tamaño de descomprimido permitido"


def test_zip_bomb_by_ratio():
    bomb = b.zip_bomb_bytes(8 * 1024 * 1024)  # 8 MB of zeros in ~8 KB: far over 200:1
    assert rejected("l.xlsx", bomb) == "El archivo supera el tamaño de descomprimido permitido"


def test_uncompressed_cap_is_a_parameter():
    content = b.xlsx_bytes("EMI", b.emi_rows(200))
    assert read_batch("l.xlsx", content, "EMI", max_uncompressed=10 * 1024 * 1024).rows
    assert (
        rejected("l.xlsx", content, max_uncompressed=50_000) == "El archivo supera el tamaño de descomprimido permitido"
    )


def test_size_limit():
    content = b.csv_bytes("EMI", b.emi_rows(20))
    assert rejected("l.csv", content, max_bytes=len(content) - 1).startswith("El archivo supera el tamaño máximo de ")
    assert read_batch("l.csv", content, "EMI", max_bytes=len(content)).rows
    assert bf.msg_too_big(20 * 1024 * 1024) == "El archivo supera el tamaño máximo de 20 MB"
    assert bf.msg_too_big(1536 * 1024) == "El archivo supera el tamaño máximo de 1,5 MB"
    assert bf.msg_too_big(2048) == "El archivo supera el tamaño máximo de 2 KB"
    assert bf.msg_too_big(1500) == "El archivo supera el tamaño máximo de 1.500 bytes"
    assert (
        rejected("l.xlsx", b"PK\x03\x04" + bytes(2000), max_bytes=2048) != "El archivo supera el tamaño máximo de 2 KB"
    )
    assert (
        rejected("l.xlsx", b"PK\x03\x04" + bytes(3000), max_bytes=2048) == "El archivo supera el tamaño máximo de 2 KB"
    )


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv", "fixed"])
def test_record_limit(fmt):
    def build(n):
        if fmt == "fixed":
            return "r.txt", b.fixed_txt_bytes([(str(1000 + i), 100) for i in range(n)])
        content = {"xlsx": b.xlsx_bytes, "xls": b.xls_bytes, "csv": b.csv_bytes}[fmt]("REC", b.rec_rows(n))
        return f"r.{fmt}", content

    assert len(read_batch(*build(5), "REC", max_records=5).rows) == 5
    assert rejected(*build(6), "REC", max_records=5) == "El archivo supera el máximo de 5 registros"
    assert bf.msg_too_many(100_000) == "El archivo supera el máximo de 100.000 registros"


def test_empty_rows_do_not_count_towards_the_limit():
    rows = b.rec_rows(3)
    content = b.csv_bytes("REC", [rows[0], {}, {}, rows[1], {}, rows[2]])
    assert len(read_batch("r.csv", content, "REC", max_records=3).rows) == 3


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_header_without_records(fmt):
    content = b.xlsx_bytes("EMI", []) if fmt == "xlsx" else b.csv_bytes("EMI", [{}, {}])
    assert rejected(f"l.{fmt}", content) == "El archivo no tiene registros"


# ---------------------------------------------------------------- hostile content is kept as text


HOSTILE = ["<script>alert(1)</script>", "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", '=HYPERLINK("http://x")']


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "xls"])
def test_hostile_cells_are_read_as_text(fmt):
    rows = b.emi_rows(len(HOSTILE))
    for row, text in zip(rows, HOSTILE, strict=True):
        row["PRIMER NOMBRE"] = text
        row["DIRECCION DE RESIDENCIA"] = text
    content = {"xlsx": b.xlsx_bytes, "csv": b.csv_bytes, "xls": b.xls_bytes}[fmt]("EMI", rows)
    sheet = read_batch(f"l.{fmt}", content, "EMI")
    assert [values[5] for _line, values in sheet.rows] == HOSTILE
    assert [values[10] for _line, values in sheet.rows] == HOSTILE


# ---------------------------------------------------------------- the OLE2 directory reader


def test_cfb_directory_names():
    names = cfb.cfb_stream_names(b.cfb_bytes({"Workbook": b"x" * 10_000, "EncryptionInfo": b"y"}))
    assert names == {"root entry", "workbook", "encryptioninfo"}
    many = b.cfb_bytes({f"S{i}": b"z" for i in range(30)})  # a directory of several sectors
    assert len(cfb.cfb_stream_names(many)) == 31
    assert cfb.cfb_stream_names(b.xls_bytes("REC", b.rec_rows(1))) >= {"workbook"}


@pytest.mark.parametrize("cut", [100, 511, 600, 1100])
def test_cfb_reader_survives_truncation(cut):
    content = b.cfb_bytes({"Workbook": b"x" * 10_000})
    assert cfb.cfb_stream_names(content[:cut]) in (None, {"root entry"}, {"root entry", "workbook"})


def test_cfb_reader_survives_a_directory_loop():
    content = bytearray(b.cfb_bytes({"Workbook": b"x"}))
    first_dir = struct.unpack_from("<I", content, 48)[0]
    struct.pack_into("<I", content, 512 + 4 * first_dir, first_dir)  # the directory chain points to itself
    assert cfb.cfb_stream_names(bytes(content)) is None
    assert rejected("l.xls", bytes(content)) == "El archivo está dañado o no es un archivo Excel válido"


def test_header_normalization():
    assert bf.normalize_header("  Teléfono   CELULAR ") == "telefono celular"
    assert bf.normalize_header("No. Tarjeta*") == "no tarjeta"
    assert bf.normalize_header("NRO_ID") == "nro id"
    assert bf.normalize_header(12) == ""


# ---------------------------------------------------------------- far cells (calamine allocates A1 to the farthest cell)


def sheet_with(ref, value="x", rows=2, selection=None):
    wb = Workbook()
    ws = wb.active
    ws.append(list(REC))
    for i in range(rows):
        ws.append(["CC", str(100 + i), "10", None])
    if ref:
        ws[ref] = value
    if selection:
        ws.sheet_view.selection[0].activeCell = selection
        ws.sheet_view.selection[0].sqref = selection
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.mark.parametrize("ref", ["XFD1048576", "AY1", "ZZ3", "A101001", "B999999", "AAA1"])
def test_a_cell_far_away_is_refused_before_reading(ref):
    content = sheet_with(ref)
    assert len(content) < 10_000
    message = rejected("l.xlsx", content, "REC")
    assert message == (
        "La hoja tiene celdas con datos más allá de la fila 101.000 o de la columna AX; "
        "borre las filas y columnas sobrantes"
    )


@pytest.mark.parametrize("ref", ["AX1", "E101000", "AX101000"])
def test_cells_within_the_limits_are_read(ref):
    sheet = read_batch("l.xlsx", sheet_with(ref), "REC")
    assert len(sheet.rows) == 2  # beyond the header's columns: not part of any row


def test_far_cell_limit_follows_the_record_limit():
    content = sheet_with("A1006")
    assert rejected("l.xlsx", content, "REC", max_records=5).startswith(
        "La hoja tiene celdas con datos más allá de la fila 1.005"
    )
    assert len(read_batch("l.xlsx", sheet_with("A1005"), "REC", max_records=5).rows) == 3


def test_a_selection_far_away_is_not_a_cell():
    sheet = read_batch("l.xlsx", sheet_with(None, selection="AZ200000"), "REC")
    assert len(sheet.rows) == 2


# ---------------------------------------------------------------- memory blow-ups refused before calamine reads the file

FAR = "La hoja tiene celdas con datos más allá de la fila 101.000 o de la columna AX; borre las filas y columnas sobrantes"
FAR_1005 = (
    "La hoja tiene celdas con datos más allá de la fila 1.005 o de la columna AX; borre las filas y columnas sobrantes"
)
DAMAGED = "El archivo está dañado o no es un archivo Excel válido"
MISMATCH = "El contenido del archivo no corresponde a su extensión"


@pytest.fixture
def no_calamine(monkeypatch):
    """The refusal must come before calamine opens the file: opening it fails the test."""
    opened = []

    class NotToBeOpened:
        @staticmethod
        def from_filelike(filelike, *args, **kwargs):
            opened.append(filelike)
            raise AssertionError("calamine opened a file that should have been refused before")

    monkeypatch.setattr(workbook, "CalamineWorkbook", NotToBeOpened)
    yield
    assert opened == []


def inline(text: str, ref: str = "") -> bytes:
    r = f' r="{ref}"' if ref else ""
    return f'<c{r} t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def rec_header_row(with_r: bool = True) -> bytes:
    cells = b"".join(inline(name, f"{'ABCD'[i]}1" if with_r else "") for i, name in enumerate(REC))
    return (b'<row r="1">' if with_r else b"<row>") + cells + b"</row>"


def rec_data_row(start: bytes = b"<row>", extra_cells: int = 0) -> bytes:
    return start + inline("CC") + inline("1") + b"<c><v>10</v></c>" + b"<c><v>1</v></c>" * extra_cells + b"</row>"


def test_a_million_rows_without_r_are_refused_before_reading(no_calamine):
    # The security review's file: rows without r go one after the other, so the last cell is
    # in row 1,000,002 although no r says so (536 MB in calamine).
    rows = rec_header_row() + b"<row/>" * 1_000_000 + b"<row>" + inline("x") + b"</row>"
    content = b.xlsx_with_sheet(b.sheet_xml(rows), padding=60_000)
    assert len(content) < 70_000
    assert rejected("l.xlsx", content, "REC") == FAR


@pytest.mark.parametrize("prefix", ["", "x"])
@pytest.mark.parametrize("empty_rows, refused", [(1003, False), (1004, True)])
def test_rows_without_r_count_up_to_the_row_limit(prefix, empty_rows, refused):
    # Header in row 1, then empty rows, then a record in row empty_rows + 2 (the limit is 1.005).
    rows = rec_header_row(with_r=False) + b"<row/>" * empty_rows + rec_data_row()
    xml = b.sheet_xml(rows)
    if prefix:
        xml = b.sheet_xml(rows.replace(b"<", b"<x:").replace(b"<x:/", b"</x:"), prefix="x")
    content = b.xlsx_with_sheet(xml)
    if refused:
        assert rejected("l.xlsx", content, "REC", max_records=5) == FAR_1005
    else:
        sheet = read_batch("l.xlsx", content, "REC", max_records=5)
        assert sheet.rows == [(empty_rows + 2, ("CC", "1", 10.0, None))]


@pytest.mark.parametrize("cells, refused", [(50, False), (51, True)])
def test_cells_without_r_count_up_to_column_AX(cells, refused):
    content = b.xlsx_with_sheet(b.sheet_xml(rec_header_row() + rec_data_row(extra_cells=cells - 3)))
    if refused:
        assert rejected("l.xlsx", content, "REC") == FAR
    else:
        assert read_batch("l.xlsx", content, "REC").rows == [(2, ("CC", "1", 10.0, 1.0))]


def test_a_wide_row_without_r_is_refused_before_reading(no_calamine):
    # 5 KB: 16,000 cells without r make row 2 as wide as XFD; with row 100,000 below calamine
    # would ask for 51 GB and abort the whole process.
    rows = rec_header_row() + b'<row r="2">' + b"<c><v>1</v></c>" * 16_000 + b"</row>"
    rows += b'<row r="100000"><c r="A100000"><v>1</v></c></row>'
    content = b.xlsx_with_sheet(b.sheet_xml(rows))
    assert len(content) < 10_000
    assert rejected("l.xlsx", content, "REC") == FAR


@pytest.mark.parametrize(
    "row",
    [
        b"<row r='3'><c r='XFD3'><v>1</v></c></row>",  # single quotes
        b'<row r = "3"><c r = "XFD3"><v>1</v></c></row>',  # spaces around =
        b'<row r="3"><c\nr="ZZ3"><v>1</v></c></row>',  # a line break before r
        b'<row r="3"><c t="n" r="ZZ3"><v>1</v></c></row>',  # r not first
        b'<row r="3"><c r="A3" r="ZZ3"><v>1</v></c></row>',  # two r: calamine takes the last
        b'<row r="3"><c r="AAAA3"><v>1</v></c></row>',  # four letters
        b'<row r="3"><x:c xmlns:x="' + b.XLSX_MAIN.encode() + b'" r="ZZ3"><v>1</v></x:c></row>',  # a prefix
        b'<row r="101000"><c><v>1</v></c></row><row><c><v>1</v></c></row>',  # a cell without r in row 101,001
    ],
    ids=["quotes", "spaces", "line-break", "not-first", "twice", "four-letters", "prefix", "after-row-r"],
)
def test_positions_written_any_other_way_are_refused_before_reading(no_calamine, row):
    content = b.xlsx_with_sheet(b.sheet_xml(rec_header_row() + row))
    assert rejected("l.xlsx", content, "REC") == FAR


def test_a_sheet_written_an_unusual_way_is_read_when_within_the_limits():
    rows = (
        rec_header_row(with_r=False)
        + rec_data_row()  # row 2, cells without r
        + b'<row r="5"><c t="inlineStr" r="A5"><is><t>TI</t></is></c><c r="B5" t="inlineStr"><is><t>2</t></is></c>'
        + b'<c s="0" r="C5"><v>20</v></c></row>'
    )
    sheet = read_batch("l.xlsx", b.xlsx_with_sheet(b.sheet_xml(rows)), "REC")
    assert sheet.rows == [(2, ("CC", "1", 10.0, None)), (5, ("TI", "2", 20.0, None))]


def test_a_row_inside_a_cell_does_not_bring_the_column_back_to_A(no_calamine):
    # calamine reads <is> to its end, so it never sees this row: the cells after it go on
    # from column AU (51 columns in all, as calamine reports).
    row = b"<row>" + b"<c><v>1</v></c>" * 45 + b'<c t="inlineStr"><is><t>x</t><row/></is></c>'
    row += b"<c><v>1</v></c>" * 5 + b"</row>"
    assert rejected("l.xlsx", b.xlsx_with_sheet(b.sheet_xml(rec_header_row() + row)), "REC") == FAR


def tricky_sheet(cells: int) -> bytes:
    """A sheet without r whose comments, processing instruction and CDATA hold what looks like
    rows and cells (none of them are), and a record with `cells` cells in row 2."""
    fake = b"<c/>" * 60 + b"</row><row/>"
    rows = rec_header_row(with_r=False) + b"<!-->" + fake + b"-->" + b"<?x " + fake + b"?>"
    rows += b'<row><c t="inlineStr"><is><t><![CDATA[' + fake + b"]]></t></is></c>"
    rows += inline("1") + b"<c><v>10</v></c><!--" + fake + b"-->" + b"<c><v>1</v></c>" * (cells - 3) + b"</row>"
    return b.xlsx_with_sheet(b.sheet_xml(rows))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 17, 4096])
def test_the_exact_check_does_not_depend_on_where_chunks_end(monkeypatch, chunk):
    monkeypatch.setattr(xlsx_checks, "_CHUNK", chunk)
    sheet = read_batch("l.xlsx", tricky_sheet(50), "REC")
    assert sheet.rows == [(2, ("<c/>" * 60 + "</row><row/>", "1", 10.0, 1.0))]
    assert rejected("l.xlsx", tricky_sheet(51), "REC") == FAR


@pytest.mark.parametrize(
    "xml",
    [
        b'<!DOCTYPE worksheet [<!ENTITY a "b">]>' + b.sheet_xml(rec_header_row(with_r=False)),
        b.sheet_xml(rec_header_row(with_r=False) + b"<row><c><v>1</v></c></rowx>"),
        b.sheet_xml(rec_header_row(with_r=False) + b'<row><c z="<"><v>1</v></c></row>'),
    ],
    ids=["dtd", "end-tag", "lt-in-attribute"],
)
def test_an_unusual_sheet_that_is_not_well_formed_xml_is_damaged(no_calamine, xml):
    assert rejected("l.xlsx", b.xlsx_with_sheet(xml), "REC") == DAMAGED


@pytest.mark.parametrize("folder", ["chartsheets", "dialogsheets"])
def test_a_first_sheet_in_another_folder_is_checked_too(no_calamine, folder):
    content = b.xlsx_with_sheet(
        b.sheet_xml(rec_header_row() + b'<row r="2"><c r="XFD2"><v>1</v></c></row>'), folder=folder
    )
    assert rejected("l.xlsx", content, "REC") == FAR


@pytest.mark.parametrize("part", ["content.xml", "mimetype", "xl/workbook.bin"])
def test_an_xlsx_with_the_parts_of_an_ods_or_xlsb_is_refused(no_calamine, part):
    # calamine tries the .ods and .xlsb readers when the .xlsx one fails: those would read
    # whatever these parts say, without any of the checks above.
    out = io.BytesIO(b.xlsx_bytes("REC", b.rec_rows(1)))
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr(part, "<x/>")
    assert rejected("l.xlsx", out.getvalue(), "REC") == MISMATCH


def sheet_part(content: bytes) -> bytes:
    return zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")


def scan(data: bytes, *cuts: int) -> bool:
    """The cheap sheet checks fed in pieces cut at these offsets; True if unusual."""
    checks = xlsx_checks._SheetScan(101_000)
    for start, end in zip((0, *cuts), (*cuts, len(data)), strict=True):
        checks.feed(data[start:end])
    return checks.finish()


@pytest.mark.parametrize("chunk", [1, 5, 47, 48, 49, 64, 65, 1000])
def test_the_cheap_checks_do_not_depend_on_where_chunks_end(chunk):
    usual = sheet_part(b.xlsx_bytes("REC", b.rec_rows(30)))
    assert scan(usual, *range(chunk, len(usual), chunk)) is False
    near = sheet_part(sheet_with("AX100999"))  # a six-digit row within the limit
    assert scan(near, *range(chunk, len(near), chunk)) is False


def test_a_far_reference_or_a_cell_without_r_is_found_across_any_chunk_end():
    far = sheet_part(sheet_with("XFD5"))
    at = far.index(b'r="XFD5"')
    for cut in range(at - 60, at + 12):
        with pytest.raises(FileRejected):
            scan(far, cut)
    without_r = b.sheet_xml(rec_header_row() + rec_data_row())
    at = without_r.index(b"<row><c t=")
    for cut in range(at - 60, at + 12):
        assert scan(without_r, cut) is True


def test_chunk_size_does_not_change_what_is_refused(monkeypatch):
    monkeypatch.setattr(xlsx_checks, "_CHUNK", 7)
    assert len(read_batch("l.xlsx", b.xlsx_bytes("REC", b.rec_rows(30)), "REC").rows) == 30
    assert rejected("l.xlsx", sheet_with("XFD1048576"), "REC") == FAR
    content = b.xlsx_with_sheet(b.sheet_xml(rec_header_row() + rec_data_row(extra_cells=48)))
    assert rejected("l.xlsx", content, "REC") == FAR


REC_CELLS = [(0, c, name) for c, name in enumerate(REC)] + [(1, 0, "CC"), (1, 1, "1"), (1, 2, 10.0)]


def test_the_reviewers_xls_with_one_cell_at_IV65536_is_refused_before_reading(no_calamine):
    content = b.xls_bytes("REC", b.rec_rows(1), title=False, extra_cells=[(65535, 255, "x")])
    assert len(content) < 6_000  # 1 GB for 3 s in calamine
    assert rejected("l.xls", content, "REC") == FAR


@pytest.mark.parametrize("row, col, refused", [(1, 50, True), (1, 49, False), (65535, 0, False)])
def test_xls_cells_up_to_column_AX(row, col, refused):
    content = b.xls_bytes("REC", b.rec_rows(2), title=False, extra_cells=[(row, col, "x")])
    if refused:
        assert rejected("l.xls", content, "REC") == FAR
    else:
        assert len(read_batch("l.xls", content, "REC").rows) == 2 + (row > 2 and col < 4)


@pytest.mark.parametrize("row, refused", [(1004, False), (1005, True)])
def test_xls_row_limit_follows_the_record_limit(row, refused):
    content = b.biff_bytes([REC_CELLS + [(row, 3, "x")]])
    if refused:
        assert rejected("l.xls", content, "REC", max_records=5) == FAR_1005
    else:
        assert [line for line, _ in read_batch("l.xls", content, "REC", max_records=5).rows] == [2, row + 1]


@pytest.mark.parametrize(
    "dimensions",
    [
        b.biff_dimensions(0, 1_000_000, 0, 16_384),  # 655 GB asked for: the process aborts
        b.biff_dimensions(0, 3, 0, 51),  # one column too many
        b.biff_dimensions(0, 101_001, 0, 4),  # one row too many
        b.biff_dimensions(10, 5, 0, 4),  # first after last: calamine's 32-bit subtraction wraps around
    ],
    ids=["huge", "AY", "row-101001", "wraps"],
)
def test_xls_dimensions_beyond_the_limits_are_refused_before_reading(no_calamine, dimensions):
    assert rejected("l.xls", b.biff_bytes([REC_CELLS], dimensions=[dimensions]), "REC") == FAR


@pytest.mark.parametrize(
    "cell",
    [
        (2, 60_000, 1.0),  # beyond what xlwt (or Excel) can write: BIFF8 columns have 16 bits
        b.biff_mulrk(2, 45, [1] * 6),  # MULRK from AT to AY
        b.biff_record(0x0006, struct.pack("<HHH", 2, 300, 0) + bytes(16)),  # a FORMULA in KO3
    ],
    ids=["number", "mulrk", "formula"],
)
def test_xls_cells_beyond_what_dimensions_says_are_refused_before_reading(no_calamine, cell):
    content = b.biff_bytes([REC_CELLS + [cell]], dimensions=[b.biff_dimensions(0, 3, 0, 4)])
    assert rejected("l.xls", content, "REC") == FAR


def test_xls_minimal_files_are_read_with_regular_or_mini_streams():
    for mini in (False, True):
        content = b.biff_bytes([REC_CELLS + [b.biff_mulrk(2, 0, [7, 8, 9])], [(0, 0, "notas")]], mini=mini)
        assert len(content) < 6_000
        sheet = read_batch("l.xls", content, "REC")
        assert sheet.rows == [(2, ("CC", "1", 10.0, None)), (3, (7, 8, 9, None))]


def test_xls_far_cell_in_the_mini_stream_is_refused(no_calamine):
    assert rejected("l.xls", b.biff_bytes([REC_CELLS + [(2, 50, 1.0)]], mini=True), "REC") == FAR


def test_xls_other_sheets_count_too(no_calamine):
    # calamine reads every sheet when it opens an .xls.
    content = b.biff_bytes([REC_CELLS, [(0, 0, "a"), (65535, 255, 1.0)]])
    assert rejected("l.xls", content, "REC") == FAR


@pytest.mark.parametrize("corner_row, refused", [(1003, False), (1004, True)])
def test_xls_all_sheets_together_may_not_need_more_cells_than_one_full_sheet(corner_row, refused):
    # max_records=5: 1.005 rows by 50 columns = 50,250 cells; the first sheet needs 2 by 4.
    content = b.biff_bytes([REC_CELLS, [(0, 0, "a"), (corner_row, 49, 1.0)]])
    if refused:
        assert rejected("l.xls", content, "REC", max_records=5) == FAR_1005
    else:
        assert len(read_batch("l.xls", content, "REC", max_records=5).rows) == 1


def test_xls_many_sheets_each_within_the_limits_are_refused_together(no_calamine):
    corners = [(0, 0, "a"), (65535, 49, 1.0)]  # 3.3 million cells each
    assert rejected("l.xls", b.biff_bytes([REC_CELLS, corners, corners]), "REC") == FAR


def test_xls_sheets_that_read_the_same_records_again_are_damaged(no_calamine):
    # Every BOUNDSHEET counts in the cells above; reading more records than the stream holds
    # is refused too, so that a few KB cannot keep the check (or calamine) busy.
    long_sheet = [(row, 0, float(row)) for row in range(300)]
    xls_checks.check_xls(b.biff_bytes([REC_CELLS, long_sheet]), 100_000)  # each sheet once: fine
    content = b.biff_bytes([REC_CELLS, long_sheet], boundsheets=[0, 1, 1, 1])
    assert rejected("l.xls", content, "REC") == DAMAGED


def test_xls_password_is_found_before_reading(no_calamine):
    content = b.xls_bytes("EMI", b.emi_rows(2))
    after = re.search(rb"\x09\x08\x10\x00", content).end() + 16
    protected = content[:after] + b"\x2f\x00" + content[after + 2 :]
    assert rejected("l.xls", protected, "EMI") == "El archivo está protegido con contraseña"


@pytest.mark.parametrize("password", [False, True])
def test_an_xls_that_is_also_a_zip_is_refused(no_calamine, password):
    # calamine reads a file it cannot read as .xls (here: password-protected) as a zip if it
    # ends like one: this .xlsx would then be read without any of its checks.
    xls = b.xls_bytes("REC", b.rec_rows(1))
    if password:
        after = re.search(rb"\x09\x08\x10\x00", xls).end() + 16
        xls = xls[:after] + b"\x2f\x00" + xls[after + 2 :]
    assert rejected("l.xls", xls + sheet_with("XFD1048576"), "REC") == MISMATCH


def test_xls_with_a_workbook_chain_that_loops_is_damaged(no_calamine):
    content = bytearray(b.biff_bytes([REC_CELLS]))
    container = cfb.Cfb(bytes(content))
    sectors = container.chain(int.from_bytes(container.entries[1][116:120], "little"))
    struct.pack_into("<I", content, 512 + 4 * sectors[-1], sectors[0])  # the last sector points to the first
    assert rejected("l.xls", bytes(content), "REC") == DAMAGED


# ---------------------------------------------------------------- the issuer's layouts and the header message


def test_issuer_recharge_headers_are_aliases():
    header = ["TIPO DE DOCUMENTO", "NÚMERO DE DOCUMENTO", "MONTO"]
    for content, name in (
        (b.xlsx_bytes("REC", [["CC", "1020304050", "10"]], header=header, title="ARCHIVO DE RECARGA"), "l.xlsx"),
        (b.xls_bytes("REC", [["CC", "1020304050", "10"]], header=header, title="ARCHIVO DE RECARGA"), "l.xls"),
        (
            b.csv_bytes(
                "REC", [["CC", "1020304050", "10"]], header=["Tipo de documento", "Numero de documento", "Monto"]
            ),
            "l.csv",
        ),
    ):
        sheet = read_batch(name, content, "REC")
        assert sheet.columns == {"TIPO ID": 0, "NRO ID": 1, "MONTO": 2}
        assert sheet.header == tuple(header) or name == "l.csv"


def test_issuer_emission_layout_maps_its_17_columns():
    header = [n for n in EMI if n != "CIUDAD DE RESIDENCIA"] + [
        "CODIGO POSTAL DIRECCION RESIDENCIA",
        "DIRECCION DE CORRESPONDENCIA",
        "Código postal dirección correspondencia",
    ]
    rows = [["1", "CC", "1020304050", "GÓMEZ", "", "ANA", "", "15/03/1990", "", "F", "Calle 1", "", "3001234567"]]
    rows[0] += ["a@b.co", "110111", "Carrera 7", "110231"]
    sheet = read_batch("l.xlsx", b.xlsx_bytes("EMI", rows, header=header), "EMI")
    assert len(sheet.header) == 17 and "CIUDAD DE RESIDENCIA" not in sheet.columns
    assert sheet.columns["CODIGO POSTAL DIRECCION RESIDENCIA"] == 14
    assert sheet.columns["CODIGO POSTAL DIRECCION CORRESPONDENCIA"] == 16


def test_header_message_names_only_the_required_columns():
    message = rejected("l.csv", b"uno;dos\r\n1;2\r\n", "REC")
    assert message == (
        "No se encontró la fila de encabezados del lote en las primeras 10 filas "
        "(columnas obligatorias: TIPO ID, NRO ID, MONTO)"
    )
    assert "DESCRIPCION" not in message


def test_header_message_says_what_the_best_row_misses():
    # Row 3 has two of the layout's columns, row 2 one: row 3 is the one reported.
    content = b"ARCHIVO DE RECARGA\r\nMONTO;OTRA\r\nTIPO DE DOCUMENTO;VALOR;DESCRIPCION\r\nCC;1;2\r\n"
    message = rejected("l.csv", content, "REC")
    assert message == header_msg("REC", ". En la fila 3 faltan las columnas: NRO ID, MONTO")


# ---------------------------------------------------------------- bounded work on hostile text


SIZE = 18 * 1024 * 1024


class CountingNormalize:
    """normalize_header wrapped to count its calls (header detection calls it through the module)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        self.longest = 0
        original = header.normalize_header

        def counted(value):
            self.calls += 1
            self.longest = max(self.longest, len(value) if isinstance(value, str) else 0)
            return original(value)

        header._layout_keys.cache_clear()  # its keys are normalized once per layout: not counted here
        for kind in ("EMI", "REC", "AFI"):
            header._layout_keys(layout(kind))
        monkeypatch.setattr(header, "normalize_header", counted)


def test_a_line_wider_than_any_header_is_skipped_without_normalizing_its_fields(monkeypatch):
    counter = CountingNormalize(monkeypatch)
    wide = ";".join(["TIPO ID"] * 51)  # 51 fields: more than a header may have
    message = rejected("l.csv", (wide + "\r\nCC;1;2\r\n").encode(), "REC")
    assert message == header_msg("REC")
    assert counter.calls == 3  # the 3 cells of the second line, none of the 51 of the first
    # 50 fields is still a header (50 columns, like a sheet up to AX).
    counter.calls = 0
    line = ";".join(["TIPO ID", "NRO ID", "MONTO", *[f"X{i}" for i in range(47)]])
    sheet = read_batch("l.csv", (line + "\r\nCC;1;2\r\n").encode(), "REC")
    assert sheet.columns == {"TIPO ID": 0, "NRO ID": 1, "MONTO": 2} and counter.calls == 50


def test_trailing_empty_fields_do_not_make_a_header_too_wide(monkeypatch):
    counter = CountingNormalize(monkeypatch)
    line = "TIPO ID;NRO ID;MONTO;DESCRIPCION " + ";" * 5000  # Excel's trailing separators
    sheet = read_batch("l.csv", (line + "\r\nCC;1;2;x\r\n").encode(), "REC")
    assert sheet.header == ("TIPO ID", "NRO ID", "MONTO", "DESCRIPCION ")
    assert sheet.rows == [(2, ("CC", "1", "2", "x"))]
    assert counter.calls == 4


def test_eighteen_mib_of_separators_is_refused_without_normalizing_a_field(monkeypatch):
    counter = CountingNormalize(monkeypatch)
    assert rejected("l.csv", b";" * SIZE, "EMI") == header_msg("EMI")  # held an upload for 34 s
    assert rejected("l.txt", b";" * SIZE, "REC") == header_msg("REC")
    small = 2 * 1024 * 1024
    for kind in ("EMI", "REC", "AFI"):
        assert rejected("l.csv", (b";" * (small // 10) + b"\n") * 10, kind) == header_msg(kind)
        assert rejected("l.csv", b'"' + b";" * small + b'"', kind) == header_msg(kind)
        assert rejected("l.txt", b",\t" * (small // 2), kind) == header_msg(kind)
    assert counter.calls == 0


def test_header_cells_longer_than_a_column_name_are_not_normalized(monkeypatch):
    counter = CountingNormalize(monkeypatch)
    huge = "x" * 5_000_000
    assert rejected("l.csv", f"{huge};{huge};MONTO\r\nCC;1;2\r\n".encode(), "REC").startswith(header_msg("REC"))
    assert counter.longest <= header.MAX_HEADER_CELL
    content = xlsx_of([["TIPO ID", "NRO ID", "y" * 32_000, "MONTO"], ["CC", "1", "", "2"]])
    assert read_batch("l.xlsx", content, "REC").columns == {"TIPO ID": 0, "NRO ID": 1, "MONTO": 3}
    assert counter.longest <= header.MAX_HEADER_CELL


def test_other_hostile_text_shapes_are_answered_in_spanish():
    head = b"TIPO ID;NRO ID;MONTO;DESCRIPCION\r\n"
    assert rejected("l.csv", b"a" * SIZE, "EMI") == header_msg("EMI")  # one line, no separator
    assert rejected("l.txt", b"0" * SIZE, "REC") == "El archivo no tiene registros"  # one broken control record
    assert rejected("l.csv", b"\n" * SIZE, "REC") == "El archivo está vacío"
    assert rejected("l.csv", b";\n" * (SIZE // 2), "REC") == header_msg("REC")
    assert rejected("l.csv", head + b"\r\n" * (SIZE // 2), "REC") == "El archivo no tiene registros"
    assert rejected("l.csv", head + b";;; \n" * (SIZE // 5), "REC") == "El archivo no tiene registros"
    assert rejected("l.csv", head + "\u00a0;\u3000\n".encode() * (SIZE // 8), "REC") == "El archivo no tiene registros"
    many_blank = (
        "El archivo tiene más de 1.000 filas sin datos en las columnas del encabezado; borra las filas sobrantes"
    )
    assert rejected("l.csv", head + b'"";""\n' * (SIZE // 6), "REC") == many_blank
    assert rejected("l.csv", head + b";;;;x\n" * (SIZE // 6), "REC") == many_blank


def test_blank_lines_are_skipped_with_line_numbers_kept_in_both_text_paths():
    head = "TIPO ID;NRO ID;MONTO;DESCRIPCION\n"
    for quote in ("", '"'):
        text = head + "\n" * 100_000 + " ;\t; \n" * 10 + f"CC;1;{quote}10{quote};\n" + ";;;\n" * 5 + "CC;2;20;x"
        sheet = read_batch("l.csv", text.encode(), "REC")
        assert sheet.rows == [(100_012, ("CC", "1", "10", None)), (100_018, ("CC", "2", "20", "x"))]


def test_a_quoted_field_spanning_blank_lines_keeps_them():
    text = 'TIPO ID;NRO ID;MONTO;DESCRIPCION\n\nCC;1;10;"uno\n\n\ndos"\n\nCC;2;20;x\n'
    sheet = read_batch("l.csv", text.encode(), "REC")
    assert sheet.rows == [(3, ("CC", "1", "10", "uno\n\n\ndos")), (8, ("CC", "2", "20", "x"))]


def test_a_quoted_field_over_the_csv_limit_is_refused_not_a_crash():
    text = 'TIPO ID;NRO ID;MONTO;DESCRIPCION\nCC;1;10;x\nCC;2;20;"' + "y" * 200_000 + '"\n'
    assert rejected("l.csv", text.encode(), "REC") == "La línea 3 tiene un campo de más de 131.072 caracteres"


def test_fixed_width_file_after_blank_lines_keeps_its_line_numbers():
    lines = rec_txt_lines("24031501", b.COMPANY_NIT, date(2024, 3, 15), [("1020304050", 100)])
    content = ("\r\n \r\n" + lines[0] + "\r\n\u00a0\r\n\r\n" + lines[1] + "\r\n" + "   \r\n" * 50_000).encode()
    sheet = read_batch("r.txt", content, "REC")
    assert sheet.control.line == 3 and [line for line, _ in sheet.rows] == [6]
