"""The processing job: paid orders' records sent to the (simulated) card processor in chunks."""

import re
from datetime import timedelta

import orjson
import pytest

import ledger
import models
from adapters.processor import SimulatedProcessor
from domain.batch_files import read_batch
from domain.batch_validation import validate
from domain.cards import expiry, luhn_valid, make_pan, mask
from domain.clock import local_today
from models import Batch, BatchRecord, Card, LedgerAccount, LedgerOperation, LedgerPosting, Person, ServiceOrder, utcnow
from services import processing
from tests import batchfiles
from tests.conftest import in_threads
from tests.factories import make_company, make_product

MASKED = re.compile(r"^450714\*{6}[0-9]{4}$")
HAS_CARD = "El tarjetahabiente ya tiene una tarjeta activa de este producto"
NO_CARD = "El tarjetahabiente no tiene una tarjeta activa"
OVER_LIMIT = "El saldo superaría el límite de la tarjeta"


@pytest.fixture
def product(db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES)
    return make_product(company, card_limit=batchfiles.CARD_LIMIT)


def validated(kind, rows, **facts):
    """The records validation would store for these rows (the same JSON as services/batches)."""
    sheet = read_batch("lote.csv", batchfiles.csv_bytes(kind, rows), kind)
    file_errors, outcomes = validate(sheet, batchfiles.facts(**facts))
    assert not file_errors
    outcomes = list(outcomes)
    assert all(o.record for o in outcomes), [o.errors for o in outcomes if o.errors]
    return [(o.line, o.record) for o in outcomes]


_numbers = {"n": 0}


def make_order(product, *batches, status=ServiceOrder.IN_PROCESS):
    """An order (already paid: EN_PROCESO) with one batch per (kind, records) given."""
    order = ServiceOrder.create(company=product.company_id, product=product, status=status)
    for kind, records in batches:
        _numbers["n"] += 1
        batch = Batch.create(
            company=product.company_id,
            product=product,
            number=f"250115{_numbers['n']:02d}",
            kind=kind,
            status=Batch.IN_PROCESS if status == ServiceOrder.IN_PROCESS else Batch.IN_ORDER,
            order=order,
            total_records=len(records),
            valid_records=len(records),
            amount=sum(r.get("amount", 0) for _line, r in records),
        )
        BatchRecord.insert_many(
            [
                {
                    "batch": batch,
                    "line": line,
                    "id_type": r.get("id_type", ""),
                    "id_number": r.get("id_number", ""),
                    "amount": r.get("amount", 0),
                    "data": orjson.dumps(r, default=str).decode(),
                }
                for line, r in records
            ]
        ).execute()
    ServiceOrder.update(records=BatchRecord.select().join(Batch).where(Batch.order == order).count()).where(
        ServiceOrder.id == order.id
    ).execute()
    return ServiceOrder.get_by_id(order.id)


def pay(product, amount, key=None):
    """What payment posts: the order's Monto into the product's funding account."""
    company = product.company
    ledger.post(
        key or f"pago:{amount}:{utcnow().isoformat()}",
        "Pago orden",
        [(ledger.company_bank_account(company), -amount), (ledger.funding_account(product), amount)],
    )


def statuses(order):
    return [
        (r.line, r.status, r.reason)
        for r in BatchRecord.select().join(Batch).where(Batch.order == order).order_by(Batch.id, BatchRecord.line)
    ]


def card_of(number, product=None):
    query = Card.select().join(Person).where(Person.id_number == batchfiles.id_number(number))
    if product is not None:
        query = query.where(Card.product == product)
    return query.order_by(Card.id.desc()).first()


def issue_cards(product, n, start=1):
    """People start…start+n-1 get an active card of the product, through the job."""
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(n, start=start))))
    assert processing.process_paid_orders() == 1
    return order


def make_stale(order):
    ServiceOrder.update(claimed_at=utcnow() - timedelta(minutes=5)).where(ServiceOrder.id == order.id).execute()


# ---------------------------------------------------------------- EMI


def test_emission_creates_people_and_cards(product):
    records = validated("EMI", batchfiles.emi_rows(3))
    order = make_order(product, ("EMI", records))
    assert processing.process_paid_orders() == 1

    order = ServiceOrder.get_by_id(order.id)
    assert (order.status, order.done_records, order.claim_token, order.claimed_at) == ("PROCESADO", 3, None, None)
    assert order.processed_at is not None and order.attempts == 1
    batch = Batch.get(Batch.order == order)
    assert (batch.status, batch.deposited) == ("PROCESADO", 0) and batch.processed_at is not None
    assert statuses(order) == [(2, "PROCESADO", ""), (3, "PROCESADO", ""), (4, "PROCESADO", "")]

    assert Person.select().count() == 3 and Card.select().count() == 3
    first = Person.get(Person.id_number == batchfiles.id_number(1))
    data = records[0][1]
    assert (first.first_surname, first.first_name, first.email, first.mobile) == (
        data["first_surname"],
        data["first_name"],
        data["email"],
        data["mobile"],
    )
    assert first.birth_date.isoformat() == data["birth_date"]
    serials = set()
    for card in Card.select().order_by(Card.id):
        assert card.status == "ACTIVA" and card.product_id == product.id
        assert MASKED.match(card.masked_pan), card.masked_pan
        pan = make_pan(product.bin, card.serial)  # the simulator's number behind the mask
        assert luhn_valid(pan) and mask(pan) == card.masked_pan
        assert card.expires_on == expiry(local_today(), product.validity_months)
        account = LedgerAccount.get_by_id(card.account_id)
        assert (account.kind, account.balance, account.product_id) == ("TARJETA", 0, product.id)
        assert BatchRecord.get_by_id(card.record_id).id_number == card.person.id_number
        serials.add(card.serial)
    assert len(serials) == 3
    assert card_of(2).person.first_name == records[1][1]["first_name"]


def test_no_full_card_number_is_stored(product):
    issue_cards(product, 2)
    card = Card.select().first()
    pan = make_pan(product.bin, card.serial)
    dump = (
        models.db.execute_sql("SELECT * FROM card").fetchall()
        + models.db.execute_sql("SELECT * FROM ledger_account").fetchall()
    )
    assert pan not in repr(dump)


def test_serials_continue_across_orders_and_products_of_the_same_bin(product):
    other = make_product(product.company, name="Otra / Visa")
    issue_cards(product, 3)
    order = make_order(other, ("EMI", validated("EMI", batchfiles.emi_rows(2, start=10))))
    assert processing.process_paid_orders() == 1
    assert order.id
    assert sorted(c.serial for c in Card.select()) == [1, 2, 3, 4, 5]


def test_a_known_person_is_reused(product):
    Person.create(id_type="CC", id_number=batchfiles.id_number(2), first_name="ANTES", first_surname="YA")
    issue_cards(product, 2)
    assert Person.select().count() == 2
    assert card_of(2).person.first_name == "ANTES"  # a known person keeps their data


def test_a_holder_with_an_active_card_is_rejected(product):
    issue_cards(product, 2)
    records = validated("EMI", batchfiles.emi_rows(3))  # persons 1, 2 hold a card since
    again = validated("EMI", batchfiles.emi_rows(1, start=3))  # person 3 twice in one order
    order = make_order(product, ("EMI", records), ("EMI", again))
    assert processing.process_paid_orders() == 1
    assert statuses(order) == [
        (2, "RECHAZADO", HAS_CARD),
        (3, "RECHAZADO", HAS_CARD),
        (4, "PROCESADO", ""),
        (2, "RECHAZADO", HAS_CARD),
    ]
    assert Card.select().count() == 3
    assert ServiceOrder.get_by_id(order.id).done_records == 4
    assert [b.status for b in Batch.select().where(Batch.order == order)] == ["PROCESADO", "PROCESADO"]


def test_a_blocked_card_does_not_stop_a_new_one(product):
    issue_cards(product, 1)
    Card.update(status="BLOQUEADA").execute()
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1))))
    processing.process_paid_orders()
    assert statuses(order) == [(2, "PROCESADO", "")]
    assert Card.select().where(Card.status == "ACTIVA").count() == 1


def test_innominate_cards_have_no_holder(product):
    order = make_order(product, ("INN", [(i, {"id_type": "", "id_number": "", "amount": 0}) for i in range(1, 6)]))
    assert processing.process_paid_orders() == 1
    cards = list(Card.select().order_by(Card.serial))
    assert len(cards) == 5 and all(c.person_id is None and c.status == Card.NOT_AFFILIATED for c in cards)
    assert len({c.masked_pan for c in cards}) == 5
    assert ServiceOrder.get_by_id(order.id).status == "PROCESADO"


# ---------------------------------------------------------------- REC


def rec_records(n, start=1, amount="150000.00"):
    rows = batchfiles.rec_rows(n, start=start, amount=amount)
    return validated("REC", rows, active_holders=batchfiles.holders(rows))


def test_recharges_credit_cards_through_the_ledger(product):
    issue_cards(product, 3)
    first = rec_records(3, amount="1000.00")  # 100,000 centavos each
    second = rec_records(2, amount="250.50")  # 25,050 centavos each, to persons 1 and 2 again
    pay(product, 3 * 100_000 + 2 * 25_050 + 7)
    order = make_order(product, ("REC", first), ("REC", second))
    assert processing.process_paid_orders() == 1

    assert all(status == "PROCESADO" for _line, status, _reason in statuses(order))
    assert [ledger.balance(card_of(i).account_id) for i in (1, 2, 3)] == [125_050, 125_050, 100_000]
    funding = ledger.funding_account(product)
    assert ledger.balance(funding) == 7
    assert [p.balance_after for p in ledger.history(funding)] == [7, 25_057, 50_107, 150_107, 250_107, 350_107]
    assert [(p.amount, p.balance_after) for p in ledger.history(card_of(1).account_id)] == [
        (25_050, 125_050),
        (100_000, 100_000),
    ]
    record = BatchRecord.select().join(Batch).where(Batch.kind == "REC").order_by(BatchRecord.id).first()
    operation = LedgerOperation.get(LedgerOperation.key == f"rec:{record.id}")
    assert operation.description.startswith("Recarga lote ") and "Auxilio de alimentación" in operation.description
    assert [b.deposited for b in Batch.select().where(Batch.order == order).order_by(Batch.id)] == [300_000, 50_100]
    assert ServiceOrder.get_by_id(order.id).status == "PROCESADO"


def test_recharge_rejections_refund_the_money_to_the_master_account(product):
    Product = type(product)
    Product.update(card_limit=150_000).where(Product.id == product.id).execute()
    issue_cards(product, 3)
    Card.update(status="BLOQUEADA").where(Card.id == card_of(2).id).execute()
    records = rec_records(3, amount="1000.00")
    more = rec_records(1, amount="600.00")  # person 1 again: 100,000 + 60,000 > 150,000
    pay(product, 360_000)
    order = make_order(product, ("REC", records), ("REC", more))
    processing.process_paid_orders()
    assert statuses(order) == [
        (2, "PROCESADO", ""),
        (3, "RECHAZADO", NO_CARD),
        (4, "PROCESADO", ""),
        (2, "RECHAZADO", OVER_LIMIT),
    ]
    # The rejected records' money goes back to the company: funding → master account (tests/jobs/test_refunds.py).
    assert ledger.balance(ledger.funding_account(product)) == 0
    assert ledger.balance(ledger.master_account(product)) == 160_000
    assert ledger.balance(card_of(1).account_id) == 100_000 and ledger.balance(card_of(2).account_id) == 0
    assert [b.deposited for b in Batch.select().where(Batch.order == order).order_by(Batch.id)] == [200_000, 0]
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("rec:")).count() == 2


def test_a_recharge_goes_to_the_newest_active_card(product):
    issue_cards(product, 1)
    old = card_of(1)
    Card.update(status="BLOQUEADA").where(Card.id == old.id).execute()
    issue_cards(product, 1)
    Card.update(status="ACTIVA").where(Card.id == old.id).execute()
    newest = card_of(1)
    assert newest.id != old.id
    pay(product, 5_000)
    make_order(product, ("REC", rec_records(1, amount="50.00")))
    processing.process_paid_orders()
    assert ledger.balance(newest.account_id) == 5_000 and ledger.balance(old.account_id) == 0


def test_a_card_without_its_account_gets_one(product):
    person = Person.create(id_type="CC", id_number=batchfiles.id_number(1), first_name="ANA")
    card = Card.create(product=product, person=person, masked_pan="450714******9053", status="ACTIVA")
    pay(product, 1_000)
    make_order(product, ("REC", rec_records(1, amount="10.00")))
    processing.process_paid_orders()
    card = Card.get_by_id(card.id)
    assert card.account_id is not None and ledger.balance(card.account_id) == 1_000


def test_recharges_without_funding_fail_and_post_nothing(product):
    issue_cards(product, 2)
    order = make_order(product, ("REC", rec_records(2, amount="10.00")))
    with pytest.raises(ledger.NegativeBalance):
        processing.process_paid_orders()
    assert [s for _l, s, _r in statuses(order)] == ["VALIDO", "VALIDO"]
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("rec:")).count() == 0
    pay(product, 2_000)
    make_stale(order)
    assert processing.process_paid_orders() == 1
    assert ledger.balance(card_of(2).account_id) == 1_000


# ---------------------------------------------------------------- AFI


def innominate(product, n):
    make_order(product, ("INN", [(i, {"id_type": "", "id_number": "", "amount": 0}) for i in range(1, n + 1)]))
    assert processing.process_paid_orders() == 1
    return [c.masked_pan for c in Card.select().order_by(Card.serial)]


def afi_records(rows, masked):
    return validated("AFI", rows, unaffiliated_cards=frozenset(masked))


def test_affiliation_assigns_cards(product):
    masked = innominate(product, 3)
    rows = batchfiles.afi_rows(2)
    for row, number in zip(rows, masked, strict=False):
        row["NO. TARJETA"] = number
    records = afi_records(rows, masked)
    assert records[0][1]["card"] == masked[0]  # as validation keeps it
    order = make_order(product, ("AFI", records))
    assert processing.process_paid_orders() == 1
    assert statuses(order) == [(2, "PROCESADO", ""), (3, "PROCESADO", "")]
    assert Card.get(Card.masked_pan == masked[0]).person.id_number == batchfiles.id_number(1)
    assert Card.get(Card.masked_pan == masked[1]).person.id_number == batchfiles.id_number(2)
    assert Card.get(Card.masked_pan == masked[2]).person_id is None
    assert Person.select().count() == 2


def test_affiliation_rejections(product):
    masked = innominate(product, 3)
    issue_cards(product, 1, start=3)  # person 3 holds an active card already
    first = batchfiles.afi_rows(1)
    first[0]["NO. TARJETA"] = masked[0]
    rows = batchfiles.afi_rows(3, start=2)
    rows[0]["NO. TARJETA"] = masked[0]  # given to person 1 by the first batch of the order
    rows[1]["NO. TARJETA"] = masked[2]
    rows[2]["NO. TARJETA"] = masked[1]
    order = make_order(
        product,
        ("AFI", afi_records(first, masked)),
        ("AFI", afi_records(rows, masked)),
        ("AFI", [(9, {**validated("EMI", batchfiles.emi_rows(1, start=8))[0][1], "card": "450714******0000"})]),
    )
    processing.process_paid_orders()
    assert statuses(order) == [
        (2, "PROCESADO", ""),
        (2, "RECHAZADO", "La tarjeta ya está afiliada"),
        (3, "RECHAZADO", HAS_CARD),
        (4, "PROCESADO", ""),
        (9, "RECHAZADO", "El número de tarjeta es inválido"),
    ]
    assert Card.get(Card.masked_pan == masked[2]).person_id is None
    # People are created with their card only: not for a rejected affiliation.
    assert sorted(p.id_number for p in Person.select()) == [batchfiles.id_number(i) for i in (1, 3, 4)]


def test_an_ambiguous_masked_number_is_not_guessed(product):
    masked = innominate(product, 2)
    Card.update(masked_pan=masked[0]).execute()  # two unaffiliated cards shown the same
    rows = batchfiles.afi_rows(1)
    rows[0]["NO. TARJETA"] = masked[0]
    order = make_order(product, ("AFI", afi_records(rows, masked)))
    processing.process_paid_orders()
    [(_line, status, reason)] = statuses(order)
    assert status == "RECHAZADO" and "más de una tarjeta" in reason
    assert Card.select().where(Card.person.is_null(False)).count() == 0


# ---------------------------------------------------------------- the job


def test_only_paid_orders_and_their_batches_in_process_are_processed(product):
    unpaid = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(2))), status="PENDIENTE_PAGO")
    paid = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1, start=5))))
    voided = Batch.create(
        company=product.company_id, product=product, number="25011599", kind="EMI", status="ANULADO", order=paid
    )
    BatchRecord.create(batch=voided, line=3, id_type="CC", id_number="1", data="{}")
    assert processing.process_paid_orders() == 1
    assert ServiceOrder.get_by_id(unpaid.id).status == "PENDIENTE_PAGO"
    assert [s for _l, s, _r in statuses(unpaid)] == ["VALIDO", "VALIDO"]
    assert ServiceOrder.get_by_id(paid.id).status == "PROCESADO"
    assert Batch.get_by_id(voided.id).status == "ANULADO"
    assert Card.select().count() == 1


def test_a_second_run_does_nothing(product):
    issue_cards(product, 3)
    pay(product, 30_000)
    make_order(product, ("REC", rec_records(3, amount="100.00")))
    assert processing.process_paid_orders() == 1
    before = (Card.select().count(), LedgerPosting.select().count(), Person.select().count())
    assert processing.process_paid_orders() == 0
    assert (Card.select().count(), LedgerPosting.select().count(), Person.select().count()) == before
    assert ServiceOrder.select().where(ServiceOrder.attempts > 1).count() == 0


def test_chunks_do_every_record_once(product, monkeypatch):
    monkeypatch.setattr(processing, "CHUNK", 7)
    issue_cards(product, 40)
    pay(product, 40 * 1_000)
    order = make_order(
        product, ("REC", rec_records(40, amount="10.00")), ("EMI", validated("EMI", batchfiles.emi_rows(23, start=100)))
    )
    assert processing.process_paid_orders() == 1
    assert ServiceOrder.get_by_id(order.id).done_records == 63
    assert Card.select().count() == 63
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("rec:")).count() == 40
    assert ledger.balance(ledger.funding_account(product)) == 0
    assert {ledger.balance(card_of(i).account_id) for i in range(1, 41)} == {1_000}


def test_claims_are_exclusive_and_stale_ones_are_taken_again(product):
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1))))
    first = processing.claim_next()
    assert first is not None and first[0].id == order.id
    assert processing.claim_next() is None
    make_stale(order)
    again = processing.claim_next()
    assert again is not None and again[1] != first[1]
    assert ServiceOrder.get_by_id(order.id).attempts == 2
    # The first claimant lost the order: its run does nothing.
    assert not processing.run_order(first[0], first[1], SimulatedProcessor())
    assert Card.select().count() == 0
    assert processing.run_order(again[0], again[1], SimulatedProcessor())
    assert Card.select().count() == 1


def test_concurrent_claims_take_an_order_once(product, database_url):
    make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(1))))
    models.db.close()
    results = []

    def claim():
        results.append(processing.claim_next())

    in_threads(claim, 6, 30)
    models.db.connect(reuse_if_open=True)
    assert sum(r is not None for r in results) == 1


def steal(order):
    """Another job process takes the order over (we were presumed dead)."""
    ServiceOrder.update(claim_token="someone-else", claimed_at=utcnow()).where(ServiceOrder.id == order.id).execute()


def test_a_claim_lost_between_chunks_stops_the_run(product, monkeypatch):
    monkeypatch.setattr(processing, "CHUNK", 5)
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(12))))
    real = processing._process_chunk
    calls = {"n": 0}

    def then_steal(*args):
        outcome = real(*args)
        calls["n"] += 1
        if calls["n"] == 1:
            steal(order)
        return outcome

    monkeypatch.setattr(processing, "_process_chunk", then_steal)
    assert processing.process_paid_orders() == 0
    order = ServiceOrder.get_by_id(order.id)
    assert (order.status, order.done_records, order.claim_token) == ("EN_PROCESO", 5, "someone-else")
    assert Card.select().count() == 5
    assert [s for _l, s, _r in statuses(order)] == ["PROCESADO"] * 5 + ["VALIDO"] * 7
    monkeypatch.setattr(processing, "_process_chunk", real)
    make_stale(order)
    assert processing.process_paid_orders() == 1
    assert Card.select().count() == 12 and ServiceOrder.get_by_id(order.id).done_records == 12


class StealingProcessor(SimulatedProcessor):
    """Takes the order away in the middle of the second chunk, after its cards were written."""

    def __init__(self, order):
        self.order, self.calls = order, 0

    def issue(self, product, requests):
        self.calls += 1
        results = super().issue(product, requests)
        if self.calls == 2:
            steal(self.order)
        return results


def test_a_claim_lost_mid_chunk_rolls_the_chunk_back(product, monkeypatch):
    monkeypatch.setattr(processing, "CHUNK", 5)
    order = make_order(product, ("EMI", validated("EMI", batchfiles.emi_rows(12))))
    assert processing.process_paid_orders(processor=StealingProcessor(order)) == 0
    order = ServiceOrder.get_by_id(order.id)
    assert (order.status, order.done_records) == ("EN_PROCESO", 5)
    assert Card.select().count() == 5 and Person.select().count() == 5  # the second chunk rolled back
    assert LedgerAccount.select().count() == 5
    assert [s for _l, s, _r in statuses(order)] == ["PROCESADO"] * 5 + ["VALIDO"] * 7
    make_stale(order)
    assert processing.process_paid_orders() == 1
    assert Card.select().count() == 12 and ServiceOrder.get_by_id(order.id).done_records == 12
    assert sorted(c.serial for c in Card.select()) == list(range(1, 13))
