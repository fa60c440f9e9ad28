"""Consulta de tarjetas in a real browser (issue 12): jhomez searches a card by its holder's
document, blocks it for loss and replaces it from the branch's stock; the new card holds the old
balance and the old one says Reemplazada. Screenshots land in /tmp/shots/tarjetas-*.png."""

import re

import pytest
from playwright.sync_api import expect

import ledger
from models import Card, Person
from tests.browser.conftest import connected, login, seed_demo
from tests.browser.test_orders import PASSWORD, Console, open_section_item, shot

pytestmark = pytest.mark.browser

PRODUCT = "Clásica In / Visa"
DOCUMENT = "52011234"  # MARTA ROJAS: a demo card with $ 80.000,00


def test_search_block_for_loss_and_replace_from_stock(live_server, page):
    seed_demo()
    console = Console(page)
    login(page, live_server, "jhomez", PASSWORD)
    page.get_by_role("list", name="Productos de JAHC TECHNOLOGIES").get_by_role("link", name=PRODUCT).click()
    open_section_item(page, "Consultas", "Consulta de tarjetas")
    page.get_by_label("Documento de identidad").fill(DOCUMENT)
    page.get_by_role("button", name="Buscar").click()
    rows = page.locator("#card-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("MARTA ROJAS")
    expect(rows.first).to_contain_text("$ 80.000,00")
    shot(page, "tarjetas-01-busqueda")
    old = rows.first.get_by_role("cell").nth(1).inner_text()
    rows.first.get_by_role("link", name=f"Ver tarjeta {old}").click()

    # Bloqueo por extravío, from the card's page.
    page.get_by_role("link", name="Bloqueo por extravío").click()
    dialog = page.get_by_role("dialog", name="Bloqueo por extravío")
    expect(dialog).to_contain_text("es permanente")
    dialog.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Aceptar").click()
    result = page.get_by_role("dialog", name="Bloqueo por extravío")
    expect(result.locator("p[role=status]")).to_have_text("Tarjeta bloqueada por extravío")
    result.get_by_role("link", name="Aceptar").click()
    expect(page.locator("dl.datagrid")).to_contain_text("Bloqueada por extravío")

    # Reposición from the stock of branch 73.
    page.get_by_role("link", name="Reposición").click()
    replace = page.get_by_role("dialog", name=re.compile("Reposición"))
    replace.get_by_role("radio", name="Tarjeta de existencias").check()
    replace.get_by_label(re.compile("^Sucursal")).select_option("73")
    replace.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    shot(page, "tarjetas-02-reposicion")
    replace.get_by_role("button", name="Reponer").click()
    done = page.get_by_role("dialog")
    expect(done).to_contain_text(re.compile(rf"La tarjeta •••• {old[-4:]} ha sido reemplazada por •••• \d{{4}}"))
    shot(page, "tarjetas-03-reemplazada")
    with connected():
        person = Person.get(Person.id_number == DOCUMENT)
        old_card = Card.get(Card.masked_pan == old)
        new_card = Card.get((Card.person == person) & (Card.status == Card.ACTIVE))
        assert old_card.status == "REEMPLAZADA" and old_card.replaced_by_id == new_card.id
        assert ledger.balance(ledger.card_account(new_card)) == 8_000_000
        assert ledger.balance(ledger.card_account(old_card)) == 0
    console.assert_clean()
