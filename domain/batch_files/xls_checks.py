"""Safety checks of an .xls (BIFF8 inside an OLE2 compound file) before calamine reads it: the
container and its Workbook stream, password protection, and every sheet's cells within the
limits (calamine allocates the rectangle of each sheet when it opens the file)."""

from __future__ import annotations

import re
import struct

from domain.batch_files.cfb import Cfb
from domain.batch_files.common import (
    MAX_COLUMNS,
    MAX_EXTRA_ROWS,
    MSG_DAMAGED,
    MSG_MISMATCH,
    MSG_PASSWORD,
    FileRejected,
    msg_sheet_too_big,
)
from domain.batch_files.sniffing import OLE_MAGIC, ZIP_END


def check_xls(content: bytes, max_records: int) -> None:
    if not content.startswith(OLE_MAGIC):
        raise FileRejected(MSG_MISMATCH)
    try:
        container = Cfb(content)
        names = container.names()
    except (ValueError, IndexError, struct.error):
        raise FileRejected(MSG_DAMAGED) from None
    if "encryptioninfo" in names:
        raise FileRejected(MSG_PASSWORD)
    if "workbook" not in names and "book" not in names:
        raise FileRejected(MSG_MISMATCH)  # a .doc, .msg, .ppt… renamed to .xls
    if ZIP_END in content:
        raise FileRejected(MSG_MISMATCH)  # also a zip: calamine could read that instead
    try:
        streams = container.streams(("Workbook", "Book"))
    except (ValueError, IndexError, struct.error):
        raise FileRejected(MSG_DAMAGED) from None
    if not streams:
        raise FileRejected(MSG_DAMAGED)
    for stream in streams:
        _check_biff(stream, max_records + MAX_EXTRA_ROWS)


# BIFF8 records [MS-XLS 2.4]: type (2 bytes), data length (2), data.
BIFF_EOF = 0x000A
BIFF_FILEPASS_TYPE = 0x002F
BIFF_BOUNDSHEET = 0x0085
BIFF_DIMENSIONS = 0x0200
BIFF_FORMULA = 0x0006
# Cell records whose data starts with the row (2 bytes) and the column (2 bytes): LABELSST,
# BLANK, NUMBER, LABEL, BOOLERR, RK (FORMULA apart: calamine also keeps it in a second range).
BIFF_CELLS = frozenset((0x00FD, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E))
# MULRK and MULBLANK: row, first column, one value of 6 (or 2) bytes per column, last column.
BIFF_MULTIPLE = {0x00BD: 6, 0x00BE: 2}
_BIFF_OTHERS = frozenset((*BIFF_MULTIPLE, BIFF_FORMULA, BIFF_DIMENSIONS, BIFF_EOF))
_BIFF_RECORD = struct.Struct("<HHHH")  # type, length and, for a cell, row and column


def _check_biff(stream: bytes, row_limit: int) -> None:
    """Refuse, before calamine reads it, an .xls whose cells would need too much memory.

    calamine reads every sheet when it opens the file, and for each one allocates room for
    what its DIMENSIONS record [MS-XLS 2.4.90] says, then the rectangle from the first to the
    farthest cell (and another for the formulas). So: the first sheet (the one read) may not
    say or have cells beyond row_limit or column AX, no sheet may say more than that many
    cells, and all the rectangles together may not be bigger either. DIMENSIONS can lie, so
    the cell records are looked at too. Records are followed as calamine does: from each
    BOUNDSHEET position to the EOF record (CONTINUE records skipped like any other). Following
    more records than the stream holds (sheets reading each other's records, or past the end)
    is refused as damaged, so a few KB cannot keep this, or calamine, busy. A cell record too
    short to hold a position only exists in a broken file: what is read instead can only make
    it refused. About 0.16 s for 65,000 rows of 15 columns (one record at a time: the loop is
    kept tight)."""
    rejected = FileRejected(msg_sheet_too_big(row_limit))
    budget = row_limit * MAX_COLUMNS
    end = len(stream)
    last = end - 4  # the last position a record can start at
    data = stream + bytes(4)  # so that the row and column of the last record can always be unpacked
    unpack = _BIFF_RECORD.unpack_from

    sheets = []
    position = 0
    while position <= last:
        kind, length, _, _ = unpack(data, position)
        if kind == BIFF_FILEPASS_TYPE:
            raise FileRejected(MSG_PASSWORD)
        if kind == BIFF_BOUNDSHEET and length >= 6:
            sheets.append(int.from_bytes(data[position + 4 : position + 8], "little"))
        position += length + 4
        if kind == BIFF_EOF:
            break
    read = position  # bytes of the stream followed so far

    rectangles = 0  # cells in the ranges calamine builds, all sheets together
    cells, others = BIFF_CELLS, _BIFF_OTHERS
    for index, first in enumerate(sheets):
        top_row = top_column = formula_row = formula_column = -1
        position = first
        while position <= last:
            kind, length, row, column = unpack(data, position)
            position += length + 4
            if kind in cells:
                if column > top_column:
                    top_column = column
                if row > top_row:
                    top_row = row
            elif kind in others:
                if kind == BIFF_EOF:
                    break
                if kind == BIFF_FORMULA:
                    formula_row, formula_column = max(formula_row, row), max(formula_column, column)
                    top_row, top_column = max(top_row, row), max(top_column, column)
                elif kind == BIFF_DIMENSIONS:
                    _check_dimensions(data, position - length, length, index == 0, row_limit, budget)
                elif length >= 6:  # MULRK, MULBLANK
                    width = BIFF_MULTIPLE[kind]
                    last_column = int.from_bytes(data[position - 2 : position], "little")
                    last_column = max(last_column, column + (length - 6 + width - 1) // width - 1)
                    top_row, top_column = max(top_row, row), max(top_column, last_column)
        read += max(position - first, 0)
        if read > end:
            raise FileRejected(MSG_DAMAGED)
        if index == 0 and (top_row >= row_limit or top_column >= MAX_COLUMNS):
            raise rejected  # top_row and top_column include the formulas
        rectangles += (top_row + 1) * (top_column + 1) + (formula_row + 1) * (formula_column + 1)
        if rectangles > budget:
            raise rejected


def _check_dimensions(data: bytes, start: int, length: int, first_sheet: bool, row_limit: int, budget: int) -> None:
    """DIMENSIONS: first row, last row + 1 (4 bytes each in BIFF8, 2 before), first column, last
    column + 1 (2 bytes each). calamine reserves (last - first + 1) rows by columns, in 32-bit
    arithmetic that wraps around when first > last."""
    if length == 14:
        first_row, end_row, first_column, end_column = struct.unpack_from("<IIHH", data, start)
    elif length == 10:
        first_row, end_row, first_column, end_column = struct.unpack_from("<HHHH", data, start)
    else:
        return  # calamine fails on it
    rows = columns = 1
    if end_row >= 1 and end_column >= 1:
        rows, columns = (end_row - first_row) % 2**32, (end_column - first_column) % 2**32
    if (first_sheet and (end_row > row_limit or end_column > MAX_COLUMNS)) or rows * columns > budget:
        raise FileRejected(msg_sheet_too_big(row_limit))


_BIFF_BOF = re.compile(rb"\x09\x08([\x08\x10])\x00")
BIFF_FILEPASS = b"\x2f\x00"


def xls_has_filepass(content: bytes) -> bool:
    """A password-protected .xls: the record after a BOF (0x0809) is FILEPASS (0x002F).
    calamine only says it "cannot detect the file format", so we look ourselves."""
    for match in _BIFF_BOF.finditer(content):
        after = match.end() + match.group(1)[0]
        if content[after : after + 2] == BIFF_FILEPASS:
            return True
    return False
