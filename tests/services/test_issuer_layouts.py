"""Files in the issuer's own layouts go the whole way: the 17-column emission file's extra
fields end on the cardholder, and its recharge file (header under a title row, no
DESCRIPCION) validates."""

import re

import pytest

from domain.layouts import layout
from models import Batch, OutboxMessage, Person, ServiceOrder, User
from services import authorization, batches, orders, processing
from tests import batchfiles
from tests.factories import PASSWORD, make_company, make_product, make_user

ISSUER_EMI = [n for n in layout("EMI").column_names if n != "CIUDAD DE RESIDENCIA"] + [
    "CODIGO POSTAL DIRECCION RESIDENCIA",
    "DIRECCION DE CORRESPONDENCIA",
    "CODIGO POSTAL DIRECCION CORRESPONDENCIA",
]


@pytest.fixture
def setup(app, db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**11)
    product = make_product(company, card_limit=batchfiles.CARD_LIMIT)
    make_user("operador", perms={product: "all"})
    with app.test_request_context():
        yield product, User.get(User.username == "operador")


def issuer_emission(n):
    rows = []
    for row in batchfiles.emi_rows(n):
        row.pop("CIUDAD DE RESIDENCIA")
        row["CODIGO POSTAL DIRECCION RESIDENCIA"] = "110111"
        row["DIRECCION DE CORRESPONDENCIA"] = "Carrera 7 # 71-21"
        row["CODIGO POSTAL DIRECCION CORRESPONDENCIA"] = "050001"
        rows.append(row)
    return batchfiles.xlsx_bytes("EMI", rows, header=ISSUER_EMI)


def through_processing(product, user, kind, filename, content):
    batch = batches.upload(user, product, kind, filename, content)
    batches.validate_waiting()
    batch = Batch.get_by_id(batch.id)
    assert batch.status == Batch.VALID, batch.file_errors
    batches.confirm(batch, user, PASSWORD)
    (order,) = authorization.authorize(product, [batch.id], user)
    orders.send_payment_code(order, user)
    body = OutboxMessage.select().order_by(OutboxMessage.id.desc()).first().body
    orders.pay(ServiceOrder.get_by_id(order.id), user, re.search(r"\b(\d{6})\b", body).group(1))
    assert processing.process_paid_orders() == 1
    return batch


def test_the_issuer_emission_file_stores_the_correspondence_address(setup):
    product, user = setup
    through_processing(product, user, "EMI", "emision.xlsx", issuer_emission(2))
    person = Person.get(Person.id_number == batchfiles.id_number(1))
    assert (person.postal_code, person.correspondence_address, person.correspondence_postal_code) == (
        "110111",
        "Carrera 7 # 71-21",
        "050001",
    )


def test_the_issuer_recharge_file_validates(setup):
    product, user = setup
    through_processing(product, user, "EMI", "emision.xlsx", issuer_emission(2))
    rows = [
        {"TIPO DE DOCUMENTO": "CC", "NÚMERO DE DOCUMENTO": batchfiles.id_number(i), "MONTO": "1500.00"} for i in (1, 2)
    ]
    content = batchfiles.xlsx_bytes(
        "REC", rows, header=["TIPO DE DOCUMENTO", "NÚMERO DE DOCUMENTO", "MONTO"], title="RECARGAS"
    )
    batch = through_processing(product, user, "REC", "recarga.xlsx", content)
    assert Batch.get_by_id(batch.id).deposited == 2 * 150_000
