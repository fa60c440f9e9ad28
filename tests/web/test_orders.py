"""Lotes > Autorización and Consultas > Órdenes de servicio: sign, authorize, void, pay."""

import re
import threading
from datetime import timedelta

import orjson
import pytest

import ledger
from adapters.bank import default_bank
from models import (
    AuditEvent,
    BankAccount,
    BankMovement,
    Batch,
    BatchRecord,
    OutboxMessage,
    ServiceOrder,
    VerificationCode,
    utcnow,
)
from services import Refused, authorization, orders
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user

FEES = {  # the demo schedule of the issue
    "card_price_named": 1_000,
    "distribution_cost": 500_000,
    "recharge_rate": "0.01",
    "recharge_min": 10_000,
    "gmf_rate": "0.004",
}


@pytest.fixture
def world(db):
    from decimal import Decimal

    fees = {k: Decimal(v) if isinstance(v, str) else v for k, v in FEES.items()}
    company = make_company("JAHC TEST", nit="900291499", balance=100_000_000)
    product = make_product(company, "Clásica / Visa", **fees)
    coop = make_company("COOP TEST", nit="9013434540", signatures=2, balance=100_000_000)
    coop_product = make_product(coop, "Clásica / Visa", **fees)
    other = make_company("OTRA SA", nit="800999111", balance=100_000_000)
    other_product = make_product(other, "Clásica / Visa", **fees)
    make_user("jefe", perms={product: "all"})
    make_user("pagador", perms={product: "order.view,order.pay"})
    make_user("consulta", perms={product: "order.view"})
    make_user("cargador", perms={product: "batch.upload,batch.confirm"})
    make_user("firmante", perms={coop_product: "batch.sign,batch.delete,order.view"})
    make_user("autorizador", perms={coop_product: "batch.authorize,order.view,order.pay,order.void"})
    make_user("ambos", perms={coop_product: "batch.sign,batch.authorize,order.view"})
    make_user("ajeno", perms={other_product: "all"})
    return {"company": company, "product": product, "coop": coop, "coop_product": coop_product, "other": other_product}


_seq = {"n": 0}


def make_batch(product, kind="EMI", amounts=None, records=3, status=Batch.TO_AUTHORIZE, signed_by=None):
    """A confirmed batch with valid records (as validation stores them)."""
    _seq["n"] += 1
    amounts = amounts or [0] * records
    batch = Batch.create(
        company=product.company, product=product, number=f"261128{_seq['n']:02d}", kind=kind, status=status,
        total_records=len(amounts), processed_records=len(amounts), valid_records=len(amounts),
        amount=sum(amounts), signed_by=signed_by,
    )  # fmt: skip
    for line, amount in enumerate(amounts, start=2):
        data = {"id_type": "CC", "id_number": f"10{_seq['n']:02d}{line:04d}", "amount": amount}
        if kind == "EMI":
            data.update(first_name="ANA", first_surname=f"PEREZ{line}", branch="1")
        BatchRecord.create(
            batch=batch,
            line=line,
            id_type="CC",
            id_number=data["id_number"],
            amount=amount,
            data=orjson.dumps(data).decode(),
        )
    return batch


def auth_url(product):
    return f"/productos/{product.id}/autorizacion"


def orders_url(product):
    return f"/productos/{product.id}/ordenes"


def authorize(client, product, batches, grouping="tipo", password=PASSWORD):
    """Autorizar → Calcular orden de servicio → Autorizar; returns the last response."""
    response = post(
        client, auth_url(product),
        {"accion": "autorizar", "lote": [str(b.id) for b in batches], "agrupacion": grouping, "password": password},
    )  # fmt: skip
    if response.status_code != 302:
        return response
    assert response.headers["Location"].endswith("/autorizacion/calcular")
    return post(client, f"{auth_url(product)}/calcular", {"accion": "autorizar"})


# ---------------------------------------------------------------- authorization page


def test_authorization_lists_batches_with_estimated_cost(client, world):
    product = world["product"]
    make_batch(product, "EMI", records=3)
    make_batch(product, "REC", amounts=[5_000_000, 2_000])
    login(client, "jefe")
    html = client.get(auth_url(product)).get_data(as_text=True)
    for label in ("Nro. de lote", "Fecha de carga", "Tipo", "Registros", "Monto a debitar", "Costo estimado", "Opciones",
                  "Procesar por lote", "Procesar por tipo de lote", "Contraseña", "Autorizar", "Eliminar"):  # fmt: skip
        assert label in html, label
    assert 'value="tipo" checked' in html  # the default grouping
    # EMI: 3 × $10,00 + $5.000,00 = $5.030,00; IVA 19 % = $955,70 → $5.985,70
    assert "$ 5.985,70" in html
    # REC: max(1 % × 50.000, 100) + max(1 % × 20, 100) = 500 + 100 = $600,00; GMF 4 ‰ of 50.020 = 200,08;
    # IVA 19 % of 600 = 114 → 914,08; Monto a debitar: the 50.020,00 the batch credits to cards
    assert "$ 914,08" in html and "$ 50.020,00" in html and "$ 50.934,08" not in html


def _cells(html, batch):
    """{column header: cell text} of `batch`'s row in the authorization page's table."""
    table = html[: html.index(f'value="{batch.id}"')]
    table = table[table.rindex("<table") :]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    row = html[html.index(f'value="{batch.id}"') :]
    row = row[row.index("</td>") + 5 : row.index("</tr>")]  # after the check box
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    return dict(zip(headers[1:], cells, strict=False))


def test_an_emission_batch_debits_nothing_and_shows_its_cost_apart(client, world):
    """Monto a debitar is what goes to the cards ($ 0,00 for an emission); commissions, GMF and
    IVA are the Costo estimado, not added into it."""
    product = world["product"]
    emission = make_batch(product, "EMI", records=3)
    recharge = make_batch(product, "REC", amounts=[5_000_000, 2_000])
    login(client, "jefe")
    html = client.get(auth_url(product)).get_data(as_text=True)
    emi = _cells(html, emission)
    assert (emi["Monto a debitar"], emi["Costo estimado"]) == ("$ 0,00", "$ 5.985,70"), emi
    rec = _cells(html, recharge)
    assert (rec["Monto a debitar"], rec["Costo estimado"]) == ("$ 50.020,00", "$ 914,08"), rec


def test_menu_links_and_permissions(client, world):
    product = world["product"]
    login(client, "jefe")
    assert auth_url(product) in client.get(f"/productos/{product.id}/lotes").get_data(as_text=True)
    assert orders_url(product) in client.get(f"/productos/{product.id}/consultas").get_data(as_text=True)
    post(client, "/salir")
    login(client, "cargador")
    assert client.get(auth_url(product)).status_code == 403
    assert client.get(orders_url(product)).status_code == 403
    login(client, "jefe")
    assert client.get(auth_url(world["other"])).status_code == 404
    assert client.get(orders_url(world["other"])).status_code == 404


def test_authorize_creates_an_order_with_the_quoted_figures(client, world):
    product = world["product"]
    batch = make_batch(product, "EMI", records=3)
    login(client, "jefe")
    response = post(client, auth_url(product), {"accion": "autorizar", "lote": [str(batch.id)], "password": PASSWORD})
    assert response.status_code == 302
    html = client.get(f"{auth_url(product)}/calcular").get_data(as_text=True)
    for label in ("Calcular orden de servicio", "Monto comisión", "Monto IVA", "Monto OS", "Monto depositado",
                  "Monto comisión + GMF", "Cancelar", "Autorizar"):  # fmt: skip
        assert label in html, label
    assert "$ 5.030,00" in html and "$ 955,70" in html and "$ 5.985,70" in html
    assert ServiceOrder.select().count() == 0  # nothing created before the second Autorizar
    response = post(client, f"{auth_url(product)}/calcular", {"accion": "autorizar"})
    assert response.status_code == 302 and response.headers["Location"].endswith(orders_url(product))
    order = ServiceOrder.get()
    assert (order.status, order.commission, order.iva, order.os_total, order.amount, order.total_to_pay) == (
        "PENDIENTE_PAGO", 503_000, 95_570, 598_570, 0, 598_570,
    )  # fmt: skip
    batch = Batch.get_by_id(batch.id)
    assert (batch.status, batch.order_id, batch.commission, batch.unit_price) == ("EN_ORDEN", order.id, 503_000, 1_000)
    assert order.authorized_by.username == "jefe"
    html = client.get(orders_url(product), follow_redirects=True).get_data(as_text=True)
    assert f"Se creó la orden de servicio Nro. {order.id}" in html
    assert "Autorizado" in html and "$ 5.030,00" in html and "$ 955,70" in html
    assert AuditEvent.get(AuditEvent.tag == "order:create").object_ref == f"orden:{order.id}"


def test_authorize_with_a_wrong_password_creates_nothing(client, world):
    batch = make_batch(world["product"])
    login(client, "jefe")
    response = authorize(client, world["product"], [batch], password="Otra*1234")
    assert response.status_code == 422
    assert "La contraseña es incorrecta" in response.get_data(as_text=True)
    assert ServiceOrder.select().count() == 0 and Batch.get_by_id(batch.id).status == "POR_AUTORIZAR"


def test_authorize_without_selection_is_refused(client, world):
    make_batch(world["product"])
    login(client, "jefe")
    response = authorize(client, world["product"], [])
    assert response.status_code == 422 and "Selecciona al menos un lote" in response.get_data(as_text=True)


def test_authorize_without_selection_says_so_before_asking_the_password(client, world):
    make_batch(world["product"])
    login(client, "jefe")
    response = authorize(client, world["product"], [], password="")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Selecciona al menos un lote" in html
    assert "Ingresa tu contraseña" not in html


def _section(html, title):
    """The HTML of the card whose <h2> is `title`."""
    start = html.index(f"<h2>{title}</h2>")
    return html[start : html.index("</section>", start)]


def test_a_user_who_may_authorize_but_not_sign_sees_the_batches_to_sign_read_only(client, world):
    product = world["coop_product"]
    waiting = make_batch(product, status=Batch.TO_SIGN)
    login(client, "autorizador")
    html = client.get(auth_url(product)).get_data(as_text=True)
    to_sign = _section(html, "Lotes por firmar")
    assert waiting.number in to_sign and "Esperando la primera firma" in to_sign
    assert 'type="checkbox"' not in to_sign and 'type="password"' not in to_sign and "<button" not in to_sign
    # The table below, which this user does act on, keeps its controls.
    make_batch(product, status=Batch.TO_AUTHORIZE, signed_by=models_user("firmante"))
    html = client.get(auth_url(product)).get_data(as_text=True)
    to_authorize = _section(html, "Lotes por autorizar")
    assert 'name="lote"' in to_authorize and 'type="password"' in to_authorize and ">Autorizar</button>" in to_authorize


def test_the_signer_keeps_the_controls_of_the_batches_to_sign(client, world):
    product = world["coop_product"]
    make_batch(product, status=Batch.TO_SIGN)
    login(client, "firmante")
    to_sign = _section(client.get(auth_url(product)).get_data(as_text=True), "Lotes por firmar")
    assert 'name="lote"' in to_sign and 'type="password"' in to_sign and ">Firmar</button>" in to_sign
    assert "Esperando la primera firma" not in to_sign


def models_user(username):
    from models import User

    return User.get(User.username == username)


def test_cancel_goes_back_without_an_order(client, world):
    product = world["product"]
    batch = make_batch(product)
    login(client, "jefe")
    post(client, auth_url(product), {"accion": "autorizar", "lote": [str(batch.id)], "password": PASSWORD})
    response = post(client, f"{auth_url(product)}/calcular", {"accion": "cancelar"})
    assert response.headers["Location"].endswith(auth_url(product))
    assert ServiceOrder.select().count() == 0 and Batch.get_by_id(batch.id).status == "POR_AUTORIZAR"
    # the pending choice is gone: Autorizar on the old page creates nothing
    post(client, f"{auth_url(product)}/calcular", {"accion": "autorizar"})
    assert ServiceOrder.select().count() == 0


def test_grouping_by_type_or_by_batch(client, world):
    product = world["product"]
    emi1, emi2, rec = make_batch(product), make_batch(product), make_batch(product, "REC", amounts=[1_000_000])
    login(client, "jefe")
    authorize(client, product, [emi1, emi2, rec], grouping="tipo")
    assert sorted(o.kind for o in ServiceOrder.select()) == ["EMI", "REC"]
    emi_order = ServiceOrder.get(ServiceOrder.kind == "EMI")
    assert emi_order.records == 6 and emi_order.distribution == 1_000_000
    ServiceOrder.delete().execute()
    a, b = make_batch(product), make_batch(product)
    authorize(client, product, [a, b], grouping="lote")
    assert ServiceOrder.select().count() == 2


def test_a_batch_of_another_product_cannot_be_authorized(client, world):
    foreign = make_batch(world["other"])
    login(client, "jefe")
    response = authorize(client, world["product"], [foreign])
    assert response.status_code == 422 and "no existe" in response.get_data(as_text=True)
    assert Batch.get_by_id(foreign.id).status == "POR_AUTORIZAR"


def test_delete_from_authorization(client, world):
    batch = make_batch(world["product"])
    login(client, "jefe")
    response = post(
        client,
        auth_url(world["product"]),
        {"accion": "eliminar", "tabla": "autorizar", "lote": [str(batch.id)], "password": PASSWORD},
    )
    assert response.status_code == 302 and Batch.get_by_id(batch.id).status == "ELIMINADO"


# ---------------------------------------------------------------- two signatures


def test_two_signatures_sign_then_authorize_by_another_user(client, world):
    product = world["coop_product"]
    batch = make_batch(product, status=Batch.TO_SIGN)
    login(client, "firmante")
    html = client.get(auth_url(product)).get_data(as_text=True)
    assert "Lotes por firmar" in html and "Firmar" in html and ">Autorizar</button>" not in html
    response = post(client, auth_url(product), {"accion": "firmar", "lote": [str(batch.id)], "password": PASSWORD})
    assert response.status_code == 302
    batch = Batch.get_by_id(batch.id)
    assert batch.status == "POR_AUTORIZAR" and batch.signed_by.username == "firmante"
    # the signer may not authorize (no permission) ...
    response = post(client, auth_url(product), {"accion": "autorizar", "lote": [str(batch.id)], "password": PASSWORD})
    assert response.status_code == 403
    post(client, "/salir")
    login(client, "autorizador")
    authorize(client, product, [batch])
    batch = Batch.get_by_id(batch.id)
    assert batch.status == "EN_ORDEN" and batch.authorized_by.username == "autorizador"


def test_the_same_user_never_gives_both_signatures(client, world):
    product = world["coop_product"]
    batch = make_batch(product, status=Batch.TO_SIGN)
    login(client, "ambos")
    post(client, auth_url(product), {"accion": "firmar", "lote": [str(batch.id)], "password": PASSWORD})
    assert Batch.get_by_id(batch.id).signed_by.username == "ambos"
    response = authorize(client, product, [batch])
    assert response.status_code == 422
    assert "la autorización debe darla otro usuario" in response.get_data(as_text=True)
    assert Batch.get_by_id(batch.id).status == "POR_AUTORIZAR" and ServiceOrder.select().count() == 0


def test_a_two_signature_batch_cannot_skip_the_first_signature(client, world):
    product = world["coop_product"]
    unsigned = make_batch(product, status=Batch.TO_SIGN)
    # even if it were POR_AUTORIZAR without a signer (e.g. the company changed to two signatures)
    no_signer = make_batch(product, status=Batch.TO_AUTHORIZE)
    login(client, "autorizador")
    assert authorize(client, product, [unsigned]).status_code == 422
    response = authorize(client, product, [no_signer])
    assert response.status_code == 422 and "primera firma" in response.get_data(as_text=True)
    assert ServiceOrder.select().count() == 0


def test_desasociar_withdraws_only_your_own_signature(client, world, app):
    product = world["coop_product"]
    batch = make_batch(product, status=Batch.TO_SIGN)
    login(client, "firmante")
    post(client, auth_url(product), {"accion": "firmar", "lote": [str(batch.id)], "password": PASSWORD})
    post(client, "/salir")
    login(client, "ambos")
    response = post(client, auth_url(product), {"accion": "desasociar", "lote": [str(batch.id)], "password": PASSWORD})
    assert response.status_code == 422 and "Solo quien firmó" in response.get_data(as_text=True)
    assert Batch.get_by_id(batch.id).status == "POR_AUTORIZAR"
    post(client, "/salir")
    login(client, "firmante")
    response = post(client, auth_url(product), {"accion": "desasociar", "lote": [str(batch.id)], "password": PASSWORD})
    assert response.status_code == 302
    batch = Batch.get_by_id(batch.id)
    assert batch.status == "POR_FIRMAR" and batch.signed_by is None


def test_sign_needs_the_permission(client, world):
    product = world["coop_product"]
    batch = make_batch(product, status=Batch.TO_SIGN)
    login(client, "autorizador")
    response = post(client, auth_url(product), {"accion": "firmar", "lote": [str(batch.id)], "password": PASSWORD})
    assert response.status_code == 403 and Batch.get_by_id(batch.id).status == "POR_FIRMAR"


# ---------------------------------------------------------------- orders list


def make_order(product, user_name="jefe", kind="EMI", **batch_kwargs):
    from models import User

    batch = make_batch(product, kind, **batch_kwargs)
    signer = None
    if product.company.signatures == 2:
        signer = User.get(User.username == "firmante")
        Batch.update(signed_by=signer).where(Batch.id == batch.id).execute()
    [order] = authorization.authorize(product, [batch.id], User.get(User.username == user_name))
    return order


def test_orders_search_criteria(client, world):
    product = world["product"]
    recent = make_order(product)
    old = make_order(product)
    ServiceOrder.update(created_at=utcnow() - timedelta(days=20)).where(ServiceOrder.id == old.id).execute()
    login(client, "consulta")
    html = client.get(orders_url(product)).get_data(as_text=True)
    for label in ("Criterio de búsqueda", "5 días", "10 días", "Fecha inicial", "Fecha final", "Estado", "Buscar",
                  "Nro. de orden", "Fecha", "Monto comisión", "Monto IVA", "Monto OS", "Monto depositado", "Opciones"):  # fmt: skip
        assert label in html, label
    assert f'id="orden-{recent.id}"' in html and f'id="orden-{old.id}"' in html
    html = client.get(f"{orders_url(product)}?periodo=5").get_data(as_text=True)
    assert f'id="orden-{recent.id}"' in html and f'id="orden-{old.id}"' not in html
    html = client.get(f"{orders_url(product)}?estado=PROCESADO").get_data(as_text=True)
    assert f'id="orden-{recent.id}"' not in html
    html = client.get(f"{orders_url(product)}?estado=PENDIENTE_PAGO").get_data(as_text=True)
    assert f'id="orden-{recent.id}"' in html
    # buttons a consulta user may not use are not shown
    assert 'aria-label="Pagar"' not in html and 'aria-label="Anular orden"' not in html
    assert 'aria-label="Descargar PDF"' in html and 'aria-label="Ver detalle"' in html


@pytest.mark.parametrize(
    "query, message",
    [
        ("fecha_inicial=01/01/2026&fecha_final=30/06/2026", "no puede superar 3 meses"),
        ("fecha_inicial=2026-01-01&fecha_final=30/01/2026", "formato DD/MM/AAAA"),
        ("fecha_inicial=10/02/2026&fecha_final=01/02/2026", "no puede ser posterior"),
        ("fecha_inicial=01/02/2026", "Indica la fecha inicial y la fecha final"),
        ("estado=BORRADO", "Selecciona un estado válido"),
    ],
)
def test_orders_criteria_errors_are_explained(client, world, query, message):
    make_order(world["product"])
    login(client, "consulta")
    response = client.get(f"{orders_url(world['product'])}?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html
    assert 'id="orden-' not in html  # the errors alone: no list that ignores the criteria


@pytest.mark.parametrize("htmx", [False, True], ids=["pagina", "htmx"])
def test_a_day_that_does_not_exist_shows_the_services_message_and_no_rows(client, world, htmx):
    make_order(world["product"])
    login(client, "consulta")
    args = {"fecha_inicial": "31/02/2026", "fecha_final": "01/03/2026"}
    _, errors = orders.criteria_from(args)
    assert errors
    headers = {"HX-Request": "true"} if htmx else {}
    html = client.get(orders_url(world["product"]), query_string=args, headers=headers).get_data(as_text=True)
    from markupsafe import escape

    for error in errors:
        assert str(escape(error)) in html
    assert 'id="orden-' not in html and "<tbody>" not in html


def test_orders_date_range_and_pagination_keep_criteria(client, world):
    product = world["product"]
    for _ in range(12):
        make_order(product)
    login(client, "consulta")
    today = utcnow() - timedelta(hours=5)
    start = (today - timedelta(days=1)).strftime("%d/%m/%Y")
    end = today.strftime("%d/%m/%Y")
    html = client.get(f"{orders_url(product)}?fecha_inicial={start}&fecha_final={end}").get_data(as_text=True)
    assert "Mostrando registro(s) del 1 al 10 de un total de 12 registro(s)" in html
    assert f"fecha_inicial={start.replace('/', '%2F')}" in html or f"fecha_inicial={start}" in html  # kept


def test_order_detail_and_records(client, world):
    product = world["product"]
    order = make_order(product)
    batch = Batch.get(Batch.order == order.id)
    login(client, "consulta")
    html = client.get(f"{orders_url(product)}/{order.id}").get_data(as_text=True)
    for label in (
        "Nro. de lote",
        "Fecha de carga",
        "Tipo",
        "Registros",
        "Estado",
        "Monto",
        "Monto comisión + GMF",
        "Monto depositado",
    ):
        assert label in html
    assert batch.number in html
    html = client.get(f"{orders_url(product)}/{order.id}/lotes/{batch.id}").get_data(as_text=True)
    assert "Documento" in html and "Nombre y apellido" in html and "ANA PEREZ2" in html and "Por procesar" in html
    assert "Volver" in html


def _row_cells(html, row_id):
    """{header: text} of the row `row_id` in the first table that holds it."""
    row_start = html.index(f'id="{row_id}"')
    table = html[html.rindex("<table", 0, row_start) : row_start]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    row = html[row_start : html.index("</tr>", row_start)]
    cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    return dict(zip(headers, (" ".join(c) for c in cells), strict=True))


def test_the_orders_table_shows_gmf_apart_and_what_was_paid(client, world):
    """Monto comisión without the GMF, Monto GMF on its own (as the PDF), Monto depositado = the debit."""
    product = world["product"]
    order = make_order(product, "jefe", "REC", amounts=[5_000_000, 2_000])
    ServiceOrder.update(deposited=order.total_to_pay, status=ServiceOrder.PROCESSED).where(
        ServiceOrder.id == order.id
    ).execute()
    order = ServiceOrder.get_by_id(order.id)
    assert order.gmf > 0
    login(client, "consulta")
    cells = _row_cells(client.get(orders_url(product)).get_data(as_text=True), f"orden-{order.id}")
    money = _money_text
    assert cells["Monto comisión"] == money(order.commission - order.gmf)
    assert cells["Monto GMF"] == money(order.gmf)
    assert cells["Monto depositado"] == money(order.total_to_pay)


def test_the_order_detail_tells_the_debit_from_what_reached_the_cards(client, world):
    product = world["product"]
    order = make_order(product, "jefe", "REC", amounts=[5_000_000, 2_000])
    ServiceOrder.update(deposited=order.total_to_pay).where(ServiceOrder.id == order.id).execute()
    Batch.update(deposited=5_002_000).where(Batch.order == order.id).execute()
    order = ServiceOrder.get_by_id(order.id)
    login(client, "consulta")
    html = client.get(f"{orders_url(product)}/{order.id}").get_data(as_text=True)
    grid = dict(
        (re.sub(r"<[^>]+>", "", k).strip(), re.sub(r"<[^>]+>", "", v).strip())
        for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html, re.S)
    )
    assert grid["Monto depositado"] == _money_text(order.total_to_pay)
    assert grid["Monto abonado a tarjetas"] == _money_text(5_002_000)
    assert grid["Monto comisión"] == _money_text(order.commission - order.gmf)
    assert grid["Monto GMF"] == _money_text(order.gmf)
    assert ">Monto abonado a tarjetas</th>" in html  # the batches' column


def _money_text(cents):
    from domain.money import format_cop

    return format_cop(cents)


def test_another_companys_order_is_404_everywhere(client, world):
    foreign = make_order(world["other"], user_name="ajeno")
    batch = Batch.get(Batch.order == foreign.id)
    login(client, "jefe")
    product = world["product"]
    for url in (
        f"/{foreign.id}",
        f"/{foreign.id}/pdf",
        f"/{foreign.id}/anular",
        f"/{foreign.id}/lotes/{batch.id}",
        f"/{foreign.id}/estado",
    ):
        assert client.get(orders_url(product) + url).status_code == 404, url
    for url in (f"/{foreign.id}/anular", f"/{foreign.id}/pagar/codigo", f"/{foreign.id}/pagar"):
        assert post(client, orders_url(product) + url, {"password": PASSWORD, "code": "123456"}).status_code == 404, url
    # and through the other product's own URL: not one of the user's companies
    assert client.get(f"{orders_url(world['other'])}/{foreign.id}").status_code == 404
    assert ServiceOrder.get_by_id(foreign.id).status == "PENDIENTE_PAGO"


# ---------------------------------------------------------------- void


def test_void_needs_password_and_voids_batches(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "jefe")
    html = client.get(f"{orders_url(product)}/{order.id}/anular", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Anular orden de servicio" in html and f"anular la orden de servicio: <strong>{order.id}" in html
    response = post(
        client, f"{orders_url(product)}/{order.id}/anular", {"password": "Mala*1234"}, headers={"HX-Request": "true"}
    )
    assert (
        "La contraseña es incorrecta" in response.get_data(as_text=True)
        and ServiceOrder.get_by_id(order.id).status == "PENDIENTE_PAGO"
    )
    response = post(
        client, f"{orders_url(product)}/{order.id}/anular", {"password": PASSWORD}, headers={"HX-Request": "true"}
    )
    assert f"La orden de servicio Nro. {order.id} fue anulada" in response.get_data(as_text=True)
    assert ServiceOrder.get_by_id(order.id).status == "ANULADO"
    assert Batch.get(Batch.order == order.id).status == "ANULADO"
    # once voided it can neither be voided again nor paid
    response = post(client, f"{orders_url(product)}/{order.id}/anular", {"password": PASSWORD})
    assert "solo se anulan órdenes sin pagar" in response.get_data(as_text=True)
    response = post(client, f"{orders_url(product)}/{order.id}/pagar/codigo", headers={"HX-Request": "true"})
    assert "La orden de servicio está anulada" in response.get_data(as_text=True)
    assert OutboxMessage.select().count() == 0


def test_void_needs_the_permission(client, world):
    order = make_order(world["product"])
    login(client, "pagador")
    assert post(client, f"{orders_url(world['product'])}/{order.id}/anular", {"password": PASSWORD}).status_code == 403
    assert ServiceOrder.get_by_id(order.id).status == "PENDIENTE_PAGO"


# ---------------------------------------------------------------- pay


def last_code(username) -> str:
    message = (
        OutboxMessage.select()
        .where(OutboxMessage.recipient == f"{username}@example.com")
        .order_by(OutboxMessage.id.desc())
        .first()
    )
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def request_code(client, product, order):
    return post(client, f"{orders_url(product)}/{order.id}/pagar/codigo", headers={"HX-Request": "true"})


def pay(client, product, order, code):
    return post(client, f"{orders_url(product)}/{order.id}/pagar", {"code": code}, headers={"HX-Request": "true"})


def test_pay_with_the_emailed_code_debits_once_and_posts_the_ledger(client, world):
    product, company = world["product"], world["company"]
    order = make_order(product, kind="REC", amounts=[5_000_000, 2_000])
    login(client, "pagador")
    html = request_code(client, product, order).get_data(as_text=True)
    assert "Pagar Orden de Servicio" in html and "Ingresa el código de verificación enviado a tu correo" in html
    assert "Reenviar código" in html and "Aceptar" in html and "Cancelar" in html
    assert company.bank_account not in html  # only its last digits
    code = last_code("pagador")
    html = pay(client, product, order, code).get_data(as_text=True)
    assert f"Pago exitoso de la orden de servicio Nro. {order.id}" in html
    order = ServiceOrder.get_by_id(order.id)
    assert order.status == "EN_PROCESO" and order.deposited == order.total_to_pay > 0
    assert Batch.get(Batch.order == order.id).status == "EN_PROCESO"
    account = BankAccount.get(BankAccount.number == company.bank_account)
    assert account.balance == 100_000_000 - order.total_to_pay
    assert BankMovement.select().where(BankMovement.amount < 0).count() == 1
    # the ledger: bank −total; revenue + commission; tax + IVA + GMF; funding + Monto
    assert ledger.balance(ledger.company_bank_account(company)) == -order.total_to_pay
    assert ledger.balance(ledger.revenue_account()) == order.iva_base
    assert ledger.balance(ledger.tax_account()) == order.iva + order.gmf
    assert ledger.balance(ledger.funding_account(product)) == order.amount == 5_002_000
    # paying again: refused, no second debit
    html = pay(client, product, order, code).get_data(as_text=True)
    assert "ya fue pagada" in html
    assert BankMovement.select().where(BankMovement.amount < 0).count() == 1


def test_pay_refuses_a_wrong_code_three_times_then_locks_it(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "pagador")
    request_code(client, product, order)
    code = last_code("pagador")
    wrong = "000000" if code != "000000" else "111111"
    assert "no es correcto" in pay(client, product, order, wrong).get_data(as_text=True)
    assert "no es correcto" in pay(client, product, order, wrong).get_data(as_text=True)
    assert "Superaste los intentos" in pay(client, product, order, wrong).get_data(as_text=True)
    assert "Superaste los intentos" in pay(client, product, order, code).get_data(
        as_text=True
    )  # even the right one now
    assert ServiceOrder.get_by_id(order.id).status == "PENDIENTE_PAGO"
    assert BankMovement.select().where(BankMovement.amount < 0).count() == 0


def test_pay_refuses_an_expired_or_replaced_code(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "pagador")
    request_code(client, product, order)
    code = last_code("pagador")
    VerificationCode.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    assert "venció" in pay(client, product, order, code).get_data(as_text=True)
    # Reenviar código: a new code retires the old one
    VerificationCode.update(created_at=utcnow() - timedelta(minutes=1)).execute()
    request_code(client, product, order)
    new_code = last_code("pagador")
    if new_code != code:
        assert "venció" in pay(client, product, order, code).get_data(as_text=True) or "no es correcto" in pay(
            client, product, order, code
        ).get_data(as_text=True)
    assert "Pago exitoso" in pay(client, product, order, new_code).get_data(as_text=True)


def test_resend_is_throttled(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "pagador")
    request_code(client, product, order)
    html = request_code(client, product, order).get_data(as_text=True)
    assert "Ya enviamos un código hace unos segundos" in html
    assert OutboxMessage.select().count() == 1


def test_a_code_is_for_one_order_and_one_user(client, world):
    product = world["product"]
    first, second = make_order(product), make_order(product)
    login(client, "pagador")
    request_code(client, product, first)
    code = last_code("pagador")
    assert "Pago exitoso" not in pay(client, product, second, code).get_data(as_text=True)
    post(client, "/salir")
    login(client, "jefe")
    assert "Pago exitoso" not in pay(client, product, first, code).get_data(as_text=True)
    assert ServiceOrder.select().where(ServiceOrder.status == "PENDIENTE_PAGO").count() == 2


@pytest.mark.parametrize("problem, message", [("saldo", "Fondos insuficientes"), ("inactiva", "inactiva")])
def test_bank_refusal_leaves_the_order_unpaid(client, world, problem, message):
    product, company = world["product"], world["company"]
    order = make_order(product, kind="REC", amounts=[99_500_000])
    if problem == "inactiva":
        BankAccount.update(active=False).where(BankAccount.number == company.bank_account).execute()
    login(client, "pagador")
    request_code(client, product, order)
    html = pay(client, product, order, last_code("pagador")).get_data(as_text=True)
    assert "El banco rechazó el pago" in html and message in html and "sigue pendiente de pago" in html
    order = ServiceOrder.get_by_id(order.id)
    assert order.status == "PENDIENTE_PAGO" and order.deposited == 0 and message in order.pay_message
    assert Batch.get(Batch.order == order.id).status == "EN_ORDEN"
    assert BankAccount.get(BankAccount.number == company.bank_account).balance == 100_000_000
    assert ledger.balance(ledger.funding_account(product)) == 0
    # the list tells why the last attempt failed
    assert message in client.get(orders_url(product)).get_data(as_text=True)


def test_pay_needs_the_permission(client, world):
    order = make_order(world["product"])
    login(client, "consulta")
    assert post(client, f"{orders_url(world['product'])}/{order.id}/pagar/codigo").status_code == 403
    assert post(client, f"{orders_url(world['product'])}/{order.id}/pagar", {"code": "123456"}).status_code == 403
    assert OutboxMessage.select().count() == 0


def test_two_payments_at_once_debit_once(app, world):
    """Two users with order.pay, each with a right code, press Aceptar at the same moment."""
    from models import User

    product = world["product"]
    make_user("pagador2", perms={product: "order.view,order.pay"})
    order = make_order(product, kind="REC", amounts=[1_000_000])
    users = [User.get(User.username == name) for name in ("pagador", "pagador2")]
    with app.test_request_context():
        codes = {}
        for user in users:
            orders.send_payment_code(order, user)
            codes[user.id] = last_code(user.username)
    results, barrier = [], threading.Barrier(2)

    def attempt(user):
        with app.test_request_context():
            import models

            models.db.connect(reuse_if_open=True)
            barrier.wait()
            try:
                orders.pay(ServiceOrder.get_by_id(order.id), user, codes[user.id])
                results.append("ok")
            except Refused as exc:
                results.append(exc.message)
            finally:
                models.db.close()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and len(results) == 2, results
    assert BankMovement.select().where(BankMovement.amount < 0).count() == 1
    assert ServiceOrder.get_by_id(order.id).status == "EN_PROCESO"


def test_a_payment_interrupted_after_the_bank_is_settled_by_the_job(app, world):
    """The app died between the bank's debit and the settlement: the job finishes it with the
    same bank key, so the company is debited once."""
    product, company = world["product"], world["company"]
    order = make_order(product, kind="REC", amounts=[1_000_000])
    with app.test_request_context():
        default_bank().debit(
            company.bank_account, order.total_to_pay, key=f"orden-servicio:{order.id}", description="x"
        )
    ServiceOrder.update(status="PAGANDO", claimed_at=utcnow() - timedelta(minutes=5)).where(
        ServiceOrder.id == order.id
    ).execute()
    with app.test_request_context():
        assert orders.settle_stuck_payments() == 1
    order = ServiceOrder.get_by_id(order.id)
    assert order.status == "EN_PROCESO" and order.deposited == order.total_to_pay
    assert BankMovement.select().where(BankMovement.amount < 0).count() == 1
    assert ledger.balance(ledger.funding_account(product)) == 1_000_000


def test_payment_code_is_emailed_through_smtp(make_app, world, smtp_server):
    port, received = smtp_server
    smtp_app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    client = smtp_app.test_client()
    order = make_order(world["product"])
    login(client, "pagador")
    request_code(client, world["product"], order)
    assert len(received) == 1 and received[0].rcpt_tos == ["pagador@example.com"]
    import email

    body = email.message_from_bytes(received[0].content).get_payload(decode=True).decode()
    code = re.search(r"\b(\d{6})\b", body).group(1)
    html = pay(client, world["product"], order, code).get_data(as_text=True)
    assert "Pago exitoso" in html


# ---------------------------------------------------------------- review findings


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", "1e3", "99999999999999999999999"])
def test_malformed_batch_ids_never_break_authorization(client, world, value):
    batch = make_batch(world["product"])
    login(client, "jefe")
    response = post(client, auth_url(world["product"]), {"accion": "autorizar", "lote": [value], "password": PASSWORD})
    assert response.status_code == 422 and "Selecciona al menos un lote" in response.get_data(as_text=True)
    assert Batch.get_by_id(batch.id).status == "POR_AUTORIZAR"


@pytest.mark.parametrize(
    "query",
    [
        "q=²",
        "q=" + "9" * 300,
        "fecha_inicial=01/11/9999&fecha_final=02/11/9999",
        "fecha_inicial=31/12/9999&fecha_final=31/12/9999",
        "periodo=99999999999999999999",
        "pagina=99999999999999999999999",
    ],
)
def test_malformed_order_searches_answer_200(client, world, query):
    make_order(world["product"])
    login(client, "consulta")
    assert client.get(f"{orders_url(world['product'])}?{query}").status_code == 200


def test_huge_ids_in_urls_are_not_found(client, world):
    login(client, "jefe")
    for url in ("/99999999999999999999", "/99999999999999999999/pdf", "/1/lotes/99999999999999999999"):
        assert client.get(orders_url(world["product"]) + url).status_code == 404
    assert client.get("/productos/99999999999999999999999/ordenes").status_code == 404


def test_fees_changed_after_the_calculation_are_refused(client, world):
    from models import Product

    product = world["product"]
    batch = make_batch(product)
    login(client, "jefe")
    post(client, auth_url(product), {"accion": "autorizar", "lote": [str(batch.id)], "password": PASSWORD})
    assert "$ 5.985,70" in client.get(f"{auth_url(product)}/calcular").get_data(as_text=True)
    Product.update(distribution_cost=9_000_000).where(Product.id == product.id).execute()
    response = post(client, f"{auth_url(product)}/calcular", {"accion": "autorizar"}, follow_redirects=True)
    assert "Las cifras de la orden cambiaron" in response.get_data(as_text=True)
    assert ServiceOrder.select().count() == 0 and Batch.get_by_id(batch.id).status == "POR_AUTORIZAR"


def test_a_debit_already_made_is_honoured_even_if_the_account_was_deactivated(app, world):
    """The app died after the bank's debit; the account was then deactivated. The job must not
    put the order back to unpaid (it could then be voided with the money gone)."""
    product, company = world["product"], world["company"]
    order = make_order(product, kind="REC", amounts=[1_000_000])
    with app.test_request_context():
        default_bank().debit(
            company.bank_account, order.total_to_pay, key=f"orden-servicio:{order.id}", description="x"
        )
    BankAccount.update(active=False).where(BankAccount.number == company.bank_account).execute()
    ServiceOrder.update(status="PAGANDO", claimed_at=utcnow() - timedelta(minutes=5)).where(
        ServiceOrder.id == order.id
    ).execute()
    with app.test_request_context():
        orders.settle_stuck_payments()
    order = ServiceOrder.get_by_id(order.id)
    assert order.status == "EN_PROCESO" and order.deposited == order.total_to_pay


def test_codes_per_hour_are_capped(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "pagador")
    for _ in range(5):
        request_code(client, product, order)
        VerificationCode.update(created_at=utcnow() - timedelta(minutes=10)).execute()
    html = request_code(client, product, order).get_data(as_text=True)
    assert "Se enviaron demasiados códigos en la última hora" in html
    assert OutboxMessage.select().count() == 5


def test_order_row_polling_does_not_keep_the_session_alive(client, world):
    order = make_order(world["product"])
    login(client, "consulta")
    with client.session_transaction() as session:
        session["last_seen"] = session["last_seen"] - 60
        before = session["last_seen"]
    assert client.get(f"{orders_url(world['product'])}/{order.id}/estado").status_code == 200
    with client.session_transaction() as session:
        assert session["last_seen"] == before
    client.get(orders_url(world["product"]))  # a real page does count as activity
    with client.session_transaction() as session:
        assert session["last_seen"] > before


def test_pay_and_void_work_without_javascript(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "jefe")
    html = client.get(f"{orders_url(product)}/{order.id}/anular").get_data(as_text=True)
    assert "<dialog open" in html and 'name="password"' in html
    html = post(client, f"{orders_url(product)}/{order.id}/pagar/codigo").get_data(as_text=True)
    assert "<dialog open" in html and "Ingresa el código de verificación enviado a tu correo" in html
    response = post(client, f"{orders_url(product)}/{order.id}/pagar", {"code": last_code("jefe")})
    assert response.status_code == 302 and ServiceOrder.get_by_id(order.id).status == "EN_PROCESO"


def test_the_table_refreshed_after_voiding_keeps_the_search(client, world):
    product = world["product"]
    orders_made = [make_order(product) for _ in range(12)]
    login(client, "jefe")
    # The list carries its criteria and page in #orders-state; each row's Anular and Pagar send them along.
    listing = client.get(f"{orders_url(product)}?estado=PENDIENTE_PAGO&pagina=2").get_data(as_text=True)
    state = re.search(r'<form id="orders-state"[^>]*>(.*?)</form>', listing, re.S).group(1)
    assert 'name="estado" value="PENDIENTE_PAGO"' in state and 'name="pagina" value="2"' in state
    assert listing.count('hx-include="#orders-state"') >= 2  # Anular and Pagar of the row on page 2
    # The dialog opened with them keeps them as hidden fields of its form...
    dialog = client.get(
        f"{orders_url(product)}/{orders_made[0].id}/anular?estado=PENDIENTE_PAGO&pagina=2",
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert '<input type="hidden" name="estado" value="PENDIENTE_PAGO">' in dialog
    assert '<input type="hidden" name="pagina" value="2">' in dialog
    # ... and the table refreshed after Anular shows that search and page (no HX-Current-URL needed).
    response = post(
        client, f"{orders_url(product)}/{orders_made[0].id}/anular",
        {"password": PASSWORD, "estado": "PENDIENTE_PAGO", "pagina": "2"}, headers={"HX-Request": "true"},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    # 11 pending orders left: page 2 of the Autorizado search shows the 11th alone
    assert "Mostrando registro(s) del 11 al 11 de un total de 11 registro(s)" in html
    assert "estado=PENDIENTE_PAGO" in html


def test_the_table_refreshed_after_paying_keeps_the_search(client, world):
    product = world["product"]
    orders_made = [make_order(product) for _ in range(12)]
    login(client, "jefe")
    criteria = {"estado": "PENDIENTE_PAGO", "pagina": "2"}
    html = post(
        client, f"{orders_url(product)}/{orders_made[0].id}/pagar/codigo", criteria, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<input type="hidden" name="pagina" value="2">' in html  # the code dialog keeps them
    response = post(
        client, f"{orders_url(product)}/{orders_made[0].id}/pagar", {"code": last_code("jefe"), **criteria},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    assert "Pago exitoso" in html
    assert "Mostrando registro(s) del 11 al 11 de un total de 11 registro(s)" in html


def test_without_javascript_voiding_returns_to_the_same_search(client, world):
    product = world["product"]
    order = make_order(product)
    login(client, "jefe")
    page = client.get(f"{orders_url(product)}/{order.id}/anular?estado=PENDIENTE_PAGO").get_data(as_text=True)
    assert "<dialog open" in page and 'class="breadcrumbs"' in page
    assert f'href="{orders_url(product)}?estado=PENDIENTE_PAGO">Cancelar</a>' in page
    response = post(
        client, f"{orders_url(product)}/{order.id}/anular", {"password": PASSWORD, "estado": "PENDIENTE_PAGO"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{orders_url(product)}?estado=PENDIENTE_PAGO")


def test_authorization_page_queries_do_not_grow_with_the_batches(client, world, monkeypatch):
    """The signer of each row comes with the batches, and the recharge amounts behind the
    estimated costs in one query (no query per row)."""
    import models

    product = world["coop_product"]
    firmante = models.User.get(models.User.username == "firmante")
    login(client, "autorizador")
    counts = []
    for extra in (1, 5):
        for _ in range(extra):
            make_batch(product, status=Batch.TO_AUTHORIZE, signed_by=firmante)
            make_batch(product, "REC", amounts=[1_000_000, 20_000], status=Batch.TO_AUTHORIZE, signed_by=firmante)
        executed = []
        monkeypatch.setattr(models.db.obj, "execute_sql", _recording(models.db.obj.execute_sql, executed))
        html = client.get(auth_url(product)).get_data(as_text=True)
        monkeypatch.undo()
        assert html.count(">firmante</td>") == len(Batch.select().where(Batch.status == Batch.TO_AUTHORIZE))
        counts.append(len(executed))
    assert counts[0] == counts[1], counts


def _recording(execute_sql, executed: list):
    """execute_sql that also notes each statement in `executed`."""

    def run(sql, *args, **kwargs):
        executed.append(sql)
        return execute_sql(sql, *args, **kwargs)

    return run
