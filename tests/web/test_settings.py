"""Configuración: Usuario, Cambio de contraseña, Empresas, Descargas; demo outbox page."""

import pytest

from models import OutboxMessage, User
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user


@pytest.fixture
def logged(client, db):
    company = make_company("ACME SAS", nit="900111222", branches=("1", "73"))
    make_user("ana", perms={make_product(company): "all"})
    login(client, "ana")
    return company


def test_configuration_menu_options(client, logged):
    html = client.get("/configuracion/", follow_redirects=True).get_data(as_text=True)
    for option in (">Usuario</a>", ">Cambio de contraseña</a>", ">Empresas</a>", ">Descargas</a>"):
        assert option in html


def test_user_data(client, logged):
    html = client.get("/configuracion/usuario").get_data(as_text=True)
    for text in ("ana", "Nombre", "Apellido", "Cargo", "Área", "ana@example.com", "Activo"):
        assert text in html


def test_voluntary_password_change_keeps_the_session(client, logged):
    page = client.get("/configuracion/usuario/contrasena").get_data(as_text=True)
    assert "Requisitos para crear la contraseña:" in page and "Confirma la contraseña" in page
    response = post(
        client,
        "/configuracion/usuario/contrasena",
        {"current": PASSWORD, "new": "Otra*Clave12", "confirm": "Otra*Clave12"},
    )
    assert response.headers["Location"].endswith("/configuracion/usuario")
    assert "Tu contraseña fue cambiada exitosamente" in client.get("/configuracion/usuario").get_data(as_text=True)
    post(client, "/salir")
    assert login(client, "ana", "Otra*Clave12").status_code == 302


def test_voluntary_change_shows_errors_and_changes_nothing(client, logged):
    before = User.get(User.username == "ana").password_hash
    html = post(
        client, "/configuracion/usuario/contrasena", {"current": PASSWORD, "new": "aaa1*Bcdef", "confirm": "aaa1*Bcdef"}
    ).get_data(as_text=True)
    assert "no debe tener más de 2 caracteres iguales consecutivos" in html
    assert User.get(User.username == "ana").password_hash == before


def test_company_configuration_shows_the_data_and_branches(client, logged):
    html = client.get("/configuracion/empresas").get_data(as_text=True)
    for label in (
        "Configuración de la empresa",
        "NIT",
        "900111222",
        "Razón social",
        "Contacto",
        "Dirección de facturación",
        "Teléfono 1",
        "Teléfono 2",
        "Teléfono 3",
        "Sucursales",
        "Sucursal 73",
    ):
        assert label in html
    data = html.split("Configuración de la empresa</h1>")[1].split("</form>")[1].split("</section>")[0]
    assert "<input" not in data and "<textarea" not in data  # read-only


def test_company_configuration_choice_between_companies(client, db):
    first, second = make_company("UNO SAS"), make_company("DOS SAS", branches=("5",))
    make_user("dos", perms={make_product(first): "order.view", make_product(second): "order.view"})
    login(client, "dos")
    html = client.get(f"/configuracion/empresas?empresa={second.id}").get_data(as_text=True)
    assert "Sucursal 5" in html and f'<option value="{second.id}" selected>DOS SAS</option>' in html


def test_downloads_page_links(client, logged):
    html = client.get("/configuracion/descargas").get_data(as_text=True)
    assert "Manual de Usuario Conexión Empresas Online" in html
    assert "Archivos lotes operativos" in html
    assert (
        "/configuracion/descargas/manual-usuario.pdf" in html and "/configuracion/descargas/archivos-lotes.zip" in html
    )


def test_demo_outbox_exists_only_in_demo_mode(client, make_app, db):
    OutboxMessage.create(
        recipient="x@example.com", subject="Conexión Empresas: contraseña temporal", body="Clave: Abc*123"
    )
    assert client.get("/demo/correos").status_code == 404
    demo = make_app(DEMO_MODE=True).test_client()
    html = demo.get("/demo/correos").get_data(as_text=True)
    assert "x@example.com" in html and "Clave: Abc*123" in html
