"""services/notices.py: each step's hook records the right notices for the right users only (the
company's active users holding the permission, never the actor, never another company, never
someone who turned the kind off), a failing notice never breaks its step, and the product's
low-balance threshold (`--low-balance-alert`)."""

import logging

import orjson
import pytest

from domain.money import format_cop
from models import Batch, BatchRecord, Card, MasterOperation, Notice, Product, ServiceOrder, User, UserNotice
from services import authorization, batches, master, notices, processing, provisioning
from tests import batchfiles
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards, make_order, validated

# Who is who on the two-signature company's product (each also a test of who is left out).
PEOPLE = {
    "cargador": "batch.upload,batch.confirm,batch.sign",  # uploads and confirms; also a signer (the actor)
    "firmante": "batch.sign,batch.authorize",  # signs; also an authorizer (the actor when signing)
    "autorizador": "batch.authorize,order.pay",  # authorizes; also a payer (the actor when authorizing)
    "pagador": "order.pay",
    "tesorero": "master.fund,master.balance",
    "cajero": "master.credit,master.fund",  # moves money (the actor of the fall); also a treasurer
    "callado": "all",  # turned every notice off
    "inactivo": "all",  # INACTIVO
    "consulta": "order.view,reports.view",  # holds none of the permissions notified
}


@pytest.fixture(autouse=True)
def context(app):
    with app.app_context():
        yield


@pytest.fixture
def world(db):
    company = make_company("DOS FIRMAS", nit=batchfiles.COMPANY_NIT, signatures=2, branches=batchfiles.BRANCHES,
                           balance=10**12)  # fmt: skip
    product = make_product(company, card_price_named=1_000, card_limit=batchfiles.CARD_LIMIT)
    users = {name: make_user(name, perms={product: perms}) for name, perms in PEOPLE.items()}
    notices.set_preferences(users["callado"], [])
    User.update(status=User.INACTIVE).where(User.id == users["inactivo"].id).execute()
    other = make_company("OTRA EMPRESA", signatures=2, balance=10**12)
    theirs = make_product(other, card_price_named=1_000)
    users["ajeno"] = make_user("ajeno", perms={theirs: "all"})
    return {"product": product, "users": users, "theirs": theirs}


def notified(kind=None):
    """{username: [texts]} of the notices recorded (of `kind`)."""
    query = Notice.select(Notice, User).join(User)
    if kind:
        query = query.where(Notice.kind == kind)
    result = {}
    for notice in query.order_by(Notice.id):
        result.setdefault(notice.user.username, []).append(notice.text)
    return result


_numbers = {"n": 0}


def a_batch(product, status, uploader=None, signer=None, kind="EMI", records=1):
    _numbers["n"] += 1
    batch = Batch.create(
        company=product.company_id, product=product, number=f"250115{_numbers['n']:02d}", kind=kind, status=status,
        valid_records=records, total_records=records, processed_records=records,
        uploaded_by=uploader, signed_by=signer,
    )  # fmt: skip
    for line in range(2, records + 2):
        BatchRecord.create(batch=batch, line=line, id_type="CC", id_number=f"{line}", data=orjson.dumps({}).decode())
    return batch


# ---------------------------------------------------------------- confirm, sign, unsign


def test_a_confirmed_batch_of_a_two_signature_company_goes_to_the_signers(world):
    product, users = world["product"], world["users"]
    batch = a_batch(product, Batch.VALID, uploader=users["cargador"])
    batches.confirm(Batch.get_by_id(batch.id), users["cargador"], PASSWORD)
    assert Batch.get_by_id(batch.id).status == Batch.TO_SIGN
    # not cargador (the actor), callado (off), inactivo, ajeno (other company), nor the others (no batch.sign)
    assert list(notified()) == ["firmante"]
    (text,) = notified(notices.FIRMA)["firmante"]
    assert text == f"Lote {batch.number} (Emisión nominada (Id persona)) de Clásica / Visa, DOS FIRMAS: 1 registro(s)"
    notice = Notice.get()
    assert (notice.url, notice.product_id, notice.company_id, notice.sent_at) == (
        f"/productos/{product.id}/autorizacion", product.id, product.company_id, None,
    )  # fmt: skip


def test_a_confirmed_batch_of_a_one_signature_company_goes_to_the_authorizers(world):
    company = make_company("UNA FIRMA", signatures=1)
    product = make_product(company)
    uploader = make_user("cargador1", perms={product: "batch.upload,batch.confirm"})
    make_user("autorizador1", perms={product: "batch.authorize"})
    make_user("firmante1", perms={product: "batch.sign"})  # no first signature in this company
    batch = a_batch(product, Batch.PARTIAL, uploader=uploader, kind="REC", records=2)
    Batch.update(amount=1_500_000).where(Batch.id == batch.id).execute()
    batches.confirm(Batch.get_by_id(batch.id), uploader, PASSWORD)
    assert notified() == {
        "autorizador1": [f"Lote {batch.number} (Recarga (Id persona)) de Clásica / Visa, UNA FIRMA: "
                         "2 registro(s) por $ 15.000,00"]
    }  # fmt: skip
    assert Notice.get().kind == notices.AUTORIZACION


def test_a_refused_confirmation_notifies_nobody(world):
    product, users = world["product"], world["users"]
    batch = a_batch(product, Batch.VALID, uploader=users["cargador"])
    with pytest.raises(Exception, match="contraseña"):
        batches.confirm(Batch.get_by_id(batch.id), users["cargador"], "wrong-password")
    assert notified() == {}


def test_signed_batches_go_to_the_authorizers_but_not_to_the_signer(world):
    product, users = world["product"], world["users"]
    first, second = (a_batch(product, Batch.TO_SIGN, uploader=users["cargador"]) for _ in range(2))
    authorization.sign(product, [first.id, second.id], users["firmante"], PASSWORD)
    # firmante holds batch.authorize too, but signed: the second signature must be someone else's
    assert {name: len(texts) for name, texts in notified(notices.AUTORIZACION).items()} == {"autorizador": 2}
    assert [t.split()[1] for t in notified()["autorizador"]] == [first.number, second.number]


def test_a_withdrawn_signature_goes_back_to_the_signers(world):
    product, users = world["product"], world["users"]
    batch = a_batch(product, Batch.TO_SIGN)
    authorization.sign(product, [batch.id], users["firmante"], PASSWORD)
    Notice.delete().execute()
    authorization.unsign(product, [batch.id], users["firmante"], PASSWORD)
    assert list(notified(notices.FIRMA)) == ["cargador"]


# ---------------------------------------------------------------- orders


def test_created_orders_go_to_the_payers(world):
    product, users = world["product"], world["users"]
    batch = a_batch(product, Batch.TO_AUTHORIZE, uploader=users["cargador"], signer=users["firmante"], records=3)
    (order,) = authorization.authorize(product, [batch.id], users["autorizador"])
    assert order.total_to_pay > 0
    # autorizador holds order.pay but is the actor
    assert notified() == {
        "pagador": [f"Orden de servicio {order.id} de Clásica / Visa, DOS FIRMAS: 3 registro(s), total a pagar "
                    f"{format_cop(order.total_to_pay)}"]
    }  # fmt: skip
    assert Notice.get().url == f"/productos/{product.id}/ordenes/{order.id}"


def test_a_free_order_asks_nobody_to_pay(world):
    product, users = world["product"], world["users"]
    Product.update(card_price_named=0).where(Product.id == product.id).execute()
    batch = a_batch(product, Batch.TO_AUTHORIZE, signer=users["firmante"])
    (order,) = authorization.authorize(Product.get_by_id(product.id), [batch.id], users["autorizador"])
    assert order.total_to_pay == 0
    assert notified() == {}


# ---------------------------------------------------------------- validation and processing (the jobs)


def test_the_end_of_validation_goes_to_the_uploader_with_the_counts(app, world):
    product, users = world["product"], world["users"]
    rows = batchfiles.emi_rows(8)
    rows[0]["TIPO ID"] = rows[5]["TIPO ID"] = "XX"
    with app.test_request_context():
        batch = batches.upload(users["cargador"], product, "EMI", "lote.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    assert notified() == {}  # still validating
    assert batches.validate_waiting() == 1  # the job, outside any request
    assert notified() == {
        "cargador": [f"Lote {batch.number} (Emisión nominada (Id persona)) de Clásica / Visa, DOS FIRMAS: "
                     "Válido con errores; 6 registro(s) válido(s) y 2 con errores"]
    }  # fmt: skip
    notice = Notice.get()
    assert (notice.kind, notice.url) == (notices.VALIDACION, f"/productos/{product.id}/lotes/carga")


def test_a_batch_with_no_valid_line_is_a_validation_ended_too(app, world):
    product, users = world["product"], world["users"]
    rows = batchfiles.emi_rows(3)
    for row in rows:
        row["TIPO ID"] = "XX"
    with app.test_request_context():
        batch = batches.upload(users["cargador"], product, "EMI", "lote.csv", batchfiles.csv_bytes("EMI", rows))
    batches.validate_waiting()
    assert Batch.get_by_id(batch.id).status == Batch.INVALID
    (text,) = notified(notices.VALIDACION)["cargador"]
    assert text.endswith("No válido; 0 registro(s) válido(s) y 3 con errores")


def test_a_processed_order_goes_to_the_uploaders_of_its_batches_each_about_their_own(world):
    product, users = world["product"], world["users"]
    issue_cards(product, 1)  # person 1 already has a card: that emission is rejected
    order = make_order(
        product, ("EMI", validated("EMI", batchfiles.emi_rows(3))), ("EMI", validated("EMI", batchfiles.emi_rows(2, start=4)))
    )  # fmt: skip
    first, second = Batch.select().where(Batch.order == order).order_by(Batch.id)
    Batch.update(uploaded_by=users["cargador"]).where(Batch.id == first.id).execute()
    Batch.update(uploaded_by=users["pagador"]).where(Batch.id == second.id).execute()
    assert notified() == {}  # issue_cards' order had no uploader
    assert processing.process_paid_orders() == 1
    assert ServiceOrder.get_by_id(order.id).status == ServiceOrder.PROCESSED
    head = f"Orden de servicio {order.id} de Clásica / Visa, DOS FIRMAS, procesada: "
    assert notified(notices.PROCESO) == {
        "cargador": [head + f"lote {first.number} (Emisión nominada (Id persona)): 2 procesado(s) y 1 rechazado(s)"],
        "pagador": [head + f"lote {second.number} (Emisión nominada (Id persona)): 2 procesado(s) y 0 rechazado(s)"],
    }
    assert {n.url for n in Notice.select()} == {f"/productos/{product.id}/ordenes/{order.id}"}


def test_an_uploader_who_turned_it_off_is_not_told(world):
    product, users = world["product"], world["users"]
    notices.set_preferences(users["cargador"], [k for k in notices.KINDS if k != notices.PROCESO])
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1))))
    Batch.update(uploaded_by=users["cargador"]).where(Batch.order == order).execute()
    assert processing.process_paid_orders() == 1
    assert notified() == {}


# ---------------------------------------------------------------- the master account's threshold


@pytest.fixture
def treasury(world):
    product, users = world["product"], world["users"]
    issue_cards(product, 1)
    card = Card.select().where(Card.product == product).get()
    master.fund_without_code(users["tesorero"], product, 100_000_000, "Fondeo")  # $ 1.000.000
    provisioning.update_product(product, low_balance_alert=60_000_000)  # $ 600.000
    return Product.get_by_id(product.id), card


def credit(world, product, card, amount, who="cajero"):
    (result,) = master.run(
        world["users"][who], product, MasterOperation.CREDIT, [(card, amount)], master.new_key(), PASSWORD
    )
    assert result.ok, result.message
    return result


def test_falling_below_the_threshold_tells_the_treasurers_once(world, treasury):
    product, card = treasury
    credit(world, product, card, 30_000_000)  # $ 700.000 left: still above
    assert notified() == {}
    credit(world, product, card, 15_000_000)  # $ 550.000: below $ 600.000
    # cajero holds master.fund but moved the money; tesorero is the one told
    assert notified() == {
        "tesorero": ["Cuenta maestra de Clásica / Visa, DOS FIRMAS: el saldo quedó en $ 550.000,00, "
                     "por debajo de $ 600.000,00"]
    }  # fmt: skip
    assert Notice.get().url == f"/productos/{product.id}/cuenta-maestra"
    credit(world, product, card, 5_000_000)  # already below: no new notice
    assert len(Notice.select()) == 1
    master.fund_without_code(world["users"]["tesorero"], product, 20_000_000, "Fondeo")  # back to $ 700.000
    credit(world, product, card, 20_000_000)  # below again
    assert len(notified()["tesorero"]) == 2


def test_landing_exactly_on_the_threshold_is_not_below_it(world, treasury):
    product, card = treasury
    credit(world, product, card, 40_000_000)  # exactly $ 600.000
    assert notified() == {}
    credit(world, product, card, 1_00)
    assert list(notified()) == ["tesorero"]


def test_no_threshold_no_notice(world, treasury):
    product, card = treasury
    product = provisioning.update_product(product, low_balance_alert=0)
    credit(world, product, card, 99_000_000)
    assert notified() == {}


def test_a_refused_operation_moves_nothing_and_tells_nobody(world, treasury):
    product, card = treasury
    (result,) = master.run(
        world["users"]["cajero"], product, MasterOperation.CREDIT, [(card, 200_000_000)], master.new_key(), PASSWORD
    )
    assert not result.ok
    assert notified() == {}


@pytest.mark.parametrize(
    "before, after, told", [(100, 99, True), (150, 50, True), (99, 50, False), (100, 100, False), (200, 100, False)]
)
def test_balance_fell_means_from_at_or_above_to_below(world, before, after, told):
    product = provisioning.update_product(world["product"], low_balance_alert=100)
    assert (notices.balance_fell(product, before, after) > 0) is told


# ---------------------------------------------------------------- notify itself, and failures


def test_notify_to_named_users_keeps_to_the_company_and_its_active_users(world):
    product, users = world["product"], world["users"]
    named = [users[n] for n in ("cargador", "callado", "inactivo", "ajeno")] + [users["consulta"].id, None]
    count = notices.notify(notices.VALIDACION, product, named, "texto", "/x", exclude=users["consulta"])
    assert count == 1 and list(notified()) == ["cargador"]
    assert notices.notify(notices.VALIDACION, product, [], "texto", "/x") == 0


def test_an_unknown_kind_is_a_programming_error(world):
    with pytest.raises(ValueError):
        notices.notify("OTRO", world["product"], "batch.sign", "texto", "/x")


def test_a_failing_notice_never_breaks_the_step(world, monkeypatch, caplog):
    product, users = world["product"], world["users"]
    batch = a_batch(product, Batch.VALID, uploader=users["cargador"])

    def broken(*args, **kwargs):
        raise RuntimeError("the notices table is gone")

    monkeypatch.setattr(notices, "recipients", broken)
    with caplog.at_level(logging.ERROR, logger="services.notices"):
        confirmed = batches.confirm(Batch.get_by_id(batch.id), users["cargador"], PASSWORD)
    assert confirmed.status == Batch.TO_SIGN
    assert "batches_waiting failed" in caplog.text
    assert notified() == {}
    # the connection is still good for the next statement (PostgreSQL: the failed one rolled back)
    assert Batch.get_by_id(batch.id).status == Batch.TO_SIGN


def test_a_failing_insert_is_rolled_back_and_the_step_stands(world, monkeypatch):
    product, users = world["product"], world["users"]
    batch = a_batch(product, Batch.TO_SIGN)
    monkeypatch.setattr(notices, "_batch_line", lambda *a: None)  # text[:300] raises inside the hook
    (signed,) = authorization.sign(product, [batch.id], users["firmante"], PASSWORD)
    assert Batch.get_by_id(signed.id).status == Batch.TO_AUTHORIZE
    assert notified() == {}


# ---------------------------------------------------------------- preferences


def test_preferences_default_to_on_and_are_saved_per_user(world):
    users = world["users"]
    assert notices.preferences(users["pagador"]) == [(k, label, True) for k, label in notices.KINDS.items()]
    notices.set_preferences(users["pagador"], [notices.PAGO, "NO-EXISTE"])
    assert {k: on for k, _label, on in notices.preferences(users["pagador"])} == {
        k: k == notices.PAGO for k in notices.KINDS
    }
    assert all(on for _k, _l, on in notices.preferences(users["tesorero"]))  # another user's are untouched
    notices.set_preferences(users["pagador"], list(notices.KINDS))
    assert all(on for _k, _l, on in notices.preferences(users["pagador"]))
    assert UserNotice.select().where(UserNotice.user == users["pagador"]).count() == len(notices.KINDS)


def test_turning_a_kind_off_drops_its_unsent_notices(world):
    product, users = world["product"], world["users"]
    notices.notify(notices.PAGO, product, "order.pay", "orden 1", "/o/1")
    notices.notify(notices.SALDO, product, "master.fund", "saldo", "/m")
    notices.set_preferences(users["pagador"], [notices.SALDO])
    assert "pagador" not in notified(notices.PAGO) and "tesorero" in notified(notices.SALDO)


def test_kind_codes_fit_their_column():
    assert all(len(code) <= Notice.kind.max_length for code in notices.KINDS)
    assert set(notices.PERMISSION) <= set(notices.KINDS) == set(notices.INTRO)


# ---------------------------------------------------------------- the threshold, set by the operator


@pytest.mark.parametrize("pesos, cents", [("500000", 50_000_000), ("1500.50", 150_050), ("0", 0)])
def test_the_cli_sets_the_threshold_in_pesos(runner, world, pesos, cents):
    company = world["product"].company
    result = runner.invoke(
        args=["product", "create", "--company", company.nit, "--name", "Oro", "--low-balance-alert", pesos]
    )
    assert result.exit_code == 0, result.output
    assert Product.get(Product.name == "Oro").low_balance_alert == cents
    result = runner.invoke(
        args=["product", "update", "--company", company.nit, "--name", "Oro", "--low-balance-alert", "7"]
    )
    assert result.exit_code == 0, result.output
    assert Product.get(Product.name == "Oro").low_balance_alert == 700
    assert "aviso de saldo bajo de la cuenta maestra: por debajo de $ 7,00" in result.output


def test_the_cli_refuses_a_negative_threshold(runner, world):
    company = world["product"].company
    result = runner.invoke(
        args=["product", "update", "--company", company.nit, "--name", "Clásica / Visa", "--low-balance-alert", "-5"]
    )
    assert result.exit_code != 0 and "el monto no puede ser negativo" in result.output
    assert Product.get_by_id(world["product"].id).low_balance_alert == 0


@pytest.mark.parametrize("value", [-1, "100", 1.5])
def test_provisioning_refuses_a_threshold_that_is_not_centavos(world, value):
    with pytest.raises(provisioning.ProvisioningError, match="saldo de alerta"):
        provisioning.update_product(world["product"], low_balance_alert=value)
    with pytest.raises(provisioning.ProvisioningError, match="saldo de alerta"):
        provisioning.create_product(world["product"].company, "Otro", low_balance_alert=value)
