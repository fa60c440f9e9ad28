"""Consulta de tarjetas (services/cards.py): search, state changes through the processor, the
plastic's delivery, Actualizar datos, Cancelar (its balance back to the master account) and
the card's history."""

import pytest

import ledger
from models import AuditEvent, Card, MasterOperation, Person
from services import Refused, cards, master
from tests import batchfiles
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards


@pytest.fixture
def world(db, app):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**12)
    product = make_product(company)
    user = make_user("gestor", perms={product: "all"})
    issue_cards(product, 3)
    rows = list(Card.select().where(Card.product == product).order_by(Card.id))
    with app.app_context():
        master.fund_without_code(user, product, 10_000_000, "Fondeo")
    return {"product": product, "user": user, "cards": rows}


def state(card):
    return Card.get_by_id(card.id).status


def test_search_by_document_digits_order_and_batch(world):
    product, (a, b, c) = world["product"], world["cards"]
    by = lambda **kw: [x.id for x in cards.search(product, cards.Criteria(**kw)).order_by(Card.id)]  # noqa: E731
    assert by() == [a.id, b.id, c.id]
    assert by(document=batchfiles.id_number(2)) == [b.id]
    assert by(card=c.masked_pan[-4:]) == [c.id]
    record = a.record
    assert by(batch=record.batch.number) == [a.id, b.id, c.id]
    assert by(order=record.batch.order_id) == [a.id, b.id, c.id] and by(order=999_999) == []


@pytest.mark.parametrize(
    "steps, final",
    [
        (["temporal"], "BLOQUEO_TEMPORAL"),
        (["temporal", "desbloquear"], "ACTIVA"),
        (["extravio"], "BLOQUEADA_EXTRAVIO"),
        (["temporal", "robo"], "BLOQUEADA_ROBO"),
    ],
)
def test_allowed_moves(world, steps, final):
    card = world["cards"][0]
    for step in steps:
        (result,) = cards.change_state(world["user"], world["product"], [card.id], step, PASSWORD)
        assert result.ok, result.message
    assert state(card) == final
    assert AuditEvent.select().where(AuditEvent.object_ref == f"tarjeta:{card.id}").count() == len(steps)


@pytest.mark.parametrize("first, then", [("extravio", "desbloquear"), ("robo", "temporal"), ("temporal", "temporal")])
def test_refused_moves_change_nothing(world, first, then):
    card = world["cards"][0]
    cards.change_state(world["user"], world["product"], [card.id], first, PASSWORD)
    before = state(card)
    (result,) = cards.change_state(world["user"], world["product"], [card.id], then, PASSWORD)
    assert not result.ok and cards.NOT_NOW in result.message and state(card) == before


def test_many_cards_one_password_one_result_each(world):
    a, b, c = world["cards"]
    cards.change_state(world["user"], world["product"], [b.id], "robo", PASSWORD)
    results = cards.change_state(world["user"], world["product"], [a.id, b.id, c.id], "temporal", PASSWORD)
    assert [r.ok for r in results] == [True, False, True]
    with pytest.raises(Refused, match="contraseña"):
        cards.change_state(world["user"], world["product"], [a.id], "desbloquear", "mala")
    assert state(a) == "BLOQUEO_TEMPORAL"


def test_a_blocked_card_is_refused_by_the_master_account(world):
    card = world["cards"][0]
    cards.change_state(world["user"], world["product"], [card.id], "temporal", PASSWORD)
    (result,) = master.run(
        world["user"],
        world["product"],
        MasterOperation.CREDIT,
        [(Card.get_by_id(card.id), 1_000)],
        master.new_key(),
        PASSWORD,
    )
    assert result.message == master.BLOCKED


def test_the_plastic_goes_step_by_step(world):
    card = world["cards"][0]
    assert Card.get_by_id(card.id).plastic_label == "En elaboración"
    (skip,) = cards.advance_plastic(world["user"], world["product"], [card.id], "entregar", PASSWORD)
    assert not skip.ok
    for step, label in (
        ("enviar", "Enviada a la empresa"),
        ("recibir", "Recibida en la empresa"),
        ("entregar", "Entregada al tarjetahabiente"),
    ):
        (result,) = cards.advance_plastic(world["user"], world["product"], [card.id], step, PASSWORD)
        assert result.ok and Card.get_by_id(card.id).plastic_label == label
    assert Card.get_by_id(card.id).plastic_at is not None


def test_cancel_returns_the_balance_to_the_master_account_and_is_permanent(world):
    product, card = world["product"], world["cards"][0]
    master.run(world["user"], product, MasterOperation.CREDIT, [(card, 300_000)], master.new_key(), PASSWORD)
    before = ledger.balance(ledger.master_account(product))
    result = cards.cancel(world["user"], product, Card.get_by_id(card.id), PASSWORD)
    assert result.ok and "$ 3.000,00 volvió a la cuenta maestra" in result.message
    assert state(card) == "CANCELADA"
    assert ledger.balance(ledger.card_account(Card.get_by_id(card.id))) == 0
    assert ledger.balance(ledger.master_account(product)) == before + 300_000
    with pytest.raises(Refused, match="no admite"):
        cards.cancel(world["user"], product, Card.get_by_id(card.id), PASSWORD)
    (again,) = cards.change_state(world["user"], product, [card.id], "desbloquear", PASSWORD)
    assert not again.ok


def test_update_contact_validates_as_an_emi_file(world):
    card = Card.get_by_id(world["cards"][0].id)
    with pytest.raises(Refused, match="CORREO"):
        cards.update_contact(world["user"], world["product"], card, "no-es-correo", "3001234567", PASSWORD)
    with pytest.raises(Refused, match="CELULAR"):
        cards.update_contact(world["user"], world["product"], card, "ana@example.com", "12345", PASSWORD)
    cards.update_contact(world["user"], world["product"], card, "ana@example.com", "3109998877", PASSWORD)
    person = Person.get_by_id(card.person_id)
    assert (person.email, person.mobile) == ("ana@example.com", "3109998877")


def test_the_history_lists_issue_movements_and_changes(world):
    product, card = world["product"], world["cards"][0]
    master.run(world["user"], product, MasterOperation.CREDIT, [(card, 50_000)], master.new_key(), PASSWORD)
    cards.change_state(world["user"], product, [card.id], "temporal", PASSWORD)
    lines = cards.history(Card.get_by_id(card.id))
    what = [line.what for line in lines]
    assert "Emisión" in what and "Cambio de estado" in what
    assert any(line.amount == 50_000 for line in lines)


def test_the_count_stops_at_the_limit(world, app, monkeypatch):
    from blueprints.pagination import keyset

    monkeypatch.setattr(cards, "COUNT_LIMIT", 2)
    with app.test_request_context("/?"):
        page = keyset(cards.search(world["product"], cards.Criteria()), (Card.id,), newest_first=True, count_limit=2)
    assert page.more and "más de 2" in page.summary and page.items[0].id == world["cards"][-1].id
