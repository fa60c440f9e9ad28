"""Lotes > Autorización and Consultas > Órdenes de servicio in a real browser (manual 3.3 and
chapter 4, SPEC §6–§7): authorize a confirmed batch into a service order, pay it with the code
e-mailed to the user, watch the background job process it into cards; two signatures on the
COOP (firmante signs, autorizador authorizes); void an order; a wrong payment code.

As under `make run`, the APScheduler jobs (validation, order processing) run beside the live
server (`background_jobs` fixture). E-mail goes to the OutboxMessage table (no SMTP in tests),
where the tests read the verification code as the user reads it in their mailbox.
Screenshots of every main screen land in /tmp/shots/orders-*.png.
"""

import re

import pytest
from playwright.sync_api import expect

from models import (
    BankAccount,
    BankMovement,
    Batch,
    BatchRecord,
    Card,
    Company,
    OutboxMessage,
    Product,
    ServiceOrder,
    User,
)
from services import authorization
from services import batches as batch_service
from tests import batchfiles
from tests.browser.conftest import SHOTS, connected, login, seed_demo
from tests.browser.test_batches import (
    EMI_NAME,
    PASSWORD,
    datagrid_value,
    open_batch_upload,
    pending_row,
    upload_and_validate,
)

pytestmark = pytest.mark.browser

JAHC, JAHC_NIT = "JAHC TECHNOLOGIES", "900291499"
COOP, COOP_NIT = "EMPRESA DE PRUEBA COOP", "9013434540"
PRODUCT = "Clásica / Visa"
PROCESSING_TIMEOUT_MS = 30_000  # the row polls every 3 s; the job runs every 2 s
ORDER_COLUMNS = [
    "Nro. de orden",
    "Fecha",
    "Monto comisión",
    "Monto GMF",
    "Monto IVA",
    "Monto OS",
    "Monto depositado",
    "Estado",
    "Opciones",
]
# 3 named cards of the demo schedule: 3 × $ 10,00 + $ 5.000,00 distribution = $ 5.030,00;
# IVA 19 % = $ 955,70; Monto OS = Total a pagar = $ 5.985,70 (an EMI batch moves no money).
COMMISSION, IVA, OS_TOTAL = "$ 5.030,00", "$ 955,70", "$ 5.985,70"
TOTAL_CENTS = 598_570


# ---------------------------------------------------------------- helpers


def shot(page, name: str) -> None:
    """conftest.shot, but leaving the caret alone: Playwright hides it by putting style="" on
    every input, and htmx's settle then copies that attribute onto the swapped-in input of the
    same id, which the CSP (style-src 'self') blocks with a console error no user would see."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, caret="initial")


class Console:
    """Console errors and uncaught page errors seen during a test (htmx:* errors included)."""

    def __init__(self, page):
        self.errors = []
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def assert_clean(self):
        assert self.errors == [], f"errores en la consola del navegador: {self.errors}"


def emi_rows(count, branch=None):
    rows = batchfiles.emi_rows(count)
    if branch:
        for row in rows:
            row["SUCURSAL"] = branch
    return rows


def open_section_item(page, section, item):
    """Menú del producto > section, then the item's link in the section page."""
    page.get_by_role("navigation", name="Menú del producto").get_by_role("link", name=section, exact=True).click()
    page.get_by_role("main").get_by_role("link", name=item, exact=True).click()


def open_product(page, company):
    page.get_by_role("list", name=f"Productos de {company}").get_by_role("link", name=PRODUCT, exact=True).click()
    expect(page.get_by_role("heading", name=PRODUCT, exact=True, level=1)).to_be_visible()


def open_authorization(page):
    open_section_item(page, "Lotes", "Autorización")
    expect(page.get_by_role("heading", name=f"Autorización de lotes {PRODUCT}", level=1)).to_be_visible()


def open_orders(page):
    open_section_item(page, "Consultas", "Órdenes de servicio")
    expect(page.get_by_role("heading", name=f"Órdenes de servicio {PRODUCT}", level=1)).to_be_visible()


def section(page, title):
    """The card <section> whose <h2> reads `title` (e.g. "Lotes por firmar")."""
    return page.locator("section").filter(has=page.get_by_role("heading", name=title, exact=True, level=2))


def batch_row(scope, number):
    return scope.get_by_role("row").filter(has=scope.page.get_by_text(number, exact=True))


def cell_of(table, row, column):
    """The cell of `row` under the header `column` of `table`."""
    headers = table.locator("thead th").all_inner_texts()
    return row.get_by_role("cell").nth([h.strip() for h in headers].index(column))


def orders_table(page):
    return page.locator("#orders").get_by_role("table")


def order_row(page, order_id):
    return page.locator(f"#orders tr#orden-{order_id}")


def order_cell(page, order_id, column):
    return order_row(page, order_id).get_by_role("cell").nth(ORDER_COLUMNS.index(column))


def named_orders():
    """The orders of the named product (the demo's stock cards have orders of their own)."""
    return ServiceOrder.select().join(Product, on=(ServiceOrder.product == Product.id)).where(Product.name == PRODUCT)


def last_code(email) -> str:
    """The 6-digit code of the last message sent to `email` (the outbox, as no SMTP is set)."""
    with connected():
        message = (
            OutboxMessage.select().where(OutboxMessage.recipient == email).order_by(OutboxMessage.id.desc()).first()
        )
    assert message is not None, f"no se envió ningún correo a {email}"
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, message.body
    return match.group(1)


def bank_balance(nit) -> int:
    with connected():
        company = Company.get(Company.nit == nit)
        return BankAccount.get(BankAccount.number == company.bank_account).balance


def confirm_in_list(page, number):
    """✓ Confirmar lote of a validated batch, with the password, then Aceptar."""
    pending_row(page, number).get_by_role("link", name="Confirmar lote").click()
    dialog = page.get_by_role("dialog", name="Confirmación de lote")
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Confirmar").click()
    expect(dialog.locator("p.ok")).to_have_text(f"El lote Nro: {number} fue confirmado exitosamente.")
    dialog.get_by_role("button", name="Aceptar").click()
    expect(dialog).to_be_hidden()
    expect(pending_row(page, number)).to_have_count(0)


def authorized_order(app, nit=JAHC_NIT, username="jhomez", records=3, branch=None) -> tuple[int, str]:
    """(order id, batch number) of an EMI batch uploaded, validated, confirmed and authorized
    through the services, for tests whose subject comes after authorization."""
    with app.app_context(), connected():
        user = User.get(User.username == username)
        product = Product.select().join(Company).where((Company.nit == nit) & (Product.name == PRODUCT)).get()
        content = batchfiles.xlsx_bytes("EMI", emi_rows(records, branch))
        batch = batch_service.upload(user, product, "EMI", "EMISION.xlsx", content)
        assert batch_service.validate_waiting() == 1
        batch_service.confirm(Batch.get_by_id(batch.id), user, PASSWORD)
        assert Batch.get_by_id(batch.id).status == Batch.TO_AUTHORIZE
        (order,) = authorization.authorize(product, [batch.id], user, "tipo")
        return order.id, batch.number


def log_out(page):
    page.get_by_role("button", name="Salir").first.click()
    expect(page).to_have_url(re.compile(r"/ingresar"))


def authorize_in_calculation(page, number, shot_name):
    """On "Calcular orden de servicio" (one order): its figures, its batches, then Autorizar."""
    expect(page.get_by_role("heading", name=f"Calcular orden de servicio {PRODUCT}", level=1)).to_be_visible()
    main = page.get_by_role("main")
    table = main.locator("table.orders")
    expect(table.locator(":scope > thead th")).to_have_text(
        [
            "Monto comisión",
            "Monto GMF",
            "Monto IVA",
            "Monto OS",
            "Monto",
            "Monto depositado",
            "Total a pagar",
            "Opciones",
        ]
    )
    first = table.locator(":scope > tbody > tr").first
    expect(first.locator(":scope > td")).to_have_text(
        [COMMISSION, "$ 0,00", IVA, OS_TOTAL, "$ 0,00", "$ 0,00", OS_TOTAL, "▾\xa0Lotes"]  # an EMI batch: no GMF
    )
    toggle = main.get_by_role("button", name="Ver lotes de la orden 1")
    nested = main.locator("#orden-1")
    expect(nested).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(nested).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nested.locator("thead th")).to_have_text(
        ["Nro. de lote", "Fecha de carga", "Tipo", "Registros", "Monto", "Monto comisión + GMF"]
    )
    expect(nested.locator("tbody tr")).to_have_count(1)
    expect(nested.locator("tbody tr td")).to_have_text(
        [number, re.compile(r"^\d{2}/\d{2}/\d{4}"), EMI_NAME, "3", "$ 0,00", COMMISSION]
    )
    shot(page, shot_name)
    main.get_by_role("button", name="Autorizar", exact=True).click()


# ---------------------------------------------------------------- 1. the main loop


def test_jhomez_authorizes_pays_and_sees_the_order_processed(live_server, page, background_jobs):
    seed_demo()
    console = Console(page)
    balance_before = bank_balance(JAHC_NIT)

    # Carga de lotes: upload 3 named cards, validated by the job, confirmed with the password.
    open_batch_upload(page, live_server, "jhomez", JAHC)
    content = batchfiles.xlsx_bytes("EMI", emi_rows(3))
    number = upload_and_validate(page, background_jobs, EMI_NAME, "EMISION.xlsx", content, "Válido")
    confirm_in_list(page, number)

    # Lotes > Autorización: the batch with its estimated cost.
    open_authorization(page)
    expect(page).to_have_title(f"Autorización de lotes · {PRODUCT} · Conexión Empresas")
    expect(section(page, "Lotes por firmar")).to_have_count(0)  # JAHC signs once
    to_authorize = section(page, "Lotes por autorizar")
    table = to_authorize.get_by_role("table")
    expect(table.locator("thead th")).to_have_text(
        ["", "Nro. de lote", "Fecha de carga", "Tipo", "Registros", "Monto a debitar", "Costo estimado", "Opciones"]
    )
    row = batch_row(table, number)
    expect(row).to_have_count(1)
    expect(cell_of(table, row, "Tipo")).to_have_text(EMI_NAME)
    expect(cell_of(table, row, "Registros")).to_have_text("3")
    expect(cell_of(table, row, "Costo estimado")).to_have_text(OS_TOTAL)
    expect(cell_of(table, row, "Monto a debitar")).to_have_text("$ 0,00")  # an emission credits no card
    grouping = to_authorize.get_by_label("Procesar por tipo de lote")
    expect(grouping).to_be_checked()
    expect(to_authorize.get_by_label("Procesar por lote")).not_to_be_checked()
    shot(page, "orders-01-autorizacion")

    to_authorize.get_by_label(f"Seleccionar lote {number}").check()
    to_authorize.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    to_authorize.get_by_role("button", name="Autorizar", exact=True).click()

    # Calcular orden de servicio: the figures, the order's batches, then Autorizar.
    authorize_in_calculation(page, number, "orders-02-calcular-orden")
    with connected():
        assert named_orders().count() == 1
        order = named_orders().get()
        assert (order.status, order.total_to_pay, order.authorized_by.username) == (
            ServiceOrder.PENDING_PAYMENT,
            TOTAL_CENTS,
            "jhomez",
        )
        assert Batch.get(Batch.number == number).status == Batch.IN_ORDER
    order_id = order.id

    # Órdenes de servicio: the new order, Autorizado (pending payment).
    expect(page.get_by_role("heading", name=f"Órdenes de servicio {PRODUCT}", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(f"Se creó la orden de servicio Nro. {order_id}.")
    expect(orders_table(page).locator("thead th")).to_have_text(ORDER_COLUMNS)
    expect(order_row(page, order_id)).to_have_count(1)
    expect(order_cell(page, order_id, "Nro. de orden")).to_have_text(str(order_id))
    expect(order_cell(page, order_id, "Monto comisión")).to_have_text(COMMISSION)
    expect(order_cell(page, order_id, "Monto IVA")).to_have_text(IVA)
    expect(order_cell(page, order_id, "Monto OS")).to_have_text(OS_TOTAL)
    expect(order_cell(page, order_id, "Monto depositado")).to_have_text("$ 0,00")
    expect(order_cell(page, order_id, "Estado")).to_have_text("Autorizado")
    shot(page, "orders-03-ordenes-autorizado")

    # Descargar PDF from the order's row.
    with page.expect_download() as download_info:
        order_row(page, order_id).get_by_role("link", name="Descargar PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"orden-servicio-{order_id}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    # Pagar: the code goes to jhomez's mailbox.
    order_row(page, order_id).get_by_role("button", name="Pagar").click()
    dialog = page.get_by_role("dialog", name="Pagar Orden de Servicio")
    expect(dialog).to_be_visible()
    expect(datagrid_value(dialog, "Nro. de orden")).to_have_text(str(order_id))
    expect(datagrid_value(dialog, "Total a pagar")).to_have_text(OS_TOTAL)
    code_box = dialog.get_by_label("Ingresa el código de verificación enviado a tu correo")
    expect(code_box).to_be_visible()
    expect(code_box).to_be_focused()
    shot(page, "orders-04-pagar-codigo")
    code = last_code("jhomez@jahc.example")
    code_box.fill(code)
    dialog.get_by_role("button", name="Aceptar").click()
    done = page.get_by_role("dialog", name=re.compile("Pagar orden de servicio", re.IGNORECASE))
    expect(done.locator("p.ok")).to_have_text(
        f"Pago exitoso de la orden de servicio Nro. {order_id}. Las tarjetas y saldos se están procesando."
    )
    shot(page, "orders-05-pago-exitoso")
    done.get_by_role("button", name="Aceptar").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert bank_balance(JAHC_NIT) == balance_before - TOTAL_CENTS

    # The row polls itself until the job has made the cards.
    expect(order_cell(page, order_id, "Estado")).to_have_text("Procesado", timeout=PROCESSING_TIMEOUT_MS)
    expect(order_cell(page, order_id, "Monto depositado")).to_have_text(OS_TOTAL)
    expect(order_row(page, order_id).get_by_role("button", name="Pagar")).to_have_count(0)
    expect(order_row(page, order_id).get_by_role("link", name="Anular orden")).to_have_count(0)
    shot(page, "orders-06-ordenes-procesado")
    with connected():
        order = ServiceOrder.get_by_id(order_id)
        batch = Batch.get(Batch.number == number)
        assert (order.status, order.deposited, order.done_records) == (ServiceOrder.PROCESSED, TOTAL_CENTS, 3)
        assert batch.status == Batch.PROCESSED
        records = list(BatchRecord.select().where(BatchRecord.batch == batch))
        assert [r.status for r in records] == ["PROCESADO"] * 3
        cards = list(Card.select().where(Card.record.in_([r.id for r in records])))
        assert len(cards) == 3
        assert all(re.fullmatch(r"\d{6}\*{6}\d{4}", c.masked_pan) for c in cards), [c.masked_pan for c in cards]
        debits = BankMovement.select().where(BankMovement.key == f"orden-servicio:{order_id}")
        assert [m.amount for m in debits] == [-TOTAL_CENTS], [m.amount for m in debits]

    # Lupa: the order's batches, then the batch's records.
    order_row(page, order_id).get_by_role("link", name="Ver detalle").click()
    expect(page.get_by_role("heading", name=f"Orden de servicio {order_id} {PRODUCT}", level=1)).to_be_visible()
    expect(datagrid_value(page, "Estado")).to_have_text("Procesado")
    expect(datagrid_value(page, "Monto depositado")).to_have_text(OS_TOTAL)
    batches_table = page.get_by_role("main").locator("table.batches")
    brow = batch_row(batches_table, number)
    expect(brow).to_have_count(1)
    expect(cell_of(batches_table, brow, "Estado")).to_have_text("Procesado")
    expect(cell_of(batches_table, brow, "Registros")).to_have_text("3")
    expect(cell_of(batches_table, brow, "Monto comisión + GMF")).to_have_text(COMMISSION)
    shot(page, "orders-07-detalle-orden")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar PDF").click()
    with open(download_info.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    brow.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=re.compile(rf"^Registros del lote {number}"), level=1)).to_be_visible()
    records_table = page.get_by_role("main").locator("table.records")
    expect(records_table.locator("thead th")).to_have_text(["Documento", "Nombre y apellido", "Estado"])
    expect(records_table.locator("tbody tr")).to_have_count(3)
    for i in range(3):
        expect(records_table.locator("tbody tr").nth(i).get_by_role("cell").nth(2)).to_have_text("Procesado")
        expect(records_table.locator("tbody tr").nth(i).get_by_role("cell").nth(1)).not_to_have_text("")
    shot(page, "orders-08-registros-lote")
    page.get_by_role("main").get_by_role("link", name="Volver").click()
    expect(page.get_by_role("heading", name=f"Orden de servicio {order_id} {PRODUCT}", level=1)).to_be_visible()
    console.assert_clean()


# ---------------------------------------------------------------- 2. two signatures


def test_firmante_signs_and_autorizador_authorizes_on_the_coop(live_server, page, background_jobs):
    seed_demo()
    console = Console(page)
    open_batch_upload(page, live_server, "firmante", COOP)
    content = batchfiles.xlsx_bytes("EMI", emi_rows(3, branch="73"))  # the COOP's only branch
    number = upload_and_validate(page, background_jobs, EMI_NAME, "EMISION_COOP.xlsx", content, "Válido")
    confirm_in_list(page, number)
    with connected():
        assert Batch.get(Batch.number == number).status == Batch.TO_SIGN

    # firmante: Lotes por firmar → Firmar.
    open_authorization(page)
    expect(page.get_by_role("main")).to_contain_text("Esta empresa autoriza con dos firmas")
    to_sign, to_authorize = section(page, "Lotes por firmar"), section(page, "Lotes por autorizar")
    expect(batch_row(to_sign.get_by_role("table"), number)).to_have_count(1)
    expect(to_authorize.get_by_role("table").locator("tbody")).to_have_text("No hay lotes por autorizar")
    expect(to_sign.get_by_role("button", name="Autorizar")).to_have_count(0)  # firmante can't authorize
    shot(page, "orders-09-lotes-por-firmar")

    to_sign.get_by_label(f"Seleccionar lote {number}").check()
    to_sign.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    to_sign.get_by_role("button", name="Firmar").click()
    expect(page.get_by_role("main")).to_contain_text("firmado")
    to_sign, to_authorize = section(page, "Lotes por firmar"), section(page, "Lotes por autorizar")
    expect(to_sign.get_by_role("table").locator("tbody")).to_have_text("No hay lotes por firmar")
    signed = batch_row(to_authorize.get_by_role("table"), number)
    expect(signed).to_have_count(1)
    expect(cell_of(to_authorize.get_by_role("table"), signed, "Firmado por")).to_have_text("firmante")
    expect(to_authorize.get_by_role("button", name="Autorizar")).to_have_count(0)
    shot(page, "orders-10-firmado")
    with connected():
        batch = Batch.get(Batch.number == number)
        assert batch.status == Batch.TO_AUTHORIZE and batch.signed_by.username == "firmante"
    log_out(page)

    # autorizador: Lotes por autorizar → Autorizar → Calcular orden de servicio → Autorizar.
    login(page, live_server, "autorizador", PASSWORD)
    open_product(page, COOP)
    open_authorization(page)
    to_sign, to_authorize = section(page, "Lotes por firmar"), section(page, "Lotes por autorizar")
    expect(to_sign.get_by_role("table").locator("tbody")).to_have_text("No hay lotes por firmar")
    expect(to_sign.get_by_role("button", name="Firmar")).to_have_count(0)  # autorizador can't sign
    table = to_authorize.get_by_role("table")
    row = batch_row(table, number)
    expect(cell_of(table, row, "Firmado por")).to_have_text("firmante")
    expect(cell_of(table, row, "Costo estimado")).to_have_text(OS_TOTAL)
    shot(page, "orders-11-autorizador")
    to_authorize.get_by_label(f"Seleccionar lote {number}").check()
    to_authorize.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    to_authorize.get_by_role("button", name="Autorizar", exact=True).click()
    authorize_in_calculation(page, number, "orders-12-calcular-coop")

    expect(page.get_by_role("heading", name=f"Órdenes de servicio {PRODUCT}", level=1)).to_be_visible()
    with connected():
        order = named_orders().get()
        batch = Batch.get(Batch.number == number)
        assert (order.status, order.authorized_by.username, order.company.nit) == (
            ServiceOrder.PENDING_PAYMENT,
            "autorizador",
            COOP_NIT,
        )
        assert (batch.status, batch.order_id, batch.signed_by.username, batch.authorized_by.username) == (
            Batch.IN_ORDER,
            order.id,
            "firmante",
            "autorizador",
        )
    expect(page.get_by_role("main")).to_contain_text(f"Se creó la orden de servicio Nro. {order.id}.")
    expect(order_cell(page, order.id, "Estado")).to_have_text("Autorizado")
    expect(order_cell(page, order.id, "Monto OS")).to_have_text(OS_TOTAL)
    expect(order_row(page, order.id).get_by_role("button", name="Pagar")).to_be_visible()
    expect(order_row(page, order.id).get_by_role("link", name="Anular orden")).to_be_visible()
    shot(page, "orders-13-orden-coop")
    console.assert_clean()


# ---------------------------------------------------------------- 3. void


def test_void_an_authorized_order_from_the_modal(app, live_server, page):
    seed_demo()
    order_id, number = authorized_order(app)
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    open_product(page, JAHC)
    open_orders(page)
    expect(order_cell(page, order_id, "Estado")).to_have_text("Autorizado")

    order_row(page, order_id).get_by_role("link", name="Anular orden").click()
    dialog = page.get_by_role("dialog", name="Anular orden de servicio")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Por favor ingresa la contraseña para anular la orden de servicio: {order_id}")
    password = dialog.get_by_label("Contraseña", exact=True)
    expect(password).to_have_attribute("type", "password")
    expect(password).to_be_focused()
    shot(page, "orders-14-anular")

    password.fill("Equivocada*1")
    dialog.get_by_role("button", name="Aceptar").click()
    dialog = page.get_by_role("dialog", name="Anular orden de servicio")
    expect(dialog.get_by_role("alert")).to_have_text("La contraseña es incorrecta")
    with connected():
        assert ServiceOrder.get_by_id(order_id).status == ServiceOrder.PENDING_PAYMENT

    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Aceptar").click()
    expect(dialog.locator("p.ok")).to_have_text(f"La orden de servicio Nro. {order_id} fue anulada.")
    shot(page, "orders-15-anulada")
    dialog.get_by_role("button", name="Aceptar").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(order_cell(page, order_id, "Estado")).to_have_text("Anulado")
    expect(order_row(page, order_id).get_by_role("button", name="Pagar")).to_have_count(0)
    expect(order_row(page, order_id).get_by_role("link", name="Anular orden")).to_have_count(0)
    shot(page, "orders-16-ordenes-anulado")
    with connected():
        order = ServiceOrder.get_by_id(order_id)
        assert (order.status, order.voided_by.username) == (ServiceOrder.VOIDED, "jhomez")
        assert Batch.get(Batch.number == number).status == Batch.VOIDED

    # Estado: Anulado finds it.
    page.get_by_label("Estado", exact=True).select_option(label="Anulado")
    page.get_by_role("button", name="Buscar").click()
    expect(order_cell(page, order_id, "Estado")).to_have_text("Anulado")
    console.assert_clean()


# ---------------------------------------------------------------- 4. wrong code


def test_a_wrong_payment_code_is_refused_and_the_order_stays_authorized(app, live_server, page):
    seed_demo()
    order_id, _number = authorized_order(app)
    balance_before = bank_balance(JAHC_NIT)
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    open_product(page, JAHC)
    open_orders(page)

    order_row(page, order_id).get_by_role("button", name="Pagar").click()
    dialog = page.get_by_role("dialog", name="Pagar Orden de Servicio")
    expect(dialog).to_be_visible()
    code = last_code("jhomez@jahc.example")
    wrong = "000000" if code != "000000" else "111111"
    dialog.get_by_label("Ingresa el código de verificación enviado a tu correo").fill(wrong)
    dialog.get_by_role("button", name="Aceptar").click()
    dialog = page.get_by_role("dialog", name="Pagar Orden de Servicio")
    expect(dialog.get_by_role("alert")).to_have_text(re.compile("El código de verificación no es correcto"))
    expect(dialog.get_by_label("Ingresa el código de verificación enviado a tu correo")).to_be_visible()
    shot(page, "orders-17-codigo-incorrecto")

    dialog.get_by_role("button", name="Cancelar").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(order_cell(page, order_id, "Estado")).to_have_text("Autorizado")
    expect(order_cell(page, order_id, "Monto depositado")).to_have_text("$ 0,00")
    page.reload()
    expect(order_cell(page, order_id, "Estado")).to_have_text("Autorizado")
    with connected():
        order = ServiceOrder.get_by_id(order_id)
        assert (order.status, order.deposited, order.paid_by_id) == (ServiceOrder.PENDING_PAYMENT, 0, None)
        assert BankMovement.select().where(BankMovement.key == f"orden-servicio:{order_id}").count() == 0
    assert bank_balance(JAHC_NIT) == balance_before
    console.assert_clean()
