"""Demo data (`flask seed-demo`, run by `make run` on an empty database)."""

from decimal import Decimal

from models import db
from services.provisioning import create_branch, create_company, create_product, create_user_with_grants

DEMO_PASSWORD = "Empresas*24"

DEMO_USERS_TEXT = """
Usuarios de demostración ({base_url}):
  jhomez       Empresas*24   JAHC TECHNOLOGIES, todos los permisos
  firmante     Empresas*24   EMPRESA DE PRUEBA COOP: cargar, confirmar, eliminar, firmar, ver órdenes
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
            ["9013434540:*:batch.upload,batch.confirm,batch.delete,batch.sign,order.view"],
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
