"""A walk through every screen, as `jhomez` (JAHC, one signature, every permission) and as
`firmante` (the COOP, two signatures), at 1280×800 and 390×844.

Each screen must load without a console error or an uncaught page error (a CSP violation is a
console error), must not be wider than the window, and nothing inside a `.card` may stick out of
it (a table scrolls inside its `.table-wrap` instead). Screenshots of every screen land in
/tmp/h5_shots/<user>-<width>-<screen>.png for a human to look at.

SCREENS is the one list of screens: a later issue adds its pages there.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from blueprints.help import CHAPTERS
from domain.clock import local_today
from models import Batch, Card, Company, Product, User
from services import authorization
from services import batches as batch_service
from tests import batchfiles
from tests.browser.conftest import connected, login, seed_demo

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/h5_shots")
PASSWORD = "Empresas*24"
VIEWPORTS = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
USERS = {"jhomez": "900291499", "firmante": "9013434540"}  # user: NIT of the company walked


@dataclass(frozen=True)
class Screen:
    """One screen: its name (screenshot file), its URL built from the walk's ids, and who sees it."""

    name: str
    url: str  # formatted with build_world's ids: {company} {product} {batch} {waiting} {order} {order_batch}
    # and, on the unnamed product, {unnamed} {request} (the demo's stock request) {card} (one of its stock
    # cards) {holder_card} (one of its affiliated cards, with a balance); {this_month} (MM/AAAA);
    # for jhomez, {colleague} (another user of the company, for Configuración > Usuarios)
    users: tuple[str, ...] = ("jhomez", "firmante")
    public: bool = False  # seen logged out (login, recovery)


# The screens reachable from the menu, Configuración and Ayuda. Add yours here.
SCREENS = [
    Screen("empresas", "/empresas"),
    Screen("productos", "/empresas/{company}"),
    Screen("producto", "/productos/{product}"),
    Screen("seccion-lotes", "/productos/{product}/lotes"),
    Screen("seccion-consultas", "/productos/{product}/consultas"),
    Screen("seccion-servicios", "/productos/{product}/servicios", users=("jhomez",)),
    Screen("seccion-reportes", "/productos/{product}/reportes", users=("jhomez",)),
    Screen("carga-lotes", "/productos/{product}/lotes/carga"),
    Screen("detalle-lote", "/productos/{product}/lotes/{batch}"),
    Screen("confirmar-lote-sin-js", "/productos/{product}/lotes/{batch}/confirmar"),
    Screen("autorizacion", "/productos/{product}/autorizacion"),
    Screen("registros-por-autorizar", "/productos/{product}/autorizacion/lotes/{waiting}"),
    Screen("ordenes", "/productos/{product}/ordenes"),
    Screen("ordenes-error-fechas", "/productos/{product}/ordenes?fecha_inicial=31/02/2026&fecha_final=01/03/2026"),
    Screen("detalle-orden", "/productos/{product}/ordenes/{order}"),
    Screen("registros-lote-orden", "/productos/{product}/ordenes/{order}/lotes/{order_batch}"),
    Screen("anular-sin-js", "/productos/{product}/ordenes/{order}/anular", users=("jhomez",)),
    Screen("carga-lotes-innominada", "/productos/{unnamed}/lotes/carga"),
    Screen("solicitud-innominadas", "/productos/{unnamed}/innominadas/solicitud"),
    Screen("afiliacion", "/productos/{unnamed}/innominadas/afiliacion"),
    Screen("detalle-innominadas", "/productos/{unnamed}/innominadas/afiliacion/{request}"),
    Screen("afiliar-sin-js", "/productos/{unnamed}/innominadas/tarjetas/{card}/afiliar"),
    Screen("cuenta-maestra", "/productos/{unnamed}/cuenta-maestra", users=("jhomez",)),
    Screen("cuenta-maestra-busqueda", "/productos/{unnamed}/cuenta-maestra?tarjeta=12x", users=("jhomez",)),
    Screen("recarga-maestra-sin-js", "/productos/{unnamed}/cuenta-maestra/recarga", users=("jhomez",)),
    Screen("abonar-sin-js", "/productos/{unnamed}/cuenta-maestra/tarjetas/{holder_card}/abonar", users=("jhomez",)),
    Screen(
        "consultar-sin-js", "/productos/{unnamed}/cuenta-maestra/tarjetas/{holder_card}/consultar", users=("jhomez",)
    ),
    Screen("consulta-tarjetas", "/productos/{unnamed}/tarjetas", users=("jhomez",)),
    Screen("consulta-tarjetas-error", "/productos/{unnamed}/tarjetas?tarjeta=99", users=("jhomez",)),
    Screen("tarjeta", "/productos/{unnamed}/tarjetas/{holder_card}", users=("jhomez",)),
    Screen("bloquear-sin-js", "/productos/{unnamed}/tarjetas/{holder_card}/extravio", users=("jhomez",)),
    Screen("cancelar-tarjeta-sin-js", "/productos/{unnamed}/tarjetas/{holder_card}/cancelar", users=("jhomez",)),
    Screen("actualizar-datos-sin-js", "/productos/{unnamed}/tarjetas/{holder_card}/datos", users=("jhomez",)),
    Screen("reposicion-sin-js", "/productos/{unnamed}/tarjetas/{holder_card}/reposicion", users=("jhomez",)),
    Screen("catalogo-reportes", "/productos/{unnamed}/reportes/catalogo", users=("jhomez",)),
    *[
        Screen(f"reporte-{slug}", f"/productos/{{unnamed}}/reportes/{slug}", users=("jhomez",))
        for slug in (
            "cuenta-maestra",
            "estado-de-cuenta-maestra",
            "tarjetas-emitidas",
            "recargas-realizadas",
            "estado-de-lotes",
            "tarjetahabientes",
            "saldo-al-cierre",
            "reposiciones",
            "actividad-por-usuario",
        )
    ],  # fmt: skip
    Screen("reporte-consolidado", "/productos/{unnamed}/reportes/cuenta-maestra?vista=consolidado", users=("jhomez",)),
    Screen(
        "reporte-error-fechas",
        "/productos/{product}/reportes/estado-de-lotes?periodo=rango&fecha_inicial=01/01/2026&fecha_final=30/06/2026",
        users=("jhomez",),
    ),
    Screen(
        "reporte-emitidas-nominadas",
        "/productos/{product}/reportes/tarjetas-emitidas?clase=nominadas&mes={this_month}",
        users=("jhomez",),
    ),
    Screen("mis-descargas", "/productos/{unnamed}/exportaciones", users=("jhomez",)),
    Screen("usuarios", "/configuracion/usuarios/{company}", users=("jhomez",)),
    Screen("usuarios-busqueda", "/configuracion/usuarios/{company}?q=zz", users=("jhomez",)),
    Screen("crear-usuario-sin-js", "/configuracion/usuarios/{company}/nuevo", users=("jhomez",)),
    Screen("editar-permisos-sin-js", "/configuracion/usuarios/{company}/{colleague}/permisos", users=("jhomez",)),
    Screen("bloquear-usuario-sin-js", "/configuracion/usuarios/{company}/{colleague}/bloquear", users=("jhomez",)),
    Screen("config-usuario", "/configuracion/usuario"),
    Screen("config-contrasena", "/configuracion/usuario/contrasena"),
    Screen("config-empresas", "/configuracion/empresas"),
    Screen("config-descargas", "/configuracion/descargas"),
    Screen("ayuda", "/ayuda/"),
    *[Screen(f"ayuda-{c.slug}", f"/ayuda/{c.slug}") for c in CHAPTERS],
    Screen("ingreso", "/ingresar", public=True),
    Screen("recuperar", "/recuperar", public=True),
]


def _product(nit, name="Clásica / Visa"):
    return Product.select().join(Company).where((Company.nit == nit) & (Product.name == name)).get()


def _stock(nit) -> dict:
    """The demo's unnamed product, its processed request and one of its stock cards."""
    unnamed = _product(nit, "Clásica In / Visa")
    request = Batch.get((Batch.product == unnamed) & (Batch.kind == "INN"))
    card = Card.select().where((Card.product == unnamed) & Card.person.is_null()).order_by(Card.id).first()
    holder = Card.select().where((Card.product == unnamed) & Card.person.is_null(False)).order_by(Card.id).first()
    return {
        "unnamed": unnamed.id, "request": request.id, "card": card.id, "holder_card": holder.id,
        "this_month": local_today().strftime("%m/%Y"),
    }  # fmt: skip


def _upload(user, product, start, count, branch=None, bad_every=0):
    rows = batchfiles.emi_rows(count, start=start, bad_every=bad_every)
    if branch:
        for row in rows:
            row["SUCURSAL"] = branch
    batch = batch_service.upload(user, product, "EMI", f"EMISION{start}.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    batch_service.validate_waiting()
    return Batch.get_by_id(batch.id)


def build_world(app) -> dict[str, dict]:
    """Per user: a validated batch (with errors) in Lotes pendientes, a batch waiting for a signature
    or an authorization, and a service order with its batch."""
    worlds = {}
    with app.app_context(), connected():
        jhomez = User.get(User.username == "jhomez")
        product = _product(USERS["jhomez"])
        pending = _upload(jhomez, product, 1, 6, bad_every=4)
        waiting = _upload(jhomez, product, 20, 3)
        batch_service.confirm(waiting, jhomez, PASSWORD)
        in_order = _upload(jhomez, product, 40, 3)
        batch_service.confirm(in_order, jhomez, PASSWORD)
        (order,) = authorization.authorize(product, [in_order.id], jhomez, "tipo")
        worlds["jhomez"] = {
            "company": product.company_id, "product": product.id, "batch": pending.id, "waiting": waiting.id,
            "order": order.id, "order_batch": in_order.id, **_stock(USERS["jhomez"]),
            "colleague": User.get(User.username == "nuevo").id,
        }  # fmt: skip

        firmante = User.get(User.username == "firmante")
        autorizador = User.get(User.username == "autorizador")
        coop = _product(USERS["firmante"])
        pending = _upload(firmante, coop, 60, 4, branch="73", bad_every=3)
        to_sign = _upload(firmante, coop, 70, 3, branch="73")
        batch_service.confirm(to_sign, firmante, PASSWORD)
        signed = _upload(firmante, coop, 80, 2, branch="73")
        batch_service.confirm(signed, firmante, PASSWORD)
        authorization.sign(coop, [signed.id], firmante, PASSWORD)
        in_order = _upload(firmante, coop, 90, 2, branch="73")
        batch_service.confirm(in_order, firmante, PASSWORD)
        authorization.sign(coop, [in_order.id], firmante, PASSWORD)
        (order,) = authorization.authorize(coop, [in_order.id], autorizador, "tipo")
        worlds["firmante"] = {
            "company": coop.company_id, "product": coop.id, "batch": pending.id, "waiting": to_sign.id,
            "order": order.id, "order_batch": in_order.id, **_stock(USERS["firmante"]),
        }  # fmt: skip
    return worlds


# ---------------------------------------------------------------- checks

# Elements inside a .card whose right edge passes the card's (by more than a pixel), except
# inside a horizontal scroll wrapper (.table-wrap) or the visually hidden (.sr-only).
OVERFLOW_JS = """
() => {
  const out = [];
  for (const card of document.querySelectorAll('.card')) {
    const right = card.getBoundingClientRect().right;
    for (const el of card.querySelectorAll('*')) {
      if (el.closest('.table-wrap, .sr-only, [hidden]')) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue;
      const parent = el.parentElement;
      const parentOut = parent && parent !== card && parent.getBoundingClientRect().right > right + 1;
      if (box.right > right + 1 && !parentOut) {  // the outermost element that sticks out
        out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className || ''}: ` +
                 `${Math.round(box.right)} > ${Math.round(right)} «${(el.textContent || '').trim().slice(0, 40)}»`);
      }
    }
  }
  return out.slice(0, 10);
}
"""


class Problems:
    """Console errors, page errors and layout problems seen during the walk."""

    def __init__(self, page):
        self.items = []
        self.where = ""
        page.on(
            "console", lambda m: self.items.append(f"{self.where}: consola: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.items.append(f"{self.where}: pageerror: {e}"))

    def check_layout(self, page):
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            self.items.append(f"{self.where}: la página mide {width[0]} px en una ventana de {width[1]} px")
        for item in page.evaluate(OVERFLOW_JS):
            self.items.append(f"{self.where}: se sale de su tarjeta: {item}")


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, caret="initial")


def visit(page, problems, base, url, name):
    problems.where = f"{name} ({url})"
    response = page.goto(f"{base}{url}")
    if response is None or not response.ok:
        problems.items.append(f"{problems.where}: respondió {response.status if response else 'nada'}")
    page.wait_for_load_state("networkidle")
    problems.check_layout(page)
    shot(page, name)


@pytest.fixture
def walker(browser):
    """walker(viewport) -> a new page of that size (its own context: no cookies shared)."""
    contexts = []

    def open_page(viewport):
        context = browser.new_context(locale="es-CO", timezone_id="America/Bogota", viewport=viewport)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("username", list(USERS))
def test_every_screen_is_clean_and_fits(app, live_server, walker, username, width):
    seed_demo()
    ids = build_world(app)[username]
    page = walker(VIEWPORTS[width])
    problems = Problems(page)
    prefix = f"{username}-{width}"
    for screen in (s for s in SCREENS if s.public):
        visit(page, problems, live_server, screen.url, f"{prefix}-{screen.name}")
    login(page, live_server, username, PASSWORD)
    expect(page.get_by_role("heading", name="Empresas", level=1)).to_be_visible()
    for screen in SCREENS:
        if screen.public or username not in screen.users:
            continue
        visit(page, problems, live_server, screen.url.format(**ids), f"{prefix}-{screen.name}")

    # The dialogs htmx opens (a swap is where a CSP violation would show), and Calcular orden.
    problems.where = f"{prefix} confirmar lote (diálogo)"
    page.goto(f"{live_server}/productos/{ids['product']}/lotes/carga")
    page.locator(f"#batch-{ids['batch']}").get_by_role("link", name="Eliminar").click()
    dialog = page.get_by_role("dialog", name="Eliminar lote")
    expect(dialog).to_be_visible()
    problems.check_layout(page)
    shot(page, f"{prefix}-dialogo-eliminar-lote")
    dialog.get_by_role("button", name="Cancelar").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.goto(f"{live_server}/productos/{ids['product']}/ordenes")
    if username == "jhomez":
        problems.where = f"{prefix} pagar (diálogo)"
        page.locator(f"#orden-{ids['order']}").get_by_role("button", name="Pagar").click()
        dialog = page.get_by_role("dialog", name="Pagar Orden de Servicio")
        expect(dialog).to_be_visible()
        shot(page, f"{prefix}-dialogo-pagar")
        dialog.get_by_role("button", name="Cancelar").click()
        expect(page.get_by_role("dialog")).to_have_count(0)

        problems.where = f"{prefix} calcular orden"
        page.goto(f"{live_server}/productos/{ids['product']}/autorizacion")
        table = page.locator("section").filter(has=page.get_by_role("heading", name="Lotes por autorizar", level=2))
        table.locator(f'input[name="lote"][value="{ids["waiting"]}"]').check()
        table.get_by_label("Contraseña", exact=True).fill(PASSWORD)
        table.get_by_role("button", name="Autorizar", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Calcular orden de servicio"), level=1)).to_be_visible()
        problems.check_layout(page)
        shot(page, f"{prefix}-calcular-orden")
        page.get_by_role("button", name="Cancelar").click()
        expect(page.get_by_role("heading", name=re.compile("^Autorización de lotes"), level=1)).to_be_visible()

    if problems.items:
        pytest.fail("\n".join(problems.items), pytrace=False)


# ---------------------------------------------------------------- dialogs and password fields


def test_a_dialog_keeps_the_focus_and_gives_it_back(app, live_server, walker):
    seed_demo()
    ids = build_world(app)["jhomez"]
    page = walker(VIEWPORTS["1280"])
    problems = Problems(page)
    login(page, live_server, "jhomez", PASSWORD)
    page.goto(f"{live_server}/productos/{ids['product']}/ordenes")
    opener = page.locator(f"#orden-{ids['order']}").get_by_role("link", name="Anular orden")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Anular orden de servicio")
    password = dialog.get_by_label("Contraseña", exact=True)
    expect(password).to_be_focused()
    # Tab and Shift+Tab cycle inside the dialog, never reaching the page behind it.
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('dialog')"), "el foco salió del diálogo"
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("() => !!document.activeElement.closest('dialog')"), "el foco salió del diálogo"
    dialog.get_by_role("button", name="Cancelar").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()
    # Escape closes it too, and the focus goes back the same way.
    opener.click()
    expect(dialog.get_by_label("Contraseña", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()
    assert problems.items == [], problems.items


def test_password_fields_can_be_shown_and_hidden(live_server, walker):
    seed_demo()
    page = walker(VIEWPORTS["390"])
    problems = Problems(page)
    page.goto(f"{live_server}/ingresar")
    password = page.get_by_label("Contraseña", exact=True)
    toggle = page.get_by_role("button", name="Mostrar")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    password.fill("Secreta*1")
    toggle.click()
    expect(password).to_have_attribute("type", "text")
    hide = page.get_by_role("button", name="Ocultar")
    expect(hide).to_have_attribute("aria-pressed", "true")
    hide.click()
    expect(password).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Mostrar")).to_have_attribute("aria-pressed", "false")
    # The skip link: the first link of the page, visible once focused, and it leads to the content.
    skip = page.get_by_role("link", name="Saltar al contenido")
    assert page.evaluate("() => document.querySelector('a[href]').textContent") == "Saltar al contenido"
    skip.focus()
    assert skip.bounding_box()["y"] >= 0
    skip.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert problems.items == [], problems.items
