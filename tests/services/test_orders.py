"""services/orders.py: the search criteria of Órdenes de servicio, read from the request."""

import pytest
from werkzeug.datastructures import MultiDict

from services.orders import criteria_from


def read(**args):
    return criteria_from(MultiDict(args))


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("31/02/2026", "01/03/2026", "La fecha inicial 31/02/2026 no existe en el calendario"),
        ("01/02/2026", "30/02/2026", "La fecha final 30/02/2026 no existe en el calendario"),
        ("2026-01-01", "30/01/2026", "La fecha inicial debe tener el formato DD/MM/AAAA"),
        ("01/01/2026", "ayer", "La fecha final debe tener el formato DD/MM/AAAA"),
        ("01/01/1999", "30/01/1999", "entre los años 2000 y 2099"),
    ],
)
def test_a_date_that_does_not_exist_is_not_a_format_error(app, first, last, message):
    criteria, errors = read(fecha_inicial=first, fecha_final=last)
    assert any(message in e for e in errors), errors
    assert (criteria.start, criteria.end) == (None, None)  # nothing half-applied


def test_single_digit_days_and_months_are_read(app):
    criteria, errors = read(fecha_inicial="1/2/2026", fecha_final="28/2/2026")
    assert errors == [] and (criteria.start.day, criteria.start.month, criteria.end.day) == (1, 2, 28)
