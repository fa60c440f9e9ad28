"""The .xlsx / .xls reader (python-calamine), once the safety checks have passed: the header among
the first rows, then every row that is not empty, cut or padded to the header's width."""

from __future__ import annotations

import io
from itertools import chain

from python_calamine import CalamineWorkbook, PasswordError

from domain.batch_files.common import (
    HEADER_SEARCH_ROWS,
    MSG_DAMAGED,
    MSG_EMPTY,
    MSG_NO_RECORDS,
    MSG_PASSWORD,
    FileRejected,
    Sheet,
    blank,
    msg_too_many,
    none_if_empty,
)
from domain.batch_files.header import find_header, header_tuple, header_width
from domain.batch_files.xls_checks import xls_has_filepass
from domain.layouts import Layout


def read_workbook(content: bytes, spec: Layout, source: str, max_records: int) -> Sheet:
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
            if end is None or (end[0] < HEADER_SEARCH_ROWS and all(blank(row) for row in head)):
                raise FileRejected(MSG_EMPTY)  # no value (or only spaces) anywhere
            position, columns = find_header([(n, r) for n, r in enumerate(head, start=1)], spec)
            header_cells = head[position]
            width = header_width(header_cells)
            rows: list[tuple[int, tuple]] = []
            append = rows.append
            half = width // 2
            line = position + 1
            for raw in chain(head[position + 1 :], iterator):
                line += 1
                cells = raw[:width]
                empties = cells.count("")
                if empties == len(cells) or (empties >= half and blank(cells)):
                    continue
                if len(cells) < width:
                    cells += [""] * (width - len(cells))
                append((line, tuple(map(none_if_empty, cells, cells))))
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
        if "password" in str(exc).lower() or (source == "xls" and xls_has_filepass(content)):
            raise FileRejected(MSG_PASSWORD) from None
        raise FileRejected(MSG_DAMAGED) from None
    if not rows:
        raise FileRejected(MSG_NO_RECORDS)
    return Sheet(spec.kind.value, source, header_tuple(header_cells, width), columns, rows)
