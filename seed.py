"""Demo data (`flask seed-demo`, run by `make run` on an empty database)."""

from decimal import Decimal

from models import Card, Company, MasterOperation, Product, User, db
from services import authorization, innominate, master, orders, processing
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


def seed():
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
    _demo_stock("JAHC TECHNOLOGIES", "jhomez", None, "jhomez")
    _demo_stock("EMPRESA DE PRUEBA COOP", "firmante", "firmante", "autorizador")
    _demo_master_accounts("JAHC TECHNOLOGIES", "jhomez")
    _demo_master_accounts("EMPRESA DE PRUEBA COOP", "autorizador")


# The demo's master accounts: funded from the company's bank, and the affiliated stock cards
# credited from them (centavos).
MASTER_FUNDING = 200_000_000  # $ 2.000.000,00 per product
CARD_CREDITS = (15_000_000, 8_000_000, 2_500_000)


def _demo_master_accounts(company_name, username):
    user = User.get(User.username == username)
    for product in Product.select().join(Company).where(Company.name == company_name).order_by(Product.id):
        master.fund_without_code(user, product, MASTER_FUNDING, "Fondeo inicial de la demostración")
        cards = list(master.cards(product, master.Criteria()).order_by(Card.id))
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
