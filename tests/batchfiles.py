"""Builders of batch files for tests and benchmarks: rows that pass validation (or fail it on
purpose), and the same rows as .xlsx, .xls, .csv or fixed-width TXT bytes; plus hostile files
(an encrypted .xlsx, a zip bomb, sheets written by hand, a minimal .xls written record by record).

Rows are dicts keyed by the layout's column names (domain/layouts.py); a missing key is an
empty cell. Every builder is deterministic.

    rows = emi_rows(100, bad_every=10)        # rows 10, 20, … have exactly one error each
    content = xlsx_bytes("EMI", rows)         # title in row 1, header in row 2
    sheet = read_batch("lote.xlsx", content, "EMI")
    errors, outcomes = validate(sheet, facts())
"""

from __future__ import annotations

import csv
import io
import random
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from domain.batch_validation import Facts
from domain.layouts import layout, rec_txt_lines

TODAY = date(2025, 1, 15)
COMPANY_NIT = "900291499"
BRANCHES = ("1", "73")
CARD_LIMIT = 500_000_000  # $ 5.000.000,00 in centavos

_SURNAMES = ("GÓMEZ", "PEÑA", "RODRÍGUEZ", "O'NEILL", "PÉREZ-ÁLVAREZ", "Muñoz", "DE LA CRUZ", "ÁVILA")
_NAMES = ("ANA", "José", "MARÍA", "LUIS", "Ñusta", "JUAN PABLO", "SOFÍA", "ANDRÉS")
_CITIES = ("Bogotá", "Medellín", "Cali", "Cúcuta", "", "Barranquilla")
_MARITAL = ("SOLTERO", "CASADO", "", "UNION LIBRE", "VIUDO", "DIVORCIADO", "soltera")
_SEXES = ("FEMENINO", "MASCULINO", "F", "m")

# One error per bad row, in turn: (column, bad value, the message validation gives).
EMI_BAD = (
    ("CORREO ELECTRONICO", "sin-arroba.com", "El campo CORREO ELECTRONICO es inválido"),
    ("TIPO ID", "XX", "Tipo de documento inválido"),
    ("FECHA DE NACIMIENTO", "31/02/1990", "El campo fecha es inválido"),
    ("TELEFONO CELULAR", "2001234567", "El campo TELEFONO CELULAR es inválido"),
    ("SUCURSAL", "999", "La sucursal no pertenece a la empresa"),
    ("PRIMER APELLIDO", "", "El campo PRIMER APELLIDO es obligatorio"),
)
REC_BAD = (
    ("MONTO", "12,50", "El campo MONTO es inválido"),
    ("TIPO ID", "XX", "Tipo de documento inválido"),
    ("MONTO", "0", "El monto debe ser mayor que 0"),
    ("MONTO", "999999999", "El monto supera el límite por tarjeta"),
)


def id_number(i: int) -> str:
    return str(1_000_000_000 + i)


def masked_card(i: int) -> str:
    """The masked number of the i-th unaffiliated card, as in the affiliation file."""
    return f"*****{579_000 + i:06d}"


def person(i: int) -> dict:
    """The EMI columns of person i: always valid against BRANCHES and TODAY."""
    return {
        "SUCURSAL": BRANCHES[i % 2],
        "TIPO ID": "CC",
        "NRO ID": id_number(i),
        "PRIMER APELLIDO": _SURNAMES[i % len(_SURNAMES)],
        "SEGUNDO APELLIDO": _SURNAMES[(i // 3) % len(_SURNAMES)] if i % 4 else "",
        "PRIMER NOMBRE": _NAMES[i % len(_NAMES)],
        "SEGUNDO NOMBRE": _NAMES[(i // 5) % len(_NAMES)] if i % 3 else "",
        "FECHA DE NACIMIENTO": f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1950 + i % 50}",
        "ESTADO CIVIL": _MARITAL[i % len(_MARITAL)],
        "SEXO": _SEXES[i % len(_SEXES)],
        "DIRECCION DE RESIDENCIA": f"Calle {i % 200} # {i % 90}-{i % 50}",
        "CIUDAD DE RESIDENCIA": _CITIES[i % len(_CITIES)],
        "TELEFONO FIJO": f"601{i % 10_000_000:07d}" if i % 2 else "",
        "TELEFONO CELULAR": f"3{i % 1_000_000_000:09d}",
        "CORREO ELECTRONICO": f"persona{i}@ejemplo.com",
    }


def _spoil(row: dict, i: int, bad_every: int, bad: tuple) -> dict:
    if bad_every and i % bad_every == 0:
        column, value, _message = bad[(i // bad_every) % len(bad)]
        row[column] = value
    return row


def bad_message(kind: str, i: int, bad_every: int) -> str | None:
    """The message row i of emi_rows/afi_rows/rec_rows(…, bad_every) fails with, or None."""
    if not bad_every or i % bad_every:
        return None
    bad = REC_BAD if kind == "REC" else EMI_BAD
    return bad[(i // bad_every) % len(bad)][2]


def emi_rows(n: int, start: int = 1, bad_every: int = 0) -> list[dict]:
    """n EMI rows for persons start … start+n-1; with bad_every=k, every row whose number is a
    multiple of k has exactly one error (EMI_BAD, in turn; see bad_message)."""
    return [_spoil(person(i), i, bad_every, EMI_BAD) for i in range(start, start + n)]


def rec_rows(n: int, start: int = 1, bad_every: int = 0, amount: str = "150000.00") -> list[dict]:
    """n REC rows for the persons of emi_rows (same TIPO ID / NRO ID)."""
    return [
        _spoil(
            {"TIPO ID": "CC", "NRO ID": id_number(i), "MONTO": amount, "DESCRIPCION": "Auxilio de alimentación"},
            i,
            bad_every,
            REC_BAD,
        )
        for i in range(start, start + n)
    ]


def afi_rows(n: int, start: int = 1, bad_every: int = 0) -> list[dict]:
    """n AFI rows: card masked_card(i) for person i."""
    return [
        _spoil({"NO. TARJETA": masked_card(i), "REFERENCIA": "", **person(i)}, i, bad_every, EMI_BAD)
        for i in range(start, start + n)
    ]


def holders(rows: Iterable[Mapping]) -> frozenset[tuple[str, str]]:
    """(TIPO ID, NRO ID) of the rows: the active_holders a REC file of these rows needs."""
    return frozenset((r["TIPO ID"], r["NRO ID"]) for r in rows)


def cards(rows: Iterable[Mapping]) -> frozenset[str]:
    return frozenset(r["NO. TARJETA"] for r in rows)


def facts(**overrides) -> Facts:
    """Facts of a company with branches 1 and 73, nobody holding a card, and TODAY."""
    values = {
        "company_nit": COMPANY_NIT,
        "branch_codes": frozenset(BRANCHES),
        "card_limit": CARD_LIMIT,
        "holders": frozenset(),
        "active_holders": frozenset(),
        "unaffiliated_cards": frozenset(),
        "affiliated_cards": frozenset(),
        "today": TODAY,
    }
    values.update(overrides)
    return Facts(**values)


# ---------------------------------------------------------------- files


def _table(kind: str, rows: Iterable, header: Sequence[str] | None) -> tuple[tuple, Iterable[list]]:
    names = tuple(header) if header is not None else layout(kind).column_names

    def values():
        for row in rows:
            if isinstance(row, Mapping):
                yield [row.get(name) for name in names]
            else:
                yield list(row)

    return names, values()


def xlsx_bytes(
    kind: str,
    rows: Iterable,
    title: bool | str = True,
    header: Sequence[str] | None = None,
    sheet_title: str | None = None,
    leading_rows: int = 0,
) -> bytes:
    """An .xlsx like the downloadable template: an optional title row (True: the layout's
    title), the header, then the rows (dicts by column name, or sequences in header order).
    Strings are always string cells, even "=…" (so hostile text stays text)."""
    names, values = _table(kind, rows, header)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title or kind)
    for _ in range(leading_rows):
        ws.append([])
    if title:
        ws.append([layout(kind).title if title is True else title])
    ws.append(list(names))
    for row in values:
        ws.append([_text_cell(ws, v) if isinstance(v, str) and v[:1] == "=" else (v if v != "" else None) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _text_cell(ws, value: str):
    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    return cell


def csv_bytes(
    kind: str,
    rows: Iterable,
    sep: str = ";",
    encoding: str = "utf-8",
    title: bool | str = False,
    header: Sequence[str] | None = None,
) -> bytes:
    """A delimited text file: optional title line, header, rows. encoding "utf-8-sig" writes a
    BOM; "latin-1" / "cp1252" a Windows Excel CSV."""
    names, values = _table(kind, rows, header)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    if title:
        writer.writerow([layout(kind).title if title is True else title])
    writer.writerow(names)
    for row in values:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode(encoding)


def xls_bytes(
    kind: str,
    rows: Iterable,
    title: bool | str = True,
    header: Sequence[str] | None = None,
    extra_cells: Iterable[tuple[int, int, object]] = (),
) -> bytes:
    """An Excel 97-2003 .xls (BIFF8) written with xlwt; date values become date cells.
    extra_cells: (row, col, value) written as they are, anywhere (up to IV65536)."""
    import xlwt

    names, values = _table(kind, rows, header)
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet(kind)
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    r = 0
    if title:
        ws.write(r, 0, layout(kind).title if title is True else title)
        r += 1
    for c, name in enumerate(names):
        ws.write(r, c, name)
    for row in values:
        r += 1
        for c, v in enumerate(row):
            if v is None or v == "":
                continue
            if isinstance(v, date):
                ws.write(r, c, v, date_style)
            else:
                ws.write(r, c, v)
    for r, c, v in extra_cells:
        ws.write(r, c, v)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def fixed_txt_bytes(
    details: Sequence[tuple[str, int]],
    *,
    batch_number: str = "24031501",
    nit: str = COMPANY_NIT,
    day: date = date(2024, 3, 15),
    newline: str = "\r\n",
) -> bytes:
    """A fixed-width recharge file (§5.4) for (person ID, amount in centavos) pairs."""
    return (newline.join(rec_txt_lines(batch_number, nit, day, list(details))) + newline).encode("ascii")


# ---------------------------------------------------------------- hostile files

ENDOFCHAIN, FREESECT, FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD


def cfb_bytes(streams: Mapping[str, bytes], mini: bool = False) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding the given streams at
    the root. Streams are padded to 4096 bytes so they live in regular sectors; with mini=True,
    those under 4096 bytes go, unpadded, to 64-byte mini sectors in the root's mini stream."""
    sector = 512
    small = {name: payload for name, payload in streams.items() if mini and len(payload) < 4096}
    data = {name: payload.ljust(4096, b"\0") for name, payload in streams.items() if name not in small}
    mini_fat: list[int] = []
    mini_starts = {}
    container = b""
    for name, payload in small.items():
        count = max(1, -(-len(payload) // 64))
        mini_starts[name] = len(mini_fat)
        mini_fat += [len(mini_fat) + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
        container += payload.ljust(count * 64, b"\0")
    if small:
        data["\0container"] = container.ljust(-(-len(container) // sector) * sector, b"\0")
        mini_fat += [FREESECT] * (-len(mini_fat) % (sector // 4))
        data["\0minifat"] = struct.pack(f"<{len(mini_fat)}I", *mini_fat)
    entries = 1 + len(streams)
    dir_sectors = -(-entries * 128 // sector)
    stream_sectors = [len(payload) // sector for payload in data.values()]
    body_sectors = dir_sectors + sum(stream_sectors)
    fat_sectors = 1
    while fat_sectors * (sector // 4) < fat_sectors + body_sectors:
        fat_sectors += 1
    fat = [FATSECT] * fat_sectors
    first_dir = len(fat)
    fat += [first_dir + i + 1 for i in range(dir_sectors - 1)] + [ENDOFCHAIN]
    starts = {}
    for name, count in zip(data, stream_sectors, strict=True):
        first = len(fat)
        starts[name] = first
        fat += [first + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
    fat += [FREESECT] * (fat_sectors * (sector // 4) - len(fat))

    def entry(name, kind, child, right, start, size):
        raw = name.encode("utf-16-le") + b"\0\0"
        return (
            raw.ljust(64, b"\0")
            + struct.pack("<HBB", len(raw), kind, 1)
            + struct.pack("<III", FREESECT, right, child)
            + b"\0" * 16
            + b"\0" * 4
            + b"\0" * 16
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)
    root_start = starts.get("\0container", ENDOFCHAIN)
    directory = entry("Root Entry", 5, 1 if names else FREESECT, FREESECT, root_start, len(container))
    for index, name in enumerate(names):
        right = index + 2 if index + 1 < len(names) else FREESECT
        if name in small:
            directory += entry(name, 2, FREESECT, right, mini_starts[name], len(small[name]))
        else:
            directory += entry(name, 2, FREESECT, right, starts[name], len(data[name]))
    directory = directory.ljust(dir_sectors * sector, b"\0")
    difat = list(range(fat_sectors)) + [FREESECT] * (109 - fat_sectors)
    mini_fat_start = starts.get("\0minifat", ENDOFCHAIN)
    mini_fat_sectors = len(data.get("\0minifat", b"")) // sector
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, fat_sectors, first_dir, 0, 4096, mini_fat_start, mini_fat_sectors, ENDOFCHAIN, 0)
        + struct.pack("<109I", *difat)
    )
    assert len(header) == sector
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"".join(data.values())


def encrypted_xlsx_bytes() -> bytes:
    """What Excel saves for a password-protected .xlsx: an OLE2 container with the streams
    EncryptionInfo and EncryptedPackage (contents here are placeholders)."""
    info = (
        struct.pack("<HHI", 4, 4, 0x40) + b"<encryption xmlns='http://schemas.microsoft.com/office/2006/encryption'/>"
    )
    package = struct.pack("<Q", 1234) + bytes(range(256)) * 8
    return cfb_bytes({"EncryptionInfo": info, "EncryptedPackage": package, "\x06DataSpaces": b"x"})


def zip_bomb_bytes(uncompressed: int, member: str = "xl/worksheets/sheet1.xml") -> bytes:
    """A zip shaped like an .xlsx whose sheet is `uncompressed` bytes of zeros (a few hundred
    KB compressed for 300 MB)."""
    out = io.BytesIO()
    chunk = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open(member, "w", force_zip64=True) as sheet:
            left = uncompressed
            while left > 0:
                sheet.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return out.getvalue()


XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def sheet_xml(rows: bytes, prefix: str = "") -> bytes:
    """A worksheet document around `rows` (the content of sheetData, written by hand), its
    elements with a namespace prefix if given (x: as the .NET Open XML SDK writes them)."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    return (
        f'<{p}worksheet {xmlns}="{XLSX_MAIN}"><{p}sheetData>'.encode()
        + rows
        + f"</{p}sheetData></{p}worksheet>".encode()
    )


def xlsx_with_sheet(xml: bytes, padding: int = 0, folder: str = "worksheets") -> bytes:
    """The parts of an .xlsx template (REC) with `xml` as its first sheet, stored under
    xl/<folder>/ (worksheets, chartsheets, dialogsheets: calamine reads any of them). padding
    adds that many bytes that do not compress (a comment after the root element), so a sheet of
    repeated tags stays under the 200:1 ratio, as an attacker would make it."""
    if padding:
        noise = random.Random(padding).randbytes(padding // 2).hex().encode()
        xml += b"<!--" + noise + b"-->"
    template = zipfile.ZipFile(io.BytesIO(xlsx_bytes("REC", [], title=False)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in template.infolist():
            content = template.read(info)
            name = info.filename
            if name == "xl/worksheets/sheet1.xml":
                name, content = f"xl/{folder}/sheet1.xml", xml
            elif name == "xl/_rels/workbook.xml.rels":
                content = content.replace(b"/xl/worksheets/sheet1.xml", f"/xl/{folder}/sheet1.xml".encode())
            archive.writestr(name, content)
    return out.getvalue()


def biff_record(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def biff_number(row: int, col: int, value: float) -> bytes:
    return biff_record(0x0203, struct.pack("<HHHd", row, col, 0, value))


def biff_label(row: int, col: int, text: str) -> bytes:
    raw = text.encode("latin-1")
    return biff_record(0x0204, struct.pack("<HHHHB", row, col, 0, len(raw), 0) + raw)


def biff_dimensions(first_row: int, end_row: int, first_col: int, end_col: int) -> bytes:
    """DIMENSIONS as BIFF8 writes it: the ends are one past the last row and column."""
    return biff_record(0x0200, struct.pack("<IIHHH", first_row, end_row, first_col, end_col, 0))


def biff_mulrk(row: int, first_col: int, values: Sequence[int]) -> bytes:
    rks = b"".join(struct.pack("<HI", 0, (v << 2) | 2) for v in values)  # integer RKs
    return biff_record(
        0x00BD, struct.pack("<HH", row, first_col) + rks + struct.pack("<H", first_col + len(values) - 1)
    )


def biff_bytes(
    sheets: Sequence[Sequence],
    dimensions: Sequence[bytes | None] | None = None,
    boundsheets: Sequence[int] | None = None,
    mini: bool = False,
) -> bytes:
    """A minimal BIFF8 .xls written record by record (no xlwt: any row and column, and
    DIMENSIONS that lie). Each sheet is a list of cells, (row, col, value) with a str (LABEL) or
    a number (NUMBER), or records already built (biff_mulrk, biff_record). dimensions replaces
    a sheet's DIMENSIONS record (default: the true one); boundsheets lists, for each BOUNDSHEET,
    the sheet whose records it points to (default: one each). mini stores a small Workbook
    stream in the mini stream."""
    bof = {kind: biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6)) for kind in (5, 16)}
    eof = biff_record(0x000A, b"")
    bodies = []
    for index, cells in enumerate(sheets):
        records = []
        rows, cols = [0], [0]
        for cell in cells:
            if isinstance(cell, bytes):
                records.append(cell)
                continue
            row, col, value = cell
            rows.append(row + 1)
            cols.append(col + 1)
            records.append(biff_label(row, col, value) if isinstance(value, str) else biff_number(row, col, value))
        dims = (
            dimensions[index]
            if dimensions and dimensions[index] is not None
            else biff_dimensions(0, max(rows), 0, max(cols))
        )
        bodies.append(bof[16] + dims + b"".join(records) + eof)
    targets = list(boundsheets) if boundsheets is not None else list(range(len(sheets)))
    names = [f"Hoja{i + 1}".encode("latin-1") for i in range(len(targets))]
    globals_size = len(bof[5]) + sum(4 + 8 + len(n) for n in names) + len(eof)
    offsets, position = [], globals_size
    for body in bodies:
        offsets.append(position)
        position += len(body)
    boundsheet = b"".join(
        biff_record(0x0085, struct.pack("<IBBBB", offsets[t], 0, 0, len(n), 0) + n)
        for t, n in zip(targets, names, strict=True)
    )
    stream = bof[5] + boundsheet + eof + b"".join(bodies)
    return cfb_bytes({"Workbook": stream}, mini=mini)
