"""The demo's months of history (seed.py `_demo_history`, loaded by `flask seed-demo`): every
report of issue 13 has something to show, the ledger stays exact, and dates grow with ids."""

from collections import Counter
from datetime import UTC, datetime

from models import (
    AuditEvent,
    Batch,
    BatchRecord,
    Card,
    Company,
    LedgerAccount,
    LedgerPosting,
    MasterOperation,
    Person,
    Product,
    ServiceOrder,
    User,
    utcnow,
)
from seed import BOGOTA, CARD_CREDITS, DEMO_HOLDERS, MASTER_FUNDING
from services import ledger_check


def month(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def test_demo_history(runner):
    """One seed (3-5 s on SQLite, 7-10 on PostgreSQL here), every check on it."""
    started = utcnow()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    check_master_accounts_move_in_many_months_with_dates_growing_with_ids()
    check_history_is_in_the_past_and_today_is_as_the_readme_says(started)
    check_recharges_processed_in_many_months()
    check_cards_issued_in_many_months_named_unnamed_and_replaced(started)
    check_orders_processed_in_many_months_and_batches_numbered_by_their_date()
    check_ledger_exact_and_card_balances_are_their_last_posting()
    check_users_logged_in_during_the_history(started)


def check_master_accounts_move_in_many_months_with_dates_growing_with_ids():
    masters = list(LedgerAccount.select().where(LedgerAccount.kind == LedgerAccount.MASTER))
    assert len(masters) == 4  # two products of each company
    for account in masters:
        postings = list(LedgerPosting.select().where(LedgerPosting.account == account).order_by(LedgerPosting.id))
        assert len({month(p.created_at) for p in postings}) >= 6, account.code  # 5 past months and today
        dates = [p.created_at for p in postings]
        assert dates == sorted(dates), account.code
    every = [p.created_at for p in LedgerPosting.select(LedgerPosting.created_at).order_by(LedgerPosting.id)]
    assert every == sorted(every)
    kinds = Counter(
        (month(op.created_at), op.kind) for op in MasterOperation.select().where(MasterOperation.status == "EXITOSA")
    )
    for kind in (MasterOperation.FUND, MasterOperation.CREDIT, MasterOperation.DEBIT, MasterOperation.INQUIRY):
        assert len({m for m, k in kinds if k == kind}) >= 5, kind
    assert MasterOperation.select().where(MasterOperation.fee > 0).count() > 0  # commissions


def check_history_is_in_the_past_and_today_is_as_the_readme_says(seeded):
    history = ServiceOrder.select().where(ServiceOrder.created_at < seeded)
    assert history.count() > 0
    assert all(o.paid_at is None or o.paid_at < seeded for o in history)
    assert max(p.created_at for p in LedgerPosting.select()) <= utcnow()
    # Each master account holds $ 2.000.000,00 before today's credits to the demo holders' cards.
    for product in Product.select():
        account = LedgerAccount.get(LedgerAccount.code == f"master:{product.id}")
        credits = 0 if product.named else sum(CARD_CREDITS) + len(CARD_CREDITS) * product.transfer_fee
        assert account.balance == MASTER_FUNDING - credits, product.name
        holders = (
            Card.select(Card, LedgerAccount)
            .join(Person, on=(Card.person == Person.id))
            .switch(Card)
            .join(LedgerAccount, on=(Card.account == LedgerAccount.id))
            .where((Card.product == product) & Person.id_number.in_([h[1] for h in DEMO_HOLDERS]))
            .order_by(Card.id)
        )
        expected = [] if product.named else list(CARD_CREDITS)
        assert [c.account.balance for c in holders] == expected, product.name


def check_recharges_processed_in_many_months():
    processed = (
        BatchRecord.select(BatchRecord, Batch)
        .join(Batch)
        .where((Batch.kind == "REC") & (BatchRecord.status == BatchRecord.PROCESSED))
    )
    months = Counter(month(r.batch.processed_at) for r in processed)
    assert len(months) >= 5, months
    for company in Company.select():
        mine = {month(r.batch.processed_at) for r in processed if r.batch.company_id == company.id}
        assert len(mine) >= 5, company.name


def check_cards_issued_in_many_months_named_unnamed_and_replaced(seeded):
    cards = list(Card.select(Card, Product).join(Product))
    assert len({month(c.created_at) for c in cards if c.product.named}) >= 5
    assert len({month(c.created_at) for c in cards if not c.product.named}) >= 5
    replaced = [c for c in cards if c.replaced_by_id is not None]
    assert replaced and all(c.status == "REEMPLAZADA" and c.status_changed_at < seeded for c in replaced)
    rep_batches = Batch.select().where((Batch.kind == "REP") & (Batch.status == Batch.PROCESSED))
    assert rep_batches.count() >= 1
    changes = [e.detail for e in AuditEvent.select().where(AuditEvent.tag == "card:state")]
    assert any(d.endswith("→ BLOQUEO_TEMPORAL") for d in changes), changes
    assert any(d.startswith("BLOQUEO_TEMPORAL →") for d in changes), changes  # lifted later
    assert sum(d.endswith("→ BLOQUEADA_EXTRAVIO") for d in changes) >= 2, changes
    # A card's expiry follows its (moved) issue date: the month `validity_months` later.
    for card in cards:
        issued = card.created_at.replace(tzinfo=UTC).astimezone(BOGOTA).date()
        months_later = issued.year * 12 + issued.month - 1 + card.product.validity_months
        assert card.expires_on.year * 12 + card.expires_on.month - 1 == months_later, card.id


def check_orders_processed_in_many_months_and_batches_numbered_by_their_date():
    processed = ServiceOrder.select().where(ServiceOrder.status == ServiceOrder.PROCESSED)
    assert len({month(o.paid_at) for o in processed}) >= 5
    for company in Company.select():
        assert len({month(o.created_at) for o in processed if o.company_id == company.id}) >= 5
    statuses = {b.status for b in Batch.select()}
    assert {Batch.PROCESSED, Batch.DELETED, Batch.VOIDED} <= statuses  # Estado de lotes shows each
    for batch in Batch.select():
        local = batch.created_at.replace(tzinfo=UTC).astimezone(BOGOTA)
        assert batch.number.startswith(local.strftime("%y%m%d")), (batch.number, batch.created_at)
        if batch.authorized_at:
            assert batch.created_at < batch.authorized_at
    refs = {e.object_ref for e in AuditEvent.select().where(AuditEvent.object_ref.startswith("lote:"))}
    numbers = {f"lote:{b.number}" for b in Batch.select()}
    assert refs <= numbers


def check_ledger_exact_and_card_balances_are_their_last_posting():
    assert ledger_check.check() == []
    cards = list(Card.select(Card, LedgerAccount).join(LedgerAccount, on=(Card.account == LedgerAccount.id)))
    assert len(cards) == Card.select().count()
    held = 0
    for card in cards:
        last = (
            LedgerPosting.select()
            .where(LedgerPosting.account == card.account_id)
            .order_by(LedgerPosting.id.desc())
            .first()
        )
        assert card.account.balance == (last.balance_after if last else 0), card.id
        held += card.account.balance
    assert held > 0


def check_users_logged_in_during_the_history(seeded):
    for username in ("jhomez", "firmante", "autorizador"):
        user = User.get(User.username == username)
        assert user.last_login_at is not None and user.last_login_at < seeded
        logins = AuditEvent.select().where((AuditEvent.tag == "login:success") & (AuditEvent.user == user))
        assert len({month(e.created_at) for e in logins}) >= 5
        assert all(e.ip for e in logins)
    assert User.get(User.username == "nuevo").last_login_at is None  # still to log in the first time


def test_a_bare_seed_outside_the_app_loads_today_only(db):
    from seed import seed

    started = utcnow()
    seed()
    assert ServiceOrder.select().where(ServiceOrder.created_at < started).count() == 0
    assert Batch.select().where(Batch.kind.in_(("EMI", "REC"))).count() == 0
    assert ledger_check.check() == []
