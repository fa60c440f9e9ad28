"""Every list page runs a fixed, small number of SQL statements, whatever the number of rows.

Each page is filled twice, with a few rows (2) and with more than a page of them (12), and its
statements are counted with `assert_query_count`: the two counts must be equal (no query per
row) and under the page's bound. The bounds are today's counts; they may only go down.
"""

import itertools

import orjson
import pytest
from flask import url_for

from models import Batch, BatchError, BatchRecord, Company, Person, ServiceOrder, UserCompany
from tests.conftest import login
from tests.factories import make_company, make_product, make_user

FEW, MANY = 2, 12
_numbers = itertools.count(1)

# Statements per request, as measured (SQLite and PostgreSQL alike): the session's user, the user's
# companies (the selector and every access check), for a product page the product with its
# company's products (one query) and the user's permissions on it, then the page's own queries.
# Each row is read once per request (blueprints/helpers.py keeps it on flask.g).
BOUNDS = {
    "companies.index": 3,  # user, companies (the list is the selector's), their products
    "companies.product": 5,  # + the counters, one CASE/SUM query
    "batches.upload": 6,  # + the pending page, and its COUNT when the page is full
    "batches.upload htmx": 6,
    "batches.detail": 7,  # + batch, COUNT and the keyset page of the rejected lines
    "authorization.index": 6,  # + batches to sign/authorize, their records' amounts
    "authorization.records": 8,  # + batch, COUNT, keyset page, holders' names
    "orders.index": 6,  # + the page of orders, and its COUNT when the page is full
    "orders.detail": 6,
    "orders.batch_records": 9,  # + order, batch, COUNT, keyset page, holders' names
}


def make_world(username):
    """A company with a product, and a user holding every permission on it."""
    company = make_company(f"EMPRESA DE {username.upper()}")
    product = make_product(company)
    user = make_user(username, perms={product: "all"})
    return {"company": company, "product": product, "user": user}


def make_batches(product, count, status, order=None, kind="EMI"):
    batches = []
    for _ in range(count):
        n = next(_numbers)
        batches.append(
            Batch.create(
                company=product.company_id,
                product=product,
                number=f"2601{n:06d}",
                kind=kind,
                status=status,
                order=order,
                total_records=3,
                processed_records=3,
                valid_records=2,
                error_records=1,
                amount=5_000,
                uploaded_by=None,
                filename=f"lote{n}.xlsx",
            )  # fmt: skip
        )
    return batches


def make_records(batch, count, kind="EMI"):
    """Valid records; EMI ones carry their holder's name, REC ones find it in Person (one per record)."""
    rows = []
    for line in range(2, count + 2):
        number = f"{batch.id:04d}{line:06d}"
        data = {"id_type": "CC", "id_number": number, "amount": 1_000}
        if kind == "EMI":
            data.update(first_name="ANA", first_surname=f"PEREZ{line}", branch="1")
        else:
            Person.create(id_type="CC", id_number=number, first_name="LUIS", first_surname=f"ROJAS{line}")
        rows.append({"batch": batch, "line": line, "id_type": "CC", "id_number": number, "amount": 1_000,
                     "data": orjson.dumps(data).decode()})  # fmt: skip
    BatchRecord.insert_many(rows).execute()
    BatchError.insert_many(
        [{"batch": batch, "line": count + 2, "messages": '["Tipo de documento no válido"]'}]
    ).execute()


def make_orders(product, count):
    return [
        ServiceOrder.create(
            company=product.company_id,
            product=product,
            kind="EMI",
            status=status,
            records=3,
            os_total=10_000,
            amount=5_000,
            total_to_pay=15_000,
        )  # fmt: skip
        for status in itertools.islice(
            itertools.cycle((ServiceOrder.PENDING_PAYMENT, ServiceOrder.IN_PROCESS, ServiceOrder.PROCESSED)), count
        )
    ]


# What each page lists, and how to fill a fresh world's page with `count` rows: returns the URL arguments.
def fill_companies(world, count):
    for i in range(count - 1):  # the world's company is one of them
        company = make_company(f"EMPRESA {world['user'].username} {i:02d}")
        make_product(company)
        make_product(company, "Oro / Mastercard")
        UserCompany.create(user=world["user"], company=company)
    assert Company.select().join(UserCompany).where(UserCompany.user == world["user"]).count() == count
    return {}


def fill_product(world, count):
    product = world["product"]
    make_batches(product, count, Batch.TO_SIGN)
    make_batches(product, count, Batch.TO_AUTHORIZE)
    make_orders(product, count)
    return {"product_id": product.id}


def fill_pending(world, count):
    product = world["product"]
    for status in (Batch.VALIDATING, Batch.VALID, Batch.PARTIAL, Batch.INVALID):
        make_batches(product, -(-count // 4), status)
    return {"product_id": product.id}


def fill_authorization(world, count):
    product = world["product"]
    for batch in make_batches(product, count // 2, Batch.TO_SIGN) + make_batches(
        product, count - count // 2, Batch.TO_AUTHORIZE, kind="REC"
    ):
        make_records(batch, 3, batch.kind)
    return {"product_id": product.id}


def fill_auth_records(world, count):
    (batch,) = make_batches(world["product"], 1, Batch.TO_AUTHORIZE, kind="REC")
    make_records(batch, count, "REC")
    return {"product_id": world["product"].id, "batch_id": batch.id}


def fill_batch_errors(world, count):
    (batch,) = make_batches(world["product"], 1, Batch.PARTIAL)
    BatchError.insert_many(
        [{"batch": batch, "line": line, "messages": '["Tipo de documento no válido"]'} for line in range(2, count + 2)]
    ).execute()
    return {"product_id": world["product"].id, "batch_id": batch.id}


def fill_orders(world, count):
    make_orders(world["product"], count)
    return {"product_id": world["product"].id}


def fill_order_batches(world, count):
    (order,) = make_orders(world["product"], 1)
    for batch in make_batches(world["product"], count, Batch.IN_PROCESS, order=order):
        make_records(batch, 2)
    return {"product_id": world["product"].id, "order_id": order.id}


def fill_order_records(world, count):
    (order,) = make_orders(world["product"], 1)
    (batch,) = make_batches(world["product"], 1, Batch.IN_PROCESS, order=order, kind="REC")
    make_records(batch, count, "REC")
    return {"product_id": world["product"].id, "order_id": order.id, "batch_id": batch.id}


# The pages, named by endpoint ("htmx": the fragment an htmx request gets, e.g. the pending list
# alone when searching or paging it): (how to fill it, htmx request?).
PAGES = {
    "companies.index": (fill_companies, False),
    "companies.product": (fill_product, False),
    "batches.upload": (fill_pending, False),
    "batches.upload htmx": (fill_pending, True),
    "batches.detail": (fill_batch_errors, False),
    "authorization.index": (fill_authorization, False),
    "authorization.records": (fill_auth_records, False),
    "orders.index": (fill_orders, False),
    "orders.detail": (fill_order_batches, False),
    "orders.batch_records": (fill_order_records, False),
}


def count_queries(app, client, assert_query_count, page, arguments, htmx):
    with app.test_request_context():
        url = url_for(page.split()[0], **arguments)
    headers = {"HX-Request": "true"} if htmx else {}
    client.get(url, headers=headers)  # a first visit selects the product (session) and warms caches
    with assert_query_count(BOUNDS[page]) as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response, statements


def test_every_list_page_is_covered(app):
    """A page added to the bounds table needs its filler, and both name real endpoints."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(PAGES) == set(BOUNDS)
    assert {page.split()[0] for page in PAGES} <= endpoints


@pytest.mark.parametrize("page", sorted(PAGES))
def test_a_list_page_runs_the_same_queries_for_2_or_12_rows(app, db, assert_query_count, page):
    fill, htmx = PAGES[page]
    measured = {}
    for rows in (FEW, MANY):
        world = make_world(f"usuario{rows}")
        arguments = fill(world, rows)
        client = app.test_client()
        login(client, world["user"].username)
        measured[rows] = count_queries(app, client, assert_query_count, page, arguments, htmx)

    (few_response, few), (many_response, many) = measured[FEW], measured[MANY]
    assert len(many_response.get_data()) > len(few_response.get_data())  # the page did list more rows
    # The same queries, but the COUNT that a full first page adds (paginate: a page not full
    # holds every row already).
    counts = [sum("COUNT(" in sql for sql in statements) for statements in (few, many)]
    assert len(many) - counts[1] == len(few) - counts[0], (
        f"{page}: {len(few)} queries with {FEW} rows, {len(many)} with {MANY}"
    )
    assert counts[0] <= counts[1] <= counts[0] + 1, (page, counts)
