"""Tarjetas innominadas (services/innominate.py): the request becomes an INN batch that goes
through authorization, payment and processing into stock cards; the affiliation file goes back
through Carga de lotes; «Afiliar» gives one card its holder."""

import io
from datetime import timedelta

import openpyxl
import pytest

from domain.batch_files import read_batch
from domain.cards import expiry
from domain.clock import local_today
from models import AuditEvent, Batch, BatchRecord, Card, Person, ServiceOrder
from services import Refused, authorization, batches, innominate, orders, processing
from services.authorization import estimates
from tests.factories import PASSWORD, make_company, make_product, make_user

FEES = {"card_price_unnamed": 1_000, "distribution_cost": 500_000}


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit="900291499", branches=("1", "73"), balance=10_000_000_000)
    product = make_product(company, "Clásica In / Visa", named=False, max_innominate=500, **FEES)
    coop = make_company("COOP TEST", nit="9013434540", signatures=2, branches=("73",), balance=10_000_000_000)
    coop_product = make_product(coop, "Clásica In / Visa", named=False, **FEES)
    boss = make_user("jefe", perms={product: "all"})
    signer = make_user("firma", perms={coop_product: "all"})
    authorizer = make_user("autoriza", perms={coop_product: "all"})
    return {"product": product, "coop": coop_product, "boss": boss, "signer": signer, "authorizer": authorizer}


FORM = {"quantity": "5", "line1": "jahc  technologies", "line2": "nit 900291499", "branch": "73"}


def stock(world, n=5, coop=False):
    """A processed request of n cards: requested, (signed,) authorized, paid and processed."""
    if coop:
        product, user, signer = world["coop"], world["authorizer"], world["signer"]
    else:
        product, user, signer = world["product"], world["boss"], None
    request = innominate.request_cards(signer or user, product, {**FORM, "quantity": str(n)}, PASSWORD)
    through_order(product, request, user, signer)
    return Batch.get_by_id(request.id)


def through_order(product, batch, user, signer=None):
    if signer is not None:
        authorization.sign(product, [batch.id], signer, PASSWORD)
    for order in authorization.authorize(product, [batch.id], user):
        orders.pay_without_code(order, user)
    processing.process_paid_orders()


# ---------------------------------------------------------------- Solicitud


def test_a_request_is_an_inn_batch_straight_to_authorization_with_its_cost(world):
    product = world["product"]
    batch = innominate.request_cards(world["boss"], product, FORM, PASSWORD)
    assert (batch.kind, batch.status, batch.amount) == ("INN", Batch.TO_AUTHORIZE, 0)
    assert (batch.total_records, batch.valid_records) == (5, 5)
    records = list(BatchRecord.select().where(BatchRecord.batch == batch).order_by(BatchRecord.line))
    assert [r.line for r in records] == [1, 2, 3, 4, 5] and {r.status for r in records} == {BatchRecord.VALID}
    assert '"line1":"JAHC TECHNOLOGIES"' in records[0].data and '"branch":"73"' in records[0].data
    estimate = estimates(product, [batch])[batch.id]
    assert (estimate.cost.card_price_total, estimate.cost.distribution) == (5 * 1_000, 500_000)
    assert AuditEvent.get(AuditEvent.tag == "innominate:request").object_ref == f"lote:{batch.number}"


def test_a_two_signature_company_signs_it_first(world):
    batch = innominate.request_cards(world["signer"], world["coop"], FORM, PASSWORD)
    assert batch.status == Batch.TO_SIGN


def test_wrong_fields_are_refused_before_the_password_and_nothing_is_stored(world):
    with pytest.raises(innominate.RequestInvalid) as refused:
        innominate.request_cards(world["boss"], world["product"], {**FORM, "quantity": "501"}, "wrong")
    assert refused.value.errors == {"quantity": "Cantidad de tarjetas debe ser un número entre 1 y 500. Máximo 500"}
    with pytest.raises(Refused, match="La contraseña es incorrecta"):
        innominate.request_cards(world["boss"], world["product"], FORM, "wrong")
    assert Batch.select().count() == 0


def test_a_named_product_takes_no_request(world):
    named = make_product(world["product"].company, "Clásica / Visa")
    with pytest.raises(Refused, match="producto innominado"):
        innominate.request_cards(world["boss"], named, FORM, PASSWORD)


def test_processing_creates_the_stock_cards_with_their_lines_and_branch(world):
    batch = stock(world, 5)
    assert batch.status == Batch.PROCESSED
    cards = list(innominate.cards_of(batch).order_by(Card.serial))
    assert len(cards) == 5 and len({c.serial for c in cards}) == 5 and len({c.masked_pan for c in cards}) == 5
    assert {(c.status, c.person_id, c.emboss_line1, c.emboss_line2, c.branch.code) for c in cards} == {
        (Card.NOT_AFFILIATED, None, "JAHC TECHNOLOGIES", "NIT 900291499", "73")
    }
    assert innominate.card_counts([batch.id]) == {batch.id: (5, 0)}
    assert [(s.branch.code, s.available, s.low) for s in innominate.stock_by_branch(world["product"])] == [
        ("1", 0, True),
        ("73", 5, True),
    ]


def test_processing_killed_midway_and_resumed_creates_exactly_n_cards(world, monkeypatch):
    monkeypatch.setattr(processing, "CHUNK", 3)
    product, user = world["product"], world["boss"]
    request = innominate.request_cards(user, product, {**FORM, "quantity": "10"}, PASSWORD)
    (order,) = authorization.authorize(product, [request.id], user)
    orders.pay_without_code(order, user)
    real, calls = processing._issue_innominate, {"n": 0}

    def dies_on_the_third_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(*args)

    monkeypatch.setitem(processing.HANDLERS, "INN", dies_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        processing.process_paid_orders()
    assert Card.select().count() == 6  # two whole chunks, the third rolled back
    ServiceOrder.update(claimed_at=None, claim_token=None).where(ServiceOrder.id == order.id).execute()  # lease gone
    monkeypatch.setitem(processing.HANDLERS, "INN", real)
    assert processing.process_paid_orders() == 1
    assert Card.select().count() == 10
    assert Card.select().where(Card.record.is_null(False)).count() == 10  # one card per record
    assert innominate.card_counts([request.id]) == {request.id: (10, 0)}


# ---------------------------------------------------------------- Afiliación: the file


def fill(content: bytes, people: dict[int, dict]) -> bytes:
    """The downloaded affiliation file with `people` written in rows (0-based among the cards)
    and every other card's row deleted, as the manual tells the user."""
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook.active
    header = [cell.value for cell in sheet[2]]
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    sheet.delete_rows(3, len(rows))
    for index, person in people.items():
        values = dict(zip(header, rows[index], strict=True))
        values.update(person)
        sheet.append([values.get(name) for name in header])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload_afi(app, user, product, content, name="afiliacion.xlsx") -> Batch:
    """Carga de lotes of an AFI file, and its validation job."""
    with app.test_request_context():
        batch = batches.upload(user, product, "AFI", name, content)
        batches.validate_waiting()
    return Batch.get_by_id(batch.id)


def person(n: int) -> dict:
    return {
        "TIPO ID": "CC", "NRO ID": f"1010{n:04d}", "PRIMER APELLIDO": "ROJAS", "PRIMER NOMBRE": f"ANA{chr(64 + n)}",
        "FECHA DE NACIMIENTO": "15/03/1990", "ESTADO CIVIL": "SOLTERO", "SEXO": "FEMENINO",
        "TELEFONO CELULAR": "3001234567", "CORREO ELECTRONICO": f"ana{n}@example.com",
    }  # fmt: skip


def test_the_affiliation_file_lists_the_unaffiliated_cards_with_reference_and_branch(world):
    batch = stock(world, 4)
    sheet = read_batch("afiliacion.xlsx", innominate.affiliation_file(batch), "AFI")
    cards = list(innominate.cards_of(batch).order_by(Card.serial))
    assert sheet.header[:3] == ("NO. TARJETA", "REFERENCIA", "SUCURSAL")
    assert [values[:3] for _line, values in sheet.rows] == [(c.masked_pan, str(c.serial), "73") for c in cards]


def test_the_excel_round_trip_affiliates_the_two_filled_rows_and_nothing_else(world, app):
    product, user = world["product"], world["boss"]
    batch = stock(world, 5)
    cards = list(innominate.cards_of(batch).order_by(Card.serial))
    content = fill(innominate.affiliation_file(batch), {1: person(1), 3: person(2)})
    upload = upload_afi(app, user, product, content)
    assert (upload.status, upload.valid_records) == (Batch.VALID, 2), upload.file_errors
    batches.confirm(upload, user, PASSWORD)
    through_order(product, upload, user)
    after = {c.id: c for c in innominate.cards_of(batch)}
    assert after[cards[1].id].person.id_number == "10100001" and after[cards[1].id].status == Card.ACTIVE
    assert after[cards[3].id].person.id_number == "10100002" and after[cards[3].id].affiliated_at is not None
    assert [after[c.id].person_id for c in (cards[0], cards[2], cards[4])] == [None] * 3
    assert {after[c.id].status for c in (cards[0], cards[2], cards[4])} == {Card.NOT_AFFILIATED}
    assert innominate.card_counts([batch.id]) == {batch.id: (5, 2)}
    assert innominate.available_cards(product) == 3


def test_a_file_without_references_matches_by_the_masked_number(world, app):
    product, user = world["product"], world["boss"]
    batch = stock(world, 3)
    cards = list(innominate.cards_of(batch).order_by(Card.serial))
    content = fill(innominate.affiliation_file(batch), {0: {**person(1), "REFERENCIA": None}})
    upload = upload_afi(app, user, product, content)
    assert upload.status == Batch.VALID
    record = BatchRecord.get(BatchRecord.batch == upload.id)
    assert f'"serial":{cards[0].serial}' in record.data


def test_two_stock_cards_with_the_same_masked_number_need_the_reference(world, app):
    product, user = world["product"], world["boss"]
    batch = stock(world, 2)
    first, second = innominate.cards_of(batch).order_by(Card.serial)
    Card.update(masked_pan=first.masked_pan).where(Card.id == second.id).execute()  # another request's twin
    content = fill(innominate.affiliation_file(batch), {0: {**person(1), "REFERENCIA": None}})
    upload = upload_afi(app, user, product, content)
    assert upload.status == Batch.INVALID
    assert "escribe su REFERENCIA" in batches.errors_of(upload).get().messages
    with_reference = fill(innominate.affiliation_file(batch), {1: person(1)})
    assert upload_afi(app, user, product, with_reference, "afiliacion2.xlsx").status == Batch.VALID


def test_a_card_of_another_companys_product_is_refused_and_stays_in_its_stock(world, app):
    product, user = world["product"], world["boss"]
    batch = stock(world, 1)
    (theirs,) = innominate.cards_of(stock(world, 1, coop=True))
    content = fill(
        innominate.affiliation_file(batch),
        {0: {**person(1), "NO. TARJETA": theirs.masked_pan, "REFERENCIA": str(theirs.serial)}},
    )
    upload = upload_afi(app, user, product, content)
    assert upload.status == Batch.INVALID
    assert (
        "La REFERENCIA no corresponde a una tarjeta innominada de este producto"
        in batches.errors_of(upload).get().messages
    )
    assert Card.get_by_id(theirs.id).person_id is None


@pytest.mark.parametrize("available, low", [(0, True), (9, True), (10, False), (11, False)])
def test_a_branch_with_fewer_than_10_available_cards_is_flagged(available, low):
    assert innominate.Stock(None, available).low is low


# ---------------------------------------------------------------- «Afiliar»


def values(n=1, branch="73"):
    return {"SUCURSAL": branch, **person(n)}


def test_afiliar_authorizes_and_processes_at_once_where_no_rule_changes(world):
    product, user = world["product"], world["boss"]
    batch = stock(world, 2)
    card = innominate.cards_of(batch).order_by(Card.serial).first()
    perms = frozenset({"innominate.affiliate", "batch.authorize", "order.pay"})
    result = innominate.affiliate_one(user, product, perms, card, values(), PASSWORD)
    assert result.order is not None and result.processing and result.order.total_to_pay == 0
    assert ServiceOrder.get_by_id(result.order.id).status == ServiceOrder.IN_PROCESS
    assert processing.process_paid_orders() == 1
    card = Card.get_by_id(card.id)
    assert (card.status, card.person.id_number) == (Card.ACTIVE, "10100001")
    assert AuditEvent.get(AuditEvent.tag == "card:affiliate").detail == card.masked_pan


@pytest.mark.parametrize(
    "perms, fee, waits_in",
    [
        ({"innominate.affiliate"}, 0, "authorization"),  # the user does not authorize
        ({"innominate.affiliate", "batch.authorize"}, 0, "payment"),  # nor pay: the $0 order waits
        ({"innominate.affiliate", "batch.authorize", "order.pay"}, 2_500, "authorization"),  # a fee to pay
    ],
)
def test_afiliar_otherwise_leaves_the_batch_where_the_rules_want_it(world, perms, fee, waits_in):
    product, user = world["product"], world["boss"]
    product.affiliation_fee = fee
    product.save()
    card = innominate.cards_of(stock(world, 1)).get()
    result = innominate.affiliate_one(user, product, frozenset(perms), card, values(), PASSWORD)
    batch = Batch.get_by_id(result.batch.id)
    if waits_in == "authorization":
        assert (batch.status, result.order) == (Batch.TO_AUTHORIZE, None)
    else:
        assert batch.status == Batch.IN_ORDER and not result.processing
        assert ServiceOrder.get_by_id(result.order.id).status == ServiceOrder.PENDING_PAYMENT
    assert Card.get_by_id(card.id).person_id is None


def test_afiliar_in_a_two_signature_company_waits_for_the_signatures(world):
    card = innominate.cards_of(stock(world, 1, coop=True)).get()
    perms = frozenset({"innominate.affiliate", "batch.authorize", "order.pay"})
    result = innominate.affiliate_one(world["authorizer"], world["coop"], perms, card, values(), PASSWORD)
    assert (Batch.get_by_id(result.batch.id).status, result.order) == (Batch.TO_SIGN, None)


def test_afiliar_validates_the_person_with_the_afi_rules_before_the_password(world):
    product, user = world["product"], world["boss"]
    cards = list(innominate.cards_of(stock(world, 2)).order_by(Card.serial))
    perms = frozenset({"batch.authorize", "order.pay"})
    with pytest.raises(Refused, match="CORREO ELECTRONICO"):
        innominate.affiliate_one(user, product, perms, cards[0], {**values(), "CORREO ELECTRONICO": "no"}, "wrong")
    with pytest.raises(Refused, match="sucursal"):
        innominate.affiliate_one(user, product, perms, cards[0], values(branch="99"), PASSWORD)
    innominate.affiliate_one(user, product, perms, cards[0], values(1), PASSWORD)
    processing.process_paid_orders()
    with pytest.raises(Refused, match="ya está asociado"):  # one card per person of the product
        innominate.affiliate_one(user, product, perms, cards[1], values(1), PASSWORD)
    with pytest.raises(Refused, match="ya está afiliada"):
        innominate.affiliate_one(user, product, perms, Card.get_by_id(cards[0].id), values(2), PASSWORD)
    assert Batch.select().where(Batch.kind == "AFI").count() == 1
    assert Person.select().count() == 1


def test_the_cards_expire_when_the_request_said_even_if_processed_a_month_later(world, monkeypatch):
    """The form shows this month plus the product's validity; a request paid and processed next
    month gets those cards, not cards a month younger."""
    import adapters.processor

    product, user = world["product"], world["boss"]
    shown = innominate.expiry_of(product)
    request = innominate.request_cards(user, product, {**FORM, "quantity": "2"}, PASSWORD)
    later = local_today() + timedelta(days=40)
    monkeypatch.setattr(adapters.processor, "local_today", lambda: later)
    through_order(product, request, user)
    expiries = {card.expires_on for card in innominate.cards_of(Batch.get_by_id(request.id))}
    assert [f"{e.month:02d}/{e.year}" for e in expiries] == [shown]
    assert expiries != {expiry(later, product.validity_months)}  # what processing's date would give
