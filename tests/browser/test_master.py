"""Servicios > Cuenta maestra in a real browser (manual chapter 5): jhomez funds the master account
with the e-mailed code, credits two cards with different amounts at once, debits a third from
its row, consults the three balances, and every figure ties out with the ledger.

Demo data: «Clásica In / Visa» of JAHC has $ 2.000.000,00 funded and three affiliated cards
credited $ 150.000,00, $ 80.000,00 and $ 25.000,00 (each credit paid a $ 55,00 commission).
Screenshots land in /tmp/shots/maestra-*.png.
"""

import re

import pytest
from playwright.sync_api import expect

from models import Card, Product
from services import ledger_check
from tests.browser.conftest import connected, login, seed_demo
from tests.browser.test_orders import PASSWORD, Console, last_code, open_section_item, shot

pytestmark = pytest.mark.browser

PRODUCT = "Clásica In / Visa"


def header_balance(page):
    return page.locator("#master-balance")


def test_fund_credit_debit_and_consult_tie_out(live_server, page):
    seed_demo()
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    page.get_by_role("list", name="Productos de JAHC TECHNOLOGIES").get_by_role("link", name=PRODUCT).click()
    open_section_item(page, "Servicios", "Cuenta maestra")
    expect(page.get_by_role("heading", name=f"Cuenta maestra {PRODUCT}", level=1)).to_be_visible()
    expect(header_balance(page)).to_have_text("$ 1.744.835,00")  # 2.000.000 − 255.000 − 3 × 55
    with connected():
        product = Product.get(Product.name == PRODUCT, Product.company == 1)
        cards = list(Card.select().where((Card.product == product) & Card.person.is_null(False)).order_by(Card.id))
    first, second, third = (c.masked_pan for c in cards)

    # Recarga cuenta maestra: $ 500.000,00 confirmed with the code.
    page.get_by_role("link", name="Recarga cuenta maestra").click()
    dialog = page.get_by_role("dialog", name="Recarga cuenta maestra")
    expect(dialog).to_contain_text("Saldo disponible")
    dialog.get_by_label("Monto").fill("500.000")
    dialog.get_by_label("Descripción").fill("Fondeo de nómina")
    dialog.get_by_role("button", name="Transferir").click()
    code_box = dialog.get_by_label("Ingresa el código de verificación enviado a tu correo")
    expect(code_box).to_be_visible()
    shot(page, "maestra-01-codigo")
    code_box.fill(last_code("jhomez@jahc.example"))
    dialog.get_by_role("button", name="Aceptar").click()
    done = page.get_by_role("dialog", name="Recarga cuenta maestra")
    expect(done.locator("p.ok")).to_have_text("La transferencia fue realizada exitosamente.")
    done.get_by_role("button", name="Aceptar").click()
    expect(header_balance(page)).to_have_text("$ 2.244.835,00")

    # Two cards at once, each with its own amount.
    table = page.locator("#master-cards")
    table.get_by_label(f"Seleccionar tarjeta {first}").check()
    table.get_by_label(f"Seleccionar tarjeta {second}").check()
    table.get_by_label(f"Monto para la tarjeta {first}").fill("10.000")
    table.get_by_label(f"Monto para la tarjeta {second}").fill("20.000")
    page.get_by_role("button", name="Abonar", exact=True).click()
    summary = page.get_by_role("dialog", name="Abonar a tarjeta")
    expect(summary).to_contain_text("$ 30.000,00")  # total to move
    expect(summary).to_contain_text("$ 110,00")  # two commissions
    summary.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    shot(page, "maestra-02-abonar-varias")
    summary.get_by_role("button", name="Aceptar").click()
    result = page.get_by_role("dialog", name="Abonar a tarjeta")
    expect(result.locator("p[role=status]")).to_have_text("2 de 2 operaciones exitosas")
    expect(result.locator("ul.results li")).to_have_text(
        [
            re.compile(rf"•••• {first[-4:]} · \$ 10\.000,00 · Transacción exitosa · Saldo \$ 160\.000,00"),
            re.compile(rf"•••• {second[-4:]} · \$ 20\.000,00 · Transacción exitosa · Saldo \$ 100\.000,00"),
        ]
    )
    result.get_by_role("button", name="Aceptar").click()

    # Cargo a tarjeta on the third card, from its row.
    table.get_by_label(f"Monto para la tarjeta {third}").fill("5.000")
    table.get_by_role("link", name=f"Cargo a tarjeta {third}").click()
    debit = page.get_by_role("dialog", name="Cargo a tarjeta")
    expect(debit.get_by_label("Monto")).to_have_value("5.000")  # the row's Monto came along
    debit.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    debit.get_by_role("button", name="Aceptar").click()
    expect(page.get_by_role("dialog", name="Cargo a tarjeta").locator("p[role=status]")).to_have_text(
        "Transacción exitosa"
    )
    page.get_by_role("dialog", name="Cargo a tarjeta").get_by_role("button", name="Aceptar").click()

    # Consultar saldo of the three: the table shows them without reloading.
    page.locator("#master-cards thead").get_by_label("Seleccionar todas").check()
    page.get_by_role("button", name="Consultar saldo", exact=True).click()
    inquiry = page.get_by_role("dialog", name="Consultar saldo")
    inquiry.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    inquiry.get_by_role("button", name="Aceptar").click()
    expect(page.get_by_role("dialog", name="Consultar saldo").locator("p[role=status]")).to_have_text(
        "3 de 3 operaciones exitosas"
    )
    page.get_by_role("dialog", name="Consultar saldo").get_by_role("button", name="Aceptar").click()
    expect(page.locator(f"#saldo-{cards[0].id}")).to_contain_text("$ 160.000,00")
    expect(page.locator(f"#saldo-{cards[1].id}")).to_contain_text("$ 100.000,00")
    expect(page.locator(f"#saldo-{cards[2].id}")).to_contain_text("$ 20.000,00")
    # 2.244.835 − 30.000 − 110 + 5.000 − 55 − 3 × 60
    expect(header_balance(page)).to_have_text("$ 2.219.490,00")
    shot(page, "maestra-03-saldos")
    with connected():
        assert ledger_check.check() == []
    console.assert_clean()
