"""Cuenta maestra under load, over HTTP: 10,000 operations (credits, debits and balance
inquiries mixed, some refused for lack of balance or a blocked card) sent by 8 concurrent
clients to gunicorn (2 workers) + the jobs process, as deployed. Each request is one dialog
of the screen: «Abonar», «Cargar» or «Consultar saldo» for 10 marked cards, with the password.

    python -m bench.master_ops [--operations N] [--clients C] [--database-url URL]

It prints operations/s, the p50 and p95 latency of a request, the outcomes, and the result of
the ledger check (services/ledger_check.py), which must be exact. By default it runs on a
scratch database of the local PostgreSQL server (created and dropped); --database-url sqlite:
runs it on a temporary SQLite file.

The users' password is hashed with pbkdf2 (1,000 rounds) for the bench: every request checks
it, and the production hash (scrypt) is a deliberate cost of ~50 ms that would hide the rest.
"""

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.journey import Deployment, scratch_database  # noqa: E402
from tests.server import HttpClient, free_port  # noqa: E402

PASSWORD = "Bench*2024x"
PER_REQUEST = 10
CARDS = 400


def seed(database_url: str, clients: int) -> tuple[int, list[int]]:
    import models
    from app import create_app
    from bench.processing import _paid_order, _person, _process
    from models import Card
    from services import master
    from services.provisioning import create_branch, create_company, create_product, create_user_with_grants

    app = create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": "bench", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    )
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.drop_all()
        models.upgrade()
        company = create_company(nit="900888888", name="MAESTRA SAS", legal_name="MAESTRA SAS", opening_balance=10**15)
        create_branch(company, "1", "Principal")
        product = create_product(
            company, "Clásica / Visa", transfer_fee=5_500, inquiry_fee=6_000, daily_count_max=100_000,
            daily_amount_max=10**13, weekly_amount_max=10**14, operation_max=10**10, card_limit=10**11,
            fund_max=10**13, fund_daily_max=10**14, fund_monthly_max=10**15,
        )  # fmt: skip
        for i in range(clients):
            create_user_with_grants(
                f"tesorero{i}", "Tesorero", str(i), f"tesorero{i}@example.com", "", "", ["900888888:*:all"],
                password=PASSWORD, must_change=False, terms_accepted=True,
            )  # fmt: skip
        _process(_paid_order(product, "EMI", [_person(i) for i in range(CARDS)], "99020101"))
        user = models.User.get(models.User.username == "tesorero0")
        master.fund_without_code(user, product, 5 * 10**10, "Fondeo del benchmark")
        cards = [c.id for c in Card.select(Card.id).where(Card.product == product).order_by(Card.id)]
        blocked = cards[:: CARDS // 8]  # a few blocked cards: their operations are refused
        Card.update(status="BLOQUEO_TEMPORAL").where(Card.id.in_(blocked)).execute()
        models.db.close()
    return product.id, cards


def _htmx_post(client, path, data):
    """POST as the page's htmx does: the answer is the result dialog."""
    from urllib.error import HTTPError
    from urllib.parse import urlencode
    from urllib.request import Request

    request = Request(
        f"{client.base_url}{path}", data=urlencode(data, doseq=True).encode(), headers={"HX-Request": "true"}
    )
    try:
        with client.opener.open(request, timeout=300) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def client_loop(url, username, product_id, cards, requests, latencies, outcomes, lock, seed_value):
    rng = random.Random(seed_value)
    client = HttpClient(url)
    assert client.login(username, PASSWORD) == 302, username
    base = f"/productos/{product_id}/cuenta-maestra"
    _status, html = client.request("GET", base)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    for _ in range(requests):
        action = rng.choice(("abonar", "abonar", "cargar", "consultar"))
        marked = rng.sample(cards, PER_REQUEST)
        amount = rng.choice(("10.000", "25.000", "80.000"))
        form = {"csrf_token": token, "marcada": [str(c) for c in marked], "monto_todas": amount, "password": PASSWORD,
                "clave": f"{seed_value:04d}{rng.getrandbits(64):016x}"}  # fmt: skip
        start = time.perf_counter()
        status, body = _htmx_post(client, f"{base}/operacion/{action}", form)
        elapsed = time.perf_counter() - start
        found = re.findall(
            r"· (Transacción exitosa|Saldo insuficiente|Límite excedido|Tarjeta bloqueada|No fue posible realizar la transacción)",
            body,
        )  # noqa: E501
        with lock:
            latencies.append(elapsed)
            if status not in (200, 302) or len(found) != PER_REQUEST:
                outcomes["HTTP " + str(status)] = outcomes.get("HTTP " + str(status), 0) + 1
            for outcome in found:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1


def run(database_url: str, operations: int, clients: int) -> list[str]:
    product_id, cards = seed(database_url, clients)
    requests = max(1, operations // (PER_REQUEST * clients))
    latencies, outcomes, lock = [], {}, threading.Lock()
    with Deployment(database_url, free_port()) as deployment:
        threads = [
            threading.Thread(
                target=client_loop,
                args=(deployment.url, f"tesorero{i}", product_id, cards, requests, latencies, outcomes, lock, i),
            )
            for i in range(clients)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    import models
    from app import create_app
    from services import ledger_check

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        problems = ledger_check.check()
        done = models.MasterOperation.select().where(models.MasterOperation.kind != "FONDEO").count()
        models.db.close()
    total = sum(outcomes.values())
    quantiles = statistics.quantiles(latencies, n=20)
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    lines = [
        f"Cuenta maestra por HTTP ({engine}; {clients} clientes, {PER_REQUEST} tarjetas por solicitud)",
        f"  {total:,} operaciones en {seconds:.1f} s: {total / seconds:,.0f} operaciones/s".replace(",", "."),
        f"  solicitud: p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {quantiles[18] * 1000:.0f} ms",
        "  resultados: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
        f"  registradas: {done} (una por operación: {'OK' if done == total else 'NO CUMPLE'})",
        "  libro contable: " + ("correcto" if not problems else f"{len(problems)} problema(s): {problems[:3]}"),
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url, Path(tmp)) as url:
        for line in run(url, args.operations, args.clients):
            print(line)


if __name__ == "__main__":
    main()
