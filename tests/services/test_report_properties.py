"""Property tests of the reports' criteria (issue 15: the parsers the later issues added): any
query string a user can write gives each report either its result or Spanish errors, never an
exception, and a result's rows always fit its columns. Deterministic (derandomize)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import reports
from tests.factories import make_company, make_product

EXAMPLES = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
NAMES = ("tipo", "periodo", "fecha_inicial", "fecha_final", "vista", "anio", "mes", "fecha", "clase", "usuario", "q")
# What people type: dates and months in and out of shape, numbers, words, and any text at all.
VALUES = st.one_of(
    st.from_regex(r"\A[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,5}\Z"),
    st.from_regex(r"\A[0-9]{1,2}/[0-9]{2,5}\Z"),
    st.sampled_from(["trimestre", "semestre", "rango", "cargo", "abono", "consolidado", "nominadas", "reposiciones", "2026", "0", "-1"]),
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=60),
)  # fmt: skip


@pytest.fixture
def product(app, db):
    return make_product(make_company("PROPIEDADES SAS"))


@pytest.mark.parametrize("slug", [r.slug for r in reports.catalog()])
@EXAMPLES
@given(params=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=6))
def test_any_criteria_give_a_result_or_spanish_errors(app, product, slug, params):
    params = {k: v[:60] for k, v in params.items()}
    with app.test_request_context():
        table = reports.get(slug).build(product, params)
        if table.errors:
            assert all(isinstance(e, str) and e[:1].isupper() for e in table.errors)
            return
        rows = list(table.all_rows())
        assert all(len(row) == len(table.columns) for row in rows)
        totals, _chart = table.summary()
        assert all(isinstance(label, str) and isinstance(text, str) for label, text in totals)
