"""What a user waits for, through HTTP against the running server, with the scheduler as
deployed: gunicorn (2 workers) plus one `python -m jobs` process on a scratch database.

1. One EMI file (xlsx, then the same records as CSV, each on its own product): the answer of
   «Enviar», then the time until its row stops saying it is validating (polled as the page
   does, only more often), as a ratio to the bare calamine parse of the same file measured in
   this run.
2. The whole journey: an EMI file of N people, then a REC file crediting each of them, each
   through upload → validated → confirmed → authorized (Calcular orden, Autorizar) → paid with
   the e-mailed code (read from the outbox) → processed, until every card exists and holds its
   money. The same endpoints and form fields the browser uses.

Prints each step, the totals, and the peak memory (VmHWM) of the web workers and of the job
process.

    python -m bench.journey [--records N] [--database-url postgresql://…/any] [--in-place] [--batches-only]

With a PostgreSQL URL it creates (and drops) its own database on that server; with
--in-place (or BENCH_IN_PLACE=1) it uses the URL's database itself, emptied first (every
table dropped): for a server where you may use only your own database.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "Bench*2024"
POLL = 0.1  # the page polls every 2-3 s; a bench polls more often to see the moment it changes
AMOUNT = "1500.00"


# ---------------------------------------------------------------- the scratch database


@contextmanager
def scratch_database(base_url: str, folder: Path, in_place: bool = False):
    """A new empty database: a SQLite file in `folder`, or a new database on the PostgreSQL
    server of `base_url` (dropped afterwards), or with `in_place` the database of `base_url`
    itself, every table dropped first."""
    if not base_url.startswith("postgres"):
        yield f"sqlite:///{folder / 'journey.db'}"
        return
    if in_place:
        import models

        models.open_database(base_url)
        models.db.connect(reuse_if_open=True)
        models.drop_all()
        models.db.close()
        yield base_url
        return
    import psycopg2

    parts = urlsplit(base_url)
    name = f"bench_journey_{os.getpid()}"
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def seed(database_url: str) -> dict:
    """One company (a big balance at the simulated bank), two named products, one user."""
    import models
    from app import create_app
    from services.provisioning import create_branch, create_company, create_product, create_user_with_grants
    from tests import batchfiles

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.upgrade()
        company = create_company(
            nit=batchfiles.COMPANY_NIT, name="VIAJE SAS", legal_name="VIAJE SAS", opening_balance=10**13
        )
        for code in batchfiles.BRANCHES:
            create_branch(company, code, f"Sucursal {code}")
        products = {
            name: create_product(company, name, card_limit=batchfiles.CARD_LIMIT, card_price_named=1_000).id
            for name in ("Clásica / Visa", "Clásica CSV")
        }
        create_user_with_grants(
            "viajero", "Viajero", "", "viajero@example.com", "", "", [f"{batchfiles.COMPANY_NIT}:*:all"],
            password=PASSWORD, must_change=False, terms_accepted=True,
        )  # fmt: skip
        models.db.close()
    return products


# ---------------------------------------------------------------- the server as deployed


class Deployment:
    """gunicorn with 2 workers and one jobs process, on `database_url`."""

    def __init__(self, database_url: str, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "SESSION_COOKIE_SECURE": "0",
            "SMTP_HOST": "",
            "PYTHONUNBUFFERED": "1",
        }
        self.port = port
        self.web = self.jobs = None

    def __enter__(self):
        gunicorn = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{self.port}", "--timeout", "300"]
        self.web = subprocess.Popen([*gunicorn, "app:create_app()"], cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL)
        self.jobs = subprocess.Popen([sys.executable, "-m", "jobs"], cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ingresar", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def peaks_mb(self) -> dict:
        """Peak resident memory (VmHWM) of each web worker (the largest) and of the job process."""
        workers = subprocess.run(
            ["pgrep", "-P", str(self.web.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return {
            "web": max((_vmhwm(int(pid)) for pid in workers), default=0.0),
            "jobs": _vmhwm(self.jobs.pid),
        }

    def __exit__(self, *exc):
        for process in (self.web, self.jobs):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.web, self.jobs):
            if process:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()


def _vmhwm(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else 0.0


# ---------------------------------------------------------------- a browser, by hand


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, base: str):
        import http.cookiejar

        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        self.token = ""

    def send(self, method: str, path: str, data=None, headers=None, body: bytes | None = None):
        if data is not None:
            body = urlencode({"csrf_token": self.token, **data}, doseq=True).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=600) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers.get("Location", "")

    def get(self, path: str) -> str:
        status, html, _ = self.send("GET", path)
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        if match:
            self.token = match.group(1)
        return html

    def login(self) -> None:
        self.get("/ingresar")
        status, _html, _ = self.send("POST", "/ingresar", {"username": "viajero", "password": PASSWORD})
        assert status == 302, f"login answered {status}"

    def upload(self, product: int, kind: str, filename: str, content: bytes) -> tuple[float, int]:
        """(seconds until «Enviar» is answered, the new batch's id)."""
        self.get(f"/productos/{product}/lotes/carga")
        boundary = "----journey" + os.urandom(8).hex()
        fields = {"csrf_token": self.token, "kind": kind}
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body = head + content + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "HX-Request": "true"}
        start = time.perf_counter()
        status, html, _ = self.send("POST", f"/productos/{product}/lotes/carga", headers=headers, body=body)
        answered = time.perf_counter() - start
        assert status == 200 and "exitosamente" in html, f"upload answered {status}: {html[:300]}"
        ids = [int(i) for i in re.findall(rf"/productos/{product}/lotes/(\d+)/estado", html)]
        return answered, max(ids)

    def wait_row(self, path: str, timeout: float = 900) -> str:
        """Poll a self-refreshing row (as the page does) until it stops refreshing; its HTML."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _status, html, _ = self.send("GET", path, headers={"HX-Request": "true"})
            if 'hx-trigger="every' not in html:
                return html
            time.sleep(POLL)
        raise RuntimeError(f"{path} still refreshing after {timeout} s")

    def confirm(self, product: int, batch: int) -> None:
        self.get(f"/productos/{product}/lotes/carga")
        status, html, _ = self.send("POST", f"/productos/{product}/lotes/{batch}/confirmar", {"password": PASSWORD})
        assert status in (200, 302), f"confirm answered {status}: {html[:300]}"

    def authorize(self, product: int, batch: int) -> int:
        """Autorizar, Calcular orden de servicio, Autorizar: the new order's id."""
        self.get(f"/productos/{product}/autorizacion")
        data = {"accion": "autorizar", "lote": str(batch), "agrupacion": "tipo", "password": PASSWORD}
        status, html, location = self.send("POST", f"/productos/{product}/autorizacion", data)
        assert status == 302 and "calcular" in location, f"autorizar answered {status}: {html[:300]}"
        self.get(f"/productos/{product}/autorizacion/calcular")
        status, html, location = self.send(
            "POST", f"/productos/{product}/autorizacion/calcular", {"accion": "autorizar"}
        )
        assert status == 302, f"calcular answered {status}: {html[:300]}"
        listing = self.get(f"/productos/{product}/ordenes")
        return max(int(i) for i in re.findall(rf"/productos/{product}/ordenes/(\d+)/pdf", listing))

    def pay(self, product: int, order: int, database_url: str) -> None:
        self.get(f"/productos/{product}/ordenes")
        status, html, _ = self.send("POST", f"/productos/{product}/ordenes/{order}/pagar/codigo", {})
        assert status == 200, f"pagar/codigo answered {status}: {html[:300]}"
        code = last_code(database_url)
        status, html, _ = self.send(
            "POST", f"/productos/{product}/ordenes/{order}/pagar", {"code": code}, headers={"HX-Request": "true"}
        )
        assert "Pago exitoso" in html, f"pagar answered {status}: {html[:300]}"


def last_code(database_url: str) -> str:
    import models

    models.open_database(database_url)
    models.db.connect(reuse_if_open=True)
    try:
        body = models.OutboxMessage.select().order_by(models.OutboxMessage.id.desc()).first().body
    finally:
        models.db.close()
    return re.search(r"\b(\d{6})\b", body).group(1)


def cards_and_money(database_url: str, product: int) -> tuple[int, int]:
    """(cards of the product, the sum of their balances in centavos), read from the database."""
    import models
    from models import Card, LedgerAccount

    models.open_database(database_url)
    models.db.connect(reuse_if_open=True)
    try:
        cards = Card.select().where(Card.product == product).count()
        money = (
            LedgerAccount.select(LedgerAccount.balance)
            .where((LedgerAccount.product == product) & (LedgerAccount.kind == LedgerAccount.CARD))
            .tuples()
        )
        return cards, sum(b for (b,) in money)
    finally:
        models.db.close()


# ---------------------------------------------------------------- the run


def calamine_seconds(content: bytes) -> float:
    import python_calamine

    start = time.perf_counter()
    python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    return time.perf_counter() - start


def run(records: int, base_url: str, in_place: bool = False, batches_only: bool = False) -> None:
    from tests import batchfiles
    from tests.server import free_port

    people = batchfiles.emi_rows(records)
    emi_xlsx = batchfiles.xlsx_bytes("EMI", people)
    emi_csv = batchfiles.csv_bytes("EMI", people)
    rec_csv = batchfiles.csv_bytes("REC", batchfiles.rec_rows(records, amount=AMOUNT))
    parse = sorted(calamine_seconds(emi_xlsx) for _ in range(3))[1]
    with tempfile.TemporaryDirectory() as tmp, scratch_database(base_url, Path(tmp), in_place) as database_url:
        engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        products = seed(database_url)
        xlsx_product, csv_product = products["Clásica / Visa"], products["Clásica CSV"]
        with Deployment(database_url, free_port()) as deployment:
            browser = Browser(deployment.url)
            browser.login()
            print(f"\n{engine}: gunicorn (2 workers) + python -m jobs, {records:,} registros".replace(",", "."))
            print(f"  parse calamine del .xlsx (mediana de 3)          {parse:7.2f} s")
            journey_start = time.perf_counter()
            totals = {}
            for label, product, filename, content in (
                ("EMI .xlsx", xlsx_product, "emision.xlsx", emi_xlsx),
                ("EMI .csv", csv_product, "emision.csv", emi_csv),
            ):
                start = time.perf_counter()
                answered, batch = browser.upload(product, "EMI", filename, content)
                browser.wait_row(f"/productos/{product}/lotes/{batch}/estado")
                final = time.perf_counter() - start
                totals[label] = final
                ratio = f"   {final / parse:5.2f}× el parse" if filename.endswith("xlsx") else ""
                print(f"  {label}: respuesta de «Enviar» {answered:6.2f} s   estado final {final:7.2f} s{ratio}")
                if product == xlsx_product and not batches_only:
                    steps = [("validación", final)]
                    step_start = time.perf_counter()
                    browser.confirm(product, batch)
                    order = browser.authorize(product, batch)
                    browser.pay(product, order, database_url)
                    steps.append(("confirmar, autorizar, pagar", time.perf_counter() - step_start))
                    step_start = time.perf_counter()
                    browser.wait_row(f"/productos/{product}/ordenes/{order}/estado")
                    steps.append(("procesar (tarjetas)", time.perf_counter() - step_start))
                    step_start = time.perf_counter()
                    _answered, rec = browser.upload(product, "REC", "recarga.csv", rec_csv)
                    browser.wait_row(f"/productos/{product}/lotes/{rec}/estado")
                    steps.append(("recarga: carga y validación", time.perf_counter() - step_start))
                    step_start = time.perf_counter()
                    browser.confirm(product, rec)
                    order = browser.authorize(product, rec)
                    browser.pay(product, order, database_url)
                    steps.append(("recarga: confirmar, autorizar, pagar", time.perf_counter() - step_start))
                    step_start = time.perf_counter()
                    browser.wait_row(f"/productos/{product}/ordenes/{order}/estado")
                    steps.append(("recarga: procesar (saldos)", time.perf_counter() - step_start))
                    journey = time.perf_counter() - journey_start
                    cards, money = cards_and_money(database_url, product)
                    expected = records * int(AMOUNT.replace(".", ""))
                    ok = "OK" if (cards, money) == (records, expected) else f"FALTA: {cards} tarjetas, {money} centavos"
                    print("  Recorrido completo (EMI y luego REC, por HTTP):")
                    for name, seconds in steps:
                        print(f"    {name:<40} {seconds:7.2f} s")
                    print(
                        f"    {'total':<40} {journey:7.2f} s   {cards:,} tarjetas con su saldo: {ok}".replace(",", ".")
                    )
            peaks = deployment.peaks_mb()
            print(f"  pico de memoria: worker web {peaks['web']:.0f} MB, proceso de trabajos {peaks['jobs']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--in-place",
        action="store_true",
        default=os.environ.get("BENCH_IN_PLACE") == "1",
        help="use the PostgreSQL URL's database itself (every table dropped first), not a new one",
    )
    parser.add_argument(
        "--batches-only", action="store_true", help="only the two EMI uploads to their final status, not the journey"
    )
    args = parser.parse_args()
    run(args.records, args.database_url, args.in_place, args.batches_only)


if __name__ == "__main__":
    main()
