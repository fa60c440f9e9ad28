"""Reading uploaded batch files (SPEC §5): .xlsx / .xls (python-calamine), delimited .csv / .txt,
and the fixed-width recharge TXT (§5.4).

`read_batch` either returns a `Sheet` (the header found, the data rows as read, with the line
number the user sees) or raises `FileRejected` with the Spanish message shown at upload: wrong
extension, content that is not what the extension says, a broken or password-protected file, a
zip bomb (declared sizes checked before anything is inflated, then proved while inflating),
a sheet with a value far away from the data (calamine would allocate the whole rectangle), an
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
import unicodedata
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
MAX_COLUMN = "AX"  # 50 columns

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
        _check_xls(content)
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
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError):
        raise FileRejected(MSG_DAMAGED) from None
    if not infos or len(infos) > MAX_ZIP_MEMBERS:
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
    if "xl/workbook.xml" not in names:
        # A .docx, .ods, .xlsb or any other zip renamed to .xlsx.
        raise FileRejected(MSG_MISMATCH)
    _check_members(content, infos, max_records)


def _check_members(content: bytes, infos: list[zipfile.ZipInfo], max_records: int) -> None:
    """Inflate every member once, without keeping it, to prove the sizes checked above are true,
    and look in the worksheets for cells far away from any batch.

    The reader behind calamine trusts neither size nor ratio: a zip that declares a small size
    and inflates to gigabytes would be parsed to the end. zipfile stops at the declared size
    and then fails the CRC check, so this costs at most the declared (capped) size.
    calamine also allocates the whole rectangle from A1 to the farthest cell: a 5 KB file
    with one value in XFD1048576 would ask for 17 billion cells. About 0.15 s for a
    100,000-row sheet, both checks together."""
    row_limit = max_records + MAX_EXTRA_ROWS
    far = _far_cell_pattern(len(str(row_limit)))
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for info in infos:
                sheet = info.filename.lower().startswith("xl/worksheets/")
                tail = b""
                with archive.open(info) as member:
                    while chunk := member.read(4 * 1024 * 1024):
                        if sheet:
                            _check_far_cells(far, tail + chunk, row_limit)
                            tail = chunk[-32:]
    except RuntimeError:  # a member needing a password without the zip-level flag
        raise FileRejected(MSG_PASSWORD) from None
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError, zlib.error):
        raise FileRejected(MSG_DAMAGED) from None


@cache
def _far_cell_pattern(row_digits: int) -> re.Pattern:
    # An attribute r="…" (after whitespace: not sqref="…") holding a cell reference or a row
    # number beyond the limits: a column after MAX_COLUMN (AX), or a row number of row_digits
    # digits or more (compared exactly afterwards). The pattern starts with a literal so the
    # regex engine jumps from one r=" to the next.
    letter = b"[A-Za-z]"
    far_column = b"(?:%s{3}|[B-Zb-z]%s|[Aa][Y-Zy-z])[0-9]" % (letter, letter)
    return re.compile(b'r="(?<=\\sr=")(?:%s|%s{0,3}([0-9]{%d,})")' % (far_column, letter, row_digits))


def _check_far_cells(pattern: re.Pattern, data: bytes, row_limit: int) -> None:
    for match in pattern.finditer(data):
        row = match.group(1)
        if row is None or int(row) > row_limit:
            raise FileRejected(msg_sheet_too_big(row_limit))


def _check_xls(content: bytes) -> None:
    if not content.startswith(OLE_MAGIC):
        raise FileRejected(MSG_MISMATCH)
    names = _cfb_stream_names(content)
    if names is None:
        raise FileRejected(MSG_DAMAGED)
    if "encryptioninfo" in names:
        raise FileRejected(MSG_PASSWORD)
    if "workbook" not in names and "book" not in names:
        raise FileRejected(MSG_MISMATCH)  # a .doc, .msg, .ppt… renamed to .xls


def _cfb_stream_names(content: bytes) -> set[str] | None:
    """Lower-cased names of the entries of an OLE2 compound file (the directory), or None if
    the container is broken. Only the directory chain is followed, with loop and size guards."""
    try:
        if len(content) < 512:
            return None
        sector_shift = int.from_bytes(content[30:32], "little")
        if sector_shift not in (9, 12):
            return None
        size = 1 << sector_shift
        per_sector = size // 4
        max_sector = len(content) // size
        num_fat = int.from_bytes(content[44:48], "little")
        first_dir = int.from_bytes(content[48:52], "little")
        difat_next = int.from_bytes(content[68:72], "little")
        difat = [int.from_bytes(content[76 + 4 * i : 80 + 4 * i], "little") for i in range(109)]
        seen = set()
        while difat_next < 0xFFFFFFFA and difat_next not in seen and len(difat) < num_fat + 109:
            seen.add(difat_next)
            base = (difat_next + 1) * size
            block = content[base : base + size]
            if len(block) < size:
                return None
            difat.extend(int.from_bytes(block[4 * i : 4 * i + 4], "little") for i in range(per_sector - 1))
            difat_next = int.from_bytes(block[size - 4 :], "little")
        fat_sectors = [s for s in difat[:num_fat] if s < 0xFFFFFFFA]

        def next_sector(sector: int) -> int:
            index, offset = divmod(sector, per_sector)
            if index >= len(fat_sectors):
                raise ValueError("sector outside the FAT")
            base = (fat_sectors[index] + 1) * size + offset * 4
            return int.from_bytes(content[base : base + 4], "little")

        names: set[str] = set()
        sector, visited = first_dir, set()
        while sector < 0xFFFFFFFA:
            if sector in visited or sector > max_sector or len(visited) > max_sector:
                return None
            visited.add(sector)
            base = (sector + 1) * size
            block = content[base : base + size]
            if len(block) < size:
                return None
            for start in range(0, size, 128):
                entry = block[start : start + 128]
                name_length = int.from_bytes(entry[64:66], "little")
                if entry[66] in (1, 2, 5) and 2 <= name_length <= 64:
                    names.add(entry[: name_length - 2].decode("utf-16-le", "replace").lower())
            sector = next_sector(sector)
        return names
    except (ValueError, IndexError):
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
