"""The delimited text reader (.csv / .txt): `;`, `,` or tab, the header among the first lines,
then every line (or quoted record) that is not empty, cut or padded to the header's width.

Built for hostile text too: a candidate header line with more separators than a header can
have is skipped after one count, and lines that hold only separators and spaces are skipped
by the regex engine (text.content_lines), so 9 million of them after a header cost a fraction
of a second; the body is never split into a list of lines."""

from __future__ import annotations

import csv

from domain.batch_files.common import (
    HEADER_SEARCH_ROWS,
    MAX_EXTRA_ROWS,
    MSG_NO_RECORDS,
    FileRejected,
    Sheet,
    blank,
    msg_too_many,
    none_if_empty,
    thousands,
)
from domain.batch_files.header import MAX_HEADER_FIELDS, find_header, header_tuple, header_width
from domain.batch_files.text import SPACES, content_line_pattern, first_lines, line_offset
from domain.layouts import Layout

DELIMITERS = (";", ",", "\t")
# The csv module refuses a quoted field longer than this (its field_size_limit, process-wide:
# left alone). No column takes anything near it.
CSV_FIELD_LIMIT = csv.field_size_limit()


def msg_field_too_long(line: int) -> str:
    return f"La línea {line} tiene un campo de más de {thousands(CSV_FIELD_LIMIT)} caracteres"


def msg_too_many_blank(limit: int) -> str:
    return (
        f"El archivo tiene más de {thousands(limit)} filas sin datos en las columnas del encabezado; "
        "borra las filas sobrantes"
    )


def read_delimited(text: str, spec: Layout, max_records: int) -> Sheet:
    """The rows of a delimited text (newlines already "\\n" only)."""
    head = first_lines(text, HEADER_SEARCH_ROWS)
    candidates = []
    for number, line in enumerate(head, start=1):
        for delimiter in DELIMITERS:
            if delimiter in line:
                written = _header_part(line, delimiter)
                if written is not None:
                    candidates.append((number, _split_one(written, delimiter), delimiter))
    position, columns = find_header([(n, cells) for n, cells, _d in candidates], spec)
    header_line, header_cells, delimiter = candidates[position]
    width = header_width(header_cells)
    start = line_offset(head, header_line)
    rows: list[tuple[int, tuple]] = []
    append = rows.append
    # Blank rows the regex engine cannot skip (quoted empty fields, values beyond the header's
    # columns) cost a Python step each: at most MAX_EXTRA_ROWS of them, as a sheet may have
    # no more than that many rows beyond the record limit.
    skipped = 0
    if text.find('"', start) < 0:
        # Fast path: no quoting anywhere, a plain split is exact. Lines of nothing but
        # separators and spaces are blank rows: the regex engine does not even stop on them.
        half = width // 2
        number, position = header_line + 1, start
        count = text.count
        for match in content_line_pattern(delimiter + SPACES).finditer(text, start):  # content_lines, inlined
            begin = match.start()
            number += count("\n", position, begin)
            position = begin
            cells = match.group().split(delimiter)
            if len(cells) > width:
                del cells[width:]
            elif len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            if "" in cells:
                if cells.count("") >= half and blank(cells):
                    skipped += 1
                    if skipped > MAX_EXTRA_ROWS:
                        raise FileRejected(msg_too_many_blank(MAX_EXTRA_ROWS))
                    continue
                cells = map(none_if_empty, cells, cells)
            append((number, tuple(cells)))
            if len(rows) > max_records:
                raise FileRejected(msg_too_many(max_records))
    else:
        at_record_start = [True]
        record_line = [header_line]
        reader = csv.reader(
            _record_lines(text, start, header_line + 1, delimiter, at_record_start, record_line), delimiter=delimiter
        )
        try:
            for cells in reader:
                at_record_start[0] = True
                if len(cells) > width:
                    del cells[width:]
                if not any(cells) or (("" in cells or not "".join(cells).strip()) and blank(cells)):
                    skipped += 1
                    if skipped > MAX_EXTRA_ROWS:
                        raise FileRejected(msg_too_many_blank(MAX_EXTRA_ROWS))
                    continue
                number = record_line[0]
                if len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
                if "" in cells:
                    cells = map(none_if_empty, cells, cells)
                append((number, tuple(cells)))
                if len(rows) > max_records:
                    raise FileRejected(msg_too_many(max_records))
        except csv.Error:  # a quoted field over the limit (the only error of the default dialect)
            raise FileRejected(msg_field_too_long(record_line[0])) from None
    if not rows:
        raise FileRejected(MSG_NO_RECORDS)
    return Sheet(spec.kind.value, "csv", header_tuple(header_cells, width), columns, rows)


def _record_lines(text: str, start: int, first_number: int, delimiter: str, at_record_start: list, record_line: list):
    """The lines csv.reader reads, from offset `start` (line `first_number`). Where a record
    starts (the caller sets at_record_start[0] after each one), lines of nothing but separators
    and spaces are blank rows: skipped by the regex engine, as in the fast path. Inside a
    record (a quoted field going on to the next line) every line is given, blank or not.
    record_line[0] is the number of the line the current record started on."""
    content = content_line_pattern(delimiter + SPACES)
    count, find, size = text.count, text.find, len(text)
    number, position = first_number, start  # the number of the line at `position`
    while position < size:
        if at_record_start[0]:
            match = content.search(text, position)
            if match is None:
                return
            begin = match.start()
            number += count("\n", position, begin)
            record_line[0] = number
            at_record_start[0] = False
        else:
            begin = position
        end = find("\n", begin)
        end = size if end < 0 else end + 1
        yield text[begin:end]
        number += 1
        position = end


def _header_part(text: str, delimiter: str) -> str | None:
    """The line without its trailing empty fields if it can be a header, None if it has more
    fields than a header can have. One count in C; a line with that many separators at all is
    cut after its last field that is not empty or spaces (a line of 18 MiB of ';' is then
    no field at all), and counted again."""
    if text.count(delimiter) < MAX_HEADER_FIELDS:
        return text
    end = len(text.rstrip(delimiter + " \t"))
    cut = text.find(delimiter, end)
    written = text[:cut] if cut >= 0 else text
    return written if written.count(delimiter) < MAX_HEADER_FIELDS else None


def _split_one(text: str, delimiter: str) -> list[str]:
    if '"' not in text:
        return text.split(delimiter)
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return text.split(delimiter)
