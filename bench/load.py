"""Pages under load: the portal under gunicorn (2 workers) beside a minimal Flask + peewee page
(bench/minimal_app.py) under gunicorn (2 workers), in the same run, on the demo database
(seed.seed() plus batches, records and service orders). Each page is hit by wrk (16
connections, 10 s) with a logged-in user's session cookie; prints, per page, req/s, its share of
the minimal page's req/s and the median latency (p50). Target: every page ≥ 70 % of the minimal page.

    python -m bench.load [--seconds 10] [--connections 16] [--runs 1] [--database-url URL] [--app-dir DIR]

`--app-dir` serves the portal from another checkout (e.g. `git archive HEAD` unpacked), to
compare before/after in the same run style; the minimal page always comes from this tree.
"""

import argparse
import html
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARE_TARGET = 0.70

# Run in the portal's tree: the demo database plus what the pages list. Prints the ids as JSON.
_SEED = r"""
import json, sys
from app import create_app
import models, seed
from models import Batch, BatchRecord, Company, Product, ServiceOrder, User

app = create_app({"DATABASE_URL": sys.argv[1], "SECRET_KEY": "bench"})
models.db.connect(reuse_if_open=True)
models.drop_all()
models.upgrade()
seed.seed()
company = Company.get(Company.nit == "900291499")
product = Product.get((Product.company == company) & (Product.named == True))
user = User.get(User.username == "jhomez")
numbers = iter(range(1, 10**6))


def batches(count, status, order=None, records=0):
    made = []
    for _ in range(count):
        n = next(numbers)
        batch = Batch.create(
            company=company, product=product, number=f"2601{n:06d}", kind="EMI", status=status, order=order,
            total_records=records, processed_records=records, valid_records=records, error_records=0,
            amount=records * 1_000, uploaded_by=user, filename=f"lote{n}.xlsx",
        )
        rows = [{"batch": batch, "line": line, "id_type": "CC", "id_number": f"{batch.id:04d}{line:06d}",
                 "amount": 1_000, "data": json.dumps({"first_name": "ANA", "first_surname": f"PEREZ{line}"})}
                for line in range(2, records + 2)]
        for start in range(0, len(rows), 500):
            BatchRecord.insert_many(rows[start:start + 500]).execute()
        made.append(batch)
    return made


with models.db.atomic():
    batches(6, Batch.VALID, records=10)
    batches(4, Batch.TO_AUTHORIZE, records=20)
    orders = [
        ServiceOrder.create(company=company, product=product, kind="EMI", status=status, records=20,
                            os_total=10_000, amount=20_000, total_to_pay=30_000)
        for status in [ServiceOrder.PENDING_PAYMENT, ServiceOrder.IN_PROCESS, ServiceOrder.PROCESSED] * 10
    ]
    (big,) = batches(1, Batch.IN_PROCESS, order=orders[1], records=2_000)
print(json.dumps({"product": product.id, "order": orders[1].id, "batch": big.id}))
models.db.close()
"""


def pages(ids: dict) -> list[tuple[str, str]]:
    p = ids["product"]
    return [
        ("/empresas", "/empresas"),
        ("product page", f"/productos/{p}"),
        ("Carga de lotes", f"/productos/{p}/lotes/carga"),
        ("Órdenes de servicio", f"/productos/{p}/ordenes"),
        ("Autorización", f"/productos/{p}/autorizacion"),
        ("Registros del lote", f"/productos/{p}/ordenes/{ids['order']}/lotes/{ids['batch']}?pagina=100"),
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def gunicorn(app_spec: str, cwd: Path, env: dict, workers: int = 2):
    """`python -m gunicorn -w 2 -b 127.0.0.1:PORT app_spec` in `cwd`; yields its base URL."""
    port = _free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         app_spec],
        cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def login(base_url: str, username: str, password: str) -> str:
    """Log in through the form; the Cookie header of the session."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/ingresar").read().decode()
    token = html.unescape(re.search(r'name="csrf-token" content="([^"]+)"', page).group(1))
    data = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    opener.open(f"{base_url}/ingresar", data=data).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    request = urllib.request.Request(f"{base_url}/empresas", headers={"Cookie": cookie})
    with urllib.request.urlopen(request) as response:  # still logged in: not sent back to /ingresar
        assert "/ingresar" not in response.url, "login failed"
    return cookie


def check_page(url: str, cookie: str) -> None:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200 and response.url == url, (url, response.status, response.url)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url: str, seconds: float, connections: int, cookie: str = "") -> dict:
    """req/s and p50 (ms) of `wrk -c<connections> -d<seconds>s --latency`."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M).groups()
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {"rps": rps, "p50": float(value) * _UNITS[unit], "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else ""}  # fmt: skip


def measure(seconds: float = 10, connections: int = 16, runs: int = 1, database_url: str | None = None,
            app_dir: Path = ROOT) -> list[dict]:  # fmt: skip
    """Seed, serve both apps, log in, run wrk on every page; one row per page (medians of `runs`)."""
    with ExitStack() as stack:
        if database_url is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
            database_url = f"sqlite:///{folder / 'demo.db'}"
        seeded = subprocess.run(
            [sys.executable, "-c", _SEED, database_url], cwd=app_dir, check=True, capture_output=True, text=True
        )
        ids = json.loads(seeded.stdout.strip().splitlines()[-1])
        from bench import minimal_app

        minimal_app.prepare(database_url)
        env = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-load",
            "DEMO_MODE": "0",
            "PYTHONPATH": str(app_dir),
            "SESSION_COOKIE_SECURE": "0",
        }  # plain HTTP on localhost: the cookie must travel
        portal = stack.enter_context(gunicorn("app:create_app()", app_dir, env))
        floor = stack.enter_context(gunicorn("bench.minimal_app:app", ROOT, {**env, "PYTHONPATH": str(ROOT)}))
        cookie = login(portal, "jhomez", "Empresas*24")
        targets = [("minimal page", f"{floor}/", "")] + [(n, portal + path, cookie) for n, path in pages(ids)]
        for _name, url, page_cookie in targets:
            if page_cookie:
                check_page(url, page_cookie)
            wrk(url, 1, connections, page_cookie)  # warm-up: imports, template compilation, caches
        results = {name: [] for name, _u, _c in targets}
        for _ in range(runs):  # interleaved, so a busy moment of the machine spreads over every page
            for name, url, page_cookie in targets:
                results[name].append(wrk(url, seconds, connections, page_cookie))
    rows = []
    for name, measured in results.items():
        rows.append({
            "page": name,
            "rps": statistics.median(m["rps"] for m in measured),
            "p50": statistics.median(m["p50"] for m in measured),
            "non2xx": sum(m["non2xx"] for m in measured),
        })  # fmt: skip
    minimal = rows[0]["rps"]
    for row in rows:
        row["share"] = row["rps"] / minimal if minimal else 0.0
    return rows


def print_table(rows: list[dict], title: str = "") -> None:
    print(f"\nPáginas bajo carga{f' ({title})' if title else ''}: wrk -c16, gunicorn -w 2; meta ≥ 70 % de la mínima")
    print("| page | req/s | share of the minimal page | p50 |")
    print("|---|---|---|---|")
    for row in rows:
        flag = "" if row["share"] >= SHARE_TARGET else " ✗"
        bad = f" ({row['non2xx']} no 2xx/3xx)" if row["non2xx"] else ""
        print(f"| {row['page']} | {row['rps']:.0f} | {row['share']:.0%}{flag} | {row['p50']:.1f} ms |{bad}")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per page (default 10)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=1, help="runs per page; the median is printed")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the portal's tree (default: this one)")
    args = parser.parse_args(argv)
    seconds = int(args.seconds) if args.seconds == int(args.seconds) else args.seconds
    rows = measure(seconds, args.connections, args.runs, args.database_url, args.app_dir)
    print_table(rows, "SQLite" if not args.database_url or args.database_url.startswith("sqlite") else "PostgreSQL")
    return rows


if __name__ == "__main__":
    main()
