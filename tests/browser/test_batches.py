"""Lotes > Carga de lotes in a real browser (manual 3.2, SPEC §5): upload, the pending row that
updates itself while the background job validates, the detail with its "Línea N" messages and
the errors download, confirmation with the password, refused files and deletion.

Validation happens as under `make run`: the APScheduler jobs run beside the live server
(`background_jobs` fixture). Screenshots of every step land in /tmp/shots/batch_*.png.
"""

import io
import re
import struct
import zlib
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from domain.layouts import layout
from models import Batch, BatchRecord, Company, Product, User
from services import batches as batch_service
from tests import batchfiles
from tests.browser.conftest import connected, login, seed_demo, shot

pytestmark = pytest.mark.browser

PASSWORD = "Empresas*24"
EMI_NAME = "Emisión nominada (Id persona)"
REC_NAME = "Recarga (Id persona)"
FILE_LABEL = "Clic aquí para seleccionar el archivo de lote"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOADED = "✓ Lote cargado exitosamente. La validación de los registros está en proceso."
NO_RECORDS = "No se encontraron registros para tu consulta"
VALIDATION_TIMEOUT_MS = 20_000
FIRST_DATA_ROW = 3  # xlsx_bytes writes the title in row 1 and the header in row 2


# ---------------------------------------------------------------- files


def emi_with_four_bad_rows() -> tuple[bytes, dict[int, str]]:
    """30 EMI rows of which 4 fail, and the message each bad Excel row must show.

    A repeated NRO ID marks the later row that carries it (naming the first one); the repeat is
    put on a copy of the row that already has TIPO ID "XX", so the count of bad rows stays 4."""
    rows = batchfiles.emi_rows(30)
    rows[4]["TIPO ID"] = "XX"  # Excel row 7
    rows[9]["CORREO ELECTRONICO"] = "sin-arroba.com"  # row 12
    rows[14]["SUCURSAL"] = "999"  # row 17
    rows[21]["NRO ID"] = rows[4]["NRO ID"]  # row 24 repeats row 7's NRO ID
    expected = {
        4 + FIRST_DATA_ROW: "Tipo de documento inválido",
        9 + FIRST_DATA_ROW: "El campo CORREO ELECTRONICO es inválido",
        14 + FIRST_DATA_ROW: "La sucursal no pertenece a la empresa",
        21 + FIRST_DATA_ROW: (
            f"El campo identificador está repetido en el archivo: ya aparece en la línea {4 + FIRST_DATA_ROW}"
        ),
    }
    return batchfiles.xlsx_bytes("EMI", rows), expected


def png_bytes() -> bytes:
    """A real 1x1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- steps


def open_batch_upload(page, base, username, company, product="Clásica / Visa"):
    """Log in, open the product from the companies list, then Lotes > Carga de lotes."""
    login(page, base, username, PASSWORD)
    products = page.get_by_role("list", name=f"Productos de {company}")
    products.get_by_role("link", name=product, exact=True).click()
    expect(page.get_by_role("heading", name=product, exact=True, level=1)).to_be_visible()
    page.get_by_role("navigation", name="Menú del producto").get_by_role("link", name="Lotes", exact=True).click()
    page.get_by_role("main").get_by_role("link", name="Carga de lotes").click()
    expect(page.get_by_role("heading", name=f"Cargar lotes {product}", level=1)).to_be_visible()
    expect(page).to_have_title(f"Carga de lotes · {product} · Conexión Empresas")


def choose_file(page, kind_name, filename, content, mime=XLSX_MIME):
    page.get_by_label("Tipo de lote", exact=True).select_option(label=kind_name)
    page.get_by_label(FILE_LABEL).set_input_files({"name": filename, "mimeType": mime, "buffer": content})


def send(page):
    page.get_by_role("button", name="Enviar").click()


def accept_upload_modal(page, screenshot=None) -> str:
    """The "Carga de lote" modal: check its message, read the batch number, press Aceptar."""
    dialog = page.get_by_role("dialog", name="Carga de lote")
    expect(dialog).to_be_visible()
    expect(dialog.locator("p.ok")).to_have_text(UPLOADED)
    number = dialog.locator("strong").inner_text()
    assert re.fullmatch(r"\d{8}", number), number
    if screenshot:
        shot(page, screenshot)
    dialog.get_by_role("button", name="Aceptar").click()
    expect(dialog).to_be_hidden()
    return number


def pending_table(page):
    return page.locator("#pending").get_by_role("table")


def pending_row(page, number):
    return pending_table(page).get_by_role("row").filter(has_text=number)


def status_cell(row):
    return row.get_by_role("cell").nth(3)


def datagrid_value(scope, label):
    """The <dd> next to the <dt> reading exactly `label` in a .datagrid."""
    return scope.locator(f'dl.datagrid > div:has(> dt:text-is("{label}")) > dd')


def validated_batch(app, username, nit, content) -> tuple[int, str]:
    """(product id, batch number) of an EMI batch uploaded and validated without the browser."""
    with app.app_context(), connected():
        user = User.get(User.username == username)
        product = Product.select().join(Company).where((Company.nit == nit) & (Product.name == "Clásica / Visa")).get()
        batch = batch_service.upload(user, product, "EMI", "EMISION.xlsx", content)
        assert batch_service.validate_waiting() == 1
        return product.id, batch.number


def expect_no_pending(page):
    body = pending_table(page).locator("tbody")
    expect(body.get_by_role("row")).to_have_count(1)
    expect(body).to_have_text(NO_RECORDS)


def upload_and_validate(page, start_jobs, kind_name, filename, content, status, shot_name=None) -> str:
    """Upload a file with the jobs already running, accept the modal, wait for `status`."""
    choose_file(page, kind_name, filename, content)
    send(page)
    number = accept_upload_modal(page)
    start_jobs()
    expect(status_cell(pending_row(page, number))).to_contain_text(status, timeout=VALIDATION_TIMEOUT_MS)
    if shot_name:
        shot(page, shot_name)
    return number


# ---------------------------------------------------------------- tests


def test_upload_validate_detail_download_and_confirm(live_server, page, background_jobs):
    seed_demo()
    open_batch_upload(page, live_server, "jhomez", "JAHC TECHNOLOGIES")
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="Nuevos lotes", level=2)).to_be_visible()
    expect(main.get_by_role("heading", name="Lotes pendientes", level=2)).to_be_visible()
    kind = page.get_by_label("Tipo de lote", exact=True)
    expect(kind.locator("option")).to_have_text(["Selecciona un tipo de lote", EMI_NAME, REC_NAME])
    expect(pending_table(page).get_by_role("columnheader")).to_have_text(
        ["Nro. de lote", "Tipo de lote", "Fecha de carga", "Estado", "Opciones"]
    )
    expect_no_pending(page)
    shot(page, "batch_01_carga_de_lotes")

    content, expected_errors = emi_with_four_bad_rows()
    choose_file(page, EMI_NAME, "EMISION.xlsx", content)
    assert page.get_by_label(FILE_LABEL).evaluate("input => input.files[0].name") == "EMISION.xlsx"
    shot(page, "batch_02_archivo_elegido")
    page.evaluate("window.__samePage = true")  # survives htmx swaps, not a page load
    polls = []
    page.on("request", lambda r: polls.append(r) if re.search(r"/lotes/\d+/estado$", r.url) else None)
    send(page)

    number = accept_upload_modal(page, screenshot="batch_03_lote_cargado")
    row = pending_row(page, number)
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell").nth(1)).to_have_text(EMI_NAME)
    expect(row.get_by_role("cell").nth(2)).to_have_text(re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}(:\d{2})?"))
    # The job has not read the file yet (the upload only read its first rows).
    expect(status_cell(row)).to_contain_text("Leyendo archivo…")
    progress = row.get_by_role("progressbar", name=f"Lectura del archivo del lote {number}")
    expect(progress).to_be_visible()
    # While it validates: no lupa nor ✓ yet, but it can already be deleted.
    expect(row.get_by_role("link", name="Ver detalle")).to_have_count(0)
    expect(row.get_by_role("link", name="Confirmar lote")).to_have_count(0)
    expect(row.get_by_role("link", name="Eliminar")).to_be_visible()
    # The form is ready for the next file.
    expect(kind).to_have_value("")
    assert page.get_by_label(FILE_LABEL).evaluate("input => input.files.length") == 0
    shot(page, "batch_04_validando")

    background_jobs()  # the job of `make run`: validation starts within a second
    expect(status_cell(row)).to_contain_text("Válido con errores", timeout=VALIDATION_TIMEOUT_MS)
    expect(status_cell(row)).to_contain_text("(4 con error)")
    expect(progress).to_have_count(0)
    assert page.evaluate("window.__samePage") is True, "the page reloaded"
    assert polls and all(r.headers.get("hx-request") == "true" for r in polls), "the row did not poll via htmx"
    seen = len(polls)
    page.wait_for_timeout(2_500)
    assert len(polls) == seen, "the row keeps polling after validation finished"
    expect(row.get_by_role("link", name="Confirmar lote")).to_be_visible()
    shot(page, "batch_05_valido_con_errores")

    # Lupa: the detail, as in Paso 9 / Paso 10.
    row.get_by_role("link", name="Ver detalle").click()
    expect(page.get_by_role("heading", name=f"Detalle del lote {number}", level=1)).to_be_visible()
    for label, value in {
        "NIT": "900291499",
        "Nombre de la empresa": "JAHC TECHNOLOGIES",
        "Tipo de lote": EMI_NAME,
        "Estado": "Válido con errores",
        "Archivo": "EMISION.xlsx",
        "Registros": "30",
        "Válidos": "26",
        "Con error": "4",
        "Monto total": "$ 0,00",
    }.items():
        expect(datagrid_value(page, label)).to_have_text(value)
    expect(page.get_by_role("heading", name="Líneas con error", level=2)).to_be_visible()
    expect(page.locator("ul.errors > li")).to_have_text(
        [f"Línea {line}: {message}" for line, message in sorted(expected_errors.items())]
    )
    shot(page, "batch_06_detalle")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar errores").click()
    download = download_info.value
    assert download.suggested_filename == f"errores-lote-{number}.xlsx"
    workbook = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)
    sheet_rows = [tuple(r) for r in workbook.active.iter_rows(values_only=True)]
    workbook.close()
    assert sheet_rows[0][0] == f"Errores del lote {number}"
    header = sheet_rows[1]
    assert header == (*layout("EMI").column_names, "ERRORES")
    data = sheet_rows[2:]
    assert len(data) == 4
    nro_id, tipo_id = header.index("NRO ID"), header.index("TIPO ID")
    assert [r[-1] for r in data] == [message for _line, message in sorted(expected_errors.items())]
    assert data[0][tipo_id] == "XX" and data[0][nro_id] == batchfiles.id_number(5)
    assert data[1][header.index("CORREO ELECTRONICO")] == "sin-arroba.com"
    assert data[2][header.index("SUCURSAL")] == "999"
    assert data[3][nro_id] == batchfiles.id_number(5)

    page.get_by_role("link", name="Volver").click()
    expect(page.get_by_role("heading", name="Cargar lotes Clásica / Visa", level=1)).to_be_visible()
    row = pending_row(page, number)
    expect(status_cell(row)).to_contain_text("Válido con errores")

    # ✓ Confirmar lote: the summary of Paso 7, then the password.
    row.get_by_role("link", name="Confirmar lote").click()
    dialog = page.get_by_role("dialog", name="Confirmación de lote")
    expect(dialog).to_be_visible()
    for label, value in {
        "NIT": "900291499",
        "Nombre de la empresa": "JAHC TECHNOLOGIES",
        "Tipo de lote": EMI_NAME,
        "Cantidad de registros": "26",
        "Monto total": "$ 0,00",
        "Nro. de lote": number,
    }.items():
        expect(datagrid_value(dialog, label)).to_have_text(value)
    expect(dialog).to_contain_text(
        "Observaciones: El lote tiene 4 registro(s) con error; solo se confirmarán los 26 válidos"
    )
    password = dialog.get_by_label("Contraseña", exact=True)
    expect(password).to_have_attribute("type", "password")
    expect(password).to_be_focused()
    shot(page, "batch_07_confirmacion")

    password.fill("Equivocada*1")
    dialog.get_by_role("button", name="Confirmar").click()
    expect(dialog.get_by_role("alert")).to_have_text("La contraseña es incorrecta")
    expect(dialog).to_be_visible()
    expect(datagrid_value(dialog, "Cantidad de registros")).to_have_text("26")
    shot(page, "batch_08_contrasena_incorrecta")
    with connected():
        assert Batch.get(Batch.number == number).status == Batch.PARTIAL

    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Confirmar").click()
    expect(dialog.locator("p.ok")).to_have_text(f"El lote Nro: {number} fue confirmado exitosamente.")
    shot(page, "batch_09_confirmado")
    dialog.get_by_role("button", name="Aceptar").click()
    expect(dialog).to_be_hidden()
    expect(pending_row(page, number)).to_have_count(0)
    expect_no_pending(page)
    shot(page, "batch_10_sin_pendientes")

    with connected():
        batch = Batch.get(Batch.number == number)
        assert batch.status == Batch.TO_AUTHORIZE  # JAHC signs once
        assert batch.confirmed_by_id == User.get(User.username == "jhomez").id
        assert BatchRecord.select().where(BatchRecord.batch == batch).count() == 26


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("EMISION.xlsx", png_bytes(), "El contenido del archivo no corresponde a su extensión"),
        ("EMISION.xlsx", b"", "El archivo está vacío"),
    ],
    ids=["png_renombrado", "vacio"],
)
def test_refused_file_shows_the_reason_and_stores_nothing(live_server, page, filename, content, message):
    seed_demo()
    open_batch_upload(page, live_server, "jhomez", "JAHC TECHNOLOGIES")
    choose_file(page, EMI_NAME, filename, content)
    send(page)
    alert = page.locator("#upload-panel").get_by_role("alert")
    expect(alert).to_have_text(message)
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect_no_pending(page)
    # The chosen type stays, so the user only picks the right file again.
    expect(page.get_by_label("Tipo de lote", exact=True)).to_have_value("EMI")
    shot(page, "batch_11_rechazo_png" if content else "batch_12_rechazo_vacio")
    with connected():
        assert Batch.select().where(Batch.kind.in_(("EMI", "REC"))).count() == 0  # the demo's are INN and AFI


@pytest.mark.parametrize(
    "kind_name, rows, status",
    [
        (EMI_NAME, lambda: batchfiles.emi_rows(3), "Válido"),
        # Nobody holds a card yet: every recharge is rejected, and such a batch is deleted.
        (REC_NAME, lambda: batchfiles.rec_rows(2), "No válido"),
    ],
    ids=["emision_valida", "recarga_no_valida"],
)
def test_delete_a_pending_batch(live_server, page, background_jobs, kind_name, rows, status):
    seed_demo()
    open_batch_upload(page, live_server, "jhomez", "JAHC TECHNOLOGIES")
    code = "EMI" if kind_name == EMI_NAME else "REC"
    content = batchfiles.xlsx_bytes(code, rows())
    number = upload_and_validate(page, background_jobs, kind_name, f"{code}.xlsx", content, status)
    row = pending_row(page, number)
    if status == "Válido":
        expect(status_cell(row)).to_have_text("Válido")

    row.get_by_role("link", name="Eliminar").click()
    dialog = page.get_by_role("dialog", name="Eliminar lote")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"¿Deseas eliminar el lote Nro. {number} ({kind_name}, {len(rows())} registros)?")
    password = dialog.get_by_label("Contraseña", exact=True)
    expect(password).to_be_focused()
    shot(page, f"batch_13_eliminar_{code.lower()}")

    password.fill("Equivocada*1")
    dialog.get_by_role("button", name="Eliminar").click()
    expect(dialog.get_by_role("alert")).to_have_text("La contraseña es incorrecta")
    expect(pending_row(page, number)).to_have_count(1)

    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Eliminar").click()
    expect(dialog.locator("p.ok")).to_have_text(f"El lote Nro: {number} fue eliminado.")
    shot(page, f"batch_14_eliminado_{code.lower()}")
    dialog.get_by_role("button", name="Aceptar").click()
    expect(dialog).to_be_hidden()
    expect(pending_row(page, number)).to_have_count(0)
    expect_no_pending(page)
    with connected():
        assert Batch.get(Batch.number == number).status == Batch.DELETED


def test_two_signature_company_confirms_to_por_firmar(live_server, page, background_jobs):
    seed_demo()
    open_batch_upload(page, live_server, "firmante", "EMPRESA DE PRUEBA COOP")
    rows = batchfiles.emi_rows(5)
    for row in rows:
        row["SUCURSAL"] = "73"  # the COOP's only branch
    number = upload_and_validate(
        page, background_jobs, EMI_NAME, "EMISION_COOP.xlsx", batchfiles.xlsx_bytes("EMI", rows), "Válido"
    )
    row = pending_row(page, number)
    expect(status_cell(row)).to_have_text("Válido")

    row.get_by_role("link", name="Confirmar lote").click()
    dialog = page.get_by_role("dialog", name="Confirmación de lote")
    for label, value in {
        "NIT": "9013434540",
        "Nombre de la empresa": "EMPRESA DE PRUEBA COOP",
        "Tipo de lote": EMI_NAME,
        "Cantidad de registros": "5",
        "Nro. de lote": number,
    }.items():
        expect(datagrid_value(dialog, label)).to_have_text(value)
    expect(dialog).to_contain_text("Observaciones: Lote cargado exitosamente")
    shot(page, "batch_15_firmante_confirmacion")
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Confirmar").click()
    expect(dialog.locator("p.ok")).to_have_text(f"El lote Nro: {number} fue confirmado exitosamente.")
    dialog.get_by_role("button", name="Aceptar").click()
    expect(pending_row(page, number)).to_have_count(0)
    shot(page, "batch_16_firmante_confirmado")
    with connected():
        batch = Batch.get(Batch.number == number)
        assert batch.status == Batch.TO_SIGN  # two signatures: it waits for the signers
        assert batch.company.nit == "9013434540"


def confirm_from_detail(page, base, product_id, number):
    """Open the batch's detail from the list, press Confirmar lote there and give the password."""
    login(page, base, "jhomez", PASSWORD)
    page.goto(f"{base}/productos/{product_id}/lotes/carga")
    pending_row(page, number).get_by_role("link", name="Ver detalle").click()
    expect(page.get_by_role("heading", name=f"Detalle del lote {number}", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("El lote no tiene líneas con error.")
    expect(page.get_by_role("link", name="Descargar errores")).to_have_count(0)
    page.get_by_role("link", name="Confirmar lote").click()
    dialog = page.get_by_role("dialog", name="Confirmación de lote")
    expect(datagrid_value(dialog, "Nro. de lote")).to_have_text(number)
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Confirmar").click()
    expect(dialog.locator("p.ok")).to_have_text(f"El lote Nro: {number} fue confirmado exitosamente.")
    return dialog


def test_confirm_from_the_detail_page_returns_to_the_list(app, live_server, page):
    seed_demo()
    product_id, number = validated_batch(
        app, "jhomez", "900291499", batchfiles.xlsx_bytes("EMI", batchfiles.emi_rows(3))
    )
    dialog = confirm_from_detail(page, live_server, product_id, number)
    shot(page, "batch_17_confirmado_desde_detalle")
    # From the detail, Aceptar leads back to the list, where the batch is no longer pending.
    dialog.get_by_role("link", name="Aceptar").click()
    expect(page).to_have_url(re.compile(rf"/productos/{product_id}/lotes/carga$"))
    expect(pending_row(page, number)).to_have_count(0)
    expect_no_pending(page)
    with connected():
        assert Batch.get(Batch.number == number).status == Batch.TO_AUTHORIZE


def test_confirm_from_the_detail_page_logs_no_htmx_error(app, live_server, page):
    seed_demo()
    product_id, number = validated_batch(
        app, "jhomez", "900291499", batchfiles.xlsx_bytes("EMI", batchfiles.emi_rows(3))
    )
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    confirm_from_detail(page, live_server, product_id, number)
    assert [e for e in errors if e.startswith("htmx:")] == []


def test_upload_page_violates_no_content_security_policy(live_server, page):
    seed_demo()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    open_batch_upload(page, live_server, "jhomez", "JAHC TECHNOLOGIES")
    page.wait_for_load_state("load")
    assert [e for e in errors if "Content Security Policy" in e] == []
