"""Refunds: a paid recharge record the processor rejects sends its money from the product's
funding account to its master account, as its own ledger operation ("reembolso:<record id>")."""

import re

import pytest

import ledger
from adapters.bank import SimulatedBank
from adapters.processor import CreditRequest, Rejected, SimulatedProcessor, product_terms
from models import Batch, BatchRecord, Card, LedgerOperation
from services import ledger_check, master, processing
from services.reports import local_today
from tests import batchfiles
from tests.conftest import login
from tests.factories import make_company, make_product, make_user
from tests.jobs.test_process_orders import card_of, issue_cards, make_order, rec_records, statuses

NO_CARD = "El tarjetahabiente no tiene una tarjeta activa"
OVER_LIMIT = "El saldo superaría el límite de la tarjeta"


@pytest.fixture
def product(db):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10_000_000)
    return make_product(company, card_limit=150_000)


def paid(product, amount, order_id=1):
    """The order's Monto into the funding account, as services/orders.py pays (bank, then ledger)."""
    company = product.company
    assert SimulatedBank().debit(company.bank_account, amount, f"orden-servicio:{order_id}", "Pago orden").ok
    ledger.post(
        f"pago-orden:{order_id}",
        "Pago orden",
        [(ledger.company_bank_account(company), -amount), (ledger.funding_account(product), amount)],
    )


def refunds():
    return {
        op.key: op.description
        for op in LedgerOperation.select()
        .where(LedgerOperation.key.startswith("reembolso:"))
        .order_by(LedgerOperation.id)
    }


def record_ids(order):
    query = BatchRecord.select(BatchRecord.id).join(Batch).where(Batch.order == order)
    return [r.id for r in query.order_by(Batch.id, BatchRecord.line)]


def test_rejected_records_are_refunded_to_the_master_account(product):
    issue_cards(product, 3)
    Card.update(status="BLOQUEO_TEMPORAL").where(Card.id == card_of(2).id).execute()
    paid(product, 360_000)
    order = make_order(product, ("REC", rec_records(3, amount="1000.00")), ("REC", rec_records(1, amount="600.00")))
    processing.process_paid_orders()
    assert statuses(order) == [
        (2, "PROCESADO", ""),
        (3, "RECHAZADO", NO_CARD),
        (4, "PROCESADO", ""),
        (2, "RECHAZADO", OVER_LIMIT),
    ]
    assert ledger.balance(ledger.funding_account(product)) == 0
    assert ledger.balance(ledger.master_account(product)) == 160_000
    first, second = Batch.select().where(Batch.order == order).order_by(Batch.id)
    ids = record_ids(order)
    assert refunds() == {
        f"reembolso:{ids[1]}": f"Reembolso recarga lote {first.number} rechazada: {NO_CARD}",
        f"reembolso:{ids[3]}": f"Reembolso recarga lote {second.number} rechazada: {OVER_LIMIT}",
    }
    refund = LedgerOperation.get(LedgerOperation.key == f"reembolso:{ids[1]}")
    assert sorted((p.account_id, p.amount) for p in refund.postings) == sorted(
        [(ledger.funding_account(product).id, -100_000), (ledger.master_account(product).id, 100_000)]
    )
    assert ledger_check.check() == []


def test_a_chunk_over_the_limit_only_is_refunded_too(product):
    """No record without a card: the master account is locked only when a refund appears."""
    issue_cards(product, 2)
    paid(product, 300_000)
    make_order(product, ("REC", rec_records(2, amount="1000.00")), ("REC", rec_records(1, amount="1000.00")))
    processing.process_paid_orders()
    assert ledger.balance(card_of(1).account_id) == 100_000
    assert ledger.balance(ledger.master_account(product)) == 100_000
    assert ledger.balance(ledger.funding_account(product)) == 0
    last = Batch.select().order_by(Batch.id.desc()).get()
    assert list(refunds().values()) == [f"Reembolso recarga lote {last.number} rechazada: {OVER_LIMIT}"]
    assert ledger_check.check() == []


def test_nothing_is_refunded_when_all_is_credited(product):
    issue_cards(product, 2)
    paid(product, 200_000)
    make_order(product, ("REC", rec_records(2, amount="1000.00")))
    processing.process_paid_orders()
    assert refunds() == {}
    assert ledger.balance(ledger.master_account(product)) == 0


def request(reference, number, amount, description="Recarga lote 77: Bono"):
    return CreditRequest(reference, "CC", batchfiles.id_number(number), amount, description)


def test_a_chunk_sent_again_refunds_and_credits_nothing_twice(product):
    issue_cards(product, 1)
    paid(product, 50_000)
    terms, processor = product_terms(product), SimulatedProcessor()
    chunk = [request(9_001, 1, 20_000), request(9_002, 2, 30_000), request(9_003, 1, 0)]
    first = processor.credit(terms, chunk)
    assert [r.ok for r in first] == [True, False, False]
    assert [r.reason for r in first[1:]] == [NO_CARD, "El monto debe ser mayor que 0"]
    assert refunds() == {"reembolso:9002": f"Reembolso recarga lote 77 rechazada: {NO_CARD}"}
    # Person 2 gets a card meanwhile; the chunk comes again (a crash after the processor answered).
    issue_cards(product, 1, start=2)
    again = processor.credit(terms, chunk)
    assert again == first
    assert isinstance(again[1], Rejected) and again[1].reason == NO_CARD
    assert ledger.balance(card_of(2).account_id) == 0
    assert ledger.balance(ledger.master_account(product)) == 30_000
    assert ledger.balance(ledger.funding_account(product)) == 0
    assert LedgerOperation.select().where(LedgerOperation.key.startswith("reembolso:")).count() == 1


def test_a_refund_without_a_batch_in_the_description(product):
    paid(product, 5_000)
    (result,) = SimulatedProcessor().credit(product_terms(product), [request(42, 1, 5_000, description="")])
    assert result.reason == NO_CARD
    assert refunds() == {"reembolso:42": f"Reembolso recarga registro 42 rechazada: {NO_CARD}"}


def test_refunds_need_the_money_in_funding_like_credits(product):
    """Refunds move paid money only: without it the chunk fails and posts nothing."""
    with pytest.raises(ledger.NegativeBalance):
        SimulatedProcessor().credit(product_terms(product), [request(1, 1, 5_000)])
    assert refunds() == {}


def test_a_refund_is_its_own_line_in_the_master_account_reports(app, client, product):
    """«Cuenta maestra» shows the refund as its own abono (beside the funding), and «Estado de
    cuenta maestra» counts it in the month's «Devoluciones de recargas rechazadas»."""
    issue_cards(product, 1)  # person 2 of the batch has no card: rejected, refunded
    with app.app_context():
        user = make_user("tesorero", perms={product: "all"})
        master.fund_without_code(user, product, 500_000, "Fondeo de prueba")
    paid(product, 200_000)
    order = make_order(product, ("REC", rec_records(2, amount="1000.00")))
    processing.process_paid_orders()
    assert statuses(order) == [(2, "PROCESADO", ""), (3, "RECHAZADO", NO_CARD)]
    (batch,) = Batch.select().where(Batch.order == order)
    (refund_key,) = refunds()
    refund = LedgerOperation.get(LedgerOperation.key == refund_key)

    def rows(html, table_id="report-table"):
        body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
        found = re.findall(r"<tr>(.*?)</tr>", body, re.S)
        cell = r"<td[^>]*>(.*?)</td>"
        return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(cell, row, re.S)] for row in found]

    make_user("auditor", perms={product: "reports.view"})
    login(client, "auditor")
    reports_url = f"/productos/{product.id}/reportes"
    lines = rows(client.get(f"{reports_url}/cuenta-maestra").get_data(as_text=True))
    # Fecha, Descripción, Ref., Cargo, Abono, Saldo: the funding, then the refund on its own line.
    assert [line[1:] for line in lines] == [
        ["Fondeo de prueba", str(LedgerOperation.get(LedgerOperation.key.startswith("fondeo:")).id), "",
         "$ 5.000,00", "$ 5.000,00"],
        [f"Reembolso recarga lote {batch.number} rechazada: {NO_CARD}", str(refund.id), "", "$ 1.000,00",
         "$ 6.000,00"],
    ]  # fmt: skip
    month = local_today().strftime("%m/%Y")
    statement = rows(client.get(f"{reports_url}/estado-de-cuenta-maestra?mes={month}").get_data(as_text=True))
    groups = {row[0]: row[1:] for row in statement}
    assert groups["Recargas de la cuenta maestra"] == ["1", "$ 5.000,00"]
    assert groups["Devoluciones de recargas rechazadas"] == ["1", "$ 1.000,00"]
    assert groups["Saldo final"] == ["", "$ 6.000,00"]
    assert ledger.balance(ledger.master_account(product)) == 600_000
    assert ledger_check.check() == []
