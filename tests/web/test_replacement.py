"""Reposición's dialog (blueprints/replacement.py): the choice with its branches and cost, the
password, the result; permissions and other companies' or products' cards."""

import pytest

from domain.card_states import CardState
from models import Batch, Card
from services import replacement
from tests.conftest import post
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards
from tests.services.test_replacement import BALANCE, balance, block, credit, first_stock_card, make_stock, reload

HX = {"HX-Request": "true"}


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit="900291499", branches=("1", "73"), balance=10**12)
    named = make_product(company, "Clásica / Visa", replacement_fee=1_200_000)
    unnamed = make_product(company, "Clásica In / Visa", named=False)
    boss = make_user("jefe", perms={named: "all", unnamed: "all"})
    make_user("mira", perms={named: "cards.view,master.balance"})
    issue_cards(named, 1)
    make_stock(unnamed, boss, 2, "73")
    card = Card.get(Card.product == named)
    credit(card, BALANCE)
    block(card, CardState.BLOCKED_THEFT)
    return {"named": named, "unnamed": unnamed, "card": reload(card)}


def url(world, card=None, product=None):
    product, card = product or world["named"], card or world["card"]
    return f"/productos/{product.id}/tarjetas/{card.id}/reposicion"


def test_the_dialog_offers_the_branches_with_stock_and_the_new_card_with_its_cost(client, auth, world):
    auth.login("jefe")
    html = client.get(url(world), headers=HX).get_data(as_text=True)
    assert f"Reposición de la tarjeta {world['card'].masked_pan}" in html
    assert "Bloqueada por robo" in html and "$ 150.000,00" in html
    assert "Tarjeta de existencias" in html and "73 · Sucursal 73 (2 disponibles)" in html
    assert 'value="1"' not in html  # branch 1 has no stock: not offered
    cost = replacement.replacement_cost(world["named"])
    assert "Tarjeta nueva nominada (lote de reposición)" in html and f"{cost // 100:,}".replace(",", ".") in html
    assert 'name="password"' in html and "Reponer" in html
    page = client.get(url(world))  # without JavaScript: the same dialog inside a page
    assert page.status_code == 200 and "Consulta de tarjetas" in page.get_data(as_text=True)
    assert "Tarjeta de existencias" in page.get_data(as_text=True)


def test_replacing_from_stock_says_which_card_replaced_it(client, auth, world):
    auth.login("jefe")
    stock = first_stock_card(world["unnamed"])
    response = post(client, url(world), {"destino": "existencias", "sucursal": "73", "password": PASSWORD}, headers=HX)
    html = response.get_data(as_text=True)
    old = world["card"]
    assert f"La tarjeta •••• {old.masked_pan[-4:]} ha sido reemplazada por •••• {stock.masked_pan[-4:]}" in html
    assert reload(old).status == CardState.REPLACED and balance(stock) == BALANCE
    # A double submit answers the same replacement.
    again = post(client, url(world), {"destino": "existencias", "sucursal": "73", "password": PASSWORD}, headers=HX)
    assert "ha sido reemplazada por" in again.get_data(as_text=True) and balance(stock) == BALANCE
    # Afterwards the dialog says so.
    assert "ya fue reemplazada por" in client.get(url(world), headers=HX).get_data(as_text=True)


def test_without_javascript_the_result_is_flashed_on_the_card_list(client, auth, world):
    auth.login("jefe")
    response = post(client, url(world), {"destino": "existencias", "sucursal": "73", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/productos/{world['named'].id}/tarjetas"
    )


def test_a_new_named_card_creates_the_rep_batch(client, auth, world):
    auth.login("jefe")
    html = post(client, url(world), {"destino": "nueva", "password": PASSWORD}, headers=HX).get_data(as_text=True)
    batch = Batch.get(Batch.kind == "REP")
    assert f"Lote {batch.number} de reposición creado" in html and "Ir a Autorización" in html
    assert reload(world["card"]).status == CardState.BLOCKED_THEFT  # until the batch is processed


def test_a_wrong_password_comes_back_in_the_dialog_and_moves_nothing(client, auth, world):
    auth.login("jefe")
    data = {"destino": "existencias", "sucursal": "73", "password": "Mala*123"}
    response = post(client, url(world), data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "La contraseña es incorrecta" in html and 'name="password"' in html
    assert reload(world["card"]).status == CardState.BLOCKED_THEFT and balance(world["card"]) == BALANCE


def test_a_branch_without_stock_is_refused_in_the_dialog(client, auth, world):
    auth.login("jefe")
    data = {"destino": "existencias", "sucursal": "1", "password": PASSWORD}
    html = post(client, url(world), data, headers=HX).get_data(as_text=True)
    assert "no tiene tarjetas innominadas disponibles" in html and reload(world["card"]).replaced_by_id is None


def test_a_card_not_blocked_for_loss_or_theft_gets_the_refusal(client, auth, world):
    block(world["card"], CardState.TEMPORARY_BLOCK)
    auth.login("jefe")
    for response in (
        client.get(url(world), headers=HX),
        post(client, url(world), {"destino": "nueva", "password": PASSWORD}, headers=HX),
    ):
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and "bloqueadas por extravío o por robo" in html
        assert 'name="password"' not in html
    assert Batch.select().where(Batch.kind == "REP").count() == 0


def test_it_needs_cards_manage(client, auth, world):
    auth.login("mira")
    assert client.get(url(world)).status_code == 403
    assert post(client, url(world), {"destino": "nueva", "password": PASSWORD}).status_code == 403


def test_another_products_or_companys_card_is_not_found(client, auth, world):
    auth.login("jefe")
    stock = first_stock_card(world["unnamed"])
    assert client.get(url(world, card=stock)).status_code == 404  # a card of another product
    other = make_company("OTRA", nit="900000077")
    theirs = make_product(other, "Clásica / Visa")
    issue_cards(theirs, 1, start=50)
    foreign = Card.get(Card.product == theirs)
    assert client.get(url(world, card=foreign)).status_code == 404
    assert client.get(url(world, card=foreign, product=theirs)).status_code == 404
