"""Time the ORDEN DE SERVICIO PDF (services/order_pdf.py) for orders of 3 and 20 batches.

Each order mixes EMI and REC batches, so the PDF has all its tables (lotes, distribución,
comisión por recargas); its figures come from domain/fees.py as authorization computes them.
The median of 20 runs after one warm-up; target ≤ 150 ms.

    python -m bench.order_pdf [DATABASE_URL]    (default: a temporary SQLite file)

The database is emptied (models.drop_all) before and after: never point it at one in use.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH_COUNTS = (3, 20)
RUNS = 20
TARGET_MS = 150
RECORDS = 25  # per batch


def _make_order(company, product, user, batches: int, first_number: int):
    """An authorized order of `batches` batches, alternately EMI and REC, with fee figures."""
    from domain.fees import BatchInput, FeeSchedule, quote_order
    from domain.layouts import BatchKind
    from models import Batch, ServiceOrder, db
    from services.authorization import batch_figures, order_figures

    inputs = []
    for i in range(batches):
        kind = BatchKind.EMI if i % 2 == 0 else BatchKind.REC
        amounts = [10_000_000 + 137 * r for r in range(RECORDS)] if kind is BatchKind.REC else [0] * RECORDS
        inputs.append(BatchInput(number=f"{first_number + i:08d}", kind=kind, amounts=amounts))
    quote = quote_order(inputs, FeeSchedule.from_product(product))
    with db.atomic():
        order = ServiceOrder.create(
            company=company, product=product, status=ServiceOrder.PENDING_PAYMENT, authorized_by=user,
            **order_figures(quote),
        )  # fmt: skip
        for cost in quote.batches:
            Batch.create(
                company=company, product=product, number=cost.number, kind=cost.kind, status=Batch.IN_ORDER,
                total_records=cost.records, valid_records=cost.records, amount=cost.amount, uploaded_by=user,
                order=order, **batch_figures(cost),
            )  # fmt: skip
    return order


def run(database_url: str) -> list[str]:
    """Build the orders in a fresh database at `database_url` and time order_pdf on each."""
    from decimal import Decimal

    import models
    from app import create_app
    from models import ServiceOrder
    from services.order_pdf import order_pdf
    from tests.factories import make_company, make_product, make_user

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench", "DEMO_MODE": False})
    models.db.connect(reuse_if_open=True)
    try:
        models.drop_all()
        models.upgrade()
        company = make_company("BENCH ORDENES SAS", nit="900888777")
        product = make_product(
            company,
            card_price_named=1_000_000,
            distribution_cost=2_500_000,
            recharge_rate=Decimal("0.01"),
            recharge_min=50_000,
        )
        user = make_user("bench.ordenes", perms={product: "all"})
        lines = []
        with app.app_context():
            for n, batches in enumerate(BATCH_COUNTS):
                order = _make_order(company, product, user, batches, first_number=26000000 + 1000 * n)
                order = ServiceOrder.get_by_id(order.id)  # as the route loads it
                order_pdf(order)  # warm-up: imports, fonts, template compilation
                times = []
                for _ in range(RUNS):
                    start = time.perf_counter()
                    order_pdf(order)
                    times.append((time.perf_counter() - start) * 1000)
                median = statistics.median(times)
                verdict = "OK" if median <= TARGET_MS else "NO CUMPLE"
                lines.append(
                    f"PDF orden de servicio ({batches} lotes): {median:.0f} ms (mediana de {RUNS}; "
                    f"objetivo ≤ {TARGET_MS} ms: {verdict})"
                )
        return lines
    finally:
        models.drop_all()
        models.db.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tmp) / 'bench_order_pdf.db'}"
        for line in run(url):
            print(line)
