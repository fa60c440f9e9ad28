"""Órdenes de servicio page with 10,000 orders in the database: p95 of the server time of a
page request (logged-in user, through the whole Flask stack). Target: p95 ≤ 50 ms.

    python -m bench.orders_page [--orders N] [--requests N] [--database-url URL]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 50


def _orders(product, user, count: int) -> None:
    """`count` orders of one product spread over 60 days, in every status, inserted in bulk."""
    from datetime import timedelta

    import models
    from models import ServiceOrder

    statuses = ["PENDIENTE_PAGO", "EN_PROCESO", "PROCESADO", "ANULADO"]
    now = models.utcnow()
    rows = [
        {
            "company": product.company_id,
            "product": product.id,
            "kind": "EMI",
            "status": statuses[i % 4],
            "commission": 503_000 + i,
            "iva": 95_570,
            "os_total": 598_570 + i,
            "total_to_pay": 598_570 + i,
            "deposited": 598_570 if i % 4 in (1, 2) else 0,
            "iva_rate": "0.19",
            "records": 3,
            "authorized_by": user.id,
            "created_at": now - timedelta(minutes=9 * i),
        }
        for i in range(count)
    ]
    with models.db.atomic():
        for start in range(0, len(rows), 1000):
            ServiceOrder.insert_many(rows[start : start + 1000]).execute()


def run(database_url: str, orders: int = 10_000, requests: int = 200) -> list[str]:
    import models
    from app import create_app
    from tests.factories import PASSWORD, make_company, make_product, make_user

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False})
    models.db.connect(reuse_if_open=True)
    models.drop_all()
    models.upgrade()
    company = make_company("BENCH SAS", nit="900999998")
    product = make_product(company)
    user = make_user("bench", perms={product: "all"})
    # another company's orders share the table, as in production
    other = make_product(make_company("OTRA SAS", nit="900999997"))
    _orders(product, user, orders)
    _orders(other, user, orders // 2)
    models.db.close()

    client = app.test_client()
    html = client.get("/ingresar").get_data(as_text=True)
    token = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    client.post("/ingresar", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
    base = f"/productos/{product.id}/ordenes"
    urls = [
        base,
        f"{base}?pagina=2",
        f"{base}?pagina=500",
        f"{base}?periodo=10",
        f"{base}?estado=PROCESADO",
        f"{base}?periodo=5&estado=PENDIENTE_PAGO&pagina=3",
    ]
    for url in urls:  # warm-up: templates compiled, caches filled
        assert client.get(url).status_code == 200
    times = {url: [] for url in urls}
    for i in range(requests):
        url = urls[i % len(urls)]
        start = time.perf_counter()
        response = client.get(url)
        times[url].append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    all_times = sorted(t for ts in times.values() for t in ts)
    p95 = all_times[int(len(all_times) * 0.95) - 1]
    models.db.connect(reuse_if_open=True)
    models.drop_all()
    models.db.close()
    count = f"{orders:,}".replace(",", ".")
    lines = [
        f"Órdenes de servicio con {count} órdenes: {requests} solicitudes, mediana "
        f"{statistics.median(all_times):.1f} ms, p95 {p95:.1f} ms (≤ {TARGET_MS} ms)   "
        f"{'OK' if p95 <= TARGET_MS else 'NO CUMPLE'}"
    ]
    for url in urls:
        lines.append(
            f"    {url.replace(base, '…/ordenes') or '…/ordenes'}: p95 {sorted(times[url])[int(len(times[url]) * 0.95) - 1]:.1f} ms"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        for line in run(url, args.orders, args.requests):
            print(line)


if __name__ == "__main__":
    main()
