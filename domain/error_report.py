"""The "Descargar errores" workbook of a batch (SPEC §5.5): the user's header plus an ERRORES
column, and each rejected row with its original values and its messages.

Nothing a user wrote can become a formula: every text cell is written as a string cell (data
type "s"), and text that a spreadsheet would take for a formula once edited (starting with
=, +, -, @, tab or carriage return) also gets the quote prefix. That is judged on the text as
written to the cell (control characters removed: "\x01=cmd" is written "=cmd"), and past any
leading whitespace (" =cmd"). Dates stay date cells, numbers
stay numbers, so the file can be fixed and uploaded again: read_batch ignores the ERRORES
column.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from domain.batch_files import ERRORS_HEADER, normalize_header

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_STARTS = ("=", "+", "-", "@")
MAX_CELL = 32_767
DATE_FORMAT = "DD/MM/YYYY"
DATETIME_FORMAT = "DD/MM/YYYY HH:MM:SS"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="0B3D6E")
ERRORS_FILL = PatternFill("solid", fgColor="B42318")
TITLE_FONT = Font(bold=True, size=14, color="0B3D6E")
WRAP = Alignment(wrap_text=True, vertical="top")


def error_workbook(header: tuple[str, ...], rows: Iterable[tuple[tuple, str]], title: str | None = None) -> bytes:
    """An .xlsx (openpyxl write-only) with an optional title row, the header + ERRORES, and one
    row per (original values, messages joined by "; ")."""
    header = tuple(header)
    # A file that already went through this report has an ERRORES column: replace it.
    keep = [i for i, name in enumerate(header) if normalize_header(name) != normalize_header(ERRORS_HEADER)]
    dropped = len(keep) != len(header)
    width = len(keep)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Errores")
    for index, name in enumerate([header[i] for i in keep] + [ERRORS_HEADER], start=1):
        ws.column_dimensions[get_column_letter(index)].width = 60 if index > width else min(max(len(name) + 4, 12), 40)
    if title:
        cell = safe_cell(ws, title)
        cell.font = TITLE_FONT
        ws.append([cell])
    heading = []
    for name in [header[i] for i in keep]:
        cell = safe_cell(ws, name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        heading.append(cell)
    cell = WriteOnlyCell(ws, value=ERRORS_HEADER)
    cell.font, cell.fill = HEADER_FONT, ERRORS_FILL
    heading.append(cell)
    ws.append(heading)

    for values, messages in rows:
        values = tuple(values)
        if dropped:
            values = tuple(values[i] if i < len(values) else None for i in keep)
        elif len(values) != width:
            values = (values + (None,) * width)[:width]
        row = [_cell(ws, v) for v in values]
        message = safe_cell(ws, messages if isinstance(messages, str) else "; ".join(messages))
        message.alignment = WRAP
        row.append(message)
        ws.append(row)

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def clean_text(value: str) -> str:
    """Text a worksheet accepts: control characters removed, at most 32,767 characters."""
    if ILLEGAL_CHARACTERS_RE.search(value):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value[:MAX_CELL]


def looks_like_formula(text: str) -> bool:
    """Text a spreadsheet could take for a formula once the cell is edited: starting with a
    trigger, or with =, +, - or @ after leading whitespace."""
    return text.startswith(FORMULA_TRIGGERS) or text.lstrip().startswith(FORMULA_STARTS)


def safe_cell(ws, text: str) -> WriteOnlyCell:
    """A string cell that is never a formula nor an error value, whatever the text."""
    written = clean_text(text)
    cell = WriteOnlyCell(ws, value=written)
    cell.data_type = "s"
    if looks_like_formula(written):  # what is written, not what came: "\x01=cmd" is written "=cmd"
        cell.quotePrefix = True
    return cell


def _cell(ws, value):
    """What to append for one original value: plain values where openpyxl keeps them as they
    are, a WriteOnlyCell where it would not (formula-like text, error codes, dates)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value:
            return None
        if looks_like_formula(value) or value in ERROR_CODES or ILLEGAL_CHARACTERS_RE.search(value):
            return safe_cell(ws, value)
        return value[:MAX_CELL]
    if isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = DATE_FORMAT if value.time() == datetime.min.time() else DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if isinstance(value, bool | int | float):
        return value
    return safe_cell(ws, str(value))
