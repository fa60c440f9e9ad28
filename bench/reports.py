"""Reportes > Cuenta maestra with a million ledger lines: the exports and the on-screen page.

1. Exports of 100,000 ledger lines (Rango de fechas over 8 of the 80 days loaded) to Excel and
   to PDF through `exports.build(..., streaming=True)`, the export job's path, each in a fresh
   process: rows/s and the process's peak RSS (VmHWM at its end, so the interpreter, the app
   and the database driver are counted). Targets: Excel ≥ 8,000 rows/s, PDF ≥ 2,000 rows/s,
   peak ≤ 300 MB.
2. The report page (/productos/<id>/reportes/cuenta-maestra, default criteria: the last
   quarter, every line) under gunicorn with 2 workers, its second page (the «despues» link of
   the first page's pager) and a page in the middle (the same cursor, half-way through the
   lines), beside the minimal page (bench/minimal_app.py) and, for reference, the portal's
   catalog of reports (no report query: what the portal's session, menu and layout cost), in
   the same run. wrk (16 connections, 10 s a page) prints requests/s and, through a Lua `done`
   hook, the p95. Targets: ≥ 70 % of the minimal page's requests/s, p95 within 1.5× of its
   p95. The first request, before any other, is timed alone: it sums every line of the
   quarter (the kept sums of services.reports._line_sums are computed then, per worker).

    python -m bench.reports [--postings N] [--seconds S] [--database-url URL] [--in-place] [--explain]

It runs on a temporary SQLite file, or on a scratch database of the PostgreSQL server named by
--database-url (created and dropped); with --in-place on the URL's database itself, emptied
first (every table dropped). The lines are written straight into the tables (one operation
and one posting each, by COPY on PostgreSQL), the way the master-account operations would have
left them on the master account: keys "maestra:bench<N>" (and "fondeo:bench<N>" for the
fundings), a running balance_after, created_at increasing with the id, 12,500 lines on each of
the last 80 Bogotá days. Only the master account's side is written (no counter-postings): the
report reads that account alone, so the ledger check would not balance on this database.
"""

import argparse
import html
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cards_page import P95_LUA, P95_RATIO, SHARE  # noqa: E402
from bench.journey import scratch_database  # noqa: E402
from bench.load import check_page, gunicorn, login  # noqa: E402

DAYS = 80
EXPORT_FIRST_DAY, EXPORT_DAYS = 10, 8  # the exported range: days 10-17 of the 80 (12,500 lines each)
NIT, USERNAME, PASSWORD = "900777777", "auditora", "Reportes*2024x"
KIND = "reporte-cuenta-maestra"
TARGETS = {"xlsx": 8_000, "pdf": 2_000}
PEAK_MB = 300
STEP = 50_000


def _day_counts(postings: int) -> list[int]:
    base, extra = divmod(postings, DAYS)
    return [base + (1 if i < extra else 0) for i in range(DAYS)]


def _line(n: int) -> tuple[str, str, int]:
    """(key, description, amount in centavos seen from the master account) of line n."""
    k = n % 50
    if k == 0:
        return f"fondeo:bench{n}", "Recarga cuenta maestra", 300_000_000
    last4 = f"{1000 + (n * 7919) % 9000:04d}"
    if k % 10 == 1:
        return f"maestra:bench{n}:comision", "Débito por comisión de servicio: abono", -550_000
    if k % 5 == 4:
        return f"maestra:bench{n}", f"Cargo a tarjeta •••• {last4}", (5_000 + (n * 53) % 40 * 1_000) * 100
    return f"maestra:bench{n}", f"Abono a tarjeta •••• {last4}", -(10_000 + (n * 37) % 90 * 1_000) * 100


def seed(database_url: str, postings: int) -> dict:
    """A company, its product, a user holding reports.view on it, and `postings` lines on the
    product's master account."""
    from peewee import fn

    import ledger
    import models
    from app import create_app
    from bulk import insert_rows, is_sqlite
    from domain.clock import local_today
    from models import LedgerAccount, LedgerOperation, LedgerPosting
    from services.orders import utc_bound
    from services.provisioning import create_branch, create_company, create_product, create_user_with_grants

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.drop_all()
        models.upgrade()
        company = create_company(nit=NIT, name="REPORTES SAS", legal_name="REPORTES SAS")
        create_branch(company, "1", "Principal")
        product = create_product(company, "Clásica / Visa")
        create_user_with_grants(
            USERNAME, "Auditora", "Bench", "auditora@example.com", "", "", [f"{NIT}:*:reports.view"],
            password=PASSWORD, must_change=False, terms_accepted=True,
        )  # fmt: skip
        account = ledger.master_account(product)
        today = local_today()
        first_day = today - timedelta(days=DAYS)
        first_op = (LedgerOperation.select(fn.MAX(LedgerOperation.id)).scalar() or 0) + 1
        first_posting = (LedgerPosting.select(fn.MAX(LedgerPosting.id)).scalar() or 0) + 1
        start = time.perf_counter()
        # Each line's timestamp (naive UTC text), day by day: a line every 86,400 / count seconds.
        stamps = []
        for day, count in enumerate(_day_counts(postings)):
            midnight = utc_bound(first_day + timedelta(days=day))
            stamps += [(midnight + timedelta(seconds=i * 86_400 // count)).strftime("%Y-%m-%d %H:%M:%S")
                       for i in range(count)]  # fmt: skip
        balance, lowest = 0, 0
        for base in range(0, postings, STEP):
            operations, lines = [], []
            for n in range(base, min(base + STEP, postings)):
                key, description, amount = _line(n)
                balance += amount
                lowest = min(lowest, balance)
                operations.append((first_op + n, key, description, stamps[n]))
                lines.append((first_posting + n, first_op + n, account.id, amount, balance, stamps[n]))
            with models.db.atomic():
                insert_rows("ledger_operation", ("id", "key", "description", "created_at"), operations, nulls=False)
                insert_rows(
                    "ledger_posting", ("id", "operation_id", "account_id", "amount", "balance_after", "created_at"),
                    lines, nulls=False,
                )  # fmt: skip
        assert lowest >= 0, "the bench's running balance went negative"
        LedgerAccount.update(balance=balance).where(LedgerAccount.id == account.id).execute()
        if not is_sqlite():
            for table in ("ledger_operation", "ledger_posting"):
                models.db.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # fmt: skip # noqa: E501
            models.db.execute_sql("ANALYZE")  # what autovacuum does after a big load
        seconds = time.perf_counter() - start
        models.db.close()
    export_from = first_day + timedelta(days=EXPORT_FIRST_DAY)
    export_to = export_from + timedelta(days=EXPORT_DAYS - 1)
    expected = sum(_day_counts(postings)[EXPORT_FIRST_DAY : EXPORT_FIRST_DAY + EXPORT_DAYS])
    return {
        "product": product.id,
        "first_posting": first_posting,
        "postings": postings,
        "seconds": seconds,
        "export_params": {
            "periodo": "rango",
            "fecha_inicial": export_from.strftime("%d/%m/%Y"),
            "fecha_final": export_to.strftime("%d/%m/%Y"),
        },
        "export_rows": expected,
    }


# ---------------------------------------------------------------- exports (a fresh process each)


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM of /proc/self/status. Not getrusage's
    ru_maxrss: Linux carries that across fork and exec, so a child started by a parent holding
    300 MB would report at least 300 MB whatever it did."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def measure_export(database_url: str, product_id: int, params: dict, fmt: str) -> dict:
    """In this (fresh) process: the export job's build of the report, timed; the peak RSS."""
    import models
    from app import create_app
    from models import Product
    from services import exports

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        product = Product.get_by_id(product_id)
        before_mb = _peak_rss_mb()
        progressed = [0]
        start = time.perf_counter()
        content, rows = exports.build(
            exports.get(KIND), product, params, streaming=True, fmt=fmt, progress=lambda n: progressed.__setitem__(0, n)
        )  # fmt: skip
        seconds = time.perf_counter() - start
        models.db.close()
    peak_mb = _peak_rss_mb()
    magic = {"xlsx": b"PK", "pdf": b"%PDF"}[fmt]
    return {"seconds": seconds, "rows": rows, "bytes": len(content), "peak_mb": peak_mb, "before_mb": before_mb,
            "progress": progressed[0], "valid": content.startswith(magic)}  # fmt: skip


def _export_child(database_url: str, ids: dict, fmt: str) -> dict:
    command = [sys.executable, "-m", "bench.reports", "--child", fmt, "--database-url", database_url,
               "--product", str(ids["product"]), "--params", json.dumps(ids["export_params"])]  # fmt: skip
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _n(value: float) -> str:
    """A whole number with the thousands separated as in Colombia (1.000.000)."""
    return f"{value:,.0f}".replace(",", ".")


def export_lines(database_url: str, ids: dict) -> list[str]:
    dates = ids["export_params"]
    lines = [
        f"  Exportación de {_n(ids['export_rows'])} líneas (rango {dates['fecha_inicial']} – {dates['fecha_final']})"
        " con exports.build(streaming=True), cada una en un proceso nuevo; pico = VmHWM del proceso",
    ]
    for fmt, name in (("xlsx", "Excel"), ("pdf", "PDF")):
        r = _export_child(database_url, ids, fmt)
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0.0
        rate_ok = rate >= TARGETS[fmt]
        peak_ok = r["peak_mb"] <= PEAK_MB
        wrong = (
            ""
            if r["rows"] == ids["export_rows"] and r["valid"]
            else f" (¡{r['rows']} filas, archivo válido: {r['valid']}!)"
        )
        lines.append(
            f"  {name:5}: {_n(r['rows'])} filas en {r['seconds']:.1f} s = {_n(rate)} filas/s (≥ {_n(TARGETS[fmt])}) "
            f"{'PASS' if rate_ok else 'FAIL'}; pico {r['peak_mb']:.0f} MB (≤ {PEAK_MB}; {r['before_mb']:.0f} MB antes "
            f"de construir) {'PASS' if peak_ok else 'FAIL'}; archivo de {r['bytes'] / 1e6:.1f} MB{wrong}"
        )
    return lines


# ---------------------------------------------------------------- the page under load


def wrk(url: str, seconds: float, cookie: str = "", connections: int = 16) -> dict:
    """bench.cards_page's wrk (req/s, p95 by the Lua hook) with a 10 s timeout instead of 2 s,
    so a slow page's answers are counted in its latency; also the requests that timed out."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(P95_LUA)
    command = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", script.name, url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    Path(script.name).unlink()
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p95": int(re.search(r"P95_US (\d+)", output).group(1)) / 1000,
        "non2xx": int(bad.group(1)) if bad else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def _get(url: str, cookie: str) -> tuple[float, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    start = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        body = response.read().decode()
        assert response.status == 200 and response.url == url, (url, response.status, response.url)
    return time.perf_counter() - start, body


def _settle(portal: str, cookie: str) -> None:
    """Wait until both workers are idle: wrk leaves its last requests queued in gunicorn (a
    slow page's take seconds to drain), which would land on the next measurement."""
    deadline = time.monotonic() + 120
    quick = 0
    while quick < 4 and time.monotonic() < deadline:
        seconds, _body = _get(f"{portal}/empresas", cookie)
        quick = quick + 1 if seconds < 0.05 else 0


def page_lines(database_url: str, ids: dict, seconds: float) -> list[str]:
    from bench import minimal_app

    minimal_app.prepare(database_url)
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "bench-reports", "DEMO_MODE": "0", "SESSION_COOKIE_SECURE": "0",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    base = f"/productos/{ids['product']}/reportes/cuenta-maestra"
    with gunicorn("app:create_app()", ROOT, env) as portal, gunicorn("bench.minimal_app:app", ROOT, env) as floor:
        cookie = login(portal, USERNAME, PASSWORD)
        cold, body = _get(portal + base, cookie)  # the first request: the whole quarter summed
        summary = re.search(r"Mostrando registro\(s\)[^<]*", body)
        link = next((html.unescape(h) for h in re.findall(r'href="([^"]*despues=[^"]*)"', body)), None)
        assert link, "no «despues» link in the first page's pager"
        second = link if link.startswith("/") else f"{base}{link}" if link.startswith("?") else link
        middle_id = ids["first_posting"] + ids["postings"] // 2 - 1
        middle = re.sub(r"despues=\d+", f"despues={middle_id}", second)
        middle = re.sub(r"pagina=\d+", f"pagina={ids['postings'] // 20 + 1}", middle)
        middle = re.sub(r"&saltar=\d+", "", middle)
        number = re.search(r"pagina=(\d+)", second)
        pages = [("primera página", base), (f"página {number.group(1) if number else '?'} (cursor del paginador)", second),
                 (f"página {_n(ids['postings'] // 20 + 1)} (cursor)", middle)]  # fmt: skip
        reference = ("catálogo de reportes (referencia)", f"/productos/{ids['product']}/reportes/catalogo")
        targets = [("página mínima", f"{floor}/", "")]
        targets += [(name, portal + path, cookie) for name, path in [reference, *pages]]
        firsts = {}
        for name, url, page_cookie in targets:
            if page_cookie:
                firsts[name] = _get(url, page_cookie)[0]  # one request per page, then 1 s of wrk
                check_page(url, page_cookie)
            wrk(url, 1, page_cookie)  # warm-up: both workers, their kept sums
            _settle(portal, cookie)
        results = []
        for name, url, page_cookie in targets:
            results.append((name, wrk(url, seconds, page_cookie)))
            _settle(portal, cookie)
    minimal = results[0][1]
    lines = [
        f"  Página del reporte ({summary.group(0).strip() if summary else 'sin resumen'}); wrk -c16 {int(seconds)} s,"
        " gunicorn -w 2",
        f"  primera solicitud (en frío: suma de todas las líneas del trimestre): {_n(cold * 1000)} ms",
        "  primeras solicitudes tras ella: " + ", ".join(f"{name} {ms * 1000:.0f} ms" for name, ms in firsts.items()),
        "  | página | req/s | parte de la mínima (≥ 70 %) | p95 | p95 / mínima (≤ 1,5) |",
        "  |---|---|---|---|---|",
    ]
    for name, r in results:
        share = r["rps"] / minimal["rps"] if minimal["rps"] else 0
        ratio = r["p95"] / minimal["p95"] if minimal["p95"] else 0
        bad = f" ({r['non2xx']} no 2xx)" if r["non2xx"] else ""
        bad += f" ({r['timeouts']} sin respuesta en 10 s)" if r["timeouts"] else ""
        if name == "página mínima":
            lines.append(f"  | {name} | {r['rps']:.0f} | — | {r['p95']:.1f} ms | — |{bad}")
            continue
        if name.endswith("(referencia)"):  # not a target: what any page of the portal costs
            lines.append(f"  | {name} | {r['rps']:.0f} | {share:.0%} | {r['p95']:.1f} ms | {ratio:.2f} |{bad}")
            continue
        lines.append(
            f"  | {name} | {r['rps']:.0f} | {share:.0%} {'PASS' if share >= SHARE else 'FAIL'} | {r['p95']:.1f} ms "
            f"| {ratio:.2f} {'PASS' if ratio <= P95_RATIO else 'FAIL'} |{bad}"
        )
    return lines


def explain_lines(database_url: str, ids: dict) -> list[str]:
    """The plan of the page's query (first page, and the page in the middle by its cursor)."""
    import models
    from app import create_app
    from bulk import is_sqlite
    from models import LedgerPosting, Product
    from services import reports

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    lines = []
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        table = reports.get("cuenta-maestra").build(Product.get_by_id(ids["product"]), {})
        middle_id = ids["first_posting"] + ids["postings"] // 2 - 1
        for name, query in (
            ("primera página", table.query.order_by(LedgerPosting.id).limit(10)),
            ("página del medio", table.query.where(LedgerPosting.id > middle_id).order_by(LedgerPosting.id).limit(10)),
        ):
            sql, params = query.sql()
            lines.append(f"  Plan ({name}):")
            if is_sqlite():
                rows = models.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
                lines += [f"    {row[-1]}" for row in rows]
            else:
                rows = models.db.execute_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()
                lines += [f"    {row[0]}" for row in rows]
        models.db.close()
    return lines


def run(database_url: str, postings: int, seconds: float, explain: bool = False) -> list[str]:
    started = time.perf_counter()
    ids = seed(database_url, postings)
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    lines = [
        f"Reporte Cuenta maestra con {postings:,} líneas ({engine}; carga de datos {ids['seconds']:.0f} s)".replace(
            ",", "."
        )
    ]  # noqa: E501
    lines += export_lines(database_url, ids)
    lines += page_lines(database_url, ids, seconds)
    if explain:
        lines += explain_lines(database_url, ids)
    lines.append(f"  (duración total {time.perf_counter() - started:.0f} s)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--in-place", action="store_true", help="use the URL's PostgreSQL database itself, emptied")
    parser.add_argument("--explain", action="store_true", help="also print the plan of the page's query")
    parser.add_argument("--child", choices=("xlsx", "pdf"), help=argparse.SUPPRESS)
    parser.add_argument("--product", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_export(args.database_url, args.product, json.loads(args.params), args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url, Path(tmp), args.in_place) as url:
        for line in run(url, args.postings, args.seconds, args.explain):
            print(line, flush=True)


if __name__ == "__main__":
    main()
