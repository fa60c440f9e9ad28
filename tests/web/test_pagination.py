"""blueprints/pagination.py: the keyset pager of the tables that grow (batch records, rejected
lines), walked through its links as a user would, with and without a search; and `paginate`'s
page with its total in one query."""

import html
import re

import orjson
import pytest

from models import Batch, BatchRecord
from tests.conftest import login
from tests.factories import make_company, make_product, make_user
from tests.web.test_query_counts import make_batches

RECORDS = 35


@pytest.fixture
def world(db):
    company = make_company("EMPRESA PAGINADA", nit="900555555")
    product = make_product(company)
    make_user("ana", perms={product: "all"})
    (batch,) = make_batches(product, 1, Batch.TO_AUTHORIZE)
    BatchRecord.insert_many(
        [
            {
                "batch": batch,
                "line": line,
                "id_type": "CC",
                "id_number": f"{7 if line % 2 else 8}{line:07d}",
                "amount": 1_000,
                "data": orjson.dumps({"first_name": "ANA", "first_surname": f"PEREZ{line}"}).decode(),
            }
            for line in range(2, RECORDS + 2)
        ]  # fmt: skip
    ).execute()
    return {"product": product, "batch": batch}


def records_url(world, query=""):
    return f"/productos/{world['product'].id}/autorizacion/lotes/{world['batch'].id}{query}"


def shown(page_html) -> list[int]:
    """The lines listed: the record's document ends with its line number."""
    return [int(n[-7:]) for n in re.findall(r"<td>CC (\d+)</td>", page_html)]


def links(page_html) -> dict[str, str]:
    """The pager's links by their text (Primera, 2, 3, Última…)."""
    nav = page_html[page_html.index('aria-label="Paginación"') :]
    nav = nav[: nav.index("</nav>")]
    return {text: html.unescape(href) for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}


def summary(page_html) -> str:
    return re.search(r'<p class="summary">([^<]+)</p>', page_html).group(1)


def test_following_the_next_pages_lists_every_record_once_in_order(client, world, assert_query_count):
    login(client, "ana")
    page = client.get(records_url(world)).get_data(as_text=True)
    seen, summaries = shown(page), [summary(page)]
    while "3" in links(page) or "2" in links(page):
        current = int(re.search(r'<span aria-current="page">(\d+)</span>', page).group(1))
        target = links(page).get(str(current + 1))
        if target is None:
            break
        if current + 1 < 4:  # Última reads the last page backwards; the others seek past a key
            assert "despues=" in target, target
        with assert_query_count(20) as statements:
            page = client.get(target).get_data(as_text=True)
        listing = [s for s in statements if 'FROM "batch_record"' in s and "COUNT" not in s]
        assert all("OFFSET" not in s for s in listing), listing  # no row is counted past to reach a page
        seen += shown(page)
        summaries.append(summary(page))
    assert seen == list(range(2, RECORDS + 2))
    assert summaries == [
        f"Mostrando registro(s) del {a} al {b} de un total de {RECORDS} registro(s)"
        for a, b in ((1, 10), (11, 20), (21, 30), (31, 35))
    ]


def test_the_last_page_then_back(client, world):
    login(client, "ana")
    first = client.get(records_url(world)).get_data(as_text=True)
    assert "ultima=1" in links(first)["Última"]
    last = client.get(links(first)["Última"]).get_data(as_text=True)
    assert shown(last) == list(range(32, 37)) and "del 31 al 35 de un total de 35" in summary(last)
    assert "antes=32" in links(last)["3"]
    third = client.get(links(last)["3"]).get_data(as_text=True)
    assert shown(third) == list(range(22, 32)) and "del 21 al 30" in summary(third)
    second = client.get(links(third)["2"]).get_data(as_text=True)
    assert shown(second) == list(range(12, 22))
    again = client.get(links(second)["Primera"]).get_data(as_text=True)
    assert shown(again) == list(range(2, 12)) and "del 1 al 10" in summary(again)


def test_two_pages_ahead_is_a_short_skip_from_the_cursor(client, world):
    login(client, "ana")
    first = client.get(records_url(world)).get_data(as_text=True)
    target = links(first)["3"]
    assert "despues=11" in target and "saltar=10" in target
    assert shown(client.get(target).get_data(as_text=True)) == list(range(22, 32))


def test_the_search_is_kept_in_every_link(client, world):
    login(client, "ana")
    page = client.get(records_url(world, "?q=7")).get_data(as_text=True)
    odd = [line for line in range(2, RECORDS + 2) if line % 2]
    assert shown(page) == odd[:10] and f"de un total de {len(odd)} registro(s)" in summary(page)
    assert all("q=7" in href for href in links(page).values())
    second = client.get(links(page)["2"]).get_data(as_text=True)
    assert shown(second) == odd[10:]


@pytest.mark.parametrize(
    "query",
    ["?despues=abc", "?antes=-1", "?despues=1.2", "?saltar=99999999&despues=3", "?despues=99999999999999999999",
     "?ultima=1&pagina=999", "?antes=2&pagina=2", "?pagina=3"],
)  # fmt: skip
def test_a_forged_cursor_still_answers_a_page(client, world, query):
    login(client, "ana")
    response = client.get(records_url(world, query))
    assert response.status_code == 200
    lines = shown(response.get_data(as_text=True))
    assert 1 <= len(lines) <= 10 and lines == sorted(lines)


def test_a_bookmarked_page_number_still_answers(client, world):
    login(client, "ana")
    page = client.get(records_url(world, "?pagina=2")).get_data(as_text=True)
    assert shown(page) == list(range(12, 22)) and "del 11 al 20" in summary(page)


def test_keyset_links_are_plain_urls_for_htmx_and_without_javascript(app, world):
    """The pager's URLs are the same for an htmx table (hx-get) and a plain link: GET, search kept."""
    from flask import g

    from blueprints.pagination import keyset, page_url

    query = BatchRecord.select().where(BatchRecord.batch == world["batch"].id)
    with app.test_request_context("/x?q=1&pagina=2&despues=11&otro=no"):
        page = keyset(query, (BatchRecord.line,), endpoint="authorization.records")
        assert [r.line for r in page.items] == list(range(12, 22))
        params = {"product_id": world["product"].id, "batch_id": world["batch"].id}
        assert page_url("authorization.records", 3, params).endswith("?q=1&despues=21&pagina=3")
        assert page_url("authorization.records", 1, params).endswith("?q=1")
        assert "otro" not in page_url("authorization.records", 4, params)
        g.keyset_pages.clear()  # a table read by page number keeps its numbered links
        assert page_url("authorization.records", 3, params).endswith("?q=1&pagina=3")


def test_paginate_reads_the_page_then_counts(app, world, assert_query_count):
    from blueprints.pagination import paginate

    query = BatchRecord.select().where(BatchRecord.batch == world["batch"].id).order_by(BatchRecord.line)
    with app.test_request_context("/x?pagina=4"), assert_query_count(2) as statements:
        page = paginate(query)
    assert [r.line for r in page.items] == list(range(32, 37)) and page.total == RECORDS and page.number == 4
    assert "OVER" not in " ".join(statements).upper()  # no window over every matching row
    few = query.where(BatchRecord.line <= 3)
    with app.test_request_context("/x"), assert_query_count(1):  # a first page not full: its rows are all
        page = paginate(few)
    assert page.total == len(page.items) == few.count() < 10 and page.pages == 1
    with app.test_request_context("/x?pagina=99"), assert_query_count(3):  # past the end: COUNT, last page
        page = paginate(query)
    assert page.number == 4 and page.total == RECORDS and len(page.items) == 5
