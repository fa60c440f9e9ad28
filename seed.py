"""Demo data (`flask seed-demo`, run by `make run` on an empty database)."""

import csv
import io
import unicodedata
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import has_app_context
from peewee import DateTimeField
from werkzeug.security import generate_password_hash

from models import (
    ALL_MODELS,
    LEDGER_MODELS,
    MASTER_MODELS,
    AuditEvent,
    Batch,
    Branch,
    Card,
    Company,
    MasterOperation,
    Person,
    Product,
    User,
    db,
    utcnow,
)
from services import accounts, authorization, batches, innominate, master, orders, processing, replacement
from services import cards as cards_service
from services.provisioning import create_branch, create_company, create_product, create_user_with_grants

DEMO_PASSWORD = "Empresas*24"

DEMO_USERS_TEXT = """
Usuarios de demostración ({base_url}):
  jhomez       Empresas*24   JAHC TECHNOLOGIES, todos los permisos
  firmante     Empresas*24   EMPRESA DE PRUEBA COOP: cargar, confirmar, eliminar, firmar, innominadas, ver órdenes
  autorizador  Empresas*24   EMPRESA DE PRUEBA COOP: autorizar, ver/anular/pagar órdenes, cuenta maestra, reportes
  nuevo        Temporal*01   JAHC TECHNOLOGIES, primer ingreso pendiente (términos y cambio de contraseña)
Correos enviados (contraseñas temporales, códigos de pago): {base_url}/demo/correos
""".rstrip()


def demo_users_text(host: str, port: int) -> str:
    """The demo users and the address `make run` really serves (HOST and PORT of the settings)."""
    return DEMO_USERS_TEXT.format(base_url=f"http://{host}:{port}")


FEES = {  # centavos; the demo fee schedule of the service-order issue
    "card_price_named": 1_000,  # $ 10,00 per named card
    "card_price_unnamed": 1_000,
    "distribution_cost": 500_000,  # $ 5.000,00 per batch of new cards
    "recharge_rate": Decimal("0.01"),  # 1 % ...
    "recharge_min": 10_000,  # ... at least $ 100,00 per record
    "iva_rate": Decimal("0.19"),
    "gmf_rate": Decimal("0.004"),
    "card_limit": 500_000_000,  # $ 5.000.000,00 per card and recharge
    "transfer_fee": 5_500,
    "inquiry_fee": 6_000,
}


def _products(company):
    create_product(company, "Clásica / Visa", named=True, **FEES)
    create_product(company, "Clásica In / Visa", named=False, **FEES)


def seed(history: bool | None = None):
    """The demo: companies, products and users; with `history`, HISTORY_MONTHS months of
    activity before today (_demo_history); then today's state (the stock cards, the master
    accounts). The history uploads and validates batch files, which read the app's settings:
    by default (None) it is loaded when there is an app context (`flask seed-demo`), not by a
    bare seed() (the browser tests', which check today's state only)."""
    with db.atomic():
        jahc = create_company(
            nit="900291499",
            name="JAHC TECHNOLOGIES",
            legal_name="JAHC TECHNOLOGIES",
            contact="Ceo Presidente",
            address="Carrera 13 #83-19",
            billing_address="Carrera 13 #83-19",
            phone1="4193333",
            signatures=1,
            opening_balance=10_000_000_000,
        )
        create_branch(jahc, "1", "Principal", address="Carrera 13 #83-19", city="Bogotá", phone="4193333")
        create_branch(jahc, "73", "Sucursal única", address="Carrera 13 #83-19", city="Bogotá")
        _products(jahc)

        coop = create_company(
            nit="9013434540",
            name="EMPRESA DE PRUEBA COOP",
            legal_name="EMPRESA DE PRUEBA COOP",
            contact="Gerente General",
            address="Calle 26 #69-76",
            billing_address="Calle 26 #69-76",
            phone1="6017423000",
            signatures=2,
            opening_balance=5_000_000_000,
        )
        create_branch(coop, "73", "Sucursal única", address="Calle 26 #69-76", city="Bogotá")
        _products(coop)

        create_user_with_grants(
            "jhomez",
            "Joffer",
            "Homez",
            "jhomez@jahc.example",
            "Gerente",
            "Operaciones",
            ["900291499:*:all"],
            password=DEMO_PASSWORD,
            must_change=False,
            terms_accepted=True,
        )
        create_user_with_grants(
            "firmante",
            "Fernanda",
            "Firmante",
            "firmante@coop.example",
            "Analista",
            "Tesorería",
            [
                "9013434540:*:batch.upload,batch.confirm,batch.delete,batch.sign,order.view,"
                "innominate.request,innominate.affiliate"
            ],
            password=DEMO_PASSWORD,
            must_change=False,
            terms_accepted=True,
        )
        create_user_with_grants(
            "autorizador",
            "Andrés",
            "Autorizador",
            "autorizador@coop.example",
            "Director",
            "Finanzas",
            [
                "9013434540:*:batch.authorize,order.view,order.void,order.pay,"
                "master.balance,master.credit,master.debit,master.fund,reports.view"
            ],
            password=DEMO_PASSWORD,
            must_change=False,
            terms_accepted=True,
        )
        create_user_with_grants(
            "nuevo",
            "Nora",
            "Nueva",
            "nuevo@jahc.example",
            "Auxiliar",
            "Contabilidad",
            ["900291499:*:order.view,reports.view"],
            password="Temporal*01",
            must_change=True,
            terms_accepted=False,
        )
    if history is None:
        history = has_app_context()
    with _quick_password_checks(("jhomez", "firmante", "autorizador")):
        if history:
            _demo_history()
        _demo_stock("JAHC TECHNOLOGIES", "jhomez", None, "jhomez")
        _demo_stock("EMPRESA DE PRUEBA COOP", "firmante", "firmante", "autorizador")
        _demo_master_accounts("JAHC TECHNOLOGIES", "jhomez")
        _demo_master_accounts("EMPRESA DE PRUEBA COOP", "autorizador")


@contextmanager
def _quick_password_checks(usernames):
    """Every service step re-checks the password (require_password), well over a hundred times
    here: with scrypt (0.06-0.13 s each) that alone would take longer than the rest of the seed.
    Meanwhile these users' hashes are a one-round PBKDF2 of DEMO_PASSWORD, and their real
    hashes are put back afterwards, whatever happens."""
    real = {u.id: u.password_hash for u in User.select().where(User.username.in_(list(usernames)))}
    quick = generate_password_hash(DEMO_PASSWORD, method="pbkdf2:sha256:1")
    User.update(password_hash=quick).where(User.id.in_(list(real))).execute()
    try:
        yield
    finally:
        for user_id, password_hash in real.items():
            User.update(password_hash=password_hash).where(User.id == user_id).execute()


# The demo's master accounts: funded from the company's bank, and the affiliated stock cards
# credited from them (centavos).
MASTER_FUNDING = 200_000_000  # $ 2.000.000,00 per product
CARD_CREDITS = (15_000_000, 8_000_000, 2_500_000)


def _demo_master_accounts(company_name, username):
    """Today: each master account funded up to MASTER_FUNDING (what the history left on it plus
    today's funding), then the DEMO_HOLDERS' cards credited CARD_CREDITS."""
    user = User.get(User.username == username)
    documents = [holder[1] for holder in DEMO_HOLDERS]
    for product in Product.select().join(Company).where(Company.name == company_name).order_by(Product.id):
        top_up = MASTER_FUNDING - master.header(product).balance
        if top_up > 0:
            master.fund_without_code(user, product, top_up, "Fondeo de la demostración")
        cards = list(
            Card.select()
            .join(Person, on=(Card.person == Person.id))
            .where((Card.product == product) & Person.id_number.in_(documents))
            .order_by(Card.id)
        )
        items = list(zip(cards, CARD_CREDITS, strict=False))
        if items:
            master.run(user, product, MasterOperation.CREDIT, items, master.new_key(), DEMO_PASSWORD)


# Who receives the demo's affiliated stock cards (valid AFI rows: SPEC §5.1 rules).
DEMO_HOLDERS = (
    ("CC", "19933788", "VISA", "CLASICA", "FEMENINO"),
    ("CC", "52011234", "ROJAS", "MARTA", "FEMENINO"),
    ("CC", "79055678", "PEREZ", "LUIS", "MASCULINO"),
)


def _demo_stock(company_name, requester, signer, authorizer, cards=20):
    """The unnamed product's stock: a request of `cards` cards, signed, authorized, paid and
    processed, then the first DEMO_HOLDERS affiliated to their cards the same way («Afiliar»)."""
    product = (
        Product.select()
        .join(Company)
        .where((Product.name == "Clásica In / Visa") & (Company.name == company_name))
        .get()
    )
    users = {name: User.get(User.username == name) for name in {requester, signer or requester, authorizer}}
    branch = innominate.branches_of(product)[-1]
    form = {
        "quantity": str(cards),
        "line1": product.company.name[:25],
        "line2": product.company.nit,
        "branch": branch.code,
    }
    request = innominate.request_cards(users[requester], product, form, DEMO_PASSWORD)
    _through_order(product, [request.id], users, signer, authorizer)
    stock = innominate.cards_of(request).order_by(Card.serial)
    for card, (id_type, number, surname, name, sex) in zip(stock, DEMO_HOLDERS, strict=False):
        values = {
            "SUCURSAL": branch.code, "TIPO ID": id_type, "NRO ID": number, "PRIMER APELLIDO": surname,
            "PRIMER NOMBRE": name, "FECHA DE NACIMIENTO": "15/03/1990", "ESTADO CIVIL": "SOLTERO", "SEXO": sex,
            "TELEFONO CELULAR": "3001234567", "CORREO ELECTRONICO": f"{name.lower()}.{number}@demo.example",
        }  # fmt: skip
        result = innominate.affiliate_one(users[requester], product, frozenset(), card, values, DEMO_PASSWORD)
        _through_order(product, [result.batch.id], users, signer, authorizer)


def _through_order(product, batch_ids, users, signer, authorizer):
    if signer:
        authorization.sign(product, batch_ids, users[signer], DEMO_PASSWORD)
    for order in authorization.authorize(product, batch_ids, users[authorizer]):
        orders.pay_without_code(order, users[authorizer])
    processing.process_paid_orders()


# ---------------------------------------------------------------- history
#
# HISTORY_MONTHS months before today, so every report has something to show: each month, for
# each company, an EMI batch of its named product and a request of innominate cards of its
# unnamed one, a recharge (REC) and an affiliation (AFI), all authorized, paid and processed;
# the master accounts funded, and cards credited, debited and consulted from them; logins; and,
# at JAHC, a temporary block, loss blocks and two replacements (a new named card, a stock card).
#
# Everything goes through the same services as a user would (the ledger stays exact), at the
# real clock; then _Backdating moves each month's rows to dates inside that month, in the order
# they were written, so ids and dates grow together (the reports compute running balances by
# id and bucket by date), and the batches are renumbered after their new date.

HISTORY_MONTHS = 6
BOGOTA = ZoneInfo("America/Bogota")
MONTHS = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip


@dataclass(frozen=True)
class _Company:
    name: str
    uploader: str  # loads, confirms (and signs) batches, requests innominate cards
    signer: str | None  # the second signature, when the company has two
    authorizer: str  # authorizes and pays the orders, operates the master account
    cards_user: str | None  # blocks and replaces cards (holds cards.manage)
    first_document: int  # its history's cardholders have documents from here on


HISTORY_COMPANIES = (
    _Company("JAHC TECHNOLOGIES", "jhomez", None, "jhomez", "jhomez", 80_100_000),
    _Company("EMPRESA DE PRUEBA COOP", "firmante", "firmante", "autorizador", None, 80_500_000),
)
# Where the demo users work from: the IP of their history's audit events (no request there).
DEMO_IPS = {"jhomez": "190.24.118.35", "firmante": "181.57.203.12", "autorizador": "186.31.77.140"}

EMI_PER_MONTH = (8, 6, 7, 5, 6, 7)  # new named cards per company, month by month
INN_PER_MONTH = 10  # innominate cards requested per company and month
AFI_PER_MONTH = 4  # of them, affiliated later that month
REC_MAX = 14  # cards in a month's recharge
# Master accounts (centavos): per month, a funding, three credits, a debit and two inquiries.
HISTORY_FUNDING = {True: 50_000_000, False: 40_000_000}  # named product, unnamed product
HISTORY_CREDITS = {True: (12_000_000, 9_000_000, 6_000_000), False: (8_000_000, 6_000_000, 4_000_000)}
HISTORY_DEBIT = 3_000_000

PERSON_COLUMNS = (
    "SUCURSAL", "TIPO ID", "NRO ID", "PRIMER APELLIDO", "SEGUNDO APELLIDO", "PRIMER NOMBRE", "SEGUNDO NOMBRE",
    "FECHA DE NACIMIENTO", "ESTADO CIVIL", "SEXO", "DIRECCION DE RESIDENCIA", "CIUDAD DE RESIDENCIA",
    "TELEFONO FIJO", "TELEFONO CELULAR", "CORREO ELECTRONICO",
)  # fmt: skip
COLUMNS = {
    "EMI": PERSON_COLUMNS,
    "AFI": ("NO. TARJETA", "REFERENCIA", *PERSON_COLUMNS),
    "REC": ("TIPO ID", "NRO ID", "MONTO", "DESCRIPCION"),
}
FIRST_NAMES = (
    ("ANA", "FEMENINO"), ("CARLOS", "MASCULINO"), ("DIANA", "FEMENINO"), ("JORGE", "MASCULINO"),
    ("LAURA", "FEMENINO"), ("ANDRÉS", "MASCULINO"), ("PAULA", "FEMENINO"), ("FELIPE", "MASCULINO"),
    ("SOFÍA", "FEMENINO"), ("MATEO", "MASCULINO"), ("VALENTINA", "FEMENINO"), ("SANTIAGO", "MASCULINO"),
    ("CAMILA", "FEMENINO"), ("DAVID", "MASCULINO"), ("ISABEL", "FEMENINO"), ("JULIÁN", "MASCULINO"),
)  # fmt: skip
SURNAMES = (
    "GÓMEZ", "RODRÍGUEZ", "MARTÍNEZ", "LÓPEZ", "GARCÍA", "HERNÁNDEZ", "RAMÍREZ",
    "TORRES", "CASTRO", "MORENO", "VARGAS", "OSPINA", "PEÑA", "SUÁREZ", "MEJÍA",
)  # fmt: skip
CITIES = ("Bogotá", "Medellín", "Cali", "Barranquilla", "Bucaramanga", "Pereira")
MARITAL = ("SOLTERO", "CASADO", "UNION LIBRE", "SOLTERO", "DIVORCIADO")


@dataclass(frozen=True)
class _Window:
    """The part of a month the history may use (local time): the whole month, or, for the
    current one, up to a few hours ago."""

    first: datetime
    last: datetime
    full: bool

    def when(self, day: int, hour: int, minute: int = 0) -> datetime:
        """Naive UTC of that day and time of a whole month; in a partial month, the same
        fraction of a 28-day month, so the order of the steps is kept."""
        if self.full:
            local = self.first.replace(day=day, hour=hour, minute=minute)
        else:
            local = self.first + (self.last - self.first) * (((day - 1) * 24 + hour) * 60 + minute) / (28 * 24 * 60)
        return local.astimezone(UTC).replace(tzinfo=None)

    @property
    def month_name(self) -> str:
        return f"{MONTHS[self.first.month - 1]} {self.first.year}"


def _history_windows(count: int) -> list[_Window]:
    """The last `count` months with at least 12 hours before now (minus 3 hours), oldest first:
    the current month too, unless it has only just begun."""
    now = datetime.now(BOGOTA)
    limit = now - timedelta(hours=3)
    year, month = now.year, now.month
    windows = []
    while len(windows) < count:
        first = datetime(year, month, 1, tzinfo=BOGOTA)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=BOGOTA)
        last = min(following, limit)
        if last - first >= timedelta(hours=12):
            windows.append(_Window(first, last, last == following))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return windows[::-1]


HISTORY_MODELS = (*ALL_MODELS, *LEDGER_MODELS, *MASTER_MODELS)


class _Backdating:
    """Marks (real time, target time) as a month is generated: a row written at real time t
    after mark k moves to target_k + (t - real_k). Targets are hours or days apart and a step
    takes well under a second, so the written order is kept."""

    def __init__(self):
        self.marks: list[tuple[datetime, datetime]] = []
        self.first_ids: dict = {}

    def begin(self) -> None:
        self.marks = []
        self.first_ids = {model: _max_id(model) for model in (Batch, Card, AuditEvent)}

    def at(self, when: datetime) -> None:
        if self.marks and when <= self.marks[-1][1]:
            raise ValueError(f"history step at {when} is not after {self.marks[-1][1]}")
        self.marks.append((utcnow(), when))

    def _moved(self, value: datetime) -> datetime:
        real, target = self.marks[bisect_right([r for r, _t in self.marks], value) - 1]
        return target + (value - real)

    def finish(self) -> None:
        """Move every timestamp written since the month's first mark, then renumber its batches,
        date its cards' expiry and give its audit events their user's IP."""
        start = self.marks[0][0]
        with db.atomic():
            for model in HISTORY_MODELS:
                for field in model._meta.sorted_fields:
                    if not isinstance(field, DateTimeField):
                        continue
                    rows = list(model.select(model.id, field).where(field >= start).tuples())
                    for row_id, value in rows:
                        model.update({field: self._moved(value)}).where(model.id == row_id).execute()
            self._renumber_batches()
            for card in Card.select().where(Card.id > self.first_ids[Card]):
                issued = card.created_at.replace(tzinfo=UTC).astimezone(BOGOTA).date()
                months = Product.select(Product.validity_months).where(Product.id == card.product_id).scalar()
                Card.update(expires_on=_expiry(issued, months)).where(Card.id == card.id).execute()
            recent = AuditEvent.id > self.first_ids[AuditEvent]
            for username, ip in DEMO_IPS.items():
                AuditEvent.update(ip=ip).where(
                    recent & (AuditEvent.username == username) & (AuditEvent.ip == "")
                ).execute()

    def _renumber_batches(self) -> None:
        """AAMMDDnn of the batch's new date (services/batches.create_numbered), and the audit
        events that name it. First every one to a provisional number, so none collides."""
        moved = list(Batch.select().where(Batch.id > self.first_ids[Batch]).order_by(Batch.id))
        for batch in moved:
            Batch.update(number=f"H{batch.id}").where(Batch.id == batch.id).execute()
        recent = AuditEvent.id > self.first_ids[AuditEvent]
        for batch in moved:
            prefix = batch.created_at.replace(tzinfo=UTC).astimezone(BOGOTA).strftime("%y%m%d")
            taken = Batch.select(Batch.number).where(
                (Batch.company == batch.company_id) & Batch.number.startswith(prefix)
            )
            number = f"{prefix}{max((int(b.number[6:]) for b in taken), default=-1) + 1:02d}"
            Batch.update(number=number).where(Batch.id == batch.id).execute()
            ours = recent & (AuditEvent.company == batch.company_id)
            AuditEvent.update(object_ref=f"lote:{number}").where(
                ours & (AuditEvent.object_ref == f"lote:{batch.number}")
            ).execute()
            for event in AuditEvent.select().where(ours & AuditEvent.detail.startswith(f"lote {batch.number}:")):
                detail = f"lote {number}:" + event.detail[len(f"lote {batch.number}:") :]
                AuditEvent.update(detail=detail).where(AuditEvent.id == event.id).execute()


def _max_id(model) -> int:
    return model.select(model.id).order_by(model.id.desc()).scalar() or 0


def _expiry(issued: date, months: int) -> date:
    """The last day of the month `months` after `issued` (as the card processor dates a card)."""
    year, month = divmod(issued.year * 12 + issued.month + months, 12)  # the month after that one
    return date(year, month + 1, 1) - timedelta(days=1)


@dataclass
class _Actor:
    """A company of the history: its products, its users, and what the history has done so far."""

    spec: _Company
    company: Company
    named: Product
    unnamed: Product
    users: dict
    people: int = 0
    blocked: int | None = None  # the card in a temporary block
    credited: dict | None = None  # product id -> the cards credited this month

    @classmethod
    def of(cls, spec: _Company) -> "_Actor":
        company = Company.get(Company.name == spec.name)
        products = {p.named: p for p in Product.select().where(Product.company == company)}
        names = {spec.uploader, spec.signer, spec.authorizer, spec.cards_user} - {None}
        users = {u.username: u for u in User.select().where(User.username.in_(list(names)))}
        return cls(spec, company, products[True], products[False], users, credited={})

    def user(self, role: str) -> User | None:
        name = getattr(self.spec, role)
        return self.users[name] if name else None

    def documents(self, count: int) -> list[int]:
        first = self.spec.first_document + self.people
        self.people += count
        return list(range(first, first + count))


def _demo_history() -> None:
    actors = [_Actor.of(spec) for spec in HISTORY_COMPANIES]
    clock = _Backdating()
    for index, window in enumerate(_history_windows(HISTORY_MONTHS)):
        clock.begin()
        _history_month(clock, window, index, actors)
        clock.finish()


def _history_month(clock: _Backdating, window: _Window, index: int, actors: list[_Actor]) -> None:
    def at(day, hour, minute=0):
        clock.at(window.when(day, hour, minute))

    month = window.month_name
    at(2, 8, 5)
    _logins(("jhomez", "firmante", "autorizador"))
    at(3, 9, 20)
    loaded = [(a, a.named, _emission(a, index, month)) for a in actors]
    loaded += [(a, a.unnamed, _card_request(a, index)) for a in actors]
    _through_orders(at, (3, 16, 40), (4, 10, 15), (5, 11, 30), loaded)
    at(6, 9, 10)
    for actor in actors:
        for product in (actor.named, actor.unnamed):
            master.fund_without_code(
                actor.user("authorizer"), product, HISTORY_FUNDING[product.named], f"Fondeo de {month}"
            )
    at(7, 9, 0)
    for actor in actors:
        _plastics(actor)
    if index == 1:  # a batch loaded by mistake and deleted (Estado de lotes: Eliminado)
        at(8, 10, 0)
        actor = actors[0]
        batch = _load(actor, actor.named, "EMI", f"emision-{index + 1}-b.csv", _people(actor, 2, index))
        batches.delete(batch, actor.user("uploader"), DEMO_PASSWORD)
    at(10, 9, 30)
    loaded = [(a, a.named, _recharge(a, index, f"Nómina de {month}")) for a in actors]
    _through_orders(at, (10, 15, 0), (11, 10, 20), (12, 11, 45), [item for item in loaded if item[2]])
    at(14, 9, 15)
    loaded = [(a, a.unnamed, _affiliation(a, index)) for a in actors]
    _through_orders(at, (14, 16, 5), (15, 10, 0), (15, 10, 30), loaded)
    if index == 3:  # an order authorized and then voided (Anulado)
        at(16, 9, 0)
        actor = actors[1]
        batch = _recharge(actor, index, f"Bonificación de {month}", limit=3)
        authorization.sign(actor.named, [batch.id], actor.user("signer"), DEMO_PASSWORD)
        at(16, 14, 0)
        (order,) = authorization.authorize(actor.named, [batch.id], actor.user("authorizer"))
        at(17, 9, 30)
        orders.void(order, actor.user("authorizer"), DEMO_PASSWORD)
    at(18, 10, 40)
    for actor in actors:
        _credit(actor, index)
    at(20, 8, 20)
    _logins(("jhomez", "autorizador"))
    at(22, 11, 10)
    for actor in actors:
        _debit(actor)
    at(25, 15, 35)
    for actor in actors:
        _inquire(actor, index)
    at(27, 10, 0)
    loaded = [item for actor in actors for item in _card_events(actor, index)]
    if loaded:
        _through_orders(at, (27, 16, 0), (28, 9, 30), (28, 15, 0), loaded)


def _logins(usernames) -> None:
    for username in usernames:
        if accounts.authenticate(username, DEMO_PASSWORD).user is None:
            raise RuntimeError(f"the demo user {username} could not log in")


def _through_orders(at, sign_at, authorize_at, pay_at, loaded) -> None:
    """(actor, product, batch) loaded: signed (two-signature companies), authorized into their
    orders, paid and processed, each step at its own time."""
    groups: dict = {}
    for actor, product, batch in loaded:
        groups.setdefault((actor.spec.name, product.id), (actor, product, []))[2].append(batch.id)
    if any(actor.spec.signer for actor, _p, _ids in groups.values()):
        at(*sign_at)
        for actor, product, ids in groups.values():
            if actor.spec.signer:
                authorization.sign(product, ids, actor.user("signer"), DEMO_PASSWORD)
    at(*authorize_at)
    made = [(actor, order) for actor, product, ids in groups.values() for order in _authorize(actor, product, ids)]
    at(*pay_at)
    for actor, order in made:
        orders.pay_without_code(order, actor.user("authorizer"))
    while processing.process_paid_orders(limit=20):
        pass


def _authorize(actor, product, ids):
    return authorization.authorize(product, ids, actor.user("authorizer"))


def _csv(kind: str, rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS[kind])
    for row in rows:
        writer.writerow([row.get(column, "") for column in COLUMNS[kind]])
    return out.getvalue().encode("utf-8")


def _load(actor: _Actor, product: Product, kind: str, filename: str, rows: list[dict]) -> Batch:
    """Carga de lotes: upload, validation (the job's body, run here) and confirmation."""
    uploader = actor.user("uploader")
    batch = batches.upload(uploader, product, kind, filename, _csv(kind, rows))
    batches.validate_waiting()
    batch = Batch.get_by_id(batch.id)
    if batch.status != Batch.VALID:
        problems = batch.file_errors or "; ".join(e.messages for e in batches.errors_of(batch))
        raise RuntimeError(f"demo batch {filename} of {actor.spec.name} is {batch.status}: {problems}")
    return batches.confirm(batch, uploader, DEMO_PASSWORD)


def _people(actor: _Actor, count: int, index: int, branches=None) -> list[dict]:
    """The person columns of `count` new cardholders of the actor (valid EMI/AFI rows)."""
    rows = []
    for number in actor.documents(count):
        n = number % 1000 + number // 100_000  # each company's people named apart
        first_name, sex = FIRST_NAMES[(n * 5 + index) % len(FIRST_NAMES)]
        surname, second = SURNAMES[n % len(SURNAMES)], SURNAMES[(n * 7 + 3) % len(SURNAMES)]
        rows.append({
            "SUCURSAL": branches[len(rows) % len(branches)] if branches else "73",
            "TIPO ID": "CC", "NRO ID": str(number), "PRIMER APELLIDO": surname, "SEGUNDO APELLIDO": second,
            "PRIMER NOMBRE": first_name, "FECHA DE NACIMIENTO": f"{1 + n % 28:02d}/{1 + n % 12:02d}/{1965 + n % 35}",
            "ESTADO CIVIL": MARITAL[n % len(MARITAL)], "SEXO": sex,
            "DIRECCION DE RESIDENCIA": f"Calle {10 + n % 150} # {n % 90}-{n % 50}",
            "CIUDAD DE RESIDENCIA": CITIES[n % len(CITIES)], "TELEFONO CELULAR": f"3{number % 1_000_000_000:09d}",
            "CORREO ELECTRONICO": f"{_ascii(first_name).lower()}.{number}@demo.example",
        })  # fmt: skip
    return rows


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _branch_codes(actor: _Actor) -> list[str]:
    return [b.code for b in Branch.select().where(Branch.company == actor.company).order_by(Branch.code)]


def _emission(actor: _Actor, index: int, month: str) -> Batch:
    rows = _people(actor, EMI_PER_MONTH[index % len(EMI_PER_MONTH)], index, _branch_codes(actor))
    return _load(actor, actor.named, "EMI", f"emision-{month.replace(' ', '-')}.csv", rows)


def _card_request(actor: _Actor, index: int) -> Batch:
    branches = innominate.branches_of(actor.unnamed)
    branch = branches[index % len(branches)]
    form = {"quantity": str(INN_PER_MONTH), "line1": actor.company.name[:25], "line2": actor.company.nit}
    return innominate.request_cards(
        actor.user("uploader"), actor.unnamed, {**form, "branch": branch.code}, DEMO_PASSWORD
    )


def _active(product: Product):
    """The product's active cards with a holder, oldest first (none of today's demo holders yet)."""
    return list(
        Card.select().where((Card.product == product) & (Card.status == Card.ACTIVE) & Card.person.is_null(False))
        .order_by(Card.id)
    )  # fmt: skip


def _recharge(actor: _Actor, index: int, description: str, limit: int = REC_MAX) -> Batch | None:
    cards = _active(actor.named)
    if not cards:
        return None
    chosen = [cards[(index * 5 + i) % len(cards)] for i in range(min(limit, len(cards)))]
    people = {p.id: p for p in Person.select().where(Person.id.in_([c.person_id for c in chosen]))}
    rows = [
        {
            "TIPO ID": people[card.person_id].id_type,
            "NRO ID": people[card.person_id].id_number,
            "MONTO": f"{80_000 + ((card.id * 7 + index * 3) % 9) * 15_000}.00",
            "DESCRIPCION": description[:38],
        }
        for card in chosen
    ]
    name = description.lower().replace(" de ", "-").replace(" ", "-")
    return _load(actor, actor.named, "REC", f"recarga-{name}.csv", rows)


def _affiliation(actor: _Actor, index: int) -> Batch:
    """AFI: cardholders for some of the product's stock cards, named by masked number and REFERENCIA."""
    stock = list(
        Card.select(Card, Branch)
        .join(Branch, on=(Card.branch == Branch.id))
        .where((Card.product == actor.unnamed) & (Card.status == Card.NOT_AFFILIATED) & Card.person.is_null())
        .order_by(Card.id)
        .limit(AFI_PER_MONTH)
    )
    rows = [
        {"NO. TARJETA": card.masked_pan, "REFERENCIA": str(card.serial), **person, "SUCURSAL": card.branch.code}
        for card, person in zip(stock, _people(actor, len(stock), index), strict=True)
    ]
    return _load(actor, actor.unnamed, "AFI", f"afiliacion-{actor.company.nit}-{index + 1}.csv", rows)


def _run(actor: _Actor, product: Product, kind: str, items) -> None:
    results = master.run(actor.user("authorizer"), product, kind, items, master.new_key(), DEMO_PASSWORD)
    refused = [r.message for r in results if not r.ok]
    if refused:
        raise RuntimeError(f"demo {kind} at {actor.spec.name} refused: {refused}")


def _credit(actor: _Actor, index: int) -> None:
    actor.credited = {}
    for product in (actor.named, actor.unnamed):
        cards = _active(product)
        amounts = HISTORY_CREDITS[product.named]
        chosen = [cards[(index * 3 + i) % len(cards)] for i in range(min(len(amounts), len(cards)))]
        chosen = list(dict.fromkeys(chosen))
        if chosen:
            _run(actor, product, MasterOperation.CREDIT, list(zip(chosen, amounts, strict=False)))
        actor.credited[product.id] = chosen


def _debit(actor: _Actor) -> None:
    for product in (actor.named, actor.unnamed):
        cards = actor.credited.get(product.id) or []
        if cards:
            _run(actor, product, MasterOperation.DEBIT, [(cards[0], HISTORY_DEBIT)])


def _inquire(actor: _Actor, index: int) -> None:
    for product in (actor.named, actor.unnamed):
        cards = _active(product)
        if cards:
            chosen = list(dict.fromkeys(cards[(index + i * 4) % len(cards)] for i in range(2)))
            _run(actor, product, MasterOperation.INQUIRY, [(card, 0) for card in chosen])


# The plastic's delivery, one step a month: (action of Consulta de tarjetas, plastic state it applies to).
PLASTIC_STEPS = (("entregar", "RECIBIDA_EMPRESA"), ("recibir", "ENVIADA_EMPRESA"), ("enviar", "EN_ELABORACION"))


def _plastics(actor: _Actor) -> None:
    """At JAHC, the named cards' plastics move one step on: sent, received at the company, delivered."""
    user = actor.user("cards_user")
    if user is None:
        return
    for action, state in PLASTIC_STEPS:
        ids = [c.id for c in Card.select(Card.id).where((Card.product == actor.named) & (Card.plastic_status == state))]
        if ids:
            cards_service.advance_plastic(user, actor.named, ids, action, DEMO_PASSWORD)


def _card_events(actor: _Actor, index: int) -> list:
    """Consulta de tarjetas at JAHC: month 2 a temporary block, lifted in month 3; month 3 a
    loss block replaced by a new named card (a REP batch, returned to go through its order);
    month 4 a loss block of an innominate card, replaced at once from the stock."""
    user = actor.user("cards_user")
    if user is None:
        return []

    def change(product, card, action):
        (result,) = cards_service.change_state(user, product, [card.id], action, DEMO_PASSWORD)
        if not result.ok:
            raise RuntimeError(f"demo card change {action} refused: {result.message}")

    loaded = []
    if index == 1:
        card = _active(actor.named)[1]
        change(actor.named, card, "temporal")
        actor.blocked = card.id
    elif index == 2:
        change(actor.named, Card.get_by_id(actor.blocked), "desbloquear")
        card = _active(actor.named)[2]
        change(actor.named, card, "extravio")
        loaded.append(
            (actor, actor.named, replacement.with_new_card(user, actor.named, Card.get_by_id(card.id), DEMO_PASSWORD))
        )
    elif index == 3:
        card = _active(actor.unnamed)[0]
        change(actor.unnamed, card, "extravio")
        branch = replacement.stock_by_branch(actor.unnamed)[0].branch
        replacement.from_stock(user, actor.unnamed, Card.get_by_id(card.id), branch.code, DEMO_PASSWORD)
    return loaded
