"""`read_batch`, the entry point: the upload's extension and size, then the safety checks and the
reader of its format."""

from __future__ import annotations

import gc

from domain.batch_files.common import (
    EXTENSIONS,
    MAX_BYTES,
    MAX_RECORDS,
    MAX_UNCOMPRESSED,
    MSG_EMPTY,
    MSG_EXTENSION,
    FileRejected,
    Sheet,
    msg_too_big,
)
from domain.batch_files.delimited import read_delimited
from domain.batch_files.fixed import looks_fixed, read_fixed
from domain.batch_files.sniffing import decode_text, extension
from domain.batch_files.text import normalize_newlines
from domain.batch_files.workbook import read_workbook
from domain.batch_files.xls_checks import check_xls
from domain.batch_files.xlsx_checks import check_xlsx
from domain.layouts import Layout, layout


def read_batch(
    filename: str,
    content: bytes,
    kind: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_records: int = MAX_RECORDS,
    max_uncompressed: int = MAX_UNCOMPRESSED,
    checked: bool = False,
) -> Sheet:
    """Parse an uploaded batch file of type `kind` (EMI, REC or AFI), or raise FileRejected.

    `checked`: these very bytes already passed the zip and compound-file safety checks with
    the same limits (read_head at the upload; the validation job reads the stored file), so
    they are not run a second time (0.4 s of a 100,000-row .xlsx)."""
    try:
        spec = layout(kind)
    except (KeyError, ValueError):
        raise ValueError(f"batch type without a file layout: {kind!r}") from None
    suffix = extension(filename)
    if suffix not in EXTENSIONS:
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
        return _read(suffix, content, spec, max_records, max_uncompressed, checked)
    finally:
        if was_enabled:
            gc.enable()


def _read(suffix: str, content: bytes, spec: Layout, max_records: int, max_uncompressed: int, checked: bool) -> Sheet:
    if suffix == ".xlsx":
        if not checked:
            check_xlsx(content, max_uncompressed, max_records)
        return read_workbook(content, spec, "xlsx", max_records)
    if suffix == ".xls":
        if not checked:
            check_xls(content, max_records)
        return read_workbook(content, spec, "xls", max_records)
    text = decode_text(content)
    if not text.strip():
        raise FileRejected(MSG_EMPTY)
    text = normalize_newlines(text)
    if suffix == ".txt" and spec.kind == "REC" and looks_fixed(text):
        return read_fixed(text, spec, max_records)
    return read_delimited(text, spec, max_records)
