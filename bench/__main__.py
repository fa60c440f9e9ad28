"""`make bench`: first the headline, what a user waits for through HTTP against the running
server (bench/journey.py: upload answer, time to "Válido", the whole EMI + REC journey of
100,000 people, on SQLite and PostgreSQL); then, as a breakdown, the in-process figures:
batch upload and validation figures for a 100,000-record EMI file, then the
service-order figures (processing 100,000 EMI and 100,000 REC records, the orders page with
10,000 orders, the order PDF), each bench in its own fresh process.

Prints the calamine parse time of the .xlsx alone, then for the .xlsx and the .csv the
end-to-end time from upload to final status (records stored) and records/s, each measured
in a fresh process so its memory peak is its own. Targets (2-core machine): xlsx end to end
≤ 2.5 × its parse time, csv ≤ 2 s, peak memory ≤ 500 MB. Then the hostile uploads (bench/hostile.py):
files built to keep the upload busy, each read in process and uploaded through HTTP to the app
running in its own process (beside a minimal page's answer); the worst answer ≤ 2 s.

    python -m bench [--records N] [--database-url URL] [--only viaje|paginas|lotes|ordenes|innominadas|maestra|tarjetas|reportes|hostiles]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_files(records: int, folder: Path) -> dict:
    from tests import batchfiles

    rows = batchfiles.emi_rows(records)
    xlsx = folder / "emision.xlsx"
    csv = folder / "emision.csv"
    xlsx.write_bytes(batchfiles.xlsx_bytes("EMI", rows))
    csv.write_bytes(batchfiles.csv_bytes("EMI", rows))
    return {"xlsx": xlsx, "csv": csv}


def measure_parse(path: str) -> dict:
    """calamine alone (the target's reference), then our read_batch (calamine + safety checks)."""
    import io

    import python_calamine

    from domain.batch_files import read_batch

    content = Path(path).read_bytes()
    start = time.perf_counter()
    rows = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    calamine = time.perf_counter() - start
    del rows
    start = time.perf_counter()
    sheet = read_batch(Path(path).name, content, "EMI", max_bytes=200 * 1024 * 1024, max_records=10**7)
    ours = time.perf_counter() - start
    return {"seconds": calamine, "read_batch": ours, "rows": len(sheet.rows), "peak_mb": _peak_mb()}


def measure_end_to_end(path: str, database_url: str) -> dict:
    """Upload (parse + store) and validate until the final status, as the app and the job do."""
    import models
    from app import create_app
    from models import Batch, BatchRecord
    from services import batches
    from tests.factories import make_company, make_product, make_user

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "BATCH_MAX_BYTES": 200 * 1024 * 1024,
            "BATCH_MAX_RECORDS": 10**7,
        }
    )
    models.db.connect(reuse_if_open=True)
    models.drop_all()
    models.upgrade()
    company = make_company("BENCH SAS", nit="900999999", branches=("1", "73"))
    product = make_product(company)
    user = make_user("bench", perms={product: "all"})
    content = Path(path).read_bytes()
    start = time.perf_counter()
    with app.test_request_context():
        batch = batches.upload(user, product, "EMI", Path(path).name, content)
    uploaded = time.perf_counter() - start
    with app.app_context():
        batches.validate_waiting()
    seconds = time.perf_counter() - start
    batch = Batch.get_by_id(batch.id)
    stored = BatchRecord.select().where(BatchRecord.batch == batch).count()
    models.drop_all()
    return {
        "seconds": seconds,
        "upload_seconds": uploaded,
        "status": batch.status,
        "records": batch.total_records,
        "stored": stored,
        "peak_mb": _peak_mb(),
    }


def _child(kind: str, path: str, database_url: str, runs: int = 3) -> dict:
    """Run one measurement `runs` times, each in a fresh process; keep the median run."""
    args = [sys.executable, "-m", "bench", "--child", kind, path, "--database-url", database_url]
    results = []
    for _ in range(runs):
        output = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    results.sort(key=lambda r: r["seconds"])
    median = results[len(results) // 2]
    median["peak_mb"] = max(r["peak_mb"] for r in results)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is shown)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        choices=("viaje", "paginas", "lotes", "ordenes", "innominadas", "maestra", "tarjetas", "reportes", "hostiles"),
        help="run only the HTTP journey, the pages under load, the batch, the order, the innominate-card, "
        "the master-account, the card-search (a million cards), the reports (a million ledger lines) or the "
        "hostile-file benches",
    )
    args = parser.parse_args()

    if args.child:
        kind, path = args.child
        result = measure_parse(path) if kind == "parse" else measure_end_to_end(path, args.database_url)
        print(json.dumps(result))
        return

    if args.only == "hostiles":
        hostile_bench()
        return
    if args.only == "innominadas":
        innominate_bench()
        return
    if args.only == "maestra":
        master_bench()
        return
    if args.only == "tarjetas":
        cards_bench()
        return
    if args.only == "reportes":
        reports_bench()
        return
    if args.only in (None, "viaje"):
        journey_bench(args)
        if args.only:
            return
    if args.only in (None, "paginas"):
        pages_bench()
        if args.only:
            return
    if args.only != "ordenes":
        batch_benches(args)
    if args.only != "lotes":
        order_benches(args)
    if args.only is None:
        innominate_bench()
        master_bench()
        cards_bench()
        reports_bench()


def cards_bench() -> None:
    """bench.cards_page in a fresh process: Consulta de tarjetas with 1,000,000 cards under wrk,
    on SQLite and (when its server answers) PostgreSQL."""
    print("\nConsulta de tarjetas con un millón de tarjetas (wrk, gunicorn con 2 workers)")
    urls = [""]
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
        urls.append(PG_URL)
    for url in urls:
        command = [sys.executable, "-m", "bench.cards_page", *(["--database-url", url] if url else [])]
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        print(output.rstrip())


def reports_bench() -> None:
    """bench.reports in a fresh process: Reportes > Cuenta maestra with 1,000,000 ledger lines (exports
    of 100,000 lines to Excel and PDF, the page under wrk), on SQLite and (when its server answers)
    PostgreSQL."""
    print("\nReportes: Cuenta maestra con un millón de líneas (exportaciones; página con wrk, gunicorn con 2 workers)")
    urls = [""]
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
        urls.append(PG_URL)
    for url in urls:
        command = [sys.executable, "-m", "bench.reports", *(["--database-url", url] if url else [])]
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        print(output.rstrip())


def master_bench() -> None:
    """bench.master_ops in a fresh process: 10,000 master-account operations from 8 clients over
    HTTP, on PostgreSQL (when its server answers) and SQLite."""
    print("\nCuenta maestra bajo carga (por HTTP, gunicorn + trabajos)")
    urls = ["sqlite:"]
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
        urls.insert(0, PG_URL)
    for url in urls:
        command = [sys.executable, "-m", "bench.master_ops", "--database-url", url]
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        print(output.rstrip())


def innominate_bench() -> None:
    """bench.innominate in a fresh process: request, process and affiliate 10,000 unnamed cards."""
    print("\nTarjetas innominadas (en proceso)")
    command = [sys.executable, "-m", "bench.innominate", "--records", "10000"]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    print(output.rstrip())


def order_benches(args) -> None:
    """Processing, orders page and PDF: each module's run() in a fresh process on a fresh database."""
    print("\nÓrdenes de servicio")
    url = ["--database-url", args.database_url] if args.database_url else []
    runs = (
        ("bench.processing", ["--records", str(args.records), *url]),
        ("bench.orders_page", url),
        ("bench.order_pdf", url[1:]),  # takes the URL as its only argument
    )
    for module, extra in runs:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", module, *extra]
            env = dict(os.environ, TMPDIR=tmp)
            output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, env=env).stdout
            print(output.rstrip())


def batch_benches(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database_url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        print(f"Generando archivos EMI de {args.records:,} registros…".replace(",", "."))
        files = make_files(args.records, folder)
        engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        parse = _child("parse", str(files["xlsx"]), database_url, args.runs)
        print(f"\nBase de datos: {engine}; mediana de {args.runs} ejecuciones, cada una en un proceso nuevo")
        print(f"xlsx: parse (calamine solo)   {parse['seconds']:6.2f} s")
        print(f"xlsx: read_batch (+ controles) {parse['read_batch']:5.2f} s   pico {parse['peak_mb']:5.0f} MB")
        results = {}
        for fmt in ("xlsx", "csv"):
            r = _child("e2e", str(files[fmt]), database_url, args.runs)
            results[fmt] = r
            rate = r["records"] / r["seconds"]
            print(
                f"{fmt}: carga→estado final      {r['seconds']:6.2f} s   ({r['upload_seconds']:.2f} s en la carga)"
                f"   {rate:8,.0f} registros/s   pico {r['peak_mb']:5.0f} MB   {r['status']}, {r['stored']:,} guardados".replace(
                    ",", "."
                )
            )
        ratio = results["xlsx"]["seconds"] / parse["seconds"]
        peak = max(r["peak_mb"] for r in results.values())
        print("\nObjetivos:")
        print(
            f"  xlsx extremo a extremo / parse calamine = {ratio:.2f} (≤ 2.5)   {'OK' if ratio <= 2.5 else 'NO CUMPLE'}"
        )
        csv_seconds = results["csv"]["seconds"]
        print(f"  csv extremo a extremo = {csv_seconds:.2f} s (≤ 2 s)   {'OK' if csv_seconds <= 2 else 'NO CUMPLE'}")
        print(f"  pico de memoria = {peak:.0f} MB (≤ 500 MB)   {'OK' if peak <= 500 else 'NO CUMPLE'}")
    hostile_bench()


PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pages_bench() -> None:
    """bench.load in a fresh process: wrk against the portal's pages and a minimal page, under
    gunicorn with 2 workers each, in the same run."""
    print("\nPáginas bajo carga (wrk, 16 conexiones; gunicorn con 2 workers)")
    command = [sys.executable, "-m", "bench.load"]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    print(output.rstrip())


def journey_bench(args) -> None:
    """The headline: what a user waits for, over HTTP against gunicorn + the jobs process, on
    SQLite and (when its server answers) PostgreSQL. The figures below it are the breakdown."""
    print("Lo que espera un usuario (por HTTP, servidor y trabajos como en producción)")
    urls = [""]
    # A PostgreSQL URL given to the bench is used in place (emptied, like the other benches
    # do); without one, the journey makes its own scratch database on the local server.
    given = args.database_url.startswith("postgres")
    pg = args.database_url if given else PG_URL
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
        urls.append(pg)
    for url in urls:
        command = [sys.executable, "-m", "bench.journey", "--records", str(args.records), "--database-url", url]
        if url and given:
            command.append("--in-place")
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        print(output.rstrip())
    print("\nDesglose en proceso (sin HTTP):")


def hostile_bench() -> None:
    """bench.hostile in a fresh process: each hostile upload in process and over HTTP, and the worst answer."""
    print()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "bench.hostile"]
        env = dict(os.environ, TMPDIR=tmp)
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, env=env).stdout
        print(output.rstrip())


if __name__ == "__main__":
    main()
