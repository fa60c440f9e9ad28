"""Ingreso al sistema in a real browser (SPEC §2, §4): first login, companies and products,
recovery by e-mail, lockout and the idle-session warning.

Locators go by role and label, so each test also proves the accessible names a person or a
screen reader relies on. Screenshots of every main screen land in /tmp/shots/.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from models import Company, User, UserCompany
from tests.browser.conftest import TEMP_PASSWORD_RE, connected, login, mail_subject, mail_text, seed_demo, shot
from tests.factories import make_company, make_product

pytestmark = pytest.mark.browser

RECOVERY_SENT = (
    "Si los datos corresponden a un usuario registrado, enviamos al correo electrónico registrado una contraseña temporal "
    "válida por 24 horas. Úsala para ingresar; el sistema te pedirá crear una nueva."
)
PASSWORD_CHANGED = "Tu contraseña fue cambiada exitosamente. Ingresa con tu nueva contraseña."
REQUIREMENTS = [
    "De 8 a 15 caracteres",
    "Al menos una letra minúscula",
    "Al menos una letra mayúscula",
    "De 1 a 3 números",
    "Al menos un carácter especial (ej: ! @ * - ? ¡ ¿ + / . , _ #)",
    "No debe tener más de 2 caracteres iguales consecutivos",
    "Diferente a las últimas 5 contraseñas",
]


def expect_login_page(page):
    expect(page).to_have_url(re.compile(r"/ingresar$"))
    expect(page.get_by_role("heading", name="Ingreso al sistema")).to_be_visible()


def expect_companies_page(page):
    expect(page).to_have_url(re.compile(r"/empresas(\?.*)?$"))
    expect(page.get_by_role("heading", name="Empresas", level=1)).to_be_visible()


def login_error(page):
    return page.get_by_role("main").get_by_role("alert")


def change_password_form(page, current, new, confirm=None):
    page.get_by_label("Contraseña actual").fill(current)
    page.get_by_label("Contraseña nueva").fill(new)
    page.get_by_label("Confirma la contraseña").fill(new if confirm is None else confirm)
    page.get_by_role("button", name="Aceptar").click()


def session_status(page) -> dict:
    """GET /sesion/estado from the page itself (a passive request: it doesn't renew the session)."""
    return json.loads(page.evaluate("fetch('/sesion/estado', {credentials: 'same-origin'}).then(r => r.text())"))


def test_first_login_accepts_terms_and_changes_password(live_server, page):
    seed_demo()
    login(page, live_server, "nuevo", "Temporal*01")

    expect(page.get_by_role("heading", name="Términos y condiciones", level=1)).to_be_visible()
    expect(page.get_by_label("Texto de los términos y condiciones")).to_contain_text("Credenciales")
    shot(page, "02_terminos")
    accept = page.get_by_label("He leído y acepto los términos y condiciones")
    page.get_by_role("button", name="Aceptar").click()  # unchecked: the browser keeps us here
    expect(page).to_have_url(re.compile(r"/terminos$"))
    expect(accept).not_to_be_checked()
    accept.check()
    page.get_by_role("button", name="Aceptar").click()

    expect(page.get_by_role("heading", name="Cambio de contraseña", level=1)).to_be_visible()
    for label in ("Contraseña actual", "Contraseña nueva", "Confirma la contraseña"):
        expect(page.get_by_label(label)).to_have_attribute("type", "password")
    requirements = page.get_by_role("complementary", name="Requisitos para crear la contraseña:")
    expect(requirements.get_by_role("listitem")).to_have_text(REQUIREMENTS)

    change_password_form(page, "Temporal*01", "clave1")
    errors = page.get_by_role("main").get_by_role("alert")
    expect(errors).to_contain_text("La contraseña debe tener de 8 a 15 caracteres")
    expect(errors).to_contain_text("La contraseña debe tener al menos una letra mayúscula")
    expect(errors).to_contain_text("La contraseña debe tener al menos un carácter especial")
    expect(page.get_by_role("heading", name="Cambio de contraseña", level=1)).to_be_visible()
    shot(page, "03_cambio_contrasena_error")

    change_password_form(page, "Temporal*01", "Nora*Clave25")
    expect_login_page(page)
    expect(page.get_by_role("status")).to_have_text(PASSWORD_CHANGED)
    shot(page, "04_login_contrasena_cambiada")

    login(page, live_server, "nuevo", "Nora*Clave25")
    expect_companies_page(page)
    expect(page.get_by_role("link", name="JAHC TECHNOLOGIES", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Usuario")).to_contain_text("Nora Nueva")
    shot(page, "05_empresas_nuevo")

    page.get_by_role("button", name="Salir").click()
    expect_login_page(page)
    expect(page.get_by_role("status")).to_have_text("Cerraste tu sesión.")
    login(page, live_server, "nuevo", "Temporal*01")
    expect(login_error(page)).to_have_text("Usuario o contraseña inválido")
    expect_login_page(page)


def test_search_company_open_product_and_switch_with_selector(live_server, page):
    seed_demo()
    with connected():
        # A second company for jhomez, so that the search visibly filters the list.
        andina = make_company("COMERCIALIZADORA ANDINA SAS", nit="800555123")
        make_product(andina, "Regalo / Mastercard", named=False)
        UserCompany.create(user=User.get(User.username == "jhomez"), company=andina)
    login(page, live_server, "jhomez", "Empresas*24")
    expect_companies_page(page)
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="JAHC TECHNOLOGIES", exact=True)).to_be_visible()
    expect(main.get_by_role("link", name="COMERCIALIZADORA ANDINA SAS", exact=True)).to_be_visible()
    # EMPRESA DE PRUEBA COOP is not one of jhomez's companies: not in the list nor the selector.
    assert "EMPRESA DE PRUEBA COOP" not in page.content()

    search = page.get_by_role("searchbox", name="Buscar empresa por nombre o NIT")
    expect(search).to_have_attribute("placeholder", "Buscar…")
    page.evaluate("window.__samePage = true")  # survives an htmx swap, not a page load

    with page.expect_response(lambda r: "q=9002" in r.url and r.request.headers.get("hx-request") == "true"):
        search.press_sequentially("9002", delay=40)
    expect(main.get_by_role("link", name="COMERCIALIZADORA ANDINA SAS")).to_have_count(0)
    expect(main.get_by_role("link", name="JAHC TECHNOLOGIES", exact=True)).to_be_visible()
    expect(main).to_contain_text("Mostrando registro(s) del 1 al 1 de un total de 1 registro(s)")
    expect(page).to_have_url(re.compile(r"/empresas\?q=9002$"))
    assert page.evaluate("window.__samePage") is True
    shot(page, "06_empresas_busqueda")

    with page.expect_response(lambda r: "q=COOP" in r.url):
        search.fill("COOP")
    expect(main).to_contain_text("No se encontraron registros para tu consulta")
    assert "EMPRESA DE PRUEBA COOP" not in page.content()

    with page.expect_response(lambda r: "q=9002" in r.url):
        search.fill("9002")
    products = page.get_by_role("list", name="Productos de JAHC TECHNOLOGIES")
    products.get_by_role("link", name="Clásica / Visa", exact=True).click()

    expect(page).to_have_title("Clásica / Visa · Conexión Empresas")
    expect(page.get_by_role("heading", name="Clásica / Visa", exact=True, level=1)).to_be_visible()
    menu = page.get_by_role("navigation", name="Menú del producto")
    expect(menu.get_by_role("link")).to_have_text(["Empresas", "Lotes", "Consultas", "Servicios", "Reportes"])
    counters = page.locator("dl.counters dt")
    expect(counters).to_have_text(
        [  # JAHC authorizes with one signature: no "Lotes por firmar"
            "Lotes por autorizar",
            "Órdenes por pagar",
            "Órdenes pagadas",
            "Tarjetas activas",
            "Tarjetas inactivas",
        ]
    )
    expect(page.locator("dl.counters dd")).to_have_text(["0"] * 5)
    selector = page.get_by_role("complementary", name="Empresa y producto")
    expect(selector).to_contain_text("JAHC TECHNOLOGIES")
    expect(selector).to_contain_text("NIT 900291499")
    company_select = selector.get_by_label("Empresa", exact=True)
    product_select = selector.get_by_label("Producto", exact=True)
    expect(company_select.locator("option:checked")).to_have_text("JAHC TECHNOLOGIES")
    expect(product_select.locator("option:checked")).to_have_text("Clásica / Visa")
    shot(page, "07_producto_clasica")

    product_select.select_option(label="Clásica In / Visa")
    selector.get_by_role("button", name="Seleccionar").click()
    expect(page.get_by_role("heading", name="Clásica In / Visa", level=1)).to_be_visible()
    expect(page).to_have_title("Clásica In / Visa · Conexión Empresas")
    expect(page.get_by_role("main")).to_contain_text("JAHC TECHNOLOGIES")
    expect(product_select.locator("option:checked")).to_have_text("Clásica In / Visa")
    shot(page, "08_producto_clasica_in")

    # Choosing another company reloads the product options (htmx) before Seleccionar.
    with page.expect_response(lambda r: "/seleccion/productos" in r.url):
        company_select.select_option(label="COMERCIALIZADORA ANDINA SAS")
    expect(product_select.locator("option")).to_have_text(["Selecciona un producto", "Regalo / Mastercard"])
    product_select.select_option(label="Regalo / Mastercard")
    selector.get_by_role("button", name="Seleccionar").click()
    expect(page.get_by_role("heading", name="Regalo / Mastercard", level=1)).to_be_visible()
    expect(selector).to_contain_text("COMERCIALIZADORA ANDINA SAS")


def test_recovery_emails_a_temporary_password_that_forces_a_change(serve, page, smtp_server):
    port, received = smtp_server
    base = serve(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    seed_demo()
    page.goto(f"{base}/ingresar")
    shot(page, "01_login")
    page.get_by_role("link", name="¿Olvidaste tu contraseña?").click()

    expect(page.get_by_role("heading", name="¿Olvidaste tu contraseña?", level=1)).to_be_visible()
    page.get_by_label("Usuario").fill("jhomez")
    page.get_by_label("NIT de la empresa").fill("900291499")
    page.get_by_label("Correo electrónico").fill("jhomez@jahc.example")
    shot(page, "09_recuperar")
    page.get_by_role("button", name="Continuar").click()

    expect(page.get_by_role("heading", name="Recuperación de contraseña", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(RECOVERY_SENT)
    shot(page, "10_recuperar_enviado")
    assert len(received) == 1
    envelope = received[0]
    assert envelope.rcpt_tos == ["jhomez@jahc.example"]
    assert mail_subject(envelope) == "Conexión Empresas: contraseña temporal"
    body = mail_text(envelope)
    assert "jhomez" in body and "24 horas" in body
    temporary = TEMP_PASSWORD_RE.search(body).group(1)

    page.get_by_role("link", name="Continuar").click()
    login(page, base, "jhomez", temporary)
    expect(page.get_by_role("heading", name="Cambio de contraseña", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("la temporal, si la recibiste por correo")
    shot(page, "11_cambio_contrasena_temporal")
    # Anything but the change page is refused while the change is pending.
    page.goto(f"{base}/empresas")
    expect(page.get_by_role("heading", name="Cambio de contraseña", level=1)).to_be_visible()

    change_password_form(page, temporary, "Joffer*Nuevo25")
    expect_login_page(page)
    expect(page.get_by_role("status")).to_have_text(PASSWORD_CHANGED)
    login(page, base, "jhomez", "Joffer*Nuevo25")
    expect_companies_page(page)
    expect(page.get_by_role("link", name="JAHC TECHNOLOGIES", exact=True)).to_be_visible()
    assert len(received) == 1


@pytest.mark.parametrize(
    "username, nit, email",
    [
        ("jhomez", "900291499", "otro@jahc.example"),  # wrong e-mail
        ("jhomez", "9013434540", "jhomez@jahc.example"),  # a company that is not his
        ("nadie", "900291499", "jhomez@jahc.example"),  # no such user
    ],
    ids=["correo", "nit", "usuario"],
)
def test_recovery_with_wrong_data_answers_the_same_and_sends_nothing(serve, page, smtp_server, username, nit, email):
    port, received = smtp_server
    base = serve(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    seed_demo()
    page.goto(f"{base}/recuperar")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("NIT de la empresa").fill(nit)
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_role("button", name="Continuar").click()

    expect(page.get_by_role("heading", name="Recuperación de contraseña", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(RECOVERY_SENT)
    assert received == []
    # Nothing changed for the real user: the old password still works.
    login(page, base, "jhomez", "Empresas*24")
    expect_companies_page(page)


def test_three_wrong_passwords_block_the_user(live_server, page):
    seed_demo()
    login(page, live_server, "jhomez", "Equivocada*1")
    expect(login_error(page)).to_have_text("Usuario o contraseña inválido")
    expect(page.get_by_label("Usuario", exact=True)).to_have_value("jhomez")
    shot(page, "12_login_invalido")

    login(page, live_server, "jhomez", "Equivocada*2")
    expect(login_error(page)).to_contain_text("Al siguiente intento fallido tu usuario será bloqueado")
    shot(page, "13_login_advertencia")

    login(page, live_server, "jhomez", "Equivocada*3")
    expect(login_error(page)).to_have_text("Usuario bloqueado por intentos fallidos")
    shot(page, "14_login_bloqueado")

    login(page, live_server, "jhomez", "Empresas*24")
    expect(login_error(page)).to_have_text("Usuario bloqueado por intentos fallidos")
    expect_login_page(page)
    with connected():
        assert User.get(User.username == "jhomez").status == User.BLOCKED
        assert Company.select().count() == 2  # the seed is intact; only the user changed


def test_idle_warning_keeps_the_session_alive(serve, page):
    # A 15-second idle limit: the warning opens half-way (app.js warns min(60 s, limit / 2) before).
    base = serve(SESSION_IDLE_MINUTES=0.25)
    seed_demo()
    login(page, base, "jhomez", "Empresas*24")
    expect_companies_page(page)
    dialog = page.get_by_role("dialog", name="Tu sesión está por expirar")
    expect(dialog).to_be_hidden()

    expect(dialog).to_be_visible(timeout=12_000)
    shot(page, "15_sesion_por_expirar")
    before = session_status(page)
    assert before["active"] and before["remaining"] <= 8

    with page.expect_response(lambda r: r.url.endswith("/sesion/mantener") and r.ok):
        dialog.get_by_role("button", name="Mantener sesión").click()
    expect(dialog).to_be_hidden()
    after = session_status(page)
    assert after["active"] and after["remaining"] >= 12

    page.reload()
    expect_companies_page(page)
    expect(page.get_by_role("link", name="JAHC TECHNOLOGIES", exact=True)).to_be_visible()
