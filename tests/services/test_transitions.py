"""Every transition of batches and service orders (SPEC §5.5, §7) from every status: the legal
ones happen once, every illegal one is refused with a message and changes nothing."""

import orjson
import pytest

from models import Batch, BatchRecord, ServiceOrder, User
from services import Refused, authorization, orders
from tests.factories import PASSWORD, make_company, make_product, make_user

BATCH_STATUSES = [
    Batch.VALIDATING, Batch.VALID, Batch.PARTIAL, Batch.INVALID, Batch.TO_SIGN, Batch.TO_AUTHORIZE,
    Batch.IN_ORDER, Batch.IN_PROCESS, Batch.PROCESSED, Batch.VOIDED, Batch.DELETED,
]  # fmt: skip
ORDER_STATUSES = [
    ServiceOrder.PENDING_PAYMENT, ServiceOrder.PAYING, ServiceOrder.IN_PROCESS,
    ServiceOrder.PROCESSED, ServiceOrder.VOIDED,
]  # fmt: skip


@pytest.fixture
def setup(app, db):
    one = make_product(make_company("UNA FIRMA", balance=10**10), card_price_named=1_000)
    two = make_product(make_company("DOS FIRMAS", signatures=2, balance=10**10), card_price_named=1_000)
    make_user("usuario_a", perms={one: "all", two: "all"})
    make_user("usuario_b", perms={one: "all", two: "all"})
    with app.test_request_context():
        yield {
            "one": one,
            "two": two,
            "a": User.get(User.username == "usuario_a"),
            "b": User.get(User.username == "usuario_b"),
        }


def batch_in(product, status, signed_by=None):
    batch = Batch.create(
        company=product.company, product=product, number=f"B{Batch.select().count():07d}", kind="EMI",
        status=status, valid_records=1, total_records=1, signed_by=signed_by,
    )  # fmt: skip
    BatchRecord.create(
        batch=batch, line=2, id_type="CC", id_number="123", data=orjson.dumps({"id_type": "CC"}).decode()
    )
    return batch


def status_of(batch):
    return Batch.get_by_id(batch.id).status


@pytest.mark.parametrize("status", BATCH_STATUSES)
def test_sign_only_from_por_firmar(setup, status):
    batch = batch_in(setup["two"], status)
    if status == Batch.TO_SIGN:
        authorization.sign(setup["two"], [batch.id], setup["a"], PASSWORD)
        assert status_of(batch) == Batch.TO_AUTHORIZE
        with pytest.raises(Refused):  # not twice
            authorization.sign(setup["two"], [batch.id], setup["b"], PASSWORD)
    else:
        with pytest.raises(Refused):
            authorization.sign(setup["two"], [batch.id], setup["a"], PASSWORD)
        assert status_of(batch) == status


@pytest.mark.parametrize("status", BATCH_STATUSES)
def test_authorize_only_from_por_autorizar(setup, status):
    batch = batch_in(setup["one"], status)
    if status == Batch.TO_AUTHORIZE:
        [order] = authorization.authorize(setup["one"], [batch.id], setup["a"])
        assert status_of(batch) == Batch.IN_ORDER and order.status == ServiceOrder.PENDING_PAYMENT
        with pytest.raises(Refused):  # not twice
            authorization.authorize(setup["one"], [batch.id], setup["b"])
        assert ServiceOrder.select().count() == 1
    else:
        with pytest.raises(Refused):
            authorization.authorize(setup["one"], [batch.id], setup["a"])
        assert status_of(batch) == status and ServiceOrder.select().count() == 0


@pytest.mark.parametrize("status", BATCH_STATUSES)
def test_unsign_only_from_por_autorizar_by_the_signer(setup, status):
    batch = batch_in(setup["two"], status, signed_by=setup["a"])
    if status == Batch.TO_AUTHORIZE:
        with pytest.raises(Refused):
            authorization.unsign(setup["two"], [batch.id], setup["b"], PASSWORD)
        authorization.unsign(setup["two"], [batch.id], setup["a"], PASSWORD)
        assert status_of(batch) == Batch.TO_SIGN
    else:
        with pytest.raises(Refused):
            authorization.unsign(setup["two"], [batch.id], setup["a"], PASSWORD)
        assert status_of(batch) == status


def test_all_or_nothing_when_one_batch_is_not_authorizable(setup):
    good = batch_in(setup["one"], Batch.TO_AUTHORIZE)
    gone = batch_in(setup["one"], Batch.DELETED)
    with pytest.raises(Refused):
        authorization.authorize(setup["one"], [good.id, gone.id], setup["a"])
    assert status_of(good) == Batch.TO_AUTHORIZE and ServiceOrder.select().count() == 0


def order_in(setup, status):
    batch = batch_in(setup["one"], Batch.TO_AUTHORIZE)
    [order] = authorization.authorize(setup["one"], [batch.id], setup["a"])
    ServiceOrder.update(status=status).where(ServiceOrder.id == order.id).execute()
    return ServiceOrder.get_by_id(order.id), batch


@pytest.mark.parametrize("status", ORDER_STATUSES)
def test_void_only_before_payment(setup, status):
    order, batch = order_in(setup, status)
    if status == ServiceOrder.PENDING_PAYMENT:
        orders.void(order, setup["a"], PASSWORD)
        assert ServiceOrder.get_by_id(order.id).status == ServiceOrder.VOIDED and status_of(batch) == Batch.VOIDED
        with pytest.raises(Refused):
            orders.void(ServiceOrder.get_by_id(order.id), setup["a"], PASSWORD)
    else:
        with pytest.raises(Refused, match="solo se anulan órdenes sin pagar"):
            orders.void(order, setup["a"], PASSWORD)
        assert ServiceOrder.get_by_id(order.id).status == status


@pytest.mark.parametrize("status", ORDER_STATUSES[1:])
def test_pay_only_pending_orders(setup, status):
    order, _batch = order_in(setup, status)
    with pytest.raises(Refused):
        orders.send_payment_code(order, setup["a"])
    with pytest.raises(Refused):
        orders.pay(order, setup["a"], "123456")
    assert ServiceOrder.get_by_id(order.id).status == status and ServiceOrder.get_by_id(order.id).deposited == 0


def test_wrong_password_refuses_every_password_action(setup):
    batch = batch_in(setup["two"], Batch.TO_SIGN)
    with pytest.raises(Refused, match="contraseña"):
        authorization.sign(setup["two"], [batch.id], setup["a"], "Mala*1234")
    order, _ = order_in(setup, ServiceOrder.PENDING_PAYMENT)
    with pytest.raises(Refused, match="contraseña"):
        orders.void(order, setup["b"], "Mala*1234")
    assert status_of(batch) == Batch.TO_SIGN and ServiceOrder.get_by_id(order.id).status == ServiceOrder.PENDING_PAYMENT
