"""Lotes > Tarjetas innominadas through the views: Solicitud, Afiliación (stock per branch, Lotes
procesados, Detalles, the affiliation file) and «Afiliar», with their permissions."""

import io
from datetime import timedelta

import openpyxl
import pytest

from domain.clock import local_today
from models import Batch, Card
from services import innominate
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.services.test_innominate import FEES, FORM, person, through_order

HX = {"HX-Request": "true"}


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit="900291499", branches=("1", "73"), balance=10_000_000_000)
    unnamed = make_product(company, "Clásica In / Visa", named=False, **FEES)
    named = make_product(company, "Clásica / Visa", **FEES)
    boss = make_user("jefe", perms={unnamed: "all", named: "all"})
    make_user("solicita", perms={unnamed: "innominate.request"})
    make_user("afilia", perms={unnamed: "innominate.affiliate"})
    make_user("consulta", perms={unnamed: "order.view"})
    return {"product": unnamed, "named": named, "boss": boss}


def base(product):
    return f"/productos/{product.id}/innominadas"


def stock(world, n=5):
    request = innominate.request_cards(world["boss"], world["product"], {**FORM, "quantity": str(n)}, PASSWORD)
    through_order(world["product"], request, world["boss"])
    return Batch.get_by_id(request.id)


def text(response):
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- Solicitud


def test_the_request_form_has_the_manuals_fields(client, world):
    login(client, "solicita")
    html = text(client.get(f"{base(world['product'])}/solicitud"))
    for label in ("Fecha de vencimiento", "Cantidad de tarjetas", "Línea de embozo 1", "Línea de embozo 2", "Sucursal"):
        assert f">{label}</label>" in html
    assert ">Contraseña</label>" in html and ">Procesar</button>" in html
    assert innominate.expiry_of(world["product"]) in html and "readonly" in html
    assert "1 · Sucursal 1" in html and "73 · Sucursal 73" in html


def test_procesar_creates_the_batch_and_points_to_authorization(client, world):
    login(client, "jefe")
    response = post(client, f"{base(world['product'])}/solicitud", {**FORM, "password": PASSWORD}, headers=HX)
    html = text(response)
    assert response.status_code == 200 and "El lote fue procesado de forma exitosa." in html
    assert f'href="/productos/{world["product"].id}/autorizacion"' in html
    assert 'id="quantity" name="quantity" value=""' in html  # a fresh form behind the dialog
    batch = Batch.get(Batch.kind == "INN")
    assert (batch.total_records, batch.status) == (5, Batch.TO_AUTHORIZE)
    page = text(client.get(f"/productos/{world['product'].id}/autorizacion"))
    assert batch.number in page and "Emisión innominada" in page


def test_procesar_without_javascript_goes_to_authorization(client, world):
    login(client, "jefe")
    response = post(client, f"{base(world['product'])}/solicitud", {**FORM, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/autorizacion")
    assert "El lote fue procesado de forma exitosa." in text(client.get(response.headers["Location"]))


def test_a_wrong_request_comes_back_with_its_errors_and_its_values(client, world):
    login(client, "jefe")
    form = {**FORM, "quantity": "600", "line1": "Peña", "password": PASSWORD}
    response = post(client, f"{base(world['product'])}/solicitud", form, headers=HX)
    html = text(response)
    assert response.status_code == 200 and "Máximo 500" in html and "sin tildes ni ñ" in html
    assert 'value="600"' in html and 'value="Peña"' in html
    assert post(client, f"{base(world['product'])}/solicitud", form).status_code == 422
    wrong = post(client, f"{base(world['product'])}/solicitud", {**FORM, "password": "mala"}, headers=HX)
    assert "La contraseña es incorrecta" in text(wrong)
    assert Batch.select().count() == 0


def test_the_form_shows_each_line_as_it_will_be_embossed(client, world):
    login(client, "solicita")
    url = f"{base(world['product'])}/solicitud/embozo"
    assert "Se embozará: «EMPRESA COOP»" in text(client.get(url, query_string={"line1": " empresa   coop"}, headers=HX))
    assert "sin tildes ni ñ" in text(client.get(url, query_string={"line2": "Muñoz"}, headers=HX))


# ---------------------------------------------------------------- permissions and menu


@pytest.mark.parametrize(
    "username, request_status, affiliation_status",
    [("jefe", 200, 200), ("solicita", 200, 403), ("afilia", 403, 200), ("consulta", 403, 403)],
)
def test_each_screen_needs_its_permission(client, world, username, request_status, affiliation_status):
    login(client, username)
    assert client.get(f"{base(world['product'])}/solicitud").status_code == request_status
    assert client.get(f"{base(world['product'])}/afiliacion").status_code == affiliation_status


def test_a_named_product_has_no_innominate_screens_nor_their_menu_items(client, world):
    login(client, "jefe")
    assert client.get(f"{base(world['named'])}/solicitud").status_code == 404
    assert client.get(f"{base(world['named'])}/afiliacion").status_code == 404
    named_menu = text(client.get(f"/productos/{world['named'].id}/lotes"))
    assert "Tarjetas innominadas" not in named_menu
    unnamed_menu = text(client.get(f"/productos/{world['product'].id}/lotes"))
    assert f'href="{base(world["product"])}/solicitud"' in unnamed_menu
    assert f'href="{base(world["product"])}/afiliacion"' in unnamed_menu


# ---------------------------------------------------------------- Afiliación


def test_the_affiliation_page_shows_stock_per_branch_and_the_processed_requests(client, world):
    batch = stock(world, 4)
    login(client, "afilia")
    html = text(client.get(f"{base(world['product'])}/afiliacion"))
    assert "Tarjetas disponibles por sucursal" in html and "Quedan menos de 10" in html
    assert '73 · Sucursal 73</td><td class="num">4</td>' in html
    for column in ("Nro. de lote", "Cantidad de tarjetas", "Fecha de emisión", "Afiliadas", "Por afiliar", "Opciones"):
        assert f">{column}</th>" in html
    assert batch.number in html and "Solicitar más" not in html  # afilia may not request


def test_the_processed_requests_are_searched_by_number_or_dates(client, world):
    batch = stock(world, 2)
    login(client, "afilia")
    url = f"{base(world['product'])}/afiliacion"
    found = text(client.get(url, query_string={"buscar": "lote", "lote": batch.number}, headers=HX))
    assert batch.number in found and "<html" not in found
    none = text(client.get(url, query_string={"buscar": "lote", "lote": "99999999"}, headers=HX))
    assert "No se encontraron lotes procesados" in none
    too_long = text(
        client.get(url, query_string={"buscar": "fecha", "fecha_inicial": "01/01/2026", "fecha_final": "30/06/2026"})
    )
    assert "El rango de fechas no puede superar 3 meses" in too_long
    assert "Escribe el número de lote" in text(client.get(url, query_string={"buscar": "lote", "lote": "abc"}))


def test_the_processed_requests_are_found_by_their_date_of_issue(client, world):
    batch = stock(world, 1)
    login(client, "afilia")
    url, today = f"{base(world['product'])}/afiliacion", local_today()

    def search(first, last):
        dates = {"fecha_inicial": first.strftime("%d/%m/%Y"), "fecha_final": last.strftime("%d/%m/%Y")}
        return text(client.get(url, query_string={"buscar": "fecha", **dates}, headers=HX))

    assert batch.number in search(today - timedelta(days=30), today)
    assert "No se encontraron lotes procesados" in search(today - timedelta(days=60), today - timedelta(days=31))


def test_lotes_procesados_and_registros_del_lote_show_10_per_page(client, world):
    requests = [stock(world, 1) for _ in range(10)]
    big = stock(world, 11)
    login(client, "afilia")
    listing = text(client.get(f"{base(world['product'])}/afiliacion"))
    assert listing.count('aria-label="Ver detalle del lote ') == 10
    assert big.number in listing and requests[0].number not in listing  # newest first; the oldest on page 2
    cards = text(client.get(f"{base(world['product'])}/afiliacion/{big.id}"))
    assert cards.count('<tr id="tarjeta-') == 10


def test_the_detail_lists_each_card_and_says_when_all_are_affiliated(client, world):
    batch = stock(world, 2)
    cards = list(innominate.cards_of(batch).order_by(Card.serial))
    login(client, "jefe")
    url = f"{base(world['product'])}/afiliacion/{batch.id}"
    html = text(client.get(url))
    for label in (
        "NIT",
        "Nombre de la empresa",
        "Fecha de carga",
        "Nro. de lote",
        "Cantidad de registros",
        "Monto total",
    ):
        assert f"<dt>{label}</dt>" in html
    assert cards[0].masked_pan in html and cards[0].masked_account in html and "No afiliado" in html
    assert "Descargar archivo de afiliación" in html
    only = text(client.get(url, query_string={"q": cards[1].masked_pan[-4:]}, headers=HX))
    assert cards[1].masked_pan in only and cards[0].masked_pan not in only
    for n, card in enumerate(cards, start=1):
        innominate.affiliate_one(
            world["boss"], world["product"], frozenset(), card, {"SUCURSAL": "73", **person(n)}, PASSWORD
        )
    for afi in Batch.select().where((Batch.kind == "AFI") & (Batch.status == Batch.TO_AUTHORIZE)):
        through_order(world["product"], afi, world["boss"])
    html = text(client.get(url))
    assert "Todas las tarjetas del lote han sido afiliadas." in html and "Afiliado" in html


def test_the_affiliation_file_downloads_as_xlsx(client, world):
    batch = stock(world, 3)
    login(client, "afilia")
    response = client.get(f"{base(world['product'])}/afiliacion/{batch.id}/archivo.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f"afiliacion-lote-{batch.number}.xlsx" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet["A1"].value == "ARCHIVO DE AFILIACIÓN DE TARJETAHABIENTES"
    assert sheet.max_row == 2 + 3


def test_a_request_not_yet_processed_has_no_detail(client, world):
    request = innominate.request_cards(world["boss"], world["product"], FORM, PASSWORD)
    login(client, "jefe")
    assert client.get(f"{base(world['product'])}/afiliacion/{request.id}").status_code == 404


# ---------------------------------------------------------------- «Afiliar»


def test_afiliar_asks_for_the_person_and_the_password_and_affiliates(client, world):
    batch = stock(world, 2)
    card = innominate.cards_of(batch).order_by(Card.serial).first()
    login(client, "jefe")
    url = f"{base(world['product'])}/tarjetas/{card.id}/afiliar"
    dialog = text(client.get(url, query_string={"lote": batch.id}, headers=HX))
    assert "<dialog" in dialog and ">Contraseña</label>" in dialog and 'name="NRO ID"' in dialog
    assert 'name="SUCURSAL" value="73"' in dialog  # the card's branch, filled in
    wrong = post(
        client, url, {"SUCURSAL": "73", **person(1), "CORREO ELECTRONICO": "x", "password": PASSWORD}, headers=HX
    )
    assert "CORREO ELECTRONICO" in text(wrong) and Batch.select().where(Batch.kind == "AFI").count() == 0
    done = post(client, url, {"SUCURSAL": "73", **person(1), "password": PASSWORD, "lote": batch.id}, headers=HX)
    assert "quedará afiliada en unos segundos" in text(done)
    from services import processing

    processing.process_paid_orders()
    assert Card.get_by_id(card.id).person.id_number == "10100001"
    assert "ya está afiliada" in text(client.get(url, headers=HX))


def test_afiliar_without_the_authorize_permission_leaves_it_to_authorization(client, world):
    batch = stock(world, 1)
    card = innominate.cards_of(batch).get()
    login(client, "afilia")
    url = f"{base(world['product'])}/tarjetas/{card.id}/afiliar"
    done = post(client, url, {"SUCURSAL": "73", **person(1), "password": PASSWORD}, headers=HX)
    assert "espera su autorización en Lotes &gt; Autorización" in text(done)
    assert Batch.get(Batch.kind == "AFI").status == Batch.TO_AUTHORIZE


# ---------------------------------------------------------------- Carga de lotes


def test_carga_de_lotes_points_to_the_request_while_there_is_no_stock(client, world):
    login(client, "jefe")
    url = f"/productos/{world['product'].id}/lotes/carga"
    html = text(client.get(url))
    assert "Afiliación (Id persona)" in html and "Tarjetas innominadas - Solicitud" in html
    stock(world, 1)
    assert "Tarjetas innominadas - Solicitud" not in text(client.get(url))
