"""Servicios > Cuenta maestra through the views: the page, Recarga cuenta maestra with the code,
the operations on one card and on many, their permissions and their results."""

import re

import pytest

import ledger
from models import Card, MasterOperation, User
from services import master
from tests import batchfiles
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards
from tests.web.test_orders import last_code

HX = {"HX-Request": "true"}


@pytest.fixture
def world(db, app):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**12)
    product = make_product(company, transfer_fee=5_500, inquiry_fee=6_000)
    make_user("tesorero", perms={product: "all"})
    make_user("consulta", perms={product: "master.balance"})
    make_user("ordenes", perms={product: "order.view"})
    issue_cards(product, 3)
    cards = list(Card.select().where(Card.product == product).order_by(Card.id))
    with app.app_context():
        user = make_user("fondeo", perms={product: "master.fund"})
        master.fund_without_code(user, product, 100_000_000, "Fondeo de prueba")
    return {"product": product, "cards": cards}


def base(world):
    return f"/productos/{world['product'].id}/cuenta-maestra"


def text(response):
    return response.get_data(as_text=True)


def key_of(html):
    return re.search(r'name="clave" value="([0-9a-f]+)"', html).group(1)


def test_the_page_shows_the_header_the_criteria_and_the_cards(client, world):
    login(client, "tesorero")
    html = text(client.get(base(world)))
    for label in ("Saldo cuenta maestra", "Comisión por transacción", "Comisión por consultar saldo"):
        assert f"<dt>{label}</dt>" in html
    assert "$ 1.000.000,00" in html and "$ 55,00" in html and "$ 60,00" in html
    assert ">Recarga cuenta maestra</a>" in html
    for label in ("Documento de identidad", "Número de tarjeta", "Nro. de orden de servicio", "Nro. de lote"):
        assert f">{label}</label>" in html
    for card in world["cards"]:
        assert card.masked_pan in html
    assert html.count('<span id="saldo-') == 3 and ">--</span>" in html  # not asked yet
    assert ">Consultar saldo</button>" in html and ">Abonar</button>" in html and ">Cargar</button>" in html


def test_the_search_by_document_last_digits_and_errors(client, world):
    login(client, "tesorero")
    card = world["cards"][1]
    by_digits = text(client.get(base(world), query_string={"tarjeta": card.masked_pan[-4:]}, headers=HX))
    assert card.masked_pan in by_digits and world["cards"][0].masked_pan not in by_digits
    by_document = text(client.get(base(world), query_string={"documento": batchfiles.id_number(3)}, headers=HX))
    assert world["cards"][2].masked_pan in by_document and card.masked_pan not in by_document
    wrong = text(client.get(base(world), query_string={"tarjeta": "12x"}, headers=HX))
    assert "Escribe los últimos 4 dígitos de la tarjeta o sus 16 dígitos" in wrong


def test_a_credit_from_its_dialog_shows_the_result_and_the_new_balances(client, world):
    login(client, "tesorero")
    card = world["cards"][0]
    url = f"{base(world)}/tarjetas/{card.id}/abonar"
    dialog = text(client.get(url, headers=HX))
    assert "<dialog" in dialog and ">Monto</label>" in dialog and ">Contraseña</label>" in dialog
    key = key_of(dialog)
    response = post(client, url, {"monto": "50.000", "password": PASSWORD, "clave": key}, headers=HX)
    html = text(response)
    assert "Transacción exitosa" in html and "$ 50.000,00" in html
    assert f'<span id="saldo-{card.id}" hx-swap-oob="true">$ 50.000,00' in html
    assert "$ 949.945,00" in html  # 1.000.000 − 50.000 − 55 in the refreshed header
    again = text(post(client, url, {"monto": "50.000", "password": PASSWORD, "clave": key}, headers=HX))
    assert "ya se había hecho" in again  # the same dialog sent twice moves money once
    assert ledger.balance(ledger.card_account(Card.get_by_id(card.id))) == 5_000_000


def test_a_wrong_amount_or_password_keeps_the_dialog(client, world):
    login(client, "tesorero")
    url = f"{base(world)}/tarjetas/{world['cards'][0].id}/abonar"
    assert "Escribe un monto válido" in text(post(client, url, {"monto": "abc", "password": PASSWORD}, headers=HX))
    assert "La contraseña es incorrecta" in text(post(client, url, {"monto": "10", "password": "x"}, headers=HX))
    assert not MasterOperation.select().where(MasterOperation.card.is_null(False)).exists()


def test_many_cards_first_show_the_summary_then_each_result(client, world):
    login(client, "tesorero")
    a, b, _c = world["cards"]
    Card.update(status="BLOQUEO_TEMPORAL").where(Card.id == b.id).execute()
    form = {"marcada": [a.id, b.id], f"monto-{a.id}": "10.000", f"monto-{b.id}": "20.000"}
    summary = text(post(client, f"{base(world)}/operacion/abonar", form, headers=HX))
    assert "Total a mover" in summary and "$ 30.000,00" in summary and "$ 110,00" in summary  # 2 commissions
    done = text(
        post(
            client,
            f"{base(world)}/operacion/abonar",
            {**form, "password": PASSWORD, "clave": key_of(summary)},
            headers=HX,
        )
    )
    assert "1 de 2 operaciones exitosas" in done
    assert f"•••• {a.masked_pan[-4:]} · $ 10.000,00 · Transacción exitosa" in done
    assert f"•••• {b.masked_pan[-4:]} · $ 20.000,00 · Tarjeta bloqueada" in done


def test_one_amount_for_every_marked_card(client, world):
    login(client, "tesorero")
    a, b, _c = world["cards"]
    form = {"marcada": [a.id, b.id], "monto_todas": "5000", "password": PASSWORD, "clave": master.new_key()}
    assert "2 de 2 operaciones exitosas" in text(post(client, f"{base(world)}/operacion/abonar", form, headers=HX))


def test_nothing_marked_says_so(client, world):
    login(client, "tesorero")
    assert "Selecciona al menos una tarjeta" in text(post(client, f"{base(world)}/operacion/consultar", {}, headers=HX))


def test_the_balance_inquiry_needs_only_its_permission(client, world):
    login(client, "consulta")
    card = world["cards"][0]
    html = text(client.get(base(world)))
    assert "Recarga cuenta maestra" not in html and ">Abonar</button>" not in html
    assert client.get(f"{base(world)}/tarjetas/{card.id}/abonar").status_code == 403
    assert client.get(f"{base(world)}/recarga").status_code == 403
    done = text(post(client, f"{base(world)}/tarjetas/{card.id}/consultar", {"password": PASSWORD}, headers=HX))
    assert "Transacción exitosa" in done and "Saldo $ 0,00" in done


def test_the_screen_needs_a_master_account_permission(client, world):
    login(client, "ordenes")
    assert client.get(base(world)).status_code == 403


def test_recarga_cuenta_maestra_with_the_emailed_code(client, world):
    login(client, "tesorero")
    form = text(client.get(f"{base(world)}/recarga", headers=HX))
    assert "Saldo disponible" in form and ">Monto</label>" in form and ">Descripción</label>" in form
    assert ">Transferir</button>" in form
    key = key_of(form)
    sent = text(
        post(client, f"{base(world)}/recarga", {"monto": "250.000", "descripcion": "Nómina", "clave": key}, headers=HX)
    )
    assert "Ingresa el código de verificación enviado a tu correo" in sent and "Reenviar código" in sent
    code = last_code("tesorero")
    done = text(
        post(
            client,
            f"{base(world)}/recarga/confirmar",
            {"monto": "250.000", "descripcion": "Nómina", "clave": key, "code": code},
            headers=HX,
        )
    )
    assert "La transferencia fue realizada exitosamente." in done and "$ 1.250.000,00" in done
    too_much = text(
        post(client, f"{base(world)}/recarga", {"monto": "999.999.999", "clave": master.new_key()}, headers=HX)
    )
    assert "máximo por recarga" in too_much


def test_a_blocked_card_offers_no_operation(client, world):
    login(client, "tesorero")
    card = world["cards"][0]
    Card.update(status="BLOQUEADA_EXTRAVIO").where(Card.id == card.id).execute()
    html = text(client.get(base(world)))
    row = html[html.index(f'id="tarjeta-{card.id}"') :]
    row = row[: row.index("</tr>")]
    assert "Tarjeta bloqueada" in row and "abonar" not in row and 'name="marcada"' not in row


def _foreign_card():
    """An active card of another company's product."""
    from models import Person

    other = make_product(make_company("OTRA SAS", nit="900777777"), "Clásica In / Visa", named=False)
    holder = Person.create(id_type="CC", id_number="77770001", first_name="LUIS", first_surname="PAZ")
    return Card.create(product=other, masked_pan="450714******7777", status=Card.ACTIVE, serial=7777, person=holder)


def test_another_companys_card_among_the_marked_ones_is_not_found(client, world):
    login(client, "tesorero")
    mine, theirs = world["cards"][0], _foreign_card()
    form = {"marcada": [mine.id, theirs.id], "monto_todas": "1.000", "password": PASSWORD, "clave": master.new_key()}
    assert post(client, f"{base(world)}/operacion/abonar", form, headers=HX).status_code == 404
    assert not MasterOperation.select().where(MasterOperation.card.is_null(False)).exists()


def test_the_operations_of_many_need_their_permission(client, world):
    login(client, "consulta")  # master.balance only
    card = world["cards"][0]
    form = {"marcada": [card.id], "monto_todas": "1.000", "password": PASSWORD, "clave": master.new_key()}
    for action in ("abonar", "cargar"):
        assert post(client, f"{base(world)}/operacion/{action}", form, headers=HX).status_code == 403
    assert "Transacción exitosa" in text(post(client, f"{base(world)}/operacion/consultar", form, headers=HX))
    assert (
        not MasterOperation.select()
        .where(MasterOperation.kind != MasterOperation.INQUIRY)
        .where(MasterOperation.card.is_null(False))
        .exists()
    )


def test_elsewhere_the_saldo_is_the_last_known_balance_with_its_date(client, world):
    """Consulta de tarjetas shows the ledger's balance «al DD/MM/AAAA HH:MM», not the live one."""
    card = world["cards"][0]
    make_user("gestor", perms={world["product"]: "cards.view"})
    treasurer = User.get(User.username == "tesorero")
    master.run(treasurer, world["product"], MasterOperation.CREDIT, [(card, 3_000_000)], master.new_key(), PASSWORD)
    login(client, "gestor")
    row = text(client.get(f"/productos/{world['product'].id}/tarjetas"))
    row = row[row.index(card.masked_pan) :]
    row = row[: row.index("</tr>")]
    assert "$ 30.000,00" in row and re.search(r"al \d\d/\d\d/\d{4} \d\d:\d\d", row), row
