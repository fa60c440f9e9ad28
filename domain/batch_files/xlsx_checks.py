"""Safety checks of an .xlsx (a zip) before calamine reads it: what the zip is (an encrypted
workbook, a .docx or .ods renamed, a damaged archive), zip bombs (the declared sizes first,
then proved while inflating), and sheets with a cell far away from any batch."""

from __future__ import annotations

import io
import re
import xml.parsers.expat
import zipfile
import zlib
from functools import cache

from domain.batch_files.cfb import cfb_stream_names
from domain.batch_files.common import (
    MAX_COLUMNS,
    MAX_EXTRA_ROWS,
    MAX_RATIO,
    MAX_ZIP_MEMBERS,
    MSG_BOMB,
    MSG_DAMAGED,
    MSG_MISMATCH,
    MSG_PASSWORD,
    RATIO_FLOOR,
    FileRejected,
    msg_sheet_too_big,
)
from domain.batch_files.sniffing import OLE_MAGIC, ZIP_MAGIC

# Parts only an .ods or an .xlsb has. calamine picks the reader by trying them in turn, so a zip
# with a broken xl/workbook.xml and one of these would be read as that other format, unchecked.
OTHER_ZIP_PARTS = ("content.xml", "mimetype", "xl/workbook.bin")
# Where the sheet calamine reads can be (the workbook's relationships may point to any of them).
SHEET_FOLDERS = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")
# Excel stores members plain or deflated; any other method (bzip2, deflate64, AES…) is refused
# before anything is inflated.
XLSX_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What reading a broken zip raises: a bad directory (BadZipFile), offsets past the end
# (ValueError, EOFError, OSError) or a corrupt deflate stream (zlib.error).
DAMAGED_ZIP = (zipfile.BadZipFile, ValueError, EOFError, OSError, zlib.error)


def check_xlsx(content: bytes, max_uncompressed: int, max_records: int) -> None:
    if content.startswith(OLE_MAGIC):
        # An encrypted .xlsx is an OLE2 container (EncryptionInfo + EncryptedPackage);
        # any other OLE2 file (an .xls, a .doc) is not what the extension says.
        names = cfb_stream_names(content)
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
