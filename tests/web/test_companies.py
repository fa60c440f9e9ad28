"""Empresas y productos: list, search, products, product page, menu permissions, selector."""

import re

import pytest

from models import Batch, Card, Company, ServiceOrder, UserPermission
from tests.conftest import login, post
from tests.factories import make_company, make_product, make_user


def main(response) -> str:
    """The <main> part of a page (the selector aside lists every company of the user)."""
    html = response.get_data(as_text=True)
    return html[html.index("<main") : html.index("</main>")]


@pytest.fixture
def world(db):
    """Two companies of the user's, one that is not, each with a named and an unnamed product."""
    mine = make_company("ALFA LTDA", nit="900100100")
    second = make_company("BETA SAS", nit="900200200")
    foreign = make_company("GAMMA SA", nit="900300300")
    products = {
        c.name: (make_product(c), make_product(c, "Clásica In / Visa", named=False)) for c in (mine, second, foreign)
    }
    user = make_user(
        "ana",
        perms={
            products["ALFA LTDA"][0]: "all",
            products["ALFA LTDA"][1]: "order.view",
            products["BETA SAS"][0]: "reports.view",
        },
    )
    return {"mine": mine, "second": second, "foreign": foreign, "products": products, "user": user}


@pytest.fixture
def logged(client, world):
    assert login(client, "ana").status_code == 302
    return world


@pytest.mark.parametrize(
    "url",
    [
        "/empresas",
        "/empresas/1",
        "/productos/1",
        "/productos/1/lotes",
        "/seleccion/productos",
        "/configuracion/usuario",
    ],
)
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/ingresar" in response.headers["Location"]


def test_company_list_shows_only_the_users_companies_with_products(client, logged):
    html = client.get("/empresas").get_data(as_text=True)
    assert "ALFA LTDA" in html and "BETA SAS" in html and "NIT 900100100" in html
    assert "GAMMA SA" not in html
    assert html.count("Clásica / Visa") >= 2 and "Clásica In / Visa" in html


@pytest.mark.parametrize("q, shown, hidden", [("alfa", "ALFA LTDA", "BETA SAS"), ("9002002", "BETA SAS", "ALFA LTDA")])
def test_search_by_name_or_nit(client, logged, q, shown, hidden):
    html = main(client.get(f"/empresas?q={q}"))
    assert shown in html and hidden not in html


def test_search_never_reveals_other_companies(client, logged):
    html = client.get("/empresas?q=GAMMA").get_data(as_text=True)
    assert "GAMMA" not in html.replace('value="GAMMA"', "")
    assert "No se encontraron registros para tu consulta" in html


def test_htmx_search_returns_only_the_table_fragment(client, logged):
    response = client.get("/empresas?q=beta", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and "BETA SAS" in html and "ALFA LTDA" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_company_list_is_paginated_by_ten(client, db):
    companies = [make_company(f"EMPRESA {n:02d}") for n in range(12)]
    grants = {make_product(c): "order.view" for c in companies}
    make_user("muchas", perms=grants)
    login(client, "muchas")
    first = main(client.get("/empresas"))
    assert "Mostrando registro(s) del 1 al 10 de un total de 12 registro(s)" in first
    assert "EMPRESA 09" in first and "EMPRESA 10" not in first
    second = main(client.get("/empresas?pagina=2"))
    assert "Mostrando registro(s) del 11 al 12 de un total de 12 registro(s)" in second
    assert "EMPRESA 11" in second and ">Primera<" in second and ">Última<" in second
    assert "del 11 al 12" in client.get("/empresas?pagina=99").get_data(as_text=True)


def test_products_of_a_company(client, logged):
    html = client.get(f"/empresas/{logged['mine'].id}").get_data(as_text=True)
    assert "Clásica / Visa" in html and "Clásica In / Visa" in html and "Innominada" in html


@pytest.mark.parametrize(
    "url",
    [
        "/empresas/{foreign}",
        "/productos/{foreign_product}",
        "/productos/{foreign_product}/lotes",
        "/seleccion/productos?empresa={foreign}",
        "/configuracion/empresas?empresa={foreign}",
        "/empresas/999999",
        "/productos/999999",
    ],
)
def test_another_companys_objects_answer_404(client, logged, url):
    foreign_product = logged["products"]["GAMMA SA"][0]
    response = client.get(url.format(foreign=logged["foreign"].id, foreign_product=foreign_product.id))
    assert response.status_code == 404
    assert "GAMMA" not in response.get_data(as_text=True)


def test_product_page_shows_menu_and_counters(client, logged):
    product = logged["products"]["ALFA LTDA"][0]
    Batch.create(company=product.company, product=product, number="26112801", kind="EMI", status="POR_FIRMAR")
    Batch.create(company=product.company, product=product, number="26112802", kind="REC", status="POR_AUTORIZAR")
    Batch.create(company=product.company, product=product, number="26112803", kind="REC", status="POR_AUTORIZAR")
    ServiceOrder.create(company=product.company, product=product, status="PENDIENTE_PAGO")
    ServiceOrder.create(company=product.company, product=product, status="PROCESADO")
    ServiceOrder.create(company=product.company, product=product, status="EN_PROCESO")
    Card.create(product=product, masked_pan="450714******9053", status="ACTIVA")
    Card.create(product=product, masked_pan="450714******1111", status="BLOQUEADA")
    html = client.get(f"/productos/{product.id}").get_data(as_text=True)
    assert "<h1>Clásica / Visa</h1>" in html and "Detalle del producto" in html
    for label in ("Empresas", "Lotes", "Consultas", "Servicios", "Reportes"):
        assert f">{label}</a>" in html
    expected = {
        "Lotes por autorizar": 2,
        "Órdenes por pagar": 1,
        "Órdenes pagadas": 2,
        "Tarjetas activas": 1,
        "Tarjetas inactivas": 1,
    }
    for label, value in expected.items():
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html
    # One signature: no batch ever waits for a first signature, so there is no such counter.
    assert "Lotes por firmar" not in html


def test_two_signature_companies_count_the_batches_to_sign(client, logged):
    product = logged["products"]["ALFA LTDA"][0]
    Company.update(signatures=2).where(Company.id == product.company_id).execute()
    Batch.create(company=product.company, product=product, number="26112801", kind="EMI", status="POR_FIRMAR")
    html = client.get(f"/productos/{product.id}").get_data(as_text=True)
    assert "<dt>Lotes por firmar</dt><dd>1</dd>" in html
    html = client.get(f"/productos/{product.id}/lotes").get_data(as_text=True)  # the section page too
    assert "<dt>Lotes por firmar</dt><dd>1</dd>" in html


def test_menu_and_counters_follow_permissions(client, logged):
    product = logged["products"]["ALFA LTDA"][1]  # order.view only
    html = client.get(f"/productos/{product.id}").get_data(as_text=True)
    assert ">Consultas</a>" in html
    for hidden in (">Lotes</a>", ">Servicios</a>", ">Reportes</a>", "Lotes por firmar", "Tarjetas activas"):
        assert hidden not in html
    assert "Órdenes por pagar" in html


@pytest.mark.parametrize(
    "section, status",
    [("lotes", 403), ("consultas", 200), ("servicios", 403), ("reportes", 403)],
)
def test_sections_the_menu_hides_answer_403(client, logged, section, status):
    product = logged["products"]["ALFA LTDA"][1]  # order.view only
    response = client.get(f"/productos/{product.id}/{section}")
    assert response.status_code == status
    if status == 403:
        assert "No tienes permiso para realizar esta operación" in response.get_data(as_text=True)


def test_section_page_lists_the_allowed_options(client, logged):
    product = logged["products"]["ALFA LTDA"][0]
    html = client.get(f"/productos/{product.id}/lotes").get_data(as_text=True)
    assert "Carga de lotes" in html and "Autorización" in html
    assert "Tarjetas innominadas" not in html  # a named product has no stock cards


def test_an_unnamed_products_section_lists_the_innominate_screens(client, logged):
    product = logged["products"]["ALFA LTDA"][1]
    UserPermission.create(user=logged["user"], product=product, permission="innominate.request")
    html = client.get(f"/productos/{product.id}/lotes").get_data(as_text=True)
    assert "Tarjetas innominadas - Solicitud" in html and "Tarjetas innominadas - Afiliación" not in html


def test_user_with_company_but_no_permission_on_product_sees_no_menu(client, logged):
    product = logged["products"]["BETA SAS"][1]  # no grant at all on this product
    html = client.get(f"/productos/{product.id}").get_data(as_text=True)
    assert "no tiene permisos de operación en este producto" in html
    assert client.get(f"/productos/{product.id}/consultas").status_code == 403


def test_selection_is_kept_and_shown_on_every_page(client, logged):
    product = logged["products"]["ALFA LTDA"][0]
    client.get(f"/productos/{product.id}")
    html = client.get("/configuracion/usuario").get_data(as_text=True)
    assert "NIT 900100100" in html and "Seleccionar</button>" in html
    assert f'<option value="{product.id}" selected>Clásica / Visa</option>' in html


def test_selector_switches_product(client, logged):
    product = logged["products"]["BETA SAS"][0]
    response = post(client, "/seleccionar", {"empresa": logged["second"].id, "producto": product.id})
    assert response.headers["Location"].endswith(f"/productos/{product.id}")
    foreign = logged["products"]["GAMMA SA"][0]
    assert post(client, "/seleccionar", {"producto": foreign.id}).status_code == 404
    assert post(client, "/seleccionar", {"empresa": logged["foreign"].id}).status_code == 404
    only_company = post(client, "/seleccionar", {"empresa": logged["second"].id})
    assert only_company.headers["Location"].endswith(f"/empresas/{logged['second'].id}")


def test_selector_requires_csrf(client, logged):
    product = logged["products"]["BETA SAS"][0]
    assert client.post("/seleccionar", data={"producto": product.id}).status_code == 400


def test_product_options_fragment(client, logged):
    html = client.get(f"/seleccion/productos?empresa={logged['second'].id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "<option" in html and "Clásica In / Visa" in html and "<html" not in html


def test_stale_selection_of_a_lost_company_is_not_shown(client, logged):
    from models import UserCompany

    product = logged["products"]["BETA SAS"][0]
    client.get(f"/productos/{product.id}")
    UserCompany.delete().where(UserCompany.company == logged["second"]).execute()
    html = client.get("/empresas").get_data(as_text=True)
    assert "BETA SAS" not in html and "NIT 900200200" not in html  # neither listed nor selected
    assert client.get(f"/productos/{product.id}").status_code == 404


def test_a_permission_change_applies_on_the_next_request(client, logged):
    """Rows are kept for one request only (flask.g): nothing cached across requests, so a
    permission withdrawn or granted is seen by the very next page."""
    from models import UserPermission

    product = logged["products"]["ALFA LTDA"][0]
    page = f"/productos/{product.id}"
    assert "Lotes por autorizar" in main(client.get(page))
    assert client.get(f"{page}/lotes/carga").status_code == 200
    batch_perms = UserPermission.select().where(
        (UserPermission.user == logged["user"]) & (UserPermission.product == product)
        & UserPermission.permission.startswith("batch.")
    )  # fmt: skip
    withdrawn = [p.permission for p in batch_perms]
    UserPermission.delete().where(UserPermission.id.in_([p.id for p in batch_perms])).execute()
    assert "Lotes por autorizar" not in main(client.get(page))
    assert client.get(f"{page}/lotes/carga").status_code == 403
    UserPermission.insert_many(
        [{"user": logged["user"], "product": product, "permission": p} for p in withdrawn]
    ).execute()
    assert client.get(f"{page}/lotes/carga").status_code == 200


def test_a_company_taken_away_is_not_found_on_the_next_request(client, logged):
    from models import UserCompany

    product = logged["products"]["BETA SAS"][0]
    assert client.get(f"/productos/{product.id}").status_code == 200
    UserCompany.delete().where(
        (UserCompany.user == logged["user"]) & (UserCompany.company == logged["second"])
    ).execute()
    assert client.get(f"/productos/{product.id}").status_code == 404


def test_the_product_page_writes_no_audit_event_and_seleccionar_does(client, logged):
    from models import AuditEvent

    product = logged["products"]["ALFA LTDA"][0]
    client.get(f"/productos/{product.id}")
    assert AuditEvent.select().where(AuditEvent.tag == "product:select").count() == 0
    post(client, "/seleccionar", {"empresa": str(logged["mine"].id), "producto": str(product.id)})
    (event,) = AuditEvent.select().where(AuditEvent.tag == "product:select")
    assert event.object_ref == f"producto:{product.id}" and event.company_id == logged["mine"].id


def test_the_counters_are_one_query_and_right(client, logged, assert_query_count):
    from tests.web.test_query_counts import make_batches, make_orders

    product = logged["products"]["ALFA LTDA"][0]
    make_batches(product, 3, Batch.TO_AUTHORIZE)
    make_batches(product, 2, Batch.TO_SIGN)
    make_orders(product, 5)  # pending, in process, processed, pending, in process
    Card.create(product=product, masked_pan="4000 00** **** 0001", status=Card.ACTIVE)
    Card.create(product=product, masked_pan="4000 00** **** 0002", status="BLOQUEADA")
    client.get(f"/productos/{product.id}")
    with assert_query_count(5) as statements:
        html = main(client.get(f"/productos/{product.id}"))
    assert len([s for s in statements if "CASE" in s.upper()]) == 1
    values = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html))
    assert values == {"Lotes por autorizar": "3", "Órdenes por pagar": "2", "Órdenes pagadas": "3",
                      "Tarjetas activas": "1", "Tarjetas inactivas": "1"}  # fmt: skip
