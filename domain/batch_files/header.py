"""Header detection: the header is the first row, within the first HEADER_SEARCH_ROWS, whose cells
name every required column of the layout, by its name or one of its aliases (case, accents,
dots and spacing ignored).

The work per candidate row is bounded whatever the file holds: a row with more cells than a
header can have (MAX_HEADER_FIELDS, the columns a sheet may have) is skipped without looking at
its cells, and a cell longer than a column name can be written (MAX_HEADER_CELL) is never
normalized. So ten candidate rows cost at most 10 × 50 short cells, even for a line of 18 MiB
of separators or a workbook cell of 30 MB.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from domain.batch_files.common import HEADER_SEARCH_ROWS, MAX_COLUMNS, FileRejected
from domain.layouts import Column, Layout

MAX_HEADER_FIELDS = MAX_COLUMNS  # trailing empty cells not counted
MAX_HEADER_CELL = 200  # the longest column name has 39 characters: room for spaces and dots


def msg_header_not_found(spec: Layout, best: tuple[int, list[str]] | None = None) -> str:
    text = (
        f"No se encontró la fila de encabezados del lote en las primeras {HEADER_SEARCH_ROWS} filas "
        f"(columnas obligatorias: {', '.join(spec.required_names)})"
    )
    if best:
        line, missing = best
        text += f". En la fila {line} faltan las columnas: {', '.join(missing)}"
    return text


_HEADER_PUNCTUATION = str.maketrans({".": " ", "_": " ", "*": " ", ":": " "})


def normalize_header(value) -> str:
    """A header cell as compared with the layout: case, accents, dots and spacing ignored."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFKD", value.translate(_HEADER_PUNCTUATION))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


def header_key(value) -> str:
    """normalize_header of a cell that could be a column name; "" for any other."""
    if not isinstance(value, str) or not value or len(value) > MAX_HEADER_CELL:
        return ""
    return normalize_header(value)


@cache
def _layout_keys(spec: Layout) -> tuple[tuple[Column, tuple[str, ...]], ...]:
    """Each column a file of this layout may have, with its header names normalized."""
    return tuple(
        (column, tuple(normalize_header(name) for name in column.header_names)) for column in spec.read_columns
    )


def match_header(cells, spec: Layout) -> tuple[dict[str, int] | None, list[str], int]:
    """(columns, missing required columns, number of layout columns found) for one row."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = header_key(cell)
        if key and key not in positions:
            positions[key] = index
    columns = {}
    missing = []
    for column, keys in _layout_keys(spec):
        index = next((positions[key] for key in keys if key in positions), None)
        if index is not None:
            columns[column.name] = index
        elif column.required:
            missing.append(column.name)
    return (None if missing else columns), missing, len(columns)


def find_header(candidates, spec: Layout):
    """The first of (line, cells) whose cells hold all the required columns:
    (index in candidates, columns). FileRejected if none does, naming the required columns
    missing from the row that has most of the layout's columns."""
    best = None
    for position, (line, cells) in enumerate(candidates):
        if len(cells) > MAX_HEADER_FIELDS and header_width(cells) > MAX_HEADER_FIELDS:
            continue  # wider than any header: not even looked at
        columns, missing, found = match_header(cells, spec)
        if columns is not None:
            return position, columns
        if found and (best is None or found > best[0]):
            best = (found, line, missing)
    raise FileRejected(msg_header_not_found(spec, best[1:] if best else None))


def header_width(cells) -> int:
    width = len(cells)
    while width and (cells[width - 1] is None or (isinstance(cells[width - 1], str) and not cells[width - 1].strip())):
        width -= 1
    return width


def header_tuple(cells, width: int) -> tuple[str, ...]:
    return tuple("" if v is None else v if isinstance(v, str) else str(v) for v in cells[:width])
