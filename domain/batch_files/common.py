"""What every reader shares: the limits, the Spanish messages of a refusal, `FileRejected`, the
`Sheet` that read_batch returns, and the small row helpers of the spreadsheet and text readers."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def msg_sheet_too_big(row_limit: int) -> str:
    return (
        f"La hoja tiene celdas con datos más allá de la fila {thousands(row_limit)} o de la columna {MAX_COLUMN}; "
        "borre las filas y columnas sobrantes"
    )


def msg_too_big(max_bytes: int) -> str:
    return f"El archivo supera el tamaño máximo de {_size_text(max_bytes)}"


def msg_too_many(max_records: int) -> str:
    return f"El archivo supera el máximo de {thousands(max_records)} registros"


def thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _size_text(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib:
        if n % mib == 0:
            return f"{n // mib} MB"
        return f"{n / mib:.1f} MB".replace(".", ",")
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{thousands(n)} bytes"


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


# ---------------------------------------------------------------- row helpers

# map(none_if_empty, cells, cells): "" becomes None, anything else stays (dict.get(v, v), in C).
none_if_empty = {"": None}.get


def blank(cells) -> bool:
    """True if every cell is empty or only spaces (a row the user left "empty" with a space)."""
    for v in cells:
        if v is None or v == "":
            continue
        if not isinstance(v, str) or v.strip():
            return False
    return True
