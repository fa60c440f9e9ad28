"""The "Archivos lotes operativos" download: a .zip with one .xlsx template per uploadable batch type and a
text file describing the fixed-width TXT layout for recharges (SPEC §3, §5).

The bytes are the same on every call (fixed timestamps inside both zips), so the download can
be cached and compared.
"""

import io
import zipfile
from datetime import datetime
from functools import cache

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.writer.excel import ExcelWriter

from domain.layouts import (
    REC_TXT_CONTROL,
    REC_TXT_DETAIL,
    REC_TXT_EXAMPLE,
    UPLOADABLE,
    ColumnKind,
    FixedRecord,
    Layout,
    layout,
)

FIXED_TIME = datetime(2024, 1, 1)
ZIP_DATE = FIXED_TIME.timetuple()[:6]

FILE_NAMES = {
    "EMI": "Lote-EMI-Emision-nominada.xlsx",
    "REC": "Lote-REC-Recarga.xlsx",
    "AFI": "Lote-AFI-Afiliacion.xlsx",
}
TXT_NAME = "Formato-TXT-recargas.txt"

TITLE_ROW, HEADER_ROW = 1, 2
BRAND = "0B3D6E"
THIN = Side(style="thin", color="9AA5B1")
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor=BRAND)
HEADER_BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
TITLE_FONT = Font(bold=True, size=14, color=BRAND)
TEXT_FORMAT = "@"
# Rows below the header that get the drop-down lists of columns with fixed values.
VALIDATION_ROWS = 5000


def templates_zip_bytes() -> bytes:
    """The "Archivos lotes operativos" .zip (built once per process)."""
    return _build_zip()


@cache
def _build_zip() -> bytes:
    entries = [(FILE_NAMES[kind], template_xlsx_bytes(kind)) for kind in UPLOADABLE]
    entries.append((TXT_NAME, txt_layout_text().encode("utf-8")))
    return _zip(entries)


def template_xlsx_bytes(kind: str) -> bytes:
    """The .xlsx template of one batch type: the layout sheet and a "Notas" sheet."""
    spec = layout(kind)
    wb = Workbook()
    _fill_layout_sheet(wb.active, spec)
    _fill_notes_sheet(wb.create_sheet("Notas"), spec)
    wb.properties.creator = "Conexión Empresas"
    wb.properties.title = spec.title.capitalize()
    wb.properties.created = wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        # ExcelWriter rather than wb.save(): save() stamps the current time into docProps.
        ExcelWriter(wb, archive).save()
    return _restamp(raw.getvalue())


def _fill_layout_sheet(ws, spec: Layout) -> None:
    ws.title = spec.kind.value
    last = get_column_letter(len(spec.columns))
    ws.cell(TITLE_ROW, 1, spec.title).font = TITLE_FONT
    ws.merge_cells(f"A{TITLE_ROW}:{last}{TITLE_ROW}")
    ws.row_dimensions[TITLE_ROW].height = 24
    for index, column in enumerate(spec.columns, start=1):
        cell = ws.cell(HEADER_ROW, index, column.name)
        cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, HEADER_BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(index)
        dim = ws.column_dimensions[letter]
        dim.width = _width(column.name, column.example)
        if column.kind is ColumnKind.CODE:
            # A text column keeps what is typed: 0012 stays 0012, long IDs are not rounded.
            dim.number_format = TEXT_FORMAT
        if column.choices:
            dv = DataValidation(
                type="list",
                formula1='"' + ",".join(column.choices) + '"',
                allow_blank=True,
                errorStyle="warning",
                showErrorMessage=True,
                errorTitle=column.name,
                error=column.rule,
            )
            dv.add(f"{letter}{HEADER_ROW + 1}:{letter}{HEADER_ROW + VALIDATION_ROWS}")
            ws.add_data_validation(dv)
    ws.row_dimensions[HEADER_ROW].height = 30
    ws.freeze_panes = f"A{HEADER_ROW + 1}"


def _fill_notes_sheet(ws, spec: Layout) -> None:
    ws.append([f"{spec.title}: instrucciones"])
    ws["A1"].font = TITLE_FONT
    ws.append([f"Tipo de lote: {spec.name}"])
    for line in _general_notes(spec):
        ws.append([line])
    ws.append([])
    header_row = ws.max_row + 1
    ws.append(["Columna", "Obligatorio / opcional", "Regla", "Ejemplo"])
    for cell in ws[header_row]:
        cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, HEADER_BORDER
    for column in spec.columns:
        ws.append([column.name, column.requirement, column.rule, column.example])
        for cell in ws[ws.max_row]:
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            cell.border = HEADER_BORDER
        ws.cell(ws.max_row, 4).number_format = TEXT_FORMAT
    for letter, width in zip("ABCD", (26, 22, 70, 26), strict=True):
        ws.column_dimensions[letter].width = width


def _general_notes(spec: Layout) -> list[str]:
    text_columns = ", ".join(c.name for c in spec.columns if c.kind is ColumnKind.CODE)
    return [
        "• No cambie ni elimine la fila de títulos de las columnas; la fila del título del archivo puede borrarse.",
        "• Escriba un registro por fila, desde la fila siguiente a los títulos; las filas vacías se ignoran.",
        f"• {text_columns}: columnas con formato de texto, para conservar los ceros a la izquierda.",
        f"• Guarde el archivo como .xlsx y cárguelo en Lotes > Carga de lotes, tipo de lote {spec.name}.",
    ]


def _width(*texts: str) -> float:
    return min(max(len(t) for t in texts) + 4, 48)


def txt_layout_text() -> str:
    """The description of the fixed-width recharge file, as plain text (UTF-8, CRLF)."""
    lines = [
        "FORMATO TXT DE ANCHO FIJO PARA LOTES DE RECARGA (Recarga (Id persona))",
        "=" * 72,
        "",
        "Un lote de recarga puede cargarse también como archivo de texto de ancho fijo,",
        "generado por el sistema de nómina o ERP de la empresa:",
        "",
        f"- La línea 1 es el registro de control: exactamente {REC_TXT_CONTROL.length} caracteres.",
        f"- Cada una de las demás líneas es un registro de detalle: exactamente {REC_TXT_DETAIL.length} caracteres.",
        "- Los campos numéricos se completan con ceros a la izquierda.",
        "- Los montos no llevan puntos ni comas: los dos últimos dígitos son los centavos",
        "  (000000000015000000 = $ 150.000,00).",
        "- La cantidad de registros y el monto total del control deben coincidir con los detalles.",
        "- El NIT del control debe ser el de la empresa seleccionada.",
        "",
    ]
    for record in (REC_TXT_CONTROL, REC_TXT_DETAIL):
        lines += _record_table(record)
    lines += [
        "EJEMPLO (dos recargas, de $ 150.000,00 y $ 200.000,00)",
        "La primera fila es solo una guía de posiciones; no forma parte del archivo.",
        "-" * 72,
        _ruler(REC_TXT_CONTROL.length),
        *REC_TXT_EXAMPLE,
        "",
    ]
    return "\r\n".join(lines)


def _ruler(length: int) -> str:
    """A position guide to line up with the example: 1234567890123…"""
    return "".join(str(i % 10) for i in range(1, length + 1))


def _record_table(record: FixedRecord) -> list[str]:
    title = f"{record.name.upper()} ({record.length} caracteres)"
    rows = [title, "-" * len(title), f"{'Campo':<26}{'Posición':>10}{'Longitud':>10}  Formato"]
    for f in record.fields:
        position = f"{f.start}-{f.end}" if f.length > 1 else str(f.start)
        rows.append(f"{f.name:<26}{position:>10}{f.length:>10}  {f.format}")
    return [*rows, ""]


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def _restamp(xlsx: bytes) -> bytes:
    """The same zip with every entry dated FIXED_TIME (openpyxl uses the current time)."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source:
        return _zip([(info.filename, source.read(info)) for info in source.infolist()])


def affiliation_xlsx_bytes(cards) -> bytes:
    """The ARCHIVO DE AFILIACIÓN DE TARJETAHABIENTES of a request: the AFI template with one row
    per unaffiliated card, (masked number, reference, branch code) filled in. The user writes the
    people in the rows of the cards handed out, deletes the other rows and uploads it as AFI."""
    spec = layout("AFI")
    wb = Workbook()
    ws = wb.active
    _fill_layout_sheet(ws, spec)
    _fill_notes_sheet(wb.create_sheet("Notas"), spec)
    for row, (masked, reference, branch) in enumerate(cards, start=HEADER_ROW + 1):
        for column, value in enumerate((masked, str(reference), branch), start=1):
            ws.cell(row, column, value).number_format = TEXT_FORMAT
    wb.properties.creator = "Conexión Empresas"
    wb.properties.title = spec.title.capitalize()
    raw = io.BytesIO()
    wb.save(raw)
    return raw.getvalue()
