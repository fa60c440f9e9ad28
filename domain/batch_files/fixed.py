"""The fixed-width recharge TXT (SPEC §5.4): a control record, then one detail record per line.
Lines of the wrong length, and control and detail fields that do not match, are reported by
line in `Sheet.line_errors` (validation shows them); only an empty file is refused."""

from __future__ import annotations

import re
from datetime import date

from domain.batch_files.common import (
    FIXED_LINE_HEADER,
    MSG_CONTROL_BATCH_TYPE,
    MSG_CONTROL_DATE,
    MSG_CONTROL_INVALID,
    MSG_CONTROL_TYPE,
    MSG_DETAIL_BATCH,
    MSG_DETAIL_TYPE,
    MSG_NO_RECORDS,
    MSG_WRONG_LENGTH,
    FileRejected,
    FixedControl,
    Sheet,
    msg_too_many,
)
from domain.batch_files.delimited import DELIMITERS
from domain.batch_files.text import SPACES, content_lines
from domain.layouts import (
    CONTROL_RECORD_TYPE,
    DETAIL_RECORD_TYPE,
    REC_TXT_CONTROL,
    REC_TXT_DETAIL,
    TXT_BATCH_TYPE,
    Layout,
)


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


def looks_fixed(text: str) -> bool:
    """A fixed-width file starts (after blank lines) with the control record: a line of digits
    (mostly: a broken one is reported as such), without the separators of a delimited file."""
    line = next((line for _number, line in content_lines(text, 0, 1, SPACES)), "").strip()
    if not line:
        return False
    digits = sum(map(line.count, "0123456789"))  # ten passes in C over a line that may be 18 MiB
    return line[0] in "0123456789" and digits >= 0.8 * len(line) and not any(d in line for d in DELIMITERS)


def read_fixed(content: str, spec: Layout, max_records: int) -> Sheet:
    """The rows of a fixed-width recharge file (newlines already "\\n" only)."""
    lines = content_lines(content, 0, 1, SPACES)  # blank lines skipped
    start, first = next(lines)
    control, line_errors = _parse_control(first.rstrip(), start)
    batch_number = control.batch_number if control else None
    rows: list[tuple[int, tuple]] = []
    digits = _DIGITS.fullmatch
    for number, original in lines:
        text = original.rstrip()
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
