"""Consultas > Consulta de tarjetas through the views: the list, its search, the card's page and
its actions, with their permissions."""

import pytest

from models import Card
from tests import batchfiles
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards

HX = {"HX-Request": "true"}


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES)
    product = make_product(company)
    make_user("gestor", perms={product: "cards.view,cards.manage"})
    make_user("consulta", perms={product: "cards.view"})
    make_user("ordenes", perms={product: "order.view"})
    issue_cards(product, 12)
    return {"product": product, "cards": list(Card.select().where(Card.product == product).order_by(Card.id))}


def base(world):
    return f"/productos/{world['product'].id}/tarjetas"


def text(response):
    return response.get_data(as_text=True)


def test_the_list_shows_every_column_newest_first_10_per_page(client, world):
    login(client, "consulta")
    html = text(client.get(base(world)))
    for column in ("Número de tarjeta", "Tarjetahabiente", "Documento", "Correo", "Número móvil", "Nro. de orden",
                   "Nro. de lote", "Estado", "Estado del plástico", "Saldo", "Opciones"):  # fmt: skip
        assert f">{column}</th>" in html, column
    newest, oldest = world["cards"][-1], world["cards"][0]
    assert newest.masked_pan in html and oldest.masked_pan not in html  # 12 cards: the oldest are on page 2
    assert "En elaboración" in html and "Activa" in html
    assert "de un total de 12 registro(s)" in html
    assert ">Bloqueo temporal</button>" not in html  # consulta may not manage cards


def test_the_search_and_its_errors(client, world):
    login(client, "consulta")
    card = world["cards"][3]
    found = text(client.get(base(world), query_string={"tarjeta": card.masked_pan[-4:]}, headers=HX))
    assert card.masked_pan in found and "<html" not in found
    assert "Escribe los últimos 4 dígitos" in text(client.get(base(world), query_string={"tarjeta": "99"}, headers=HX))


def test_the_screen_needs_cards_view(client, world):
    login(client, "ordenes")
    assert client.get(base(world)).status_code == 403


def test_the_actions_need_cards_manage(client, world):
    card = world["cards"][0]
    login(client, "consulta")
    assert client.get(f"{base(world)}/{card.id}").status_code == 200
    assert client.get(f"{base(world)}/{card.id}/temporal").status_code == 403
    assert (
        post(client, f"{base(world)}/operacion/temporal", {"marcada": [card.id], "password": PASSWORD}).status_code
        == 403
    )


def test_block_one_card_from_its_page_and_see_it_in_the_history(client, world):
    login(client, "gestor")
    card = world["cards"][0]
    page = text(client.get(f"{base(world)}/{card.id}"))
    for button in ("Bloqueo temporal", "Bloqueo por extravío", "Bloqueo por robo", "Desbloquear", "Enviar a empresa",
                   "Actualizar datos", "Cancelar tarjeta"):  # fmt: skip
        assert f">{button}</a>" in page, button
    dialog = text(client.get(f"{base(world)}/{card.id}/extravio", headers=HX))
    assert "es permanente" in dialog and ">Contraseña</label>" in dialog
    done = text(post(client, f"{base(world)}/{card.id}/extravio", {"password": PASSWORD}, headers=HX))
    assert "Tarjeta bloqueada por extravío" in done and 'id="cards" hx-swap-oob="true"' in done
    assert Card.get_by_id(card.id).status == "BLOQUEADA_EXTRAVIO"
    assert "Cambio de estado" in text(client.get(f"{base(world)}/{card.id}"))


def test_the_marked_rows_one_password_one_result_each(client, world):
    login(client, "gestor")
    a, b = world["cards"][-1], world["cards"][-2]
    summary = text(post(client, f"{base(world)}/operacion/enviar", {"marcada": [a.id, b.id]}, headers=HX))
    assert "2 tarjeta(s) marcada(s)" in summary and summary.count('name="marcada"') == 2
    done = text(
        post(client, f"{base(world)}/operacion/enviar", {"marcada": [a.id, b.id], "password": PASSWORD}, headers=HX)
    )
    assert "2 de 2 tarjetas" in done and "Plástico enviado a la empresa" in done
    assert {Card.get_by_id(c.id).plastic_status for c in (a, b)} == {"ENVIADA_EMPRESA"}


def test_cancel_warns_it_cannot_be_reversed(client, world):
    login(client, "gestor")
    card = world["cards"][0]
    assert "Esta operación no puede ser reversada." in text(client.get(f"{base(world)}/{card.id}/cancelar", headers=HX))
    done = text(post(client, f"{base(world)}/{card.id}/cancelar", {"password": PASSWORD}, headers=HX))
    assert "Tarjeta cancelada" in done and Card.get_by_id(card.id).status == "CANCELADA"


def test_update_the_holders_email_and_mobile(client, world):
    login(client, "gestor")
    card = world["cards"][0]
    url = f"{base(world)}/{card.id}/datos"
    wrong = text(post(client, url, {"correo": "x", "movil": "3001234567", "password": PASSWORD}, headers=HX))
    assert "CORREO ELECTRONICO es inválido" in wrong
    done = text(
        post(client, url, {"correo": "nuevo@example.com", "movil": "3112223344", "password": PASSWORD}, headers=HX)
    )
    assert "Datos del tarjetahabiente actualizados" in done
    assert (Card.get_by_id(card.id).person.email, Card.get_by_id(card.id).person.mobile) == (
        "nuevo@example.com",
        "3112223344",
    )


def test_exportar_excel_gives_every_card_of_the_search_not_only_the_page(client, world, monkeypatch):
    import io

    import openpyxl

    import blueprints.exports

    seen = []
    monkeypatch.setattr(
        blueprints.exports, "record_view", lambda user, company, obj, detail: seen.append((obj, detail))
    )
    login(client, "consulta")
    assert ">Exportar Excel</button>" in text(client.get(base(world)))
    response = post(client, f"/productos/{world['product'].id}/exportaciones/tarjetas", {})
    assert response.status_code == 200, response.status_code
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = [r for r in sheet.iter_rows(values_only=True) if r and r[0] and str(r[0]).startswith("450714")]
    assert len(rows) == 12  # the page shows 10
    assert rows[0][0] == world["cards"][-1].masked_pan  # newest first, as the list
    assert seen == [("exportacion:tarjetas", "sin criterios")]  # cardholders' data: who exported it is audited
    header = next(r for r in sheet.iter_rows(values_only=True) if r and r[0] == "Número de tarjeta")
    assert header[-1] == "Saldo" and "Estado del plástico" in header

    one = post(
        client, f"/productos/{world['product'].id}/exportaciones/tarjetas", {"documento": batchfiles.id_number(5)}
    )
    sheet = openpyxl.load_workbook(io.BytesIO(one.data)).active
    assert [r[0] for r in sheet.iter_rows(values_only=True) if r and r[0] and str(r[0]).startswith("450714")] == [
        world["cards"][4].masked_pan
    ]
