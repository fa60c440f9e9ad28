"""Reportes in a real browser (manual chapter 6): after moving money in Servicios > Cuenta maestra,
jhomez opens Reportes > Catálogo de reportes > Cuenta maestra, finds the credit as the last line
with the balance the cuenta maestra shows, downloads the Excel, then exports a result too large
for the request: the dialog shows its progress, then «Descargar», and the file waits in «Mis
descargas». Screenshots land in /tmp/shots/reportes-*.png."""

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader

import ledger
from models import Card, Product
from services import exports
from tests.browser.conftest import connected, login, seed_demo
from tests.browser.test_orders import PASSWORD, Console, open_section_item, shot

pytestmark = pytest.mark.browser

PRODUCT = "Clásica In / Visa"


def test_the_master_account_report_after_an_operation_and_a_large_export(live_server, page, app):
    seed_demo()
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    page.get_by_role("list", name="Productos de JAHC TECHNOLOGIES").get_by_role("link", name=PRODUCT).click()

    # A credit of $ 12.345,00 to the first affiliated card, from its row in the cuenta maestra.
    open_section_item(page, "Servicios", "Cuenta maestra")
    with connected():
        product = Product.get(Product.name == PRODUCT, Product.company == 1)
        card = Card.select().where((Card.product == product) & Card.person.is_null(False)).order_by(Card.id).first()
    row = page.locator(f"#tarjeta-{card.id}")
    row.get_by_label(f"Monto para la tarjeta {card.masked_pan}").fill("12.345")
    row.get_by_role("link", name=f"Abonar a tarjeta {card.masked_pan}").click()
    dialog = page.get_by_role("dialog", name="Abonar a tarjeta")
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Aceptar").click()
    expect(page.get_by_role("dialog")).to_contain_text("Transacción exitosa")
    page.get_by_role("dialog").get_by_role("button", name="Aceptar").click()
    with connected():
        balance = ledger.balance(ledger.master_account(product))
    shown = f"$ {balance // 100:,}".replace(",", ".") + f",{balance % 100:02d}"

    # Reportes > Catálogo de reportes > Cuenta maestra.
    open_section_item(page, "Reportes", "Catálogo de reportes")
    page.get_by_label("Reporte").select_option(label="Cuenta maestra")
    page.get_by_role("button", name="Ver reporte").click()
    expect(page.get_by_role("heading", name=f"Cuenta maestra {PRODUCT}", level=1)).to_be_visible()
    page.get_by_label("Abono").check()
    page.locator("#report-criteria").get_by_role("button", name="Buscar").click()
    expect(page).to_have_url(re.compile(r"tipo=abono"))
    page.get_by_label("Todos").check()
    page.locator("#report-criteria").get_by_role("button", name="Buscar").click()
    pager = page.locator(".pager a").last
    if pager.count():
        pager.click()  # the last page holds the newest line
    last = page.locator("#report-table tbody tr").last
    expect(last).to_contain_text("Débito por comisión de servicio")
    expect(last.locator("td").nth(5)).to_have_text(shown)
    expect(page.locator("#report-totals")).to_contain_text(shown)
    shot(page, "reportes-01-cuenta-maestra")

    # Exportar Excel: the whole result, typed, its last line the same balance.
    with page.expect_download() as download:
        page.get_by_role("button", name="Exportar Excel").click()
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    lines = [r for r in values if isinstance(r[2], int)]
    assert lines[-1][5] == balance / 100

    # Too large for the request: the export job builds it, the dialog shows «Descargar».
    previous = app.config.get("EXPORT_INLINE_ROWS")
    app.config["EXPORT_INLINE_ROWS"] = 3
    try:
        page.get_by_role("button", name="Exportar PDF").click()
        dialog = page.get_by_role("dialog", name="Exportación en proceso")
        expect(dialog).to_contain_text("Mis descargas")
        with connected(), app.app_context():
            assert exports.run_waiting() == 1
        link = dialog.get_by_role("link", name="Descargar")
        expect(link).to_be_visible(timeout=10_000)
        shot(page, "reportes-02-exportacion-lista")
        with page.expect_download() as download:
            link.click()
        pdf = PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert "Saldo final" in "\n".join(p.extract_text() for p in pdf.pages)
        dialog.get_by_role("button", name="Cerrar").click()
    finally:
        app.config["EXPORT_INLINE_ROWS"] = previous if previous is not None else exports.INLINE_ROWS

    # Mis descargas keeps it.
    open_section_item(page, "Reportes", "Mis descargas")
    table = page.locator("#downloads")
    expect(table).to_contain_text("Cuenta maestra")
    expect(table.get_by_role("link", name="Descargar").first).to_be_visible()
    shot(page, "reportes-03-mis-descargas")
    console.assert_clean()
