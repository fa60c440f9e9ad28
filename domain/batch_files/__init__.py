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

The package, by concern (pure Python, no Flask):

    common       limits, Spanish messages, FileRejected, Sheet / FixedControl, row helpers
    sniffing     magic numbers, the upload's extension, text decoding
    cfb          the OLE2 compound file (.xls container, encrypted .xlsx)
    xlsx_checks  zip checks, zip bombs, sheets with cells far away (before calamine)
    xls_checks   BIFF checks of every sheet, password detection (before calamine)
    header       header detection, bounded per candidate row
    workbook     the .xlsx / .xls reader (calamine)
    delimited    the .csv / .txt reader
    fixed        the fixed-width recharge TXT reader
    reader       read_batch
    first_rows   read_head: the checks and the header from the first rows, for the upload
"""

from domain.batch_files.common import (
    ERRORS_HEADER,
    EXTENSIONS,
    FIXED_LINE_HEADER,
    HEADER_SEARCH_ROWS,
    MAX_BYTES,
    MAX_COLUMN,
    MAX_COLUMNS,
    MAX_EXTRA_ROWS,
    MAX_RATIO,
    MAX_RECORDS,
    MAX_UNCOMPRESSED,
    MAX_ZIP_MEMBERS,
    MSG_BOMB,
    MSG_CONTROL_BATCH_TYPE,
    MSG_CONTROL_DATE,
    MSG_CONTROL_INVALID,
    MSG_CONTROL_TYPE,
    MSG_DAMAGED,
    MSG_DETAIL_BATCH,
    MSG_DETAIL_TYPE,
    MSG_EMPTY,
    MSG_ENCODING,
    MSG_EXTENSION,
    MSG_MISMATCH,
    MSG_NO_RECORDS,
    MSG_PASSWORD,
    MSG_WRONG_LENGTH,
    RATIO_FLOOR,
    FileRejected,
    FixedControl,
    Sheet,
    msg_sheet_too_big,
    msg_too_big,
    msg_too_many,
)
from domain.batch_files.delimited import DELIMITERS, msg_field_too_long
from domain.batch_files.first_rows import Head, read_head
from domain.batch_files.fixed import FIXED_HEADER
from domain.batch_files.header import MAX_HEADER_CELL, MAX_HEADER_FIELDS, msg_header_not_found, normalize_header
from domain.batch_files.reader import read_batch

__all__ = [
    "DELIMITERS",
    "ERRORS_HEADER",
    "EXTENSIONS",
    "FIXED_HEADER",
    "FIXED_LINE_HEADER",
    "HEADER_SEARCH_ROWS",
    "MAX_BYTES",
    "MAX_COLUMN",
    "MAX_COLUMNS",
    "MAX_EXTRA_ROWS",
    "MAX_HEADER_CELL",
    "MAX_HEADER_FIELDS",
    "MAX_RATIO",
    "MAX_RECORDS",
    "MAX_UNCOMPRESSED",
    "MAX_ZIP_MEMBERS",
    "MSG_BOMB",
    "MSG_CONTROL_BATCH_TYPE",
    "MSG_CONTROL_DATE",
    "MSG_CONTROL_INVALID",
    "MSG_CONTROL_TYPE",
    "MSG_DAMAGED",
    "MSG_DETAIL_BATCH",
    "MSG_DETAIL_TYPE",
    "MSG_EMPTY",
    "MSG_ENCODING",
    "MSG_EXTENSION",
    "MSG_MISMATCH",
    "MSG_NO_RECORDS",
    "MSG_PASSWORD",
    "MSG_WRONG_LENGTH",
    "RATIO_FLOOR",
    "FileRejected",
    "FixedControl",
    "Head",
    "Sheet",
    "msg_field_too_long",
    "msg_header_not_found",
    "msg_sheet_too_big",
    "msg_too_big",
    "msg_too_many",
    "normalize_header",
    "read_batch",
    "read_head",
]
