"""Configuración > Usuarios through the views: the list, «Crear usuario», «Editar permisos» and
the account actions, each with the administrator's password; their permissions, and another
company's users never listed nor found."""

import re

import pytest

from models import OutboxMessage, User, UserPermission
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST")
    product = make_product(company, "Clásica / Visa")
    admin = make_user("jefe", perms={product: "all"})
    clerk = make_user("cajero", perms={product: "order.view"})
    other = make_company("OTRA SAS", nit="800111222")
    stranger = make_user("ajeno", perms={make_product(other, "Oro / Visa"): "all"})
    return {
        "company": company,
        "product": product,
        "admin": admin,
        "clerk": clerk,
        "other": other,
        "stranger": stranger,
    }


def base(world, company=None):
    return f"/configuracion/usuarios/{(company or world['company']).id}"


def text(response):
    return response.get_data(as_text=True)


def test_the_list_shows_the_companys_users_with_search_and_options(client, world):
    login(client, "jefe")
    assert client.get("/configuracion/usuarios").headers["Location"].endswith(base(world))
    html = text(client.get(base(world)))
    for header in ("Usuario", "Nombre", "Cargo", "Correo", "Estado", "Última conexión", "Opciones"):
        assert f">{header}</th>" in html
    assert "cajero" in html and "jefe" in html and "ajeno" not in html
    assert ">Crear usuario</a>" in html and ">Editar permisos</a>" in html and ">Bloquear</a>" in html
    assert "Tu usuario" in html  # no options on one's own row
    found = text(client.get(base(world) + "?q=caj", headers=HX))
    assert "cajero" in found and "jefe@" not in found and "<html" not in found
    assert ">Usuarios</a>" in text(client.get("/configuracion/usuario"))  # the Configuración menu


def test_who_may_open_it(client, world):
    login(client, "cajero")
    assert client.get("/configuracion/usuarios").status_code == 403
    assert client.get(base(world)).status_code == 403
    assert ">Usuarios</a>" not in text(client.get("/configuracion/usuario"))
    post(client, "/salir")
    login(client, "jefe")
    assert client.get(base(world, world["other"])).status_code == 404
    assert client.get(f"{base(world)}/{world['stranger'].id}/permisos").status_code == 404
    assert client.get(f"{base(world)}/{world['stranger'].id}/bloquear").status_code == 404


def test_create_a_user_with_a_role_who_then_logs_in_with_the_emailed_password(client, world):
    login(client, "jefe")
    dialog = text(client.get(base(world) + "/nuevo", headers=HX))
    for label in (
        "Usuario",
        "Nombre",
        "Apellido",
        "Cargo",
        "Área",
        "Correo electrónico",
        "Contraseña",
        "Cargador",
        "Administrador",
    ):
        assert f"{label}</label>" in dialog or f"> {label}</label>" in dialog
    pid = world["product"].id
    form = {
        "username": "nora", "first_name": "Nora", "last_name": "Nueva", "position": "Analista", "area": "Nómina",
        "email": "nora@example.com", f"rol-{pid}": "cargador", "password": PASSWORD,
    }  # fmt: skip
    done = post(client, base(world) + "/nuevo", form, headers=HX)
    assert "El usuario nora fue creado. Enviamos su contraseña temporal a nora@example.com." in text(done)
    assert 'id="users" hx-swap-oob="true"' in text(done) and "nora" in text(done)
    nora = User.get(User.username == "nora")
    assert {p.permission for p in UserPermission.select().where(UserPermission.user == nora.id)} == {
        "batch.upload", "batch.confirm", "batch.delete", "innominate.request", "innominate.affiliate",
    }  # fmt: skip
    temp = re.search(
        r"Contraseña temporal: (\S+)", OutboxMessage.get(OutboxMessage.recipient == "nora@example.com").body
    ).group(1)
    other = client.application.test_client()
    assert login(other, "nora", temp).status_code == 302
    assert other.get("/empresas").headers["Location"].endswith("/terminos")  # terms, then the forced change


def test_a_refusal_keeps_what_was_typed(client, world):
    login(client, "jefe")
    form = {"username": "x", "first_name": "Nora", "email": "nora@example.com", "password": PASSWORD,
            f"permiso-{world['product'].id}": "order.view"}  # fmt: skip
    response = post(client, base(world) + "/nuevo", form, headers=HX)
    html = text(response)
    assert "Usuario inválido" in html and 'value="nora@example.com"' in html and 'value="Nora"' in html
    assert not User.select().where(User.email == "nora@example.com").exists()


def test_a_permission_change_applies_on_the_next_request(client, world):
    clerk_client = client.application.test_client()
    login(clerk_client, "cajero")
    reports = f"/productos/{world['product'].id}/reportes/catalogo"
    assert clerk_client.get(reports).status_code == 403
    login(client, "jefe")
    pid = world["product"].id
    response = post(
        client, f"{base(world)}/{world['clerk'].id}/permisos",
        {f"permiso-{pid}": ["order.view", "reports.view"], "password": PASSWORD}, headers=HX,
    )  # fmt: skip
    assert "Los permisos de cajero fueron actualizados." in text(response)
    assert clerk_client.get(reports).status_code == 200  # the same session, the next request


def test_block_with_the_password_ends_the_users_session(client, world):
    clerk_client = client.application.test_client()
    login(clerk_client, "cajero")
    login(client, "jefe")
    dialog = text(client.get(f"{base(world)}/{world['clerk'].id}/bloquear", headers=HX))
    assert "Contraseña" in dialog and ">Bloquear</button>" in dialog
    wrong = post(client, f"{base(world)}/{world['clerk'].id}/bloquear", {"password": "mala"}, headers=HX)
    assert "La contraseña es incorrecta" in text(wrong) and User.get_by_id(world["clerk"].id).status == User.ACTIVE
    done = post(client, f"{base(world)}/{world['clerk'].id}/bloquear", {"password": PASSWORD}, headers=HX)
    assert "El usuario fue bloqueado." in text(done)
    assert clerk_client.get("/empresas").status_code == 302  # sent to the login page
    assert ">Desbloquear</a>" in text(client.get(base(world)))


def test_without_javascript_the_dialogs_are_pages(client, world):
    login(client, "jefe")
    page = client.get(f"{base(world)}/{world['clerk'].id}/inactivar")
    assert page.status_code == 200 and "<html" in text(page) and ">Inactivar</button>" in text(page)
    done = post(client, f"{base(world)}/{world['clerk'].id}/inactivar", {"password": PASSWORD})
    assert done.status_code == 302 and User.get_by_id(world["clerk"].id).status == User.INACTIVE
