"""Notificaciones in the portal: Configuración > Usuario «Notificaciones» (each kind on or off,
CSRF, with and without htmx) and the product page's «Pendientes», the same waiting work as links
with live counts."""

import re

import pytest

from models import Batch, ServiceOrder, UserNotice
from services import notices
from tests.conftest import csrf_token, login, post
from tests.factories import make_company, make_product, make_user
from tests.services.test_notices import a_batch

URL = "/configuracion/usuario/notificaciones"


@pytest.fixture
def ana(client, db):
    product = make_product(make_company("ACME SAS"))
    user = make_user("ana", perms={product: "all"})
    login(client, "ana")
    return user


def checked(html) -> dict[str, bool]:
    """{kind: checked} of the Notificaciones check boxes."""
    boxes = re.findall(r'<input type="checkbox" id="aviso-[a-z]+" name="aviso" value="([A-Z]+)"( checked)?>', html)
    return {kind: bool(on) for kind, on in boxes}


# ---------------------------------------------------------------- Configuración > Usuario


def test_the_user_page_has_one_check_box_per_kind_all_on_by_default(client, ana):
    html = client.get("/configuracion/usuario").get_data(as_text=True)
    assert '<h2 id="notices-title">Notificaciones</h2>' in html
    assert checked(html) == {kind: True for kind in notices.KINDS}
    for label in notices.KINDS.values():
        assert f">{label}</label>" in html
    assert f'action="{URL}"' in html and f'hx-post="{URL}"' in html and ">Guardar</button>" in html


def test_saving_without_javascript_redirects_with_the_message(client, ana):
    response = post(client, URL, {"aviso": [notices.PAGO, notices.SALDO]})
    assert response.status_code == 302 and response.headers["Location"].endswith("/configuracion/usuario")
    html = client.get("/configuracion/usuario").get_data(as_text=True)
    assert "Tus notificaciones fueron actualizadas." in html
    assert checked(html) == {kind: kind in (notices.PAGO, notices.SALDO) for kind in notices.KINDS}
    assert {k for k, _l, on in notices.preferences(ana) if on} == {notices.PAGO, notices.SALDO}


def test_saving_with_htmx_answers_the_section_with_the_message(client, ana):
    response = post(client, URL, {"aviso": [notices.FIRMA]}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<section class="card spaced" id="notices"' in html
    assert "<html" not in html and "Tus notificaciones fueron actualizadas." in html
    assert checked(html) == {kind: kind == notices.FIRMA for kind in notices.KINDS}


def test_nothing_checked_turns_every_kind_off_and_checking_again_turns_it_on(client, ana):
    post(client, URL, {})
    assert not any(on for _k, _l, on in notices.preferences(ana))
    post(client, URL, {"aviso": list(notices.KINDS)})
    assert all(on for _k, _l, on in notices.preferences(ana))


def test_without_the_csrf_token_nothing_is_saved(client, ana):
    csrf_token(client)  # the session has a token; the form does not send it
    response = client.post(URL, data={"aviso": [notices.PAGO]})
    assert response.status_code == 400
    assert UserNotice.select().count() == 0


def test_each_user_saves_only_their_own(client, ana):
    other = make_user("beto")
    post(client, URL, {"aviso": [notices.PAGO], "usuario": str(other.id)})
    assert all(on for _k, _l, on in notices.preferences(other))
    assert UserNotice.select().where(UserNotice.user == other).count() == 0


def test_anonymous_users_are_sent_to_the_login(client, db):
    response = post(client, URL, {"aviso": [notices.PAGO]})  # with the login page's token
    assert response.status_code == 302 and "/ingresar" in response.headers["Location"]
    assert UserNotice.select().count() == 0


# ---------------------------------------------------------------- the product page's «Pendientes»


@pytest.fixture
def waiting(db):
    """A two-signature company's product with 2 batches to sign, 3 to authorize, 1 order to pay
    (and others that wait for nobody), and another company's product full of work."""
    product = make_product(make_company("DOS FIRMAS", signatures=2))
    for status, count in ((Batch.TO_SIGN, 2), (Batch.TO_AUTHORIZE, 3), (Batch.VALID, 4), (Batch.IN_ORDER, 1)):
        for _ in range(count):
            a_batch(product, status)
    for status in (ServiceOrder.PENDING_PAYMENT, ServiceOrder.PROCESSED, ServiceOrder.VOIDED):
        ServiceOrder.create(company=product.company_id, product=product, status=status)
    theirs = make_product(make_company("OTRA", signatures=2), "Otra / Visa")
    for _ in range(7):
        a_batch(theirs, Batch.TO_AUTHORIZE)
    return product


def pendientes(html) -> list[tuple[str, str]]:
    """(url, text) of the «Pendientes» links."""
    match = re.search(r'<ul class="waiting-work"[^>]*>(.*?)</ul>', html, re.S)
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', match.group(1)) if match else []


def product_page(client, product):
    response = client.get(f"/productos/{product.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_product_page_lists_the_waiting_work_with_links(client, waiting):
    make_user("todo", perms={waiting: "all"})
    login(client, "todo")
    html = product_page(client, waiting)
    assert '<h2 id="pendientes">Pendientes</h2>' in html
    base = f"/productos/{waiting.id}"
    assert pendientes(html) == [
        (f"{base}/autorizacion", "2 lotes por firmar"),
        (f"{base}/autorizacion", "3 lotes por autorizar"),
        (f"{base}/ordenes?estado=PENDIENTE_PAGO", "1 orden de servicio por pagar"),
    ]
    # each link opens the page where that work is done, showing it
    page = client.get(f"{base}/autorizacion").get_data(as_text=True)
    assert page.count('name="lote" value=') == 5
    orders = client.get(f"{base}/ordenes?estado=PENDIENTE_PAGO").get_data(as_text=True)
    pending = ServiceOrder.get(ServiceOrder.status == ServiceOrder.PENDING_PAYMENT)
    assert re.findall(r'<tr id="orden-(\d+)"', orders) == [str(pending.id)]


@pytest.mark.parametrize(
    "perms, expected",
    [
        ("batch.sign", ["2 lotes por firmar"]),
        ("batch.authorize", ["3 lotes por autorizar"]),
        ("order.pay", ["1 orden de servicio por pagar"]),
        ("batch.sign,order.pay", ["2 lotes por firmar", "1 orden de servicio por pagar"]),
    ],
)
def test_the_list_keeps_to_what_the_user_may_do(client, waiting, perms, expected):
    make_user("alguien", perms={waiting: perms})
    login(client, "alguien")
    assert [text for _url, text in pendientes(product_page(client, waiting))] == expected


@pytest.mark.parametrize("perms", ["order.view,reports.view", "batch.upload,batch.confirm", "cards.view"])
def test_users_who_do_none_of_that_work_see_no_pendientes(client, waiting, perms):
    make_user("alguien", perms={waiting: perms})
    login(client, "alguien")
    html = product_page(client, waiting)
    assert "Pendientes" not in html and "waiting-work" not in html


def test_the_counts_are_live_and_nothing_waiting_says_so(client, waiting):
    make_user("todo", perms={waiting: "all"})
    login(client, "todo")
    Batch.update(status=Batch.TO_AUTHORIZE).where(Batch.status == Batch.TO_SIGN).execute()
    assert [t for _u, t in pendientes(product_page(client, waiting))] == [
        "5 lotes por autorizar",
        "1 orden de servicio por pagar",
    ]
    ServiceOrder.update(status=ServiceOrder.PENDING_PAYMENT).execute()
    Batch.update(status=Batch.IN_ORDER).where(Batch.status == Batch.TO_AUTHORIZE).execute()
    ServiceOrder.update(status=ServiceOrder.VOIDED).execute()
    html = product_page(client, waiting)
    assert pendientes(html) == [] and "No tienes trabajo pendiente en este producto." in html


def test_a_one_signature_company_has_no_lotes_por_firmar(client, db):
    product = make_product(make_company("UNA FIRMA", signatures=1))
    a_batch(product, Batch.TO_SIGN)  # (cannot happen there; counted nowhere)
    a_batch(product, Batch.TO_AUTHORIZE)
    make_user("todo", perms={product: "all"})
    login(client, "todo")
    assert pendientes(product_page(client, product)) == [
        (f"/productos/{product.id}/autorizacion", "1 lote por autorizar")
    ]


def test_the_list_costs_the_page_no_query(client, waiting, assert_query_count):
    make_user("todo", perms={waiting: "all"})
    login(client, "todo")
    with assert_query_count(5):  # as before «Pendientes»: the counters' query serves both
        html = product_page(client, waiting)
    assert len(pendientes(html)) == 3


def test_waiting_work_outside_the_page_reads_what_it_needs(waiting, app):
    user = make_user("todo", perms={waiting: "batch.authorize,order.pay"})
    with app.app_context():
        assert notices.waiting_work(user, waiting) == [
            ("3 lotes por autorizar", f"/productos/{waiting.id}/autorizacion"),
            ("1 orden de servicio por pagar", f"/productos/{waiting.id}/ordenes?estado=PENDIENTE_PAGO"),
        ]
        assert notices.waiting_work(make_user("nadie", perms={waiting: "order.view"}), waiting) == []
