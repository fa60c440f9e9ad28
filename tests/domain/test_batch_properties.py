"""Property tests of every batch parser (domain/batch_files/) and of validation on what parses:
random bytes, random rows, real files built by tests/batchfiles.py then mutated (bytes flipped,
inserted, cut), and wide lines. Whatever comes in, read_batch answers a Sheet or FileRejected
with a Spanish message, and validate() on a Sheet never raises.

Deterministic (derandomize, no example database) and fast (a few seconds all together)."""

import re
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.batch_files import FileRejected, Sheet, read_batch
from domain.batch_validation import validate
from domain.layouts import layout
from tests import batchfiles as b


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: replaces conftest's clean_db so these tests need no app or database."""
    yield


def examples(n: int):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


KINDS = ("EMI", "REC", "AFI")
EXTENSIONS = (".xlsx", ".xls", ".csv", ".txt")
# Every message starts like this; none may carry Python's words or an English message.
SPANISH_START = ("El ", "La ", "No se ", "Tipo de documento ")
ENGLISH = re.compile(
    r"\b(error|exception|traceback|invalid|file|not|the|none|nonetype|object|failed|unexpected|"
    r"line|column|row|field|limit|expected|cannot|could|panic)\b",
    re.IGNORECASE,
)


def facts_for(kind):
    return b.facts(
        active_holders=b.holders(b.rec_rows(5)),
        unaffiliated_cards=b.cards(b.afi_rows(5)),
        holders=frozenset({("CC", b.id_number(3))}),
    )


def assert_spanish(message: str) -> None:
    assert isinstance(message, str) and message.strip(), repr(message)
    assert message.startswith(SPANISH_START), message
    assert not ENGLISH.search(message), message


def read_and_validate(filename: str, content: bytes, kind: str) -> Sheet | None:
    """The property itself: a Sheet that validates without raising, or a Spanish refusal."""
    try:
        sheet = read_batch(filename, content, kind)
    except FileRejected as exc:
        assert_spanish(exc.message)
        assert str(exc) == exc.message
        return None
    assert isinstance(sheet, Sheet) and sheet.kind == kind
    assert all(len(values) == len(sheet.header) for _line, values in sheet.rows)
    file_errors, outcomes = validate(sheet, facts_for(kind))
    for _line, message in file_errors:
        assert_spanish(message)
    for outcome in outcomes:
        assert (outcome.record is None) == bool(outcome.errors)
        for message in outcome.errors:
            assert_spanish(message)
    return sheet


# ---------------------------------------------------------------- random bytes


@examples(150)
@given(content=st.binary(max_size=3000), extension=st.sampled_from(EXTENSIONS), kind=st.sampled_from(KINDS))
def test_random_bytes(content, extension, kind):
    read_and_validate("lote" + extension, content, kind)


@examples(80)
@given(
    magic=st.sampled_from([b"PK\x03\x04", b"PK\x05\x06", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbf", b""]),
    rest=st.binary(max_size=4000),
    extension=st.sampled_from(EXTENSIONS),
    kind=st.sampled_from(KINDS),
)
def test_random_bytes_behind_a_real_magic_number(magic, rest, extension, kind):
    read_and_validate("lote" + extension, magic + rest, kind)


# ---------------------------------------------------------------- random rows in real formats

# Cell text as users (and attackers) write it: any printable text, separators, quotes,
# formula triggers, accents, numbers as text.
cell_text = st.one_of(
    st.text(max_size=25),
    st.sampled_from(["", " ", "CC", "cc", "XX", "1020304050", "3001234567", "15/03/1990", "31/02/1990", "F", "=1+1"]),
    st.sampled_from(['"', ";", ",", "\t", '""', "a;b", 'x"y', "\u00a0", "Ñandú", "150000.00", "12,50", "-1"]),
)
cell_value = st.one_of(
    cell_text,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
)


def table(kind, values):
    names = layout(kind).column_names
    return st.lists(st.lists(values, min_size=0, max_size=len(names) + 2), max_size=8)


@examples(40)
@given(data=st.data(), kind=st.sampled_from(KINDS), sep=st.sampled_from([";", ",", "\t"]))
def test_random_rows_as_csv(data, kind, sep):
    rows = data.draw(table(kind, cell_text))
    rows = [[value.replace("\x00", "") for value in row] for row in rows]
    content = b.csv_bytes(kind, rows, sep=sep)
    read_and_validate("lote.csv", content, kind)
    read_and_validate("lote.txt", content, kind)


def _xlsx_safe(value):
    # openpyxl refuses control characters in cells; a workbook cannot hold them anyway.
    if isinstance(value, str):
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value)
    if isinstance(value, float) and value != value:
        return None  # NaN: not a cell value Excel writes
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None
    return value


@examples(25)
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_random_rows_as_xlsx(data, kind):
    rows = [[_xlsx_safe(v) for v in row] for row in data.draw(table(kind, cell_value))]
    read_and_validate("lote.xlsx", b.xlsx_bytes(kind, rows), kind)


@examples(25)
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_random_rows_as_xls(data, kind):
    rows = data.draw(table(kind, cell_value))
    rows = [[v[:200] if isinstance(v, str) else v for v in (_xlsx_safe(v) for v in row)] for row in rows]
    read_and_validate("lote.xls", b.xls_bytes(kind, rows), kind)


@examples(60)
@given(
    details=st.lists(
        st.tuples(st.from_regex(r"[0-9]{1,15}", fullmatch=True), st.integers(min_value=0, max_value=10**15)),
        max_size=6,
    ),
    noise=st.lists(st.text(alphabet="0123456789 ;x\r\n\u00a0", max_size=60), max_size=4),
)
def test_random_fixed_width_files(details, noise):
    content = b.fixed_txt_bytes(details)
    read_and_validate("recarga.txt", content, "REC")
    read_and_validate("recarga.txt", content + "\r\n".join(noise).encode(), "REC")


# ---------------------------------------------------------------- real files, mutated


def _real_files():
    files = []
    for kind, rows in (("EMI", b.emi_rows(3, bad_every=2)), ("REC", b.rec_rows(3)), ("AFI", b.afi_rows(2))):
        files.append((kind, ".xlsx", b.xlsx_bytes(kind, rows)))
        files.append((kind, ".xls", b.xls_bytes(kind, rows)))
        files.append((kind, ".csv", b.csv_bytes(kind, rows)))
    files.append(("REC", ".txt", b.fixed_txt_bytes([("1020304050", 15_000_000), ("52123456", 100)])))
    files.append(("REC", ".txt", b.csv_bytes("REC", b.rec_rows(2), sep="\t")))
    return files


REAL_FILES = _real_files()


@st.composite
def mutated(draw):
    kind, extension, content = draw(st.sampled_from(REAL_FILES))
    data = bytearray(content)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        if not data:
            break
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=64))]
        elif operation == "truncate":
            del data[at:]
        else:
            size = draw(st.integers(min_value=1, max_value=256))
            data[at:at] = data[at : at + size]
    return kind, extension, bytes(data)


@examples(250)
@given(case=mutated())
def test_mutated_real_files(case):
    kind, extension, content = case
    read_and_validate("lote" + extension, content, kind)


@examples(30)
@given(case=mutated(), other=st.sampled_from(EXTENSIONS))
def test_mutated_real_files_under_another_extension(case, other):
    kind, _extension, content = case
    read_and_validate("lote" + other, content, kind)


def test_the_real_files_parse_before_mutation():
    # The mutations start from good files: each of them reads and validates as built.
    for kind, extension, content in REAL_FILES:
        sheet = read_and_validate("lote" + extension, content, kind)
        assert sheet is not None and sheet.rows


# ---------------------------------------------------------------- wide lines


@examples(40)
@given(
    fields=st.integers(min_value=0, max_value=20_000),
    sep=st.sampled_from([";", ",", "\t"]),
    filler=st.sampled_from(["", " ", "x", "TIPO ID", '"', "\u00a0"]),
    header_first=st.booleans(),
    kind=st.sampled_from(KINDS),
)
def test_wide_lines(fields, sep, filler, header_first, kind):
    wide = sep.join([filler] * fields)
    header = sep.join(layout(kind).column_names)
    lines = [header, wide, wide] if header_first else [wide, header, wide]
    sheet = read_and_validate("lote.csv", "\r\n".join(lines).encode(), kind)
    if sheet is not None:
        assert sheet.header[: len(layout(kind).column_names)] == layout(kind).column_names
