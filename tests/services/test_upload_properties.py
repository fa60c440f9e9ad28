"""Property tests of the upload (services.batches.upload) with random and mutated files: either the
batch is stored with its BatchFile (the file as received), or a `services.Refused` with a Spanish
message is raised and no Batch or BatchFile row is left behind. What is stored then validates to
a final status.

Deterministic (derandomize, no example database). The database fixtures are per test, not per
example, so each example compares row counts before and after."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Batch, BatchFile
from services import Refused, batches
from tests import batchfiles as b
from tests.factories import make_company, make_product, make_user

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
SPANISH_START = ("El ", "La ", "No se ", "Selecciona ", "Tipo de documento ")
ENGLISH = re.compile(
    r"\b(error|exception|traceback|invalid|file|not|the|none|object|failed|unexpected|line|field|limit|panic)\b",
    re.IGNORECASE,
)
KINDS = ("EMI", "REC", "AFI")
EXTENSIONS = (".xlsx", ".xls", ".csv", ".txt")
FINAL = (Batch.VALID, Batch.PARTIAL, Batch.INVALID)


@pytest.fixture
def setup(app, db):
    """The user and a product for each kind: EMI and REC go to a named product, AFI to an unnamed one."""
    company = make_company("JAHC TEST", nit=b.COMPANY_NIT, branches=b.BRANCHES)
    named = make_product(company)
    unnamed = make_product(company, name="Innominada / Visa", named=False)
    user = make_user("cargador", perms={named: "all", unnamed: "all"})
    return {"EMI": named, "REC": named, "AFI": unnamed}, user


def _real_files():
    files = []
    for kind, rows in (("EMI", b.emi_rows(3, bad_every=2)), ("REC", b.rec_rows(2)), ("AFI", b.afi_rows(2))):
        files.append((kind, ".xlsx", b.xlsx_bytes(kind, rows)))
        files.append((kind, ".xls", b.xls_bytes(kind, rows)))
        files.append((kind, ".csv", b.csv_bytes(kind, rows)))
    files.append(("REC", ".txt", b.fixed_txt_bytes([("1020304050", 15_000_000)])))
    return files


REAL_FILES = _real_files()


@st.composite
def uploads(draw):
    """(kind, filename, content): random bytes, or a real file with a few bytes changed."""
    if draw(st.booleans()):
        kind = draw(st.sampled_from(KINDS))
        return kind, "lote" + draw(st.sampled_from(EXTENSIONS)), draw(st.binary(max_size=2000))
    kind, extension, content = draw(st.sampled_from(REAL_FILES))
    data = bytearray(content)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        operation = draw(st.sampled_from(["flip", "insert", "truncate"]))
        if operation == "flip" and data:
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at + 1 :]
    return kind, "lote" + extension, bytes(data)


def assert_spanish(message: str) -> None:
    assert isinstance(message, str) and message.strip(), repr(message)
    assert message.startswith(SPANISH_START), message
    assert not ENGLISH.search(message), message


def test_upload_stores_a_batch_with_its_file_or_refuses_in_spanish_leaving_nothing(app, setup):
    products, user = setup
    stored = []

    @EXAMPLES
    @given(case=uploads())
    def upload_one(case):
        kind, filename, content = case
        product = products[kind]
        batches_before, files_before = Batch.select().count(), BatchFile.select().count()
        try:
            with app.test_request_context():
                batch = batches.upload(user, product, kind, filename, content)
        except Refused as exc:
            assert_spanish(exc.message)
            assert (Batch.select().count(), BatchFile.select().count()) == (batches_before, files_before)
            return
        assert Batch.select().count() == batches_before + 1
        assert BatchFile.select().count() == files_before + 1
        row = Batch.get_by_id(batch.id)
        assert (row.status, row.kind, row.product_id) == (Batch.VALIDATING, kind, product.id)
        assert bytes(BatchFile.get(BatchFile.batch == batch).content) == content
        stored.append(batch.id)

    upload_one()
    assert stored, "some uploads must be accepted (the unmutated real files)"
    # What was accepted validates to a final status, each error in Spanish.
    with app.app_context():
        while batches.validate_waiting():
            pass
    for batch in Batch.select().where(Batch.id.in_(stored)):
        assert batch.status in FINAL, batch.status


def test_every_real_file_is_accepted(app, setup):
    # The mutations start from files the upload takes as they are.
    products, user = setup
    for kind, extension, content in REAL_FILES:
        with app.test_request_context():
            batch = batches.upload(user, products[kind], kind, "lote" + extension, content)
        assert BatchFile.get(BatchFile.batch == batch).content
