"""Consulta de tarjetas with a million cards, under load: the search page (first page, by
document, by the last 4 digits, and one 5,000 pages deep through its cursor) beside the
minimal indexed page (bench/minimal_app.py), both under gunicorn with 2 workers, in the same run.
wrk (16 connections, 10 s a page) prints requests/s and, through a Lua `done` hook, the p95.
Targets: every page ≥ 70 % of the minimal page's requests/s and its p95 within 1.5× of the
minimal page's p95.

    python -m bench.cards_page [--cards N] [--seconds S] [--database-url URL]

It runs on a temporary SQLite file, or on a scratch database of the PostgreSQL server named
by --database-url (created and dropped). The cards are written straight into the tables
(persons, cards with their last 4 digits), the way processing would have left them.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.journey import scratch_database  # noqa: E402
from bench.load import check_page, gunicorn, login  # noqa: E402

P95_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("P95_US %d\\n", latency:percentile(95)))
end
"""
SHARE, P95_RATIO = 0.70, 1.5


def seed(database_url: str, cards: int) -> dict:
    """The demo (users, companies) plus `cards` cards with holders on JAHC's named product."""
    from peewee import fn

    import models
    import seed as demo
    from adapters.processor import PERSON_COLUMNS
    from app import create_app
    from bulk import insert_rows
    from domain.cards import make_pan, mask
    from models import Company, Product

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.drop_all()
        models.upgrade()
        demo.seed()
        product = Product.select().join(Company).where((Company.nit == "900291499") & (Product.named == True)).get()  # noqa: E712
        first_person = (models.Person.select(fn.MAX(models.Person.id)).scalar() or 0) + 1
        first_card = (models.Card.select(fn.MAX(models.Card.id)).scalar() or 0) + 1
        start = time.perf_counter()
        step = 50_000
        for base in range(0, cards, step):
            n = min(step, cards - base)
            with models.db.atomic():
                people = []
                for i in range(n):
                    values = dict.fromkeys(PERSON_COLUMNS, "")
                    values.update(id_type="CC", id_number=str(70_000_000 + base + i), first_name="ANA",
                                  first_surname="ROJAS", email=f"p{base + i}@example.com", mobile="3001234567",
                                  birth_date=None)  # fmt: skip
                    people.append((first_person + base + i, *values.values(), "2026-01-01 00:00:00"))
                insert_rows("person", ("id", *PERSON_COLUMNS, "created_at"), people)
                rows = []
                for i in range(n):
                    serial = 1_000_000 + base + i
                    masked = mask(make_pan(product.bin, serial))
                    rows.append((first_card + base + i, product.id, first_person + base + i, masked, "ACTIVA",
                                 "2026-01-01 00:00:00", serial, masked[-4:], "EN_ELABORACION", "", "", ""))  # fmt: skip
                insert_rows(
                    "card",
                    ("id", "product_id", "person_id", "masked_pan", "status", "created_at", "serial", "last4",
                     "plastic_status", "emboss_line1", "emboss_line2", "replaced_reason"),
                    rows,
                )  # fmt: skip
        if not database_url.startswith("sqlite"):
            models.db.execute_sql("ANALYZE")
        seconds = time.perf_counter() - start
        newest = models.Card.select(fn.MAX(models.Card.id)).scalar()
        models.db.close()
    return {"product": product.id, "newest": newest, "document": str(70_000_000 + cards // 2), "seconds": seconds}


def wrk(url: str, seconds: float, cookie: str = "", connections: int = 16) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(P95_LUA)
    command = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script.name, url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    Path(script.name).unlink()
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p95": int(re.search(r"P95_US (\d+)", output).group(1)) / 1000,
        "non2xx": int(bad.group(1)) if bad else 0,
    }


def run(database_url: str, cards: int, seconds: float) -> list[str]:
    from bench import minimal_app

    ids = seed(database_url, cards)
    minimal_app.prepare(database_url)
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "bench-cards", "DEMO_MODE": "0", "SESSION_COOKIE_SECURE": "0",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    base = f"/productos/{ids['product']}/tarjetas"
    deep = ids["newest"] - 5_000 * 10 + 1  # the last card of page 5.000, newest first
    pages = [
        ("primera página", base),
        ("por documento", f"{base}?documento={ids['document']}"),
        ("por últimos 4 dígitos", f"{base}?tarjeta=1234"),
        ("página 5.001 (cursor)", f"{base}?despues={deep}&pagina=5001"),
    ]
    with gunicorn("app:create_app()", ROOT, env) as portal, gunicorn("bench.minimal_app:app", ROOT, env) as floor:
        cookie = login(portal, "jhomez", "Empresas*24")
        targets = [("página mínima", f"{floor}/", "")] + [(name, portal + path, cookie) for name, path in pages]
        for _name, url, page_cookie in targets:
            if page_cookie:
                check_page(url, page_cookie)
            wrk(url, 1, page_cookie)  # warm-up
        results = [(name, wrk(url, seconds, page_cookie)) for name, url, page_cookie in targets]
    minimal = results[0][1]
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    lines = [
        f"Consulta de tarjetas con {cards:,} tarjetas ({engine}; carga de datos {ids['seconds']:.0f} s)".replace(
            ",", "."
        ),
        "| página | req/s | parte de la mínima | p95 | p95 / mínima |",
        "|---|---|---|---|---|",
    ]
    for name, r in results:
        share, ratio = r["rps"] / minimal["rps"], r["p95"] / minimal["p95"] if minimal["p95"] else 0
        flags = ("" if share >= SHARE else " ✗") + ("" if ratio <= P95_RATIO else " ✗")
        bad = f" ({r['non2xx']} no 2xx)" if r["non2xx"] else ""
        lines.append(f"| {name} | {r['rps']:.0f} | {share:.0%} | {r['p95']:.1f} ms | {ratio:.2f}{flags} |{bad}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url, Path(tmp)) as url:
        for line in run(url, args.cards, args.seconds):
            print(line)


if __name__ == "__main__":
    main()
