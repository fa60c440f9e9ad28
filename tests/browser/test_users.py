"""Configuración > Usuarios in a real browser (issue 14): jhomez creates a user with the Cargador
role on «Clásica / Visa»; the new user logs in with the e-mailed password, accepts the terms,
changes it, uploads a batch and confirms it; jhomez then gets the «Lotes por autorizar» e-mail
and sees it under «Pendientes» on the product page. Screenshots land in /tmp/shots/usuarios-*.png."""

import re

import pytest
from playwright.sync_api import expect

from models import OutboxMessage
from services import batches as batch_service
from services import notices
from tests import batchfiles
from tests.browser.conftest import connected, login, seed_demo
from tests.browser.test_access import change_password_form
from tests.browser.test_batches import accept_upload_modal, choose_file, pending_row, send, status_cell
from tests.browser.test_orders import PASSWORD, Console, shot

pytestmark = pytest.mark.browser


def last_mail(recipient):
    with connected():
        return (
            OutboxMessage.select().where(OutboxMessage.recipient == recipient).order_by(OutboxMessage.id.desc()).first()
        )


def test_an_administrator_creates_a_cargador_who_uploads_a_batch(live_server, page, browser, app):
    seed_demo()
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    page.get_by_role("link", name="Configuración").click()
    page.get_by_role("navigation", name="Configuración").get_by_role("link", name="Usuarios").click()
    expect(page.get_by_role("heading", name="Usuarios JAHC TECHNOLOGIES", level=1)).to_be_visible()

    page.get_by_role("link", name="Crear usuario").click()
    dialog = page.get_by_role("dialog", name="Crear usuario")
    for label, value in (("Usuario", "carla"), ("Nombre", "Carla"), ("Apellido", "Cargadora"), ("Cargo", "Analista"),
                         ("Área", "Nómina"), ("Correo electrónico", "carla@jahc.example")):  # fmt: skip
        dialog.get_by_label(label, exact=True).fill(value)
    clasica = dialog.get_by_role("group", name="Permisos en Clásica / Visa")
    clasica.get_by_label("Cargador").check()
    expect(clasica.get_by_label("Carga de lotes y lotes pendientes")).to_be_checked()  # the role ticks its permissions
    expect(clasica.get_by_label("Confirmar un lote válido")).to_be_checked()
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    shot(page, "usuarios-01-crear")
    dialog.get_by_role("button", name="Crear usuario").click()
    done = page.get_by_role("dialog", name="Crear usuario")
    expect(done.get_by_role("status")).to_contain_text("El usuario carla fue creado")
    done.get_by_role("button", name="Aceptar").click()
    expect(page.locator("#user-list")).to_contain_text("carla")
    temp = re.search(r"Contraseña temporal: (\S+)", last_mail("carla@jahc.example").body).group(1)

    # Carla's first login, in her own browser: terms, a new password, then Carga de lotes.
    carla_context = browser.new_context(viewport={"width": 1280, "height": 800})
    carla = carla_context.new_page()
    carla_console = Console(carla)
    login(carla, live_server, "carla", temp)
    carla.get_by_label("He leído y acepto los términos y condiciones").check()
    carla.get_by_role("button", name="Aceptar").click()
    change_password_form(carla, temp, "Carla*Clave26")
    login(carla, live_server, "carla", "Carla*Clave26")  # the change ends the session: in again
    carla.get_by_role("list", name="Productos de JAHC TECHNOLOGIES").get_by_role(
        "link", name="Clásica / Visa", exact=True
    ).click()
    carla.get_by_role("navigation", name="Menú del producto").get_by_role("link", name="Lotes", exact=True).click()
    carla.get_by_role("main").get_by_role("link", name="Carga de lotes").click()
    choose_file(
        carla,
        "Emisión nominada (Id persona)",
        "EMISION-CARLA.xlsx",
        batchfiles.xlsx_bytes("EMI", batchfiles.emi_rows(3, start=700)),
    )
    send(carla)
    number = accept_upload_modal(carla)
    with app.app_context(), connected():
        assert batch_service.validate_waiting() >= 1
    carla.reload()
    row = pending_row(carla, number)
    expect(status_cell(row)).to_contain_text("Válido")
    row.get_by_role("link", name="Confirmar lote").click()
    confirm = carla.get_by_role("dialog", name="Confirmación de lote")
    confirm.get_by_label("Contraseña", exact=True).fill("Carla*Clave26")
    confirm.get_by_role("button", name="Confirmar").click()
    expect(confirm.locator("p.ok")).to_contain_text("fue confirmado exitosamente")
    carla_console.assert_clean()
    carla_context.close()  # nothing of hers keeps asking the server once the test is over

    # jhomez is e-mailed (the notices job, run here at once) and sees it on the product page.
    with app.app_context(), connected():
        assert notices.send_waiting() >= 1
    mail = last_mail("jhomez@jahc.example")
    assert mail.subject == "Conexión Empresas: Lotes por autorizar" and number in mail.body
    page.goto(f"{live_server}/empresas")
    page.get_by_role("list", name="Productos de JAHC TECHNOLOGIES").get_by_role(
        "link", name="Clásica / Visa", exact=True
    ).click()
    expect(page.get_by_role("main")).to_contain_text("por autorizar")
    shot(page, "usuarios-02-pendientes")
    console.assert_clean()
