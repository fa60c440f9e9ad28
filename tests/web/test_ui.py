"""Rules every screen follows: one rule for page or fragment, one dialog for password-confirmed
actions, shared breadcrumbs and icons, one voice (tú), no status codes in templates, and the
layout's accessibility and CSP hygiene (skip link, no inline htmx styles)."""

import re
from pathlib import Path

import pytest

from models import Batch, BatchRecord, ServiceOrder, User
from services import authorization
from tests.conftest import login, post
from tests.factories import make_company, make_product, make_user

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
OWN_TEMPLATES = [p for p in TEMPLATES.rglob("*.html") if "help" not in p.relative_to(TEMPLATES).parts]


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit="900291499", balance=100_000_000)
    product = make_product(company, "Clásica / Visa")
    make_user("jefe", perms={product: "all"})
    return {"company": company, "product": product}


def make_batch(product, number, status):
    batch = Batch.create(
        company=product.company, product=product, number=number, kind="EMI", status=status,
        total_records=1, processed_records=1, valid_records=1,
    )  # fmt: skip
    BatchRecord.create(batch=batch, line=2, id_type="CC", id_number=f"9{number}", amount=0, data="{}")
    return batch


def make_order(product):
    batch = make_batch(product, f"2611{Batch.select().count() + 1:04d}", Batch.TO_AUTHORIZE)
    [order] = authorization.authorize(product, [batch.id], User.get(User.username == "jefe"))
    return order


# ---------------------------------------------------------------- page or fragment


def _lists(world):
    """(URL, a text only the whole page has) of each list whose search and pages htmx swaps."""
    product = world["product"]
    make_batch(product, "26110001", Batch.VALID)
    make_order(product)
    return [
        ("/empresas", "<h1>Empresas</h1>"),
        (f"/productos/{product.id}/lotes/carga", "Nuevos lotes"),
        (f"/productos/{product.id}/ordenes", "Criterio de búsqueda"),
    ]


def test_an_htmx_request_gets_the_fragment_and_everything_else_the_page(client, world):
    lists = _lists(world)
    login(client, "jefe")
    for url, page_only in lists:
        plain = client.get(url).get_data(as_text=True)
        assert "<html" in plain and page_only in plain, url
        fragment = client.get(url, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
        html = fragment.get_data(as_text=True)
        assert "<html" not in html and page_only not in html and "Mostrando registro(s)" in html, url
        # A boosted navigation and htmx restoring a page it has no snapshot of want the whole page.
        for header in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
            html = client.get(url, headers={"HX-Request": "true", **header}).get_data(as_text=True)
            assert "<html" in html and page_only in html, (url, header)


def test_the_separate_fragment_url_of_the_pending_batches_is_gone(client, world, app):
    assert "batches.pending" not in {rule.endpoint for rule in app.url_map.iter_rules()}


def test_no_view_reads_the_browsers_address_back(client):
    """List criteria travel with the request (hx-include / form fields), never HX-Current-URL."""
    root = TEMPLATES.parent
    for path in [*root.glob("blueprints/*.py"), *OWN_TEMPLATES]:
        text = path.read_text(encoding="utf-8")
        assert "HX-Current-URL" not in text and "HX-Target" not in text, path


# ---------------------------------------------------------------- the password dialog


def _dialog_form(html):
    return re.search(r"<form method=\"post\".*?</form>", html, re.S).group(0)


def test_batch_and_order_actions_share_one_password_dialog(client, world):
    product = world["product"]
    batch = make_batch(product, "26110009", Batch.VALID)
    order = make_order(product)
    login(client, "jefe")
    urls = [
        f"/productos/{product.id}/lotes/{batch.id}/confirmar",
        f"/productos/{product.id}/lotes/{batch.id}/eliminar",
        f"/productos/{product.id}/ordenes/{order.id}/anular",
    ]
    for url in urls:
        modal = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert modal.lstrip().startswith("<dialog data-modal"), url
        form = _dialog_form(modal)
        assert f'hx-post="{url}"' in form and 'type="password" name="password"' in form, url
        assert '<button type="button" class="secondary" data-close>Cancelar</button>' in form, url
        # Without JavaScript: the same dialog, open inside a page with breadcrumbs and a Cancelar link.
        page = client.get(url).get_data(as_text=True)
        assert "<html" in page and "<dialog open" in page and 'class="breadcrumbs"' in page, url
        form = _dialog_form(page[page.index("<dialog open") :])
        assert f'action="{url}"' in form and "hx-post" not in form and 'class="button secondary"' in form, url
    for gone in ("batches/_password_dialog.html", "batches/password_page.html", "orders/_void.html"):
        assert not (TEMPLATES / gone).exists(), gone


def test_a_refused_password_shows_the_message_in_the_same_dialog(client, world):
    product = world["product"]
    batch = make_batch(product, "26110010", Batch.VALID)
    login(client, "jefe")
    html = post(
        client, f"/productos/{product.id}/lotes/{batch.id}/confirmar", {"password": "Mala*1234"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)  # fmt: skip
    assert '<div class="alert alert-error" role="alert">La contraseña es incorrecta</div>' in html
    assert 'type="password" name="password"' in html


def test_the_first_login_and_configuracion_share_the_password_change_form(client, db):
    company = make_company("ACME SAS", nit="900111222")
    make_user("nuevo", perms={make_product(company): "all"}, must_change=True)
    make_user("ana", perms={make_product(company, "Oro / Visa"): "all"})

    def form_of(html):
        html = html[html.index("<main") :]
        form = re.search(r"<form method=\"post\".*?</form>", html, re.S).group(0)
        form = re.sub(r'name="csrf_token"[^>]*', "", form)
        return re.sub(r'action="[^"]*"|\s+autofocus', "", form)

    login(client, "nuevo")
    first = client.get("/cambio-contrasena").get_data(as_text=True)
    post(client, "/salir")
    login(client, "ana")
    settings = client.get("/configuracion/usuario/contrasena").get_data(as_text=True)
    assert "Requisitos para crear la contraseña:" in first and "Requisitos para crear la contraseña:" in settings
    assert form_of(first) == form_of(settings)


# ---------------------------------------------------------------- templates


def test_breadcrumbs_and_icons_come_from_the_macros():
    for path in OWN_TEMPLATES:
        if path.name == "_macros.html":
            continue
        text = path.read_text(encoding="utf-8")
        assert 'class="breadcrumbs"' not in text, f"{path}: usa el macro breadcrumbs"
        assert "<svg" not in text, f"{path}: usa el macro icon"


def test_templates_never_spell_status_codes():
    codes = set(Batch.STATUS_LABELS) | set(ServiceOrder.STATUS_LABELS)
    pattern = re.compile(r"""['"]({})['"]""".format("|".join(sorted(codes))))
    for path in OWN_TEMPLATES:
        found = pattern.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path}: {found} (usa batch.is_…, order.is_…, status_label)"


USTED = re.compile(
    r"\b(usted|ingrese|digite|seleccione|presione|haga clic|su correo|su contraseña|su usuario)\b", re.IGNORECASE
)


def test_the_portal_says_tu_everywhere():
    for path in OWN_TEMPLATES:
        found = USTED.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path}: {found}"


def test_the_layout_has_a_skip_link_and_no_inline_htmx_styles(client, world):
    login(client, "jefe")
    html = client.get("/empresas").get_data(as_text=True)
    assert '<a class="skip-link" href="#main">Saltar al contenido</a>' in html
    assert '<main id="main" tabindex="-1">' in html
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in html
    css = (TEMPLATES.parent / "static" / "app.css").read_text(encoding="utf-8")
    assert ".htmx-request .htmx-indicator" in css and ".table-wrap" in css


def test_tables_scroll_inside_their_card(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "jefe")
    for url in (
        f"/productos/{product.id}/ordenes",
        f"/productos/{product.id}/ordenes/{order.id}",
        f"/productos/{product.id}/lotes/carga",
        f"/productos/{product.id}/autorizacion",
        "/configuracion/empresas",
    ):
        html = client.get(url).get_data(as_text=True)
        assert html.count("<table") == html.count('<div class="table-wrap"'), url


# ---------------------------------------------------------------- selector


def test_seleccionar_with_nothing_chosen_says_why(client, world):
    login(client, "jefe")
    response = post(client, "/seleccionar", {"empresa": "", "producto": ""})
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Selecciona una empresa y un producto" in html
