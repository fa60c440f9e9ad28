"""Tarjetas innominadas in a real browser (manual 3.4 and 3.5): jhomez requests stock cards for a
branch, authorizes and pays the order, then affiliates one card with the downloaded affiliation
file (through Carga de lotes) and one with «Afiliar»; the branch's stock goes down by two.

The background jobs run beside the live server, as under `make run`. Screenshots land in
/tmp/shots/innominadas-*.png.
"""

import io
import re
import time

import openpyxl
import pytest
from playwright.sync_api import expect

from models import Card, Person
from tests.browser.conftest import connected, login, seed_demo
from tests.browser.test_batches import accept_upload_modal, choose_file, pending_row, send, status_cell
from tests.browser.test_orders import (
    PASSWORD,
    PROCESSING_TIMEOUT_MS,
    Console,
    last_code,
    open_section_item,
    order_cell,
    order_row,
    section,
    shot,
)
from tests.services.test_innominate import person

pytestmark = pytest.mark.browser

PRODUCT = "Clásica In / Visa"
AFI_NAME = "Afiliación (Id persona)"


def stock_of(page, branch):
    """The Disponibles cell of a branch in Tarjetas disponibles por sucursal."""
    row = page.locator("table.stock tbody tr").filter(has_text=branch)
    return row.get_by_role("cell").nth(1)


def wait_until(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connected():
            if condition():
                return
        time.sleep(0.3)
    raise AssertionError("the background job did not get there in time")


def authorize_and_pay(page, number, kind_name):
    """Lotes > Autorización: select the batch, password, Autorizar, Autorizar; then Pagar with
    the e-mailed code and wait until the job has processed the order."""
    open_section_item(page, "Lotes", "Autorización")
    waiting = section(page, "Lotes por autorizar")
    row = waiting.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text(kind_name)
    waiting.get_by_label(f"Seleccionar lote {number}").check()
    waiting.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    waiting.get_by_role("button", name="Autorizar", exact=True).click()
    expect(page.get_by_role("heading", name=f"Calcular orden de servicio {PRODUCT}", level=1)).to_be_visible()
    page.get_by_role("main").get_by_role("button", name="Autorizar", exact=True).click()
    created = page.get_by_role("main").get_by_text(re.compile(r"Se creó la orden de servicio Nro\. \d+\."))
    expect(created).to_be_visible()
    order_id = re.search(r"Nro\. (\d+)", created.inner_text()).group(1)
    order_row(page, order_id).get_by_role("button", name="Pagar").click()
    dialog = page.get_by_role("dialog", name="Pagar Orden de Servicio")
    code_box = dialog.get_by_label("Ingresa el código de verificación enviado a tu correo")
    expect(code_box).to_be_visible()
    code_box.fill(last_code("jhomez@jahc.example"))
    dialog.get_by_role("button", name="Aceptar").click()
    done = page.get_by_role("dialog", name=re.compile("Pagar orden de servicio", re.IGNORECASE))
    expect(done.locator("p.ok")).to_contain_text(f"Pago exitoso de la orden de servicio Nro. {order_id}.")
    done.get_by_role("button", name="Aceptar").click()
    expect(order_cell(page, order_id, "Estado")).to_have_text("Procesado", timeout=PROCESSING_TIMEOUT_MS)


def test_request_pay_and_affiliate_by_file_and_by_dialog(live_server, page, background_jobs, tmp_path):
    seed_demo()
    background_jobs()
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    page.get_by_role("list", name="Productos de JAHC TECHNOLOGIES").get_by_role("link", name=PRODUCT).click()

    # Afiliación: the demo stock is all in branch 73; branch 1 has none.
    open_section_item(page, "Lotes", "Tarjetas innominadas - Afiliación")
    expect(stock_of(page, "1 · Principal")).to_have_text("0")
    expect(stock_of(page, "73 · Sucursal única")).to_have_text("17")

    # Solicitud: 5 cards for branch 1; the line shows as it will be embossed.
    open_section_item(page, "Lotes", "Tarjetas innominadas - Solicitud")
    expect(page.get_by_label("Fecha de vencimiento")).to_have_attribute("readonly", "")
    page.get_by_label("Cantidad de tarjetas").fill("5")
    page.get_by_label("Línea de embozo 1").fill("jahc   technologies")
    expect(page.locator("#line1-preview")).to_have_text("Se embozará: «JAHC TECHNOLOGIES»")
    page.get_by_label("Línea de embozo 2").fill("Peña")
    expect(page.locator("#line2-preview")).to_contain_text("sin tildes ni ñ")
    page.get_by_label("Línea de embozo 2").fill("NIT 900291499")
    page.get_by_label("Sucursal").select_option("1")
    page.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    shot(page, "innominadas-01-solicitud")
    page.get_by_role("button", name="Procesar").click()
    done = page.get_by_role("dialog", name="Tarjetas innominadas")
    expect(done.locator("p.ok")).to_have_text("El lote fue procesado de forma exitosa.")
    number = re.search(r"Lote (\d{8})", done.inner_text()).group(1)
    shot(page, "innominadas-02-solicitud-exitosa")
    done.get_by_role("link", name="Ir a Autorización").click()

    authorize_and_pay(page, number, "Emisión innominada")

    # Afiliación: 5 more cards in branch 1; the request's detail lists them.
    open_section_item(page, "Lotes", "Tarjetas innominadas - Afiliación")
    expect(stock_of(page, "1 · Principal")).to_have_text("5")
    row = page.locator("#requests tbody tr").filter(has_text=number)
    expect(row.get_by_role("cell")).to_have_text([number, "5", re.compile(r"\d{2}/\d{2}/\d{4}"), "0", "5", ""])
    shot(page, "innominadas-03-afiliacion")
    row.get_by_role("link", name=f"Ver detalle del lote {number}").click()
    expect(page.get_by_role("heading", name=f"Detalles {PRODUCT}", level=1)).to_be_visible()
    expect(page.locator("#cards tbody tr")).to_have_count(5)

    # By file: download the affiliation file, fill the first card's row, delete the others.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar archivo de afiliación").click()
    with open(download_info.value.path(), "rb") as downloaded:
        workbook = openpyxl.load_workbook(io.BytesIO(downloaded.read()))
    sheet = workbook.active
    header = [cell.value for cell in sheet[2]]
    first = dict(zip(header, next(sheet.iter_rows(min_row=3, max_row=3, values_only=True)), strict=True))
    sheet.delete_rows(4, sheet.max_row)
    for column, value in person(1).items():
        sheet.cell(3, header.index(column) + 1, value)
    filled = io.BytesIO()
    workbook.save(filled)
    open_section_item(page, "Lotes", "Carga de lotes")
    choose_file(page, AFI_NAME, "afiliacion.xlsx", filled.getvalue())
    send(page)
    afi_number = accept_upload_modal(page)
    expect(status_cell(pending_row(page, afi_number))).to_contain_text("Válido", timeout=PROCESSING_TIMEOUT_MS)
    pending_row(page, afi_number).get_by_role("link", name="Confirmar lote").click()
    confirm = page.get_by_role("dialog", name="Confirmación de lote")
    confirm.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    confirm.get_by_role("button", name="Confirmar").click()
    confirm.get_by_role("button", name="Aceptar").click()
    authorize_and_pay(page, afi_number, AFI_NAME)

    # By dialog: «Afiliar» on another card of the request.
    open_section_item(page, "Lotes", "Tarjetas innominadas - Afiliación")
    page.locator("#requests tbody tr").filter(has_text=number).get_by_role(
        "link", name=re.compile("Ver detalle")
    ).click()
    free = page.locator("#cards tbody tr").filter(has_text="No afiliado").first
    masked = free.get_by_role("cell").first.inner_text()
    free.get_by_role("link", name=f"Afiliar la tarjeta {masked}").click()
    dialog = page.get_by_role("dialog", name=f"Afiliar la tarjeta {masked}")
    expect(dialog.get_by_label("Sucursal")).to_have_value("1")
    values = person(2)
    for label, column in (("Número de documento", "NRO ID"), ("Primer apellido", "PRIMER APELLIDO"),
                          ("Primer nombre", "PRIMER NOMBRE"), ("Fecha de nacimiento", "FECHA DE NACIMIENTO"),
                          ("Teléfono celular", "TELEFONO CELULAR"), ("Correo electrónico", "CORREO ELECTRONICO")):  # fmt: skip
        dialog.get_by_label(label).fill(values[column])
    dialog.get_by_label("Tipo de documento").select_option("CC")
    dialog.get_by_label("Sexo").select_option("FEMENINO")
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    shot(page, "innominadas-04-afiliar")
    dialog.get_by_role("button", name="Afiliar").click()
    result = page.get_by_role("dialog", name="Afiliación de tarjeta")
    expect(result.locator("p.ok")).to_contain_text("quedará afiliada en unos segundos")
    result.get_by_role("link", name="Aceptar").click()

    # Both are affiliated (the job processes the dialog's order within seconds); branch 1 has two cards fewer.
    wait_until(lambda: Card.select().join(Person).where(Person.id_number == "10100002").exists())
    open_section_item(page, "Lotes", "Tarjetas innominadas - Afiliación")
    expect(stock_of(page, "1 · Principal")).to_have_text("3")
    with connected():
        by_file = Card.get(Card.serial == int(first["REFERENCIA"]))
        assert (by_file.person.id_number, by_file.status) == ("10100001", Card.ACTIVE)
        by_dialog = Card.select().join(Person).where(Person.id_number == "10100002").get()
        assert (by_dialog.masked_pan, by_dialog.status) == (masked, Card.ACTIVE)
    shot(page, "innominadas-05-existencias")
    console.assert_clean()
