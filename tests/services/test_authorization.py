"""services/authorization.py: the refusals a user reads in Autorización name what is missing."""

import orjson
import pytest

from models import Batch, BatchRecord, User
from services import Refused, authorization
from tests.factories import PASSWORD, make_company, make_product, make_user


@pytest.fixture
def two(app, db):
    product = make_product(make_company("DOS FIRMAS", signatures=2, balance=10**10), card_price_named=1_000)
    make_user("firma_a", perms={product: "all"})
    with app.test_request_context():
        yield product, User.get(User.username == "firma_a")


def waiting(product, status):
    batch = Batch.create(
        company=product.company, product=product, number=f"L{Batch.select().count():07d}", kind="EMI",
        status=status, valid_records=1, total_records=1,
    )  # fmt: skip
    BatchRecord.create(batch=batch, line=2, id_type="CC", id_number="123", data=orjson.dumps({}).decode())
    return batch


@pytest.mark.parametrize("step", ["sign", "unsign", "plan"])
def test_an_empty_selection_says_so_before_anything_else(two, step):
    product, user = two
    with pytest.raises(Refused, match="Selecciona al menos un lote"):
        if step == "plan":
            authorization.plan(product, [], user)
        else:
            getattr(authorization, step)(product, [], user, PASSWORD)


def test_a_batch_without_its_first_signature_names_the_missing_signature(two):
    product, user = two
    batch = waiting(product, Batch.TO_AUTHORIZE)  # e.g. moved by hand: no signer recorded
    with pytest.raises(Refused, match=f"El lote {batch.number} aún no tiene la primera firma"):
        authorization.plan(product, [batch.id], user)
    assert Batch.get_by_id(batch.id).status == Batch.TO_AUTHORIZE


def test_the_signer_may_not_authorize_its_own_batch(two):
    product, user = two
    batch = waiting(product, Batch.TO_SIGN)
    authorization.sign(product, [batch.id], user, PASSWORD)
    with pytest.raises(Refused, match="la autorización debe darla otro usuario"):
        authorization.plan(product, [batch.id], user)


@pytest.mark.parametrize("step", ["sign", "unsign"])
def test_an_empty_selection_does_not_count_as_a_wrong_password(two, step):
    product, user = two
    with pytest.raises(Refused, match="Selecciona al menos un lote"):
        getattr(authorization, step)(product, [], user, "not-the-password")
    assert User.get_by_id(user.id).failed_attempts == 0
