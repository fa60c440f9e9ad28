"""`read_head`, what the upload request reads of a file: the same checks as `read_batch` (extension,
size, the zip and compound-file safety checks, the text decoding) and the header among the
first rows, without parsing every row. The rows are read later, by the validation job.

The first rows of an .xlsx are read straight from its XML (the first sheet, inflated only up to
the rows needed, and the shared strings only up to the last one those rows use): calamine
parses the whole sheet before it gives the first row (1.2 s for 100,000 rows). A text file is
decoded whole (an encoding error is refused at once) and only its first lines are read.

`read_head` only says yes from the first rows: whenever they do not show a header with records
after it, or the file is written in a way the quick reader does not follow, the whole file is
read with `read_batch`, so every refusal it gives is given here as well, with its message."""

from __future__ import annotations

import io
import posixpath
import xml.parsers.expat
import zipfile
from dataclasses import dataclass

from domain.batch_files.common import (
    EXTENSIONS,
    HEADER_SEARCH_ROWS,
    MAX_BYTES,
    MAX_RECORDS,
    MAX_UNCOMPRESSED,
    MSG_EMPTY,
    MSG_EXTENSION,
    FileRejected,
    blank,
    msg_too_big,
)
from domain.batch_files.delimited import read_delimited
from domain.batch_files.fixed import looks_fixed, read_fixed
from domain.batch_files.header import find_header, header_tuple, header_width
from domain.batch_files.reader import read_batch
from domain.batch_files.sniffing import decode_text, extension
from domain.batch_files.text import first_lines, normalize_newlines
from domain.batch_files.xls_checks import check_xls
from domain.batch_files.xlsx_checks import check_xlsx
from domain.layouts import layout

# Rows read beyond the header search, to see a record after the header.
EXTRA_ROWS = 10
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Head:
    source: str  # "xlsx" | "xls" | "csv" | "fixed", as Sheet.source
    header: tuple[str, ...]


def read_head(
    filename: str,
    content: bytes,
    kind: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_records: int = MAX_RECORDS,
    max_uncompressed: int = MAX_UNCOMPRESSED,
) -> Head:
    """The file's format and header, or FileRejected with the message `read_batch` gives."""
    spec = layout(kind)
    suffix = extension(filename)
    if suffix not in EXTENSIONS:
        raise FileRejected(MSG_EXTENSION)
    if not content:
        raise FileRejected(MSG_EMPTY)
    if len(content) > max_bytes:
        raise FileRejected(msg_too_big(max_bytes))
    head = None
    if suffix == ".xlsx":
        check_xlsx(content, max_uncompressed, max_records)
        head = _xlsx_head(content, spec)
    elif suffix == ".xls":
        check_xls(content, max_records)  # calamine reads a BIFF sheet whole: at most 65,536 rows
    else:
        head = _text_head(suffix, content, spec)
    if head is not None:
        return head
    sheet = read_batch(
        filename, content, kind, max_bytes=max_bytes, max_records=max_records, max_uncompressed=max_uncompressed
    )
    return Head(sheet.source, sheet.header)


def _text_head(suffix: str, content: bytes, spec) -> Head | None:
    text = decode_text(content)  # an encoding error is refused here, at once
    prefix = "\n".join(first_lines(normalize_newlines(text), HEADER_SEARCH_ROWS + EXTRA_ROWS)) + "\n"
    try:
        if suffix == ".txt" and spec.kind == "REC" and looks_fixed(prefix):
            sheet = read_fixed(prefix, spec, EXTRA_ROWS + HEADER_SEARCH_ROWS)
        else:
            sheet = read_delimited(prefix, spec, EXTRA_ROWS + HEADER_SEARCH_ROWS)
    except FileRejected:
        return None  # the whole file decides (and gives the message)
    return Head(sheet.source, sheet.header)


# ---------------------------------------------------------------- the first rows of an .xlsx


class _Unsure(Exception):
    """Written in a way the quick reader does not follow: read the whole file instead."""


class _Enough(Exception):
    pass


def _xlsx_head(content: bytes, spec) -> Head | None:
    try:
        rows = xlsx_first_rows(content, HEADER_SEARCH_ROWS + EXTRA_ROWS)
    except (_Unsure, xml.parsers.expat.ExpatError, zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError):
        return None
    if rows is None:
        return None
    candidates = rows[:HEADER_SEARCH_ROWS]
    try:
        position, _columns = find_header(list(enumerate(candidates, start=1)), spec)
    except FileRejected:
        return None
    cells = candidates[position]
    width = header_width(cells)
    if not any(not blank(row[:width]) for row in rows[position + 1 :]):
        return None  # no record among the first rows: the whole file says whether it has one
    return Head("xlsx", header_tuple(cells, width))


def xlsx_first_rows(content: bytes, count: int) -> list[list] | None:
    """The first `count` rows of the workbook's first sheet from its first cell with a value, as
    calamine's iter_rows gives them (strings as written; numbers, booleans, dates and errors as
    non-empty values that are not strings). None if the sheet has no value in them."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = {info.filename: info for info in archive.infolist()}
        sheet = names.get(_first_sheet_path(archive, names))
        if sheet is None:
            raise _Unsure
        cells = _sheet_cells(archive, sheet, count)
        if not cells:
            return None
        wanted = {value[1] for value in cells.values() if isinstance(value, tuple)}
        strings = _shared_strings(archive, names, max(wanted)) if wanted else []
    first_row = min(row for row, _column in cells)
    first_column = min(column for _row, column in cells)
    rows: list[list] = []
    for (row, column), value in cells.items():
        if row >= first_row + count:
            continue
        if isinstance(value, tuple):
            if value[1] >= len(strings):
                raise _Unsure
            value = strings[value[1]]
        while len(rows) <= row - first_row:
            rows.append([])
        line = rows[row - first_row]
        while len(line) <= column - first_column:
            line.append("")
        line[column - first_column] = value
    return rows


def _first_sheet_path(archive: zipfile.ZipFile, names: dict) -> str:
    """The part of the first sheet in xl/workbook.xml, through xl/_rels/workbook.xml.rels."""
    workbook, rels = names.get("xl/workbook.xml"), names.get("xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        raise _Unsure
    found: dict = {}

    def sheet_start(name, attributes):
        if _local(name) == "sheet" and "id" not in found:
            found["id"] = next((v for k, v in attributes.items() if k == "id" or k.endswith(":id")), None)
            raise _Enough

    _parse(archive, workbook, sheet_start)
    targets: dict = {}

    def relationship(name, attributes):
        if _local(name) == "Relationship" and attributes.get("Id") == found.get("id"):
            targets["target"] = attributes.get("Target", "")
            raise _Enough

    _parse(archive, rels, relationship)
    target = targets.get("target")
    if not target:
        raise _Unsure
    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
    if not path.startswith("xl/worksheets/"):
        raise _Unsure  # a chart sheet, a dialog sheet…: whatever calamine does with it
    return path


def _parse(archive, info, start, end=None, text=None) -> None:
    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
    parser.buffer_text = True

    def doctype(*_args):
        raise _Unsure

    parser.StartDoctypeDeclHandler = doctype
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Enough:
        pass


def _local(name: str) -> str:
    return name.rpartition(":")[2]


_LETTERS = {chr(65 + i): i + 1 for i in range(26)} | {chr(97 + i): i + 1 for i in range(26)}


def _reference(text: str) -> tuple[int, int]:
    """(row, column), 0-based, of an A1-style reference."""
    column = 0
    index = 0
    while index < len(text) and text[index] in _LETTERS:
        column = column * 26 + _LETTERS[text[index]]
        index += 1
    if not column or index == len(text) or not text[index:].isdigit() or int(text[index:]) == 0:
        raise _Unsure
    return int(text[index:]) - 1, column - 1


class _NotString:
    """A cell with a value that is not text (a number, a boolean, a date, an error)."""

    def __repr__(self) -> str:
        return "<value>"


NOT_STRING = _NotString()


def _sheet_cells(archive, info, count: int) -> dict[tuple[int, int], object]:
    """{(row, column): value} of the cells with a value in the first `count` rows from the first
    row with one; a shared string is (None, its index) until the strings are read."""
    cells: dict = {}
    state = {"row": 0, "column": 0, "in_data": False, "cell": None, "type": "", "text": None, "phonetic": 0}
    first = []

    def start(name, attributes):
        name = _local(name)
        if name == "sheetData":
            state["in_data"] = True
        elif not state["in_data"]:
            return
        elif name == "row":
            if state["cell"] is not None:
                raise _Unsure
            if "r" in attributes:
                if not attributes["r"].isdigit() or int(attributes["r"]) == 0:
                    raise _Unsure
                state["row"] = int(attributes["r"]) - 1
            state["column"] = 0
            if first and state["row"] >= first[0] + count:
                raise _Enough
        elif name == "c":
            if state["cell"] is not None:
                raise _Unsure
            if "r" in attributes:
                row, column = _reference(attributes["r"])
                if row != state["row"]:
                    raise _Unsure
                state["column"] = column
            state["cell"] = (state["row"], state["column"])
            state["type"] = attributes.get("t", "n")
            state["text"] = None
        elif name in ("v", "t") and state["cell"] is not None and not state["phonetic"]:
            state["text"] = state["text"] or ""
            state["collect"] = True
        elif name == "rPh":
            state["phonetic"] += 1
        elif name == "f" and state["cell"] is not None:
            state["collect"] = False

    def text(data):
        if state.get("collect") and state["cell"] is not None:
            state["text"] += data

    def end(name):
        name = _local(name)
        if not state["in_data"]:
            return
        if name in ("v", "t"):
            state["collect"] = False
        elif name == "rPh":
            state["phonetic"] -= 1
        elif name == "c":
            where, kind, value = state["cell"], state["type"], state["text"]
            state["cell"] = None
            state["column"] += 1
            if value is None:
                return
            if kind == "s":
                if not value.strip().isdigit():
                    raise _Unsure
                stored = (None, int(value))
            elif kind in ("inlineStr", "str"):
                stored = value
            else:
                stored = NOT_STRING
            if not first:
                first.append(where[0])
            if where[0] < first[0] + count:
                cells[where] = stored
        elif name == "row":
            state["row"] += 1
            state["column"] = 0
        elif name == "sheetData":
            raise _Enough

    _parse(archive, info, start, end, text)
    return cells


def _shared_strings(archive, names: dict, last: int) -> list[str]:
    """The shared strings up to index `last` (the file's first ones: writers add them in order)."""
    info = names.get("xl/sharedStrings.xml")
    if info is None:
        raise _Unsure
    strings: list[str] = []
    state = {"item": None, "collect": False, "phonetic": 0}

    def start(name, _attributes):
        name = _local(name)
        if name == "si":
            state["item"] = []
        elif name == "rPh":
            state["phonetic"] += 1
        elif name == "t" and state["item"] is not None and not state["phonetic"]:
            state["collect"] = True

    def text(data):
        if state["collect"]:
            state["item"].append(data)

    def end(name):
        name = _local(name)
        if name == "t":
            state["collect"] = False
        elif name == "rPh":
            state["phonetic"] -= 1
        elif name == "si" and state["item"] is not None:
            strings.append("".join(state["item"]))
            state["item"] = None
            if len(strings) > last:
                raise _Enough

    _parse(archive, info, start, end, text)
    return strings
