"""Reading uploaded batch files (SPEC §5): .xlsx / .xls (python-calamine), delimited .csv / .txt,
and the fixed-width recharge TXT (§5.4).

`read_batch` either returns a `Sheet` (the header found, the data rows as read, with the line
number the user sees) or raises `FileRejected` with the Spanish message shown at upload: wrong
extension, content that is not what the extension says, a broken or password-protected file, a
zip bomb (declared sizes checked before anything is inflated, then proved while inflating),
a sheet with a value far away from the data, where it says so or where rows and cells without
a reference put it (calamine would allocate the whole rectangle; of every sheet, in an .xls), an
empty file, no recognizable header, over the size or record limit. Nothing here validates
field values: that is domain/batch_validation.py.

The rows keep the raw cell values (str, int, float, date/datetime, bool or None for an empty
cell) so the error report can give the user back exactly what they wrote.
"""

from __future__ import annotations

import csv
import gc
import io
import re
import struct
import unicodedata
import xml.parsers.expat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import chain

from python_calamine import CalamineWorkbook, PasswordError

from domain.layouts import (
    CONTROL_RECORD_TYPE,
    DETAIL_RECORD_TYPE,
    REC_TXT_CONTROL,
    REC_TXT_DETAIL,
    TXT_BATCH_TYPE,
    Layout,
    layout,
)

# ---------------------------------------------------------------- limits and messages

MAX_BYTES = 20 * 1024 * 1024
MAX_RECORDS = 100_000
# Zip bomb guards, checked on the sizes the zip declares before anything is decompressed.
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200  # a member more than 200 times smaller compressed than declared...
RATIO_FLOOR = 1024 * 1024  # ...once it declares more than 1 MiB
MAX_ZIP_MEMBERS = 10_000
HEADER_SEARCH_ROWS = 10
# Farthest cell a sheet may have (calamine allocates the whole rectangle from A1 to it):
# rows up to the record limit plus this margin, columns up to AX.
MAX_EXTRA_ROWS = 1_000
MAX_COLUMN = "AX"
MAX_COLUMNS = 50  # MAX_COLUMN as a number

EXTENSIONS = (".xlsx", ".xls", ".csv", ".txt")
ERRORS_HEADER = "ERRORES"  # the column the error report adds; ignored when the file comes back
FIXED_LINE_HEADER = "REGISTRO ORIGINAL"  # fixed-width rows carry their original line in this column

MSG_EXTENSION = "El archivo debe tener extensión .xlsx, .xls, .csv o .txt"
MSG_MISMATCH = "El contenido del archivo no corresponde a su extensión"
MSG_DAMAGED = "El archivo está dañado o no es un archivo Excel válido"
MSG_PASSWORD = "El archivo está protegido con contraseña"
MSG_BOMB = "El archivo supera el tamaño de descomprimido permitido"
MSG_EMPTY = "El archivo está vacío"
MSG_NO_RECORDS = "El archivo no tiene registros"
MSG_ENCODING = "El archivo de texto debe estar codificado en UTF-8 o Latin-1 (ISO-8859-1)"
MSG_WRONG_LENGTH = "La línea no tiene el tamaño correcto"
MSG_CONTROL_INVALID = "El registro de control es inválido"
MSG_CONTROL_TYPE = "El registro de control debe empezar por 0"
MSG_CONTROL_BATCH_TYPE = "El tipo de lote del registro de control debe ser 2 (recarga)"
MSG_CONTROL_DATE = "La fecha del registro de control es inválida"
MSG_DETAIL_TYPE = "El registro de detalle debe empezar por 2"
MSG_DETAIL_BATCH = "El número de lote no corresponde con el del registro de control"


def msg_header_not_found(spec: Layout, best: tuple[int, list[str]] | None = None) -> str:
    text = (
        f"No se encontró la fila de encabezados del lote en las primeras {HEADER_SEARCH_ROWS} filas "
        f"(columnas esperadas: {', '.join(spec.column_names)})"
    )
    if best:
        line, missing = best
        text += f". En la fila {line} faltan las columnas: {', '.join(missing)}"
    return text


def msg_sheet_too_big(row_limit: int) -> str:
    return (
        f"La hoja tiene celdas con datos más allá de la fila {_thousands(row_limit)} o de la columna {MAX_COLUMN}; "
        "borre las filas y columnas sobrantes"
    )


def msg_too_big(max_bytes: int) -> str:
    return f"El archivo supera el tamaño máximo de {_size_text(max_bytes)}"


def msg_too_many(max_records: int) -> str:
    return f"El archivo supera el máximo de {_thousands(max_records)} registros"


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _size_text(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib:
        if n % mib == 0:
            return f"{n // mib} MB"
        return f"{n / mib:.1f} MB".replace(".", ",")
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{_thousands(n)} bytes"


class FileRejected(Exception):
    """Refused at upload; str(exc) / exc.message is the Spanish message shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- what read_batch returns


@dataclass(frozen=True)
class FixedControl:
    """The control record (line 1) of a fixed-width recharge file, parsed (§5.4)."""

    line: int
    batch_number: str
    nit: str  # as written, without the zero padding
    count: int
    batch_type: str
    day: str  # AAAAMMDD as written
    total: int  # centavos


@dataclass
class Sheet:
    kind: str  # "EMI" | "REC" | "AFI"
    source: str  # "xlsx" | "xls" | "csv" | "fixed"
    header: tuple[str, ...]  # the header row as written (extra columns included, trailing empties dropped)
    columns: dict[str, int]  # layout column name -> index into each row's values
    # (line number the user sees, raw values): every tuple has exactly len(header) values;
    # an empty cell is None; fully empty rows are skipped.
    rows: list[tuple[int, tuple]]
    control: FixedControl | None = None
    # Messages found while reading, by line. A line that is also in `rows` gets only these
    # messages (it is not validated further); a line that is not (the fixed-width control
    # record) is an error of the whole file.
    line_errors: list[tuple[int, str]] = field(default_factory=list)


# ---------------------------------------------------------------- entry point

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Well-known binary formats a user could rename; any NUL byte also means "not text".
BINARY_MAGIC = (
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"%PDF",
    b"MZ",
    b"\x7fELF",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"{\\rtf",
)


def read_batch(
    filename: str,
    content: bytes,
    kind: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_records: int = MAX_RECORDS,
    max_uncompressed: int = MAX_UNCOMPRESSED,
) -> Sheet:
    """Parse an uploaded batch file of type `kind` (EMI, REC or AFI), or raise FileRejected."""
    try:
        spec = layout(kind)
    except (KeyError, ValueError):
        raise ValueError(f"batch type without a file layout: {kind!r}") from None
    extension = _extension(filename)
    if extension not in EXTENSIONS:
        raise FileRejected(MSG_EXTENSION)
    if not content:
        raise FileRejected(MSG_EMPTY)
    if len(content) > max_bytes:
        raise FileRejected(msg_too_big(max_bytes))
    # Parsing builds millions of small objects and no cycles: the cyclic GC would only rescan
    # them over and over (5-10 % of the time, and the occasional long pause).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read(extension, content, spec, max_records, max_uncompressed)
    finally:
        if was_enabled:
            gc.enable()


def _read(extension: str, content: bytes, spec: Layout, max_records: int, max_uncompressed: int) -> Sheet:
    if extension == ".xlsx":
        _check_xlsx(content, max_uncompressed, max_records)
        return _read_workbook(content, spec, "xlsx", max_records)
    if extension == ".xls":
        _check_xls(content, max_records)
        return _read_workbook(content, spec, "xls", max_records)
    text = _decode_text(content)
    if not text.strip():
        raise FileRejected(MSG_EMPTY)
    lines = _split_lines(text)
    if extension == ".txt" and spec.kind == "REC" and _looks_fixed(lines):
        return _read_fixed(lines, spec, max_records)
    return _read_delimited(lines, spec, max_records)


def _extension(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


# ---------------------------------------------------------------- sniffing

# Parts only an .ods or an .xlsb has. calamine picks the reader by trying them in turn, so a zip
# with a broken xl/workbook.xml and one of these would be read as that other format, unchecked.
OTHER_ZIP_PARTS = ("content.xml", "mimetype", "xl/workbook.bin")
# Where the sheet calamine reads can be (the workbook's relationships may point to any of them).
SHEET_FOLDERS = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")
# The end of a zip. calamine tries an .xls that it cannot read (say, password-protected) as a
# zip next: a file that is an OLE2 compound file and, at its end, an .xlsx would be read as that
# .xlsx, unchecked. Its zip reader looks in the last 64 KB; looked for everywhere here.
ZIP_END = b"PK\x05\x06"
# Excel stores members plain or deflated; any other method (bzip2, deflate64, AES…) is refused
# before anything is inflated.
XLSX_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What reading a broken zip raises: a bad directory (BadZipFile), offsets past the end
# (ValueError, EOFError, OSError) or a corrupt deflate stream (zlib.error).
DAMAGED_ZIP = (zipfile.BadZipFile, ValueError, EOFError, OSError, zlib.error)


def _check_xlsx(content: bytes, max_uncompressed: int, max_records: int) -> None:
    if content.startswith(OLE_MAGIC):
        # An encrypted .xlsx is an OLE2 container (EncryptionInfo + EncryptedPackage);
        # any other OLE2 file (an .xls, a .doc) is not what the extension says.
        names = _cfb_stream_names(content)
        if names is not None and "encryptioninfo" in names:
            raise FileRejected(MSG_PASSWORD)
        raise FileRejected(MSG_MISMATCH)
    if not content.startswith(ZIP_MAGIC):
        raise FileRejected(MSG_MISMATCH)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
    except DAMAGED_ZIP:
        raise FileRejected(MSG_DAMAGED) from None
    if not infos or len(infos) > MAX_ZIP_MEMBERS:
        raise FileRejected(MSG_DAMAGED)
    if any(info.compress_type not in XLSX_COMPRESSION for info in infos):
        raise FileRejected(MSG_DAMAGED)
    if any(info.flag_bits & 0x1 for info in infos):
        raise FileRejected(MSG_PASSWORD)
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise FileRejected(MSG_BOMB)
    if total > max_uncompressed:
        raise FileRejected(MSG_BOMB)
    names = {info.filename.lower() for info in infos}
    if "xl/workbook.xml" not in names or any(part in names for part in OTHER_ZIP_PARTS):
        # A .docx, .ods, .xlsb or any other zip renamed to .xlsx (or dressed up as one).
        raise FileRejected(MSG_MISMATCH)
    _check_members(content, infos, max_records)


def _check_members(content: bytes, infos: list[zipfile.ZipInfo], max_records: int) -> None:
    """Inflate every member once, without keeping it, to prove the sizes checked above are true,
    and look in the sheets for cells far away from any batch.

    The reader behind calamine trusts neither size nor ratio: a zip that declares a small size
    and inflates to gigabytes would be parsed to the end. zipfile stops at the declared size
    and then fails the CRC check, so this costs at most the declared (capped) size.
    calamine also allocates the whole rectangle from A1 to the farthest cell: a 5 KB file
    with one value in XFD1048576 would ask for 17 billion cells (and a failed allocation
    aborts the whole process). A row or cell without r="…" goes right after the previous one,
    so the position of the farthest cell is not always written anywhere; _SheetScan proves
    cheaply that a sheet is written the usual way, and the few that are not are worked out
    like calamine does (_check_sheet_exactly). About 0.4 s for a 100,000-row sheet of
    80 MB, everything together."""
    row_limit = max_records + MAX_EXTRA_ROWS
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for info in infos:
                scan = _SheetScan(row_limit) if info.filename.lower().startswith(SHEET_FOLDERS) else None
                with archive.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        if scan is not None:
                            scan.feed(chunk)
                if scan is not None and scan.finish():
                    _check_sheet_exactly(archive, info, row_limit)
    except RuntimeError:  # a member needing a password without the zip-level flag
        raise FileRejected(MSG_PASSWORD) from None
    except DAMAGED_ZIP:
        raise FileRejected(MSG_DAMAGED) from None


_CHUNK = 4 * 1024 * 1024
# A match is only judged once this many bytes after its start are at hand (the longest match
# with what is read after it is 18 bytes), and this many bytes go on to the next chunk.
_LOOKAHEAD = 48
_OVERLAP = 64
# A cell start tag (with or without a namespace prefix) whose first attribute is not r="…". (A row
# without r="…" places nothing by itself: only a cell without r="…" goes where the rows say.)
_CELL_WITHOUT_R = re.compile(rb'c(?<=[<:]c)(?! r=")[\s/>]')
_R_VALUE = re.compile(rb'"([A-Za-z]{0,4})([0-9]{1,10})"')


@cache
def _r_attribute_pattern(row_digits: int) -> re.Pattern:
    # An attribute r (after whitespace or a quote, so not sqref or x:r) other than r="…" with a
    # column up to AX and a row number of fewer than row_digits digits: written another way
    # (r = "…", r='…'), or with a value to look at. Anchored on the literal r so the regex
    # engine jumps from one r to the next.
    near = b'"(?:[Aa][A-Xa-x]|[A-Za-z])?[0-9]{1,%d}"' % (row_digits - 1)
    return re.compile(rb"r(?<=[\s\"']r)(?:\s|=(?!%s))" % near)


class _SheetScan:
    """The cheap checks of one sheet, fed chunk by chunk as it is inflated.

    Every spreadsheet program writes each <c> (and <row>) with r="…" as its first attribute.
    When every cell tag is written so and no r attribute is written any other way, every cell
    is where its r="…" says (a row without r only matters to a cell without r), and the sheet
    is within the limits if those are: one beyond them is refused here. Otherwise `finish`
    says the positions must be worked out. Two regex passes, each jumping between literals."""

    def __init__(self, row_limit: int):
        self.row_limit = row_limit
        self.attribute = _r_attribute_pattern(len(str(row_limit)))
        self.carry = b""  # the end of the previous chunk
        self.judged = 0  # bytes at the start of carry already looked at
        self.unusual = False

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        stop = len(data) - _LOOKAHEAD
        if stop > self.judged:
            self._scan(data, self.judged, stop)
            self.judged = stop
        keep = min(len(data), _OVERLAP)
        self.judged -= len(data) - keep
        self.carry = data[len(data) - keep :]

    def finish(self) -> bool:
        """True if the sheet is not written the usual way."""
        self._scan(self.carry, self.judged, len(self.carry))
        return self.unusual

    def _scan(self, data: bytes, start: int, stop: int) -> None:
        # Matches starting in [start, stop): lookbehinds may look before start, lookaheads
        # always have what follows.
        if not self.unusual:
            found = _CELL_WITHOUT_R.search(data, start)
            self.unusual = found is not None and found.start() < stop
        for found in self.attribute.finditer(data, start):
            if found.start() >= stop:
                break
            value = _R_VALUE.match(data, found.end()) if data[found.end() - 1] == 0x3D else None  # r="
            if value is None:
                self.unusual = True
            elif _column_number(value[1]) > MAX_COLUMNS or int(value[2]) > self.row_limit:
                raise FileRejected(msg_sheet_too_big(self.row_limit))


def _column_number(letters: bytes) -> int:
    """A1-style column letters as a number (A = 1), 0 for none."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


_REFERENCE = re.compile(rb"([A-Za-z]{0,9})([0-9]{1,9})")
# Markup of a sheet that expat finds well-formed, so a '<' in it always starts markup (attribute
# values and text cannot hold one): a start or end tag of a row, cell or sheetData, by local
# name as quick-xml gives it (after the first colon), with its attributes (quoted values may
# hold '>'); or a comment, CDATA section or processing instruction, skipped whole (`open` when
# it does not end in what has been read so far).
_MARKUP = re.compile(
    rb"<(?:(/?)(?:[^\s/>!?<:]*:)?(row|c|sheetData)(?=[\s/>])((?:[^>\"'/]|/(?!>)|\"[^\"]*\"|'[^']*')*)(/?)>"
    rb"|!--.*?-->|!\[CDATA\[.*?\]\]>|\?.*?\?>|(!--|!\[CDATA\[|\?))",
    re.S,
)
_CLOSERS = {b"!--": b"-->", b"![CDATA[": b"]]>", b"?": b"?>"}
_MAYBE_R = re.compile(rb"\sr\s*=")
_ATTRIBUTE = re.compile(rb"\s*([^\s=]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


class _SheetDone(Exception):
    pass


def _check_sheet_exactly(archive: zipfile.ZipFile, info: zipfile.ZipInfo, row_limit: int) -> None:
    """Follow the rows and cells of a sheet the way calamine places them, and refuse one beyond
    the limits (or as damaged what expat does not take for well-formed XML without DTD).

    calamine (quick-xml, elements by local name) starts at the first sheetData and stops at a
    sheetData end. <row r="N"> sets the row, a row end goes to the next row and back to column
    A; <c r="REF"> sets row and column, <c> without r takes the current ones; every cell moves
    one column right. Inside a cell calamine only reads the value, so a row or sheetData there
    may be seen or not: there, row ends count but do not go back to column A, sheetData ends
    are ignored, and an r only ever moves forward, so every position followed here is at least
    the one calamine uses. Every cell counts, with a value or not.

    expat (without handlers: C speed) proves each chunk well-formed before _MARKUP picks the
    rows and cells out of it, so Python only works per row and cell tag: about 3 s for
    100,000 rows of 80 MB without any r, and 200 MB of other elements cost about as much
    again as calamine spends on them (6 s against 4 s)."""
    rejected = FileRejected(msg_sheet_too_big(row_limit))
    started = False
    row = column = open_cells = 0

    def position(attributes: bytes, with_column: bool) -> tuple[int, int] | None:
        """The row and column in the r attribute (0-based), None without one."""
        for found in _ATTRIBUTE.finditer(attributes):  # one after the other: well-formed
            if found[1] == b"r":
                reference = _REFERENCE.fullmatch(found[2] if found[2] is not None else found[3])
                if reference is None or (with_column and not reference[1]) or int(reference[2]) == 0:
                    raise FileRejected(MSG_DAMAGED)  # calamine would stop there too
                return int(reference[2]) - 1, _column_number(reference[1]) - 1
        return None

    def doctype(*_args) -> None:
        raise FileRejected(MSG_DAMAGED)  # no DTD (nor its entities) in a sheet

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    maybe_r = _MAYBE_R.search
    carry, closer = b"", None  # closer: the end of the comment, CDATA or PI being skipped
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                parser.Parse(chunk, False)
                data = carry + chunk
                done = 0
                if closer is not None:
                    found_at = data.find(closer)
                    if found_at < 0:
                        carry = data[1 - len(closer) :]
                        continue
                    done, closer = found_at + len(closer), None
                for found in _MARKUP.finditer(data, done):
                    end, name, attributes, empty, opener = found.groups()
                    if opener is not None:  # it does not end in data: skip it chunk by chunk
                        closer = _CLOSERS[opener]
                        carry = data[max(found.end(), len(data) + 1 - len(closer)) :]
                        break
                    done = found.end()
                    if name is None:
                        continue
                    if not started:
                        started = name == b"sheetData" and not end
                        if started and empty:
                            raise _SheetDone
                        continue
                    if not end:
                        if name == b"c":
                            where = position(attributes, True) if attributes and maybe_r(attributes) else None
                            if where is None:
                                if row >= row_limit or column >= MAX_COLUMNS:
                                    raise rejected
                            else:
                                if where[0] >= row_limit or where[1] >= MAX_COLUMNS:
                                    raise rejected
                                column = max(column, where[1])
                            column += 1
                            open_cells += 1
                        elif name == b"row":
                            where = position(attributes, False) if attributes and maybe_r(attributes) else None
                            if where is not None:
                                row = max(row, where[0])
                            if row >= row_limit:
                                raise rejected
                        if not empty:
                            continue
                    if name == b"c":
                        open_cells = max(open_cells - 1, 0)
                    elif name == b"row":
                        row += 1
                        if not open_cells:
                            column = 0
                    elif not open_cells:
                        raise _SheetDone  # calamine stops at the end of sheetData
                else:
                    cut = data.rfind(b"<", done)  # a tag cut at the end of data
                    carry = data[cut:] if cut >= 0 else b""
            parser.Parse(b"", True)
    except _SheetDone:
        pass
    except xml.parsers.expat.ExpatError:
        raise FileRejected(MSG_DAMAGED) from None


def _check_xls(content: bytes, max_records: int) -> None:
    if not content.startswith(OLE_MAGIC):
        raise FileRejected(MSG_MISMATCH)
    try:
        container = _Cfb(content)
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


# OLE2 compound files [MS-CFB]: a 512-byte header, then sectors of 512 (or 4096) bytes chained
# by the FAT; streams under 4096 bytes live in 64-byte mini sectors inside the root's stream.
_SPECIAL_SECTOR = 0xFFFFFFFA  # from here on: DIFAT, FAT, end of chain, free
_END_OF_CHAIN = 0xFFFFFFFE
_MINI_STREAM_CUTOFF = 4096


class _Cfb:
    """Just enough of an OLE2 compound file to list its entries and read a stream, with guards
    against loops and sectors outside the file (ValueError, IndexError or struct.error)."""

    def __init__(self, content: bytes):
        if len(content) < 512:
            raise ValueError("too short")
        shift = int.from_bytes(content[30:32], "little")
        if shift not in (9, 12):
            raise ValueError("sector size")
        self.content = content
        self.size = size = 1 << shift
        self.count = len(content) // size - 1  # whole sectors after the header
        per_sector = size // 4
        fat_count = int.from_bytes(content[44:48], "little")
        difat = list(struct.unpack_from("<109I", content, 76))
        following, seen = int.from_bytes(content[68:72], "little"), set()
        while following < _SPECIAL_SECTOR and len(difat) < fat_count + 109:
            if following in seen or following >= self.count:
                raise ValueError("DIFAT chain")
            seen.add(following)
            block = struct.unpack_from(f"<{per_sector}I", content, (following + 1) * size)
            difat.extend(block[:-1])
            following = block[-1]
        fat: list[int] = []
        for sector in difat[:fat_count]:
            if sector < _SPECIAL_SECTOR:
                if sector >= self.count:
                    raise ValueError("FAT sector outside the file")
                fat.extend(struct.unpack_from(f"<{per_sector}I", content, (sector + 1) * size))
        self.fat = fat
        directory = self.read(self.chain(int.from_bytes(content[48:52], "little")))
        self.entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]

    def chain(self, sector: int) -> list[int]:
        sectors: list[int] = []
        while sector != _END_OF_CHAIN:
            if sector >= self.count or sector >= len(self.fat) or len(sectors) >= self.count:
                raise ValueError("broken chain")
            sectors.append(sector)
            sector = self.fat[sector]
        return sectors

    def read(self, sectors: list[int]) -> bytes:
        parts, size, i = [], self.size, 0
        while i < len(sectors):  # consecutive sectors in one slice
            j = i
            while j + 1 < len(sectors) and sectors[j + 1] == sectors[j] + 1:
                j += 1
            parts.append(self.content[(sectors[i] + 1) * size : (sectors[j] + 2) * size])
            i = j + 1
        return b"".join(parts)

    def names(self) -> set[str]:
        """Lower-cased names of the storages and streams."""
        names = set()
        for entry in self.entries:
            length = int.from_bytes(entry[64:66], "little")
            if entry[66] in (1, 2, 5) and 2 <= length <= 64:
                names.add(entry[: length - 2].decode("utf-16-le", "replace").lower())
        return names

    def streams(self, wanted: tuple[str, ...]) -> list[bytes]:
        """The content of every entry named one of `wanted` (exactly, as calamine looks them up;
        by its name field or up to the first NUL, in case the two disagree)."""
        found = []
        for entry in self.entries:
            length = int.from_bytes(entry[64:66], "little")
            by_field = entry[: max(length - 2, 0)].decode("utf-16-le", "replace")
            by_nul = entry[:64].decode("utf-16-le", "replace").split("\0", 1)[0]
            if by_field in wanted or by_nul in wanted:
                found.append(self.stream(entry))
        return found

    def stream(self, entry: bytes) -> bytes:
        start = int.from_bytes(entry[116:120], "little")
        size = int.from_bytes(entry[120:124] if self.size == 512 else entry[120:128], "little")
        if size >= _MINI_STREAM_CUTOFF:
            return self.read(self.chain(start))[:size]
        root = self.entries[0]
        mini = self.read(self.chain(int.from_bytes(root[116:120], "little")))
        table = self.read(self.chain(int.from_bytes(self.content[60:64], "little")))
        mini_fat = struct.unpack(f"<{len(table) // 4}I", table[: len(table) // 4 * 4])
        parts: list[bytes] = []
        sector = start
        while sector != _END_OF_CHAIN:
            if sector >= len(mini_fat) or (sector + 1) * 64 > len(mini) or len(parts) >= len(mini_fat):
                raise ValueError("broken mini chain")
            parts.append(mini[sector * 64 : (sector + 1) * 64])
            sector = mini_fat[sector]
        return b"".join(parts)[:size]


def _cfb_stream_names(content: bytes) -> set[str] | None:
    """Lower-cased names of the entries of an OLE2 compound file (the directory), or None if
    the container is broken."""
    try:
        return _Cfb(content).names()
    except (ValueError, IndexError, struct.error):
        return None


def _decode_text(content: bytes) -> str:
    if content.startswith(ZIP_MAGIC) or content.startswith(OLE_MAGIC):
        raise FileRejected(MSG_MISMATCH)  # a spreadsheet (or any zip) renamed to .csv / .txt
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(MSG_ENCODING)  # UTF-16 ("Texto Unicode" in Excel)
    if content.startswith(BINARY_MAGIC) or b"\x00" in content:
        raise FileRejected(MSG_MISMATCH)
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", "replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")  # Excel's "CSV" on Windows; Latin-1 for its letters
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _split_lines(text: str) -> list[str]:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# ---------------------------------------------------------------- header detection

_HEADER_PUNCTUATION = str.maketrans({".": " ", "_": " ", "*": " ", ":": " "})


def normalize_header(value) -> str:
    """A header cell as compared with the layout: case, accents, dots and spacing ignored."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFKD", value.translate(_HEADER_PUNCTUATION))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


def _match_header(cells, spec: Layout) -> tuple[dict[str, int] | None, list[str], int]:
    """(columns, missing required columns, number of layout columns found) for one row."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = normalize_header(cell)
        if key and key not in positions:
            positions[key] = index
    columns = {}
    missing = []
    for column in spec.columns:
        index = positions.get(normalize_header(column.name))
        if index is not None:
            columns[column.name] = index
        elif column.required:
            missing.append(column.name)
    return (None if missing else columns), missing, len(columns)


def _find_header(candidates, spec: Layout):
    """The first of (line, cells) whose cells hold all the required columns:
    (index in candidates, columns). FileRejected if none does."""
    best = None
    for position, (line, cells) in enumerate(candidates):
        columns, missing, found = _match_header(cells, spec)
        if columns is not None:
            return position, columns
        if found >= 2 and (best is None or found > best[0]):
            best = (found, line, missing)
    raise FileRejected(msg_header_not_found(spec, best[1:] if best else None))


def _header_width(cells) -> int:
    width = len(cells)
    while width and (cells[width - 1] is None or (isinstance(cells[width - 1], str) and not cells[width - 1].strip())):
        width -= 1
    return width


def _header_tuple(cells, width: int) -> tuple[str, ...]:
    return tuple("" if v is None else v if isinstance(v, str) else str(v) for v in cells[:width])


# ---------------------------------------------------------------- spreadsheets


def _read_workbook(content: bytes, spec: Layout, source: str, max_records: int) -> Sheet:
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
        try:
            sheet = workbook.get_sheet_by_index(0)
            iterator = sheet.iter_rows()
            head = []
            for row in iterator:
                head.append(row)
                if len(head) == HEADER_SEARCH_ROWS:
                    break
            end = sheet.end
            if end is None or (end[0] < HEADER_SEARCH_ROWS and all(_blank(row) for row in head)):
                raise FileRejected(MSG_EMPTY)  # no value (or only spaces) anywhere
            position, columns = _find_header([(n, r) for n, r in enumerate(head, start=1)], spec)
            header_cells = head[position]
            width = _header_width(header_cells)
            rows: list[tuple[int, tuple]] = []
            append = rows.append
            half = width // 2
            line = position + 1
            for raw in chain(head[position + 1 :], iterator):
                line += 1
                cells = raw[:width]
                empties = cells.count("")
                if empties == len(cells) or (empties >= half and _blank(cells)):
                    continue
                if len(cells) < width:
                    cells += [""] * (width - len(cells))
                append((line, tuple(map(_none_if_empty, cells, cells))))
                if len(rows) > max_records:
                    raise FileRejected(msg_too_many(max_records))
        finally:
            workbook.close()
    except FileRejected:
        raise
    except PasswordError:
        raise FileRejected(MSG_PASSWORD) from None
    except BaseException as exc:  # calamine errors, and a Rust panic (pyo3 PanicException is a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        if "password" in str(exc).lower() or (source == "xls" and _xls_has_filepass(content)):
            raise FileRejected(MSG_PASSWORD) from None
        raise FileRejected(MSG_DAMAGED) from None
    if not rows:
        raise FileRejected(MSG_NO_RECORDS)
    return Sheet(spec.kind.value, source, _header_tuple(header_cells, width), columns, rows)


_BIFF_BOF = re.compile(rb"\x09\x08([\x08\x10])\x00")
BIFF_FILEPASS = b"\x2f\x00"


def _xls_has_filepass(content: bytes) -> bool:
    """A password-protected .xls: the record after a BOF (0x0809) is FILEPASS (0x002F).
    calamine only says it "cannot detect the file format", so we look ourselves."""
    for match in _BIFF_BOF.finditer(content):
        after = match.end() + match.group(1)[0]
        if content[after : after + 2] == BIFF_FILEPASS:
            return True
    return False


# map(_none_if_empty, cells, cells): "" becomes None, anything else stays (dict.get(v, v), in C).
_none_if_empty = {"": None}.get


def _blank(cells) -> bool:
    """True if every cell is empty or only spaces (a row the user left "empty" with a space)."""
    for v in cells:
        if v is None or v == "":
            continue
        if not isinstance(v, str) or v.strip():
            return False
    return True


# ---------------------------------------------------------------- delimited text

DELIMITERS = (";", ",", "\t")


def _read_delimited(lines: list[str], spec: Layout, max_records: int) -> Sheet:
    candidates = []
    for number, text in enumerate(lines[:HEADER_SEARCH_ROWS], start=1):
        for delimiter in DELIMITERS:
            if delimiter in text:
                candidates.append((number, _split_one(text, delimiter), delimiter))
    position, columns = _find_header([(n, cells) for n, cells, _d in candidates], spec)
    header_line, header_cells, delimiter = candidates[position]
    width = _header_width(header_cells)
    body = lines[header_line:]
    rows: list[tuple[int, tuple]] = []
    append = rows.append
    if not any('"' in text for text in body):
        # Fast path: no quoting anywhere, a plain split is exact.
        half = width // 2
        for number, text in enumerate(body, start=header_line + 1):
            cells = text.split(delimiter)
            if len(cells) > width:
                del cells[width:]
            elif len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            if "" in cells:
                if cells.count("") >= half and _blank(cells):
                    continue
                cells = map(_none_if_empty, cells, cells)
            append((number, tuple(cells)))
            if len(rows) > max_records:
                raise FileRejected(msg_too_many(max_records))
    else:
        reader = csv.reader([text + "\n" for text in body], delimiter=delimiter)
        previous = 0
        for cells in reader:
            number = header_line + previous + 1  # first physical line of this record
            previous = reader.line_num
            if len(cells) > width:
                del cells[width:]
            elif len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            if "" in cells or not "".join(cells).strip():
                if _blank(cells):
                    continue
                cells = map(_none_if_empty, cells, cells)
            append((number, tuple(cells)))
            if len(rows) > max_records:
                raise FileRejected(msg_too_many(max_records))
    if not rows:
        raise FileRejected(MSG_NO_RECORDS)
    return Sheet(spec.kind.value, "csv", _header_tuple(header_cells, width), columns, rows)


def _split_one(text: str, delimiter: str) -> list[str]:
    if '"' not in text:
        return text.split(delimiter)
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return text.split(delimiter)


# ---------------------------------------------------------------- fixed-width recharges (§5.4)


def _bounds(record, name: str) -> tuple[int, int]:
    f = next(f for f in record.fields if f.name == name)
    return f.start - 1, f.end


_C_TYPE = _bounds(REC_TXT_CONTROL, "Tipo de registro")
_C_BATCH = _bounds(REC_TXT_CONTROL, "Número de lote")
_C_NIT = _bounds(REC_TXT_CONTROL, "NIT de la empresa")
_C_COUNT = _bounds(REC_TXT_CONTROL, "Cantidad de registros")
_C_KIND = _bounds(REC_TXT_CONTROL, "Tipo de lote")
_C_DATE = _bounds(REC_TXT_CONTROL, "Fecha")
_C_TOTAL = _bounds(REC_TXT_CONTROL, "Monto total")
_D_TYPE = _bounds(REC_TXT_DETAIL, "Tipo de registro")
_D_BATCH = _bounds(REC_TXT_DETAIL, "Número de lote")
_D_ID = _bounds(REC_TXT_DETAIL, "Número de identificación")
_D_AMOUNT = _bounds(REC_TXT_DETAIL, "Monto")
_DIGITS = re.compile(r"[0-9]+")
FIXED_HEADER = ("TIPO ID", "NRO ID", "MONTO", "DESCRIPCION", FIXED_LINE_HEADER)


def _looks_fixed(lines: list[str]) -> bool:
    """A fixed-width file starts (after blank lines) with the control record: a line of digits
    (mostly: a broken one is reported as such), without the separators of a delimited file."""
    for text in lines:
        text = text.strip()
        if text:
            digits = sum(1 for c in text if c in "0123456789")
            return text[0] in "0123456789" and digits >= 0.8 * len(text) and not any(d in text for d in DELIMITERS)
    return False


def _read_fixed(lines: list[str], spec: Layout, max_records: int) -> Sheet:
    start = next(i for i, text in enumerate(lines) if text.strip())
    control, line_errors = _parse_control(lines[start].rstrip(), start + 1)
    batch_number = control.batch_number if control else None
    rows: list[tuple[int, tuple]] = []
    digits = _DIGITS.fullmatch
    for number, original in enumerate(lines[start + 1 :], start=start + 2):
        text = original.rstrip()
        if not text:
            continue
        if len(text) != REC_TXT_DETAIL.length:
            rows.append((number, (None, None, None, None, original)))
            line_errors.append((number, MSG_WRONG_LENGTH))
        else:
            person = text[_D_ID[0] : _D_ID[1]].strip()
            if digits(person):
                person = person.lstrip("0") or "0"
            amount = text[_D_AMOUNT[0] : _D_AMOUNT[1]].strip()
            if digits(amount):
                cents = int(amount)
                amount = f"{cents // 100}.{cents % 100:02d}"
            rows.append((number, ("CC", person or None, amount or None, None, original)))
            if text[_D_TYPE[0] : _D_TYPE[1]] != DETAIL_RECORD_TYPE:
                line_errors.append((number, MSG_DETAIL_TYPE))
            if batch_number is not None and text[_D_BATCH[0] : _D_BATCH[1]] != batch_number:
                line_errors.append((number, MSG_DETAIL_BATCH))
        if len(rows) > max_records:
            raise FileRejected(msg_too_many(max_records))
    if not rows:
        raise FileRejected(MSG_NO_RECORDS)
    columns = {name: index for index, name in enumerate(FIXED_HEADER[:4])}
    return Sheet(spec.kind.value, "fixed", FIXED_HEADER, columns, rows, control, line_errors)


def _parse_control(text: str, number: int) -> tuple[FixedControl | None, list[tuple[int, str]]]:
    if len(text) != REC_TXT_CONTROL.length:
        return None, [(number, MSG_WRONG_LENGTH)]

    def part(bounds):
        return text[bounds[0] : bounds[1]]

    count, total, nit = part(_C_COUNT), part(_C_TOTAL), part(_C_NIT)
    if not (_DIGITS.fullmatch(count) and _DIGITS.fullmatch(total) and _DIGITS.fullmatch(nit)):
        return None, [(number, MSG_CONTROL_INVALID)]
    control = FixedControl(
        line=number,
        batch_number=part(_C_BATCH),
        nit=nit.lstrip("0"),
        count=int(count),
        batch_type=part(_C_KIND),
        day=part(_C_DATE),
        total=int(total),
    )
    errors = []
    if part(_C_TYPE) != CONTROL_RECORD_TYPE:
        errors.append((number, MSG_CONTROL_TYPE))
    if control.batch_type != TXT_BATCH_TYPE:
        errors.append((number, MSG_CONTROL_BATCH_TYPE))
    if not _valid_yyyymmdd(control.day):
        errors.append((number, MSG_CONTROL_DATE))
    return control, errors


def _valid_yyyymmdd(text: str) -> bool:
    if not _DIGITS.fullmatch(text) or len(text) != 8:
        return False
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True
