"""`make bench-load`: the portal at a large program's size, served as `make serve` serves it,
under 16 concurrent users, beside the minimal page (bench/minimal_app.py) under the same load.

Data: the demo (seed.seed(), with its history) plus 1,000,000 active cards with their holders
(written straight into the tables from the models' columns, as bench.cards_page does), 10,000
service orders (bench.orders_page's loader) and 1,000,000 lines on the master account of JAHC's
«Clásica / Visa» (bench.reports' lines, after the demo's own), and 16 users with every
permission on JAHC. Served by `make serve` itself (gunicorn with its 2 × cores + 1
workers and one `python -m jobs`) on 127.0.0.1; the minimal page by gunicorn with as many
workers. The pages, each user with their own session:

  Ingresar                POST /ingresar (the 16 users in turn; a successful login answers 302)
  Producto                the product page
  Carga de lotes          the pending batches
  Órdenes de servicio     with criteria (10 days and a status, a status, a date range)
  Consulta de tarjetas    by a document of the million, or by the last 4 digits
  Cuenta maestra          the list of the product's cards
  Consultar saldo         an operation: one card's balance inquiry, a fresh dialog key each time
  Reportes › Cuenta maestra  the report page (default criteria: the last quarter, every line)

1. Saturation: each page (and the minimal page) in turn under wrk, 16 connections, --seconds
   each, the 16 users' requests in turn (a Lua `request` hook; p95 by bench.cards_page's Lua
   `done` hook, p50 and p99 from --latency). Targets: every page ≥ 70 % of the minimal page's
   requests/s and its p95 ≤ 1.5 × the minimal page's p95.
2. Office load: every page at once, each at a fixed --rate requests/s (50), the minimal page
   too, for --rate-seconds. wrk can't hold a rate: a client of our own does (16 threads, one
   per user, each with its keep-alive connections, sending on a fixed schedule: user u's n-th
   request at start + (u / 16 + n) × 16 / (rate × pages); a request the server made late goes
   out at once, and a page whose achieved rate falls under 95 % of the target fails). Target:
   every page's p95 ≤ 50 ms.

Then each page alone at the same fixed rate (2b), to tell a page that misses by itself from
a machine that is full; and, in this process, each page's queries: how many (an N+1 shows),
their time, and the slowest with its plan (EXPLAIN ANALYZE on PostgreSQL).

After the runs the database says whether the logins and the inquiries did what they were asked
(login:success events, the CONSULTA operations and their results): wrk counts a 200 as success,
and a refused login answers 200.

The users' passwords are hashed with pbkdf2 (1,000 rounds), as in bench/master_ops.py: the login
and the inquiry check a password, and the production hash (scrypt, a deliberate ~50 ms of CPU)
would be all they measure; --real-hash keeps scrypt. Its cost is printed apart.

    python -m bench.bench_load [--engines pg,sqlite] [--database-url URL] [--in-place]
        [--cards N] [--postings N] [--orders N] [--sqlite-cards N] [--sqlite-postings N]
        [--seconds S] [--rate R] [--rate-seconds S] [--alone-seconds S] [--real-hash] [--no-explain]

PostgreSQL: a scratch database on the server of --database-url (created and dropped), or with
--in-place (BENCH_IN_PLACE=1) the URL's database itself, emptied first. SQLite: a temporary file.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cards_page import P95_LUA, P95_RATIO, SHARE  # noqa: E402
from bench.journey import scratch_database  # noqa: E402
from bench.load import _UNITS, _free_port, _wait_http, gunicorn  # noqa: E402
from bench.reports import _n, _settle  # noqa: E402
from tests.server import HttpClient  # noqa: E402

NIT = "900291499"  # JAHC TECHNOLOGIES
USERS = 16
PASSWORD = "Cargas*2024x"
CHEAP_HASH = "pbkdf2:sha256:1000"
RATE_P95_MS = 50.0
SESSION_FLOOR = "piso: sesión y menú, página vacía"  # bench/session_floor.py
RATE_HELD = 0.95  # a paced page must reach this share of its rate
GRACE = 0.5  # a paced run's users stop sending this share of its length after its end
FORM = "application/x-www-form-urlencoded"


# ---------------------------------------------------------------- data


STAMP = "2026-01-01 00:00:00"
FIRST_DOCUMENT = 70_000_000  # the holders' documents: 70000000, 70000001, …
FIRST_SERIAL = 1_000_000  # the cards' serials, after the demo's


def _columns(model, given: dict) -> tuple[tuple[str, ...], tuple]:
    """The table's columns (but id) and one row's values: `given`, else the field's default
    (called once), else NULL. Written from the model, so a column added by a later migration
    with a default is filled too (bench.cards_page lists its columns by hand)."""
    columns, values = [], []
    for f in model._meta.sorted_fields:
        if f.name == "id":
            continue
        columns.append(f.column_name)
        if f.name in given:
            values.append(given[f.name])
        elif f.default is not None:
            values.append(STAMP if callable(f.default) else f.default)
        else:
            values.append(None)
    return tuple(columns), tuple(values)


def _cards(product, count: int) -> tuple[float, int]:
    """`count` active cards of `product`, each with its holder, written straight into the tables
    (as processing would have left them; COPY on PostgreSQL). Seconds taken, newest card id."""
    from peewee import fn

    import models
    from bulk import insert_rows
    from domain.cards import make_pan, mask
    from models import Card, Person

    start = time.perf_counter()
    first_person = (Person.select(fn.MAX(Person.id)).scalar() or 0) + 1
    first_card = (Card.select(fn.MAX(Card.id)).scalar() or 0) + 1
    person_columns, person_row = _columns(Person, {"id_type": "CC", "first_name": "ANA", "first_surname": "ROJAS",
                                                   "mobile": "3001234567", "created_at": STAMP})  # fmt: skip
    document_at, email_at = person_columns.index("id_number"), person_columns.index("email")
    card_columns, card_row = _columns(Card, {"product": product.id, "status": Card.ACTIVE, "created_at": STAMP})
    person_at, pan_at = card_columns.index("person_id"), card_columns.index("masked_pan")
    serial_at, last4_at = card_columns.index("serial"), card_columns.index("last4")
    step = 50_000
    for base in range(0, count, step):
        people, cards = [], []
        for i in range(base, min(base + step, count)):
            person = list(person_row)
            person[document_at], person[email_at] = str(FIRST_DOCUMENT + i), f"p{i}@example.com"
            people.append((first_person + i, *person))
            card = list(card_row)
            masked = mask(make_pan(product.bin, FIRST_SERIAL + i))
            card[person_at], card[pan_at], card[serial_at], card[last4_at] = (
                first_person + i, masked, FIRST_SERIAL + i, masked[-4:])  # fmt: skip
            cards.append((first_card + i, *card))
        with models.db.atomic():
            insert_rows("person", ("id", *person_columns), people)
            insert_rows("card", ("id", *card_columns), cards)
    return time.perf_counter() - start, first_card + count - 1


def _postings(product, count: int) -> float:
    """`count` lines on the product's master account after the demo's, as bench.reports writes
    them (its keys, descriptions, amounts and 80 days of timestamps), the running balance
    continuing the account's. Seconds taken."""
    from datetime import datetime

    from peewee import fn

    import ledger
    import models
    from bench.reports import DAYS, STEP, _day_counts, _line
    from bulk import insert_rows
    from domain.clock import local_today
    from models import LedgerAccount, LedgerOperation, LedgerPosting
    from services.orders import utc_bound

    start = time.perf_counter()
    account = ledger.master_account(product)
    balance = LedgerAccount.get_by_id(account.id).balance
    first_day = local_today() - timedelta(days=DAYS)
    first_op = (LedgerOperation.select(fn.MAX(LedgerOperation.id)).scalar() or 0) + 1
    first_posting = (LedgerPosting.select(fn.MAX(LedgerPosting.id)).scalar() or 0) + 1
    stamps: list[str] = []
    for day, lines in enumerate(_day_counts(count)):
        midnight: datetime = utc_bound(first_day + timedelta(days=day))
        stamps += [(midnight + timedelta(seconds=i * 86_400 // lines)).strftime("%Y-%m-%d %H:%M:%S")
                   for i in range(lines)]  # fmt: skip
    for base in range(0, count, STEP):
        operations, lines = [], []
        for n in range(base, min(base + STEP, count)):
            key, description, amount = _line(n)
            balance += amount
            operations.append((first_op + n, key, description, stamps[n]))
            lines.append((first_posting + n, first_op + n, account.id, amount, balance, stamps[n]))
        with models.db.atomic():
            insert_rows("ledger_operation", ("id", "key", "description", "created_at"), operations, nulls=False)
            insert_rows(
                "ledger_posting", ("id", "operation_id", "account_id", "amount", "balance_after", "created_at"),
                lines, nulls=False,
            )  # fmt: skip
    LedgerAccount.update(balance=balance).where(LedgerAccount.id == account.id).execute()
    return time.perf_counter() - start


def seed(database_url: str, cards: int, orders: int, postings: int, real_hash: bool = False) -> dict:
    """The demo (seed.seed(), with its history), 16 users, then the cards, orders and lines."""
    import models
    import seed as demo
    from bench import minimal_app
    from bench.orders_page import _orders
    from bulk import is_sqlite
    from models import Card, Company, Product, ServiceOrder, User
    from services.provisioning import create_user_with_grants

    config = {"DATABASE_URL": database_url, "SECRET_KEY": "bench"}
    if not real_hash:
        config["PASSWORD_HASH_METHOD"] = CHEAP_HASH
    from app import create_app

    app = create_app(config)
    seconds = {}
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.drop_all()
        models.upgrade()
        start = time.perf_counter()
        demo.seed()
        seconds["demo"] = time.perf_counter() - start
        product = Product.select().join(Company).where((Company.nit == NIT) & (Product.named == True)).get()  # noqa: E712
        for i in range(1, USERS + 1):
            create_user_with_grants(
                f"carga{i:02d}", "Usuaria", f"Carga {i}", f"carga{i:02d}@example.com", "", "", [f"{NIT}:*:all"],
                password=PASSWORD, must_change=False, terms_accepted=True,
            )  # fmt: skip
        # The inquiry's cards: the demo's own active cards of the product (processed as the portal does).
        inquiry_cards = [c.id for c in Card.select(Card.id).where(
            (Card.product == product) & (Card.status == Card.ACTIVE)
        ).order_by(Card.id).limit(USERS)]  # fmt: skip
        seconds["cards"], newest = _cards(product, cards)
        start = time.perf_counter()
        _orders(product, User.get(User.username == "carga01"), orders)
        seconds["orders"] = time.perf_counter() - start
        seconds["postings"] = _postings(product, postings)
        start = time.perf_counter()
        if not is_sqlite():
            for table in ("person", "card", "ledger_operation", "ledger_posting"):
                models.db.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
            models.db.execute_sql("ANALYZE")  # what autovacuum does after a big load
        seconds["analyze"] = time.perf_counter() - start
        counts = {
            "cards": Card.select().count(),
            "orders": ServiceOrder.select().count(),
            "postings": models.LedgerPosting.select().count(),
        }
        models.db.close()
    minimal_app.prepare(database_url)
    return {
        "product": product.id,
        "newest": newest,
        "cards": cards,
        "inquiry_cards": inquiry_cards or [newest],
        "counts": counts,
        "seconds": seconds,
    }


# ---------------------------------------------------------------- serving


def workers() -> int:
    """What `make serve` computes: 2 × cores + 1, or WORKERS."""
    return int(os.environ.get("WORKERS") or 2 * len(os.sched_getaffinity(0)) + 1)


@contextmanager
def make_serve(env: dict):
    """`make serve` (its own process group) on a free port of 127.0.0.1; yields the base URL.
    Stopped as Ctrl-C would: SIGTERM to the group (make, gunicorn and its workers, the jobs)."""
    port = _free_port()
    log = tempfile.TemporaryFile()  # gunicorn's access log (make serve writes it to stdout)
    process = subprocess.Popen(
        ["make", "-s", "--no-print-directory", "serve"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)}, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/ingresar", timeout=90)
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"make serve ended: {log.read().decode()[-2000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


# ---------------------------------------------------------------- the users and their pages


@dataclass
class User:
    username: str
    cookie: str  # logged in, holding the CSRF token of csrf
    csrf: str
    anonymous_cookie: str  # a session that is not logged in, for posting the login form
    anonymous_csrf: str


@dataclass(frozen=True)
class Variant:
    """One request: a user's, so variant i belongs to user i % USERS. "{KEY}" in the body is
    replaced by a fresh dialog key for each request."""

    method: str
    path: str
    headers: dict
    body: str | None = None


@dataclass
class Page:
    name: str
    variants: list[Variant]
    expect: int = 200
    minimal: bool = False  # a floor: compared with, not judged
    base: str = ""  # the server that answers it (run() sets it: the portal or a floor)
    results: dict = field(default_factory=dict)


def _cookie(client: HttpClient) -> str:
    jar = next(h for h in client.opener.handlers if hasattr(h, "cookiejar")).cookiejar
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _csrf(html: str) -> str:
    import html as html_lib

    return html_lib.unescape(re.search(r'name="csrf-token" content="([^"]+)"', html).group(1))


def sign_in(base_url: str, product_id: int) -> list[User]:
    """The 16 users logged in (and an anonymous session each for posting the login form)."""
    users = []
    for i in range(1, USERS + 1):
        anonymous = HttpClient(base_url)
        _status, page = anonymous.request("GET", "/ingresar")
        anonymous_csrf, anonymous_cookie = _csrf(page), _cookie(anonymous)
        client = HttpClient(base_url)
        username = f"carga{i:02d}"
        assert client.login(username, PASSWORD) == 302, f"{username} could not log in"
        # The product page selects the product and the master account's page gives the session
        # its CSRF token: both are then in the cookie, which stays the same for every request.
        client.request("GET", f"/productos/{product_id}")
        status, page = client.request("GET", f"/productos/{product_id}/cuenta-maestra")
        assert status == 200, status
        users.append(User(username, _cookie(client), _csrf(page), anonymous_cookie, anonymous_csrf))
    return users


def pages(ids: dict, users: list[User]) -> list[Page]:
    p = ids["product"]
    cards = ids["inquiry_cards"]
    today = time.localtime()
    month_ago = time.localtime(time.time() - 30 * 86_400)
    order_criteria = [
        "periodo=10&estado=PROCESADO",
        "estado=PENDIENTE_PAGO",
        f"fecha_inicial={time.strftime('%d/%m/%Y', month_ago)}&fecha_final={time.strftime('%d/%m/%Y', today)}",
    ]
    first_document = FIRST_DOCUMENT
    card_criteria = []
    for k in range(8):  # documents spread over the million, and last-4 digits
        if k % 2 == 0:
            card_criteria.append(f"documento={first_document + (k * 123_457 + 4_242) % ids['cards']}")
        else:
            card_criteria.append(f"tarjeta={(k * 1_381 + 1_234) % 10_000:04d}")

    def get(path_of) -> list[Variant]:
        return [Variant("GET", path_of(u, k), {"Cookie": user.cookie}) for k in range(8)
                for u, user in enumerate(users)]  # fmt: skip

    def form(data: dict) -> str:
        return urllib.parse.urlencode(data).replace("%7BKEY%7D", "{KEY}")

    logins = [
        Variant("POST", "/ingresar", {"Cookie": user.anonymous_cookie, "Content-Type": FORM},
                form({"csrf_token": user.anonymous_csrf, "username": user.username, "password": PASSWORD}))
        for user in users
    ]  # fmt: skip
    inquiries = [
        Variant(
            "POST", f"/productos/{p}/cuenta-maestra/tarjetas/{cards[u % len(cards)]}/consultar",
            {"Cookie": user.cookie, "Content-Type": FORM, "HX-Request": "true"},
            form({"csrf_token": user.csrf, "password": PASSWORD, "clave": "{KEY}"}),
        )
        for u, user in enumerate(users)
    ]  # fmt: skip
    return [
        Page("Ingresar", logins, expect=302),
        Page("Producto", get(lambda u, k: f"/productos/{p}")),
        Page("Carga de lotes", get(lambda u, k: f"/productos/{p}/lotes/carga")),
        Page("Órdenes de servicio (criterios)",
             get(lambda u, k: f"/productos/{p}/ordenes?{order_criteria[(u + k) % len(order_criteria)]}")),
        Page("Consulta de tarjetas (documento / 4 dígitos)",
             get(lambda u, k: f"/productos/{p}/tarjetas?{card_criteria[(u + k) % len(card_criteria)]}")),
        Page("Cuenta maestra", get(lambda u, k: f"/productos/{p}/cuenta-maestra")),
        Page("Consultar saldo (operación)", inquiries),
        Page("Reportes › Cuenta maestra", get(lambda u, k: f"/productos/{p}/reportes/cuenta-maestra")),
    ]  # fmt: skip


def check(base_url: str, page: Page) -> None:
    """The first variant answers as expected (a logged-in page, not the login form)."""
    variant = page.variants[0]
    body = variant.body.replace("{KEY}", "revision" + os.urandom(6).hex()) if variant.body else None
    status, _headers, text = _send(_connection(base_url), variant, body)
    assert status == page.expect, (page.name, status, text[:300])
    if page.expect == 200 and (not page.minimal or page.name == SESSION_FLOOR):
        assert 'action="/ingresar"' not in text, (page.name, "answered the login form")


# ---------------------------------------------------------------- 1. saturation (wrk)

_LUA = """
local variants = {VARIANTS}
local threads, created, counter, mine = THREADS, 0, 0, {}

function setup(thread)
  created = created + 1
  thread:set("tid", created)
end

function init(args)
  for i = 1, #variants do
    if (i - 1) % threads == tid - 1 then mine[#mine + 1] = variants[i] end
  end
  if #mine == 0 then mine = variants end
end

function request()
  counter = counter + 1
  local v = mine[(counter - 1) % #mine + 1]
  local body = v[4]
  if body then body = (string.gsub(body, "{KEY}", string.format("PREFIX%d%010d", tid, counter))) end
  return wrk.format(v[1], v[2], v[3], body)
end
"""


def _lua_string(text: str) -> str:
    assert text.isascii(), text
    return json.dumps(text)  # ASCII JSON strings are Lua strings


def lua_script(page: Page, threads: int, prefix: str) -> str:
    rows = []
    for v in page.variants:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(val)}" for k, val in v.headers.items())
        body = _lua_string(v.body) if v.body is not None else "nil"
        rows.append(f"  {{{_lua_string(v.method)}, {_lua_string(v.path)}, {{{headers}}}, {body}}}")
    variants = "{\n" + ",\n".join(rows) + "\n}"
    lua = _LUA.replace("{VARIANTS}", variants).replace("THREADS", str(threads)).replace("PREFIX", prefix)
    return lua + P95_LUA


def _ms(text: str, percent: int) -> float:
    value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M).groups()
    return float(value) * _UNITS[unit]


def wrk(base_url: str, page: Page, seconds: float, connections: int = USERS, threads: int = 2) -> dict:
    """requests/s, p50, p95, p99 (ms) and the failures of wrk on the page's requests in turn."""
    prefix = "w" + os.urandom(4).hex()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(page, threads, prefix))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s", "--latency",
               "-s", script.name, base_url]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    Path(script.name).unlink()
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": _ms(output, 50),
        "p95": int(re.search(r"P95_US (\d+)", output).group(1)) / 1000,
        "p99": _ms(output, 99),
        "failed": (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
    }


def saturation(portal: str, all_pages: list[Page], seconds: float, settle_cookie: str) -> None:
    for page in all_pages:
        wrk(page.base, page, 2)  # warm-up: every worker's imports, templates, kept sums
        _settle(portal, settle_cookie)
    for page in all_pages:
        page.results["wrk"] = wrk(page.base, page, seconds)
        _settle(portal, settle_cookie)  # what wrk left queued must not land on the next page


# ---------------------------------------------------------------- 2. a fixed rate (our own client)


def _connection(base_url: str) -> http.client.HTTPConnection:
    host, port = urllib.parse.urlsplit(base_url).netloc.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30)


def _send(connection, variant: Variant, body: str | None) -> tuple[int, dict, str]:
    connection.request(variant.method, variant.path, body=body, headers=variant.headers)
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    return response.status, dict(response.getheaders()), text


def paced(all_pages: list[Page], rate: float, seconds: float, key: str = "paced") -> None:
    """Every page of `all_pages` at `rate` requests/s at once, from USERS threads on a fixed
    schedule. A user whose requests fell behind stops GRACE × `seconds` after the end: what it
    had still to send is counted as not sent (the page did not hold its rate)."""
    interval = USERS / (rate * len(all_pages))  # between two requests of one user
    prefix = "r" + os.urandom(4).hex()
    samples = {page.name: [] for page in all_pages}
    failures = {page.name: 0 for page in all_pages}
    late, finished = [], []
    lock = threading.Lock()
    unsent = {page.name: 0 for page in all_pages}
    start = time.perf_counter() + 0.5
    end = start + seconds
    give_up = end + max(3.0, GRACE * seconds)

    def user(u: int) -> None:
        connections = {page.base: _connection(page.base) for page in all_pages}
        mine = [[v for i, v in enumerate(page.variants) if i % USERS == u % len(page.variants)] or page.variants
                for page in all_pages]  # fmt: skip
        n = 0
        while True:
            due = start + (u / USERS + n) * interval
            if due >= end:
                break
            page = all_pages[(n + u) % len(all_pages)]  # users start on different pages
            options = mine[(n + u) % len(all_pages)]
            variant = options[(n // len(all_pages)) % len(options)]
            body = variant.body.replace("{KEY}", f"{prefix}{u:02d}{n:010d}") if variant.body else None
            if time.perf_counter() > give_up:
                with lock:
                    unsent[page.name] += 1
                n += 1
                continue
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            base = page.base
            sent = time.perf_counter()
            try:
                status, _headers, _text = _send(connections[base], variant, body)
            except (OSError, http.client.HTTPException):
                connections[base].close()
                connections[base] = _connection(base)
                status = 0
            took = time.perf_counter() - sent
            with lock:
                samples[page.name].append(took * 1000)
                late.append(max(0.0, sent - due) * 1000)
                finished.append(sent + took)
                if status != page.expect:
                    failures[page.name] += 1
            n += 1
        for connection in connections.values():
            connection.close()

    threads = [threading.Thread(target=user, args=(u,)) for u in range(USERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Achieved rate: over the time it took to send and answer them all (longer than `seconds`
    # when the server fell behind the schedule).
    elapsed = max(seconds, max(finished, default=end) - start)
    for page in all_pages:
        times = sorted(samples[page.name])
        cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
        page.results[key] = {
            "rps": len(times) / elapsed, "requests": len(times), "p50": statistics.median(times),
            "p95": cuts[94], "p99": cuts[98], "failed": failures[page.name], "unsent": unsent[page.name],
            "rate": rate,
        }  # fmt: skip
    late.sort()
    all_pages[0].results[key]["late_p95"] = late[int(len(late) * 0.95)] if late else 0.0


# ---------------------------------------------------------------- what the database says


def audit(database_url: str, since) -> dict:
    """Logins and inquiries recorded since `since` (naive UTC)."""
    import models
    from app import create_app
    from models import AuditEvent, MasterOperation, User

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        events = AuditEvent.select().where(AuditEvent.created_at >= since)
        found = {
            "logins": events.where(AuditEvent.tag == "login:success").count(),
            "login_failures": events.where(
                AuditEvent.tag.startswith("login:") & (AuditEvent.tag != "login:success")
            ).count(),
            "recheck_failures": events.where(AuditEvent.tag == "password:recheck-failure").count(),
            "inquiries": MasterOperation.select()
            .where((MasterOperation.kind == MasterOperation.INQUIRY) & (MasterOperation.created_at >= since))
            .count(),
            "inquiries_ok": MasterOperation.select()
            .where(
                (MasterOperation.kind == MasterOperation.INQUIRY)
                & (MasterOperation.created_at >= since)
                & (MasterOperation.status == MasterOperation.OK)
            )
            .count(),
            "blocked_users": User.select()
            .where(User.username.startswith("carga") & (User.status != User.ACTIVE))
            .count(),
        }
        models.db.close()
    return found


def _audit_line(found: dict, logins_sent: int | None = None, inquiries_sent: int | None = None) -> str:
    """What the database recorded, against what was sent when that is known exactly (our own
    client waits for every answer; wrk stops with requests in flight, and its warm-up counts)."""
    ok = not (found["login_failures"] or found["blocked_users"] or found["recheck_failures"])
    ok = ok and found["inquiries"] == found["inquiries_ok"]
    if logins_sent is not None:
        ok = ok and found["logins"] == logins_sent and found["inquiries"] == inquiries_sent
    sent_logins = f" de {_n(logins_sent)} enviados" if logins_sent is not None else ""
    sent_inquiries = f" de {_n(inquiries_sent)} enviadas" if inquiries_sent is not None else ""
    return (
        f"  Base de datos: {_n(found['logins'])} ingresos registrados{sent_logins} "
        f"({found['login_failures']} fallidos, {found['blocked_users']} usuarios bloqueados); "
        f"{_n(found['inquiries'])} consultas de saldo registradas{sent_inquiries}, "
        f"{_n(found['inquiries_ok'])} exitosas; {found['recheck_failures']} contraseñas rechazadas "
        f"— {'OK' if ok else 'NO CUADRA'}"
    )


# ---------------------------------------------------------------- where the time goes


class _Fetched:
    """A sqlite3 cursor's rows, fetched at once (so a query's time is all of it)."""

    def __init__(self, cursor):
        self.description, self.lastrowid, self.rowcount = cursor.description, cursor.lastrowid, cursor.rowcount
        self._rows = iter(cursor.fetchall() if cursor.description else [])

    def fetchone(self):
        return next(self._rows, None)

    def fetchmany(self, size: int = 100):
        return [row for _i, row in zip(range(size), self._rows, strict=False)]

    def fetchall(self):
        return list(self._rows)

    def __iter__(self):
        return self._rows

    def close(self):
        pass


def slowest_queries(database_url: str, all_pages: list[Page], top: int = 2) -> list[str]:
    """Each page once more, in this process (Flask's test client, the first user's session):
    its number of queries, their time, and its slowest ones with their plan on PostgreSQL
    (EXPLAIN ANALYZE)."""
    import models
    from app import create_app
    from bulk import is_sqlite

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench-load", "SESSION_COOKIE_SECURE": False})
    database = models.db.obj
    original = database.execute_sql
    seen: list[tuple[float, str, tuple]] = []

    def timed(sql, params=None, *args, **kwargs):
        start = time.perf_counter()
        cursor = original(sql, params, *args, **kwargs)
        if is_sqlite():  # sqlite3 runs a SELECT as its rows are fetched: fetch them here
            cursor = _Fetched(cursor)
        seen.append(((time.perf_counter() - start) * 1000, sql, tuple(params or ())))
        return cursor

    lines = ["  Consultas de cada página (una solicitud en este proceso, tras las medidas; la más lenta con su plan):"]
    database.execute_sql = timed
    try:
        for page in all_pages:
            if page.minimal:
                continue
            variant = page.variants[0]
            for attempt in range(3):  # twice to warm up (kept sums, caches), then measured
                body = (
                    variant.body.replace("{KEY}", f"consultas{attempt}{os.urandom(4).hex()}") if variant.body else None
                )
                client = app.test_client()  # Werkzeug's client sends its own cookies, not a Cookie header
                for pair in variant.headers.get("Cookie", "").split("; "):
                    name, _eq, value = pair.partition("=")
                    client.set_cookie(name, value)
                headers = {k: v for k, v in variant.headers.items() if k != "Cookie"}
                seen.clear()
                start = time.perf_counter()
                response = client.open(variant.path, method=variant.method, headers=headers, data=body)
                took = (time.perf_counter() - start) * 1000
                assert response.status_code == page.expect, (page.name, response.status_code)
            total = sum(t for t, _s, _p in seen)
            lines.append(f"    {page.name}: {len(seen)} consultas, {total:.1f} ms en la base de {took:.1f} ms")
            for ms, sql, params in sorted(seen, key=lambda q: -q[0])[:top]:
                if ms < 2.0:
                    break
                shown = sql if len(sql) <= 400 else sql[:400] + "…"
                lines.append(f"      {ms:.1f} ms: {shown}  {list(params)[:6]}")
                if is_sqlite():
                    plan = original(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
                    lines += [f"        {row[-1]}" for row in plan[:12]]
                else:
                    plan = original(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()
                    lines += [f"        {row[0]}" for row in plan[:40]]
    finally:
        database.execute_sql = original
    return lines


# ---------------------------------------------------------------- one engine


def _hash_cost_ms(real_hash: bool) -> str:
    from werkzeug.security import check_password_hash, generate_password_hash

    lines = []
    for method in ("scrypt", CHEAP_HASH):
        hashed = generate_password_hash(PASSWORD, method=method)
        start = time.perf_counter()
        for _ in range(5):
            check_password_hash(hashed, PASSWORD)
        lines.append(f"{method} {(time.perf_counter() - start) / 5 * 1000:.1f} ms")
    used = "scrypt (--real-hash)" if real_hash else CHEAP_HASH
    return f"  Contraseñas con {used}; verificar una cuesta (un núcleo): " + ", ".join(lines)


def _utcnow():
    from models import utcnow

    return utcnow()


def _table(all_pages: list[Page], key: str, minimal: dict | None, empty: dict | None = None) -> list[str]:
    """The figures of `key` per page; at saturation (`minimal` given) each page's share of the
    minimal page and, beside it, of the empty page with session and menu (`empty`)."""
    lines = []
    if minimal:
        lines += ["  | página | req/s | p50 | p95 | p99 | parte de la mínima (≥ 70 %) | p95 / mínima (≤ 1,5) "
                  "| parte del piso con sesión | fallidas |",
                  "  |---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    else:
        lines += ["  | página | req/s | p50 | p95 (≤ 50 ms) | p99 | fallidas |", "  |---|---|---|---|---|---|"]
    for page in all_pages:
        r = page.results[key]
        head = f"  | {page.name} | {r['rps']:.0f} | {r['p50']:.1f} ms | {r['p95']:.1f} ms"
        if minimal:
            share = r["rps"] / minimal["rps"] if minimal["rps"] else 0.0
            ratio = r["p95"] / minimal["p95"] if minimal["p95"] else 0.0
            of_empty = f"{r['rps'] / empty['rps']:.0%}" if empty and empty["rps"] else "—"
            if page.minimal:
                shares = "— | —" if r is minimal else f"{share:.0%} | {ratio:.2f}"
                lines.append(
                    f"{head} | {r['p99']:.1f} ms | {shares} | {'—' if r is empty else of_empty} | {r['failed']} |"
                )
                continue
            lines.append(
                f"{head} | {r['p99']:.1f} ms | {share:.0%} {'PASS' if share >= SHARE else 'FAIL'} "
                f"| {ratio:.2f} {'PASS' if ratio <= P95_RATIO else 'FAIL'} | {of_empty} | {r['failed']} |"
            )
        else:
            held = r["rps"] >= RATE_HELD * r["rate"] and not r["unsent"]
            verdict = "PASS" if r["p95"] <= RATE_P95_MS and held and not r["failed"] else "FAIL"
            note = "" if held else f" (no sostuvo {r['rate']:.0f}/s; {r['unsent']} sin enviar)"
            lines.append(f"{head} {verdict}{note} | {r['p99']:.1f} ms | {r['failed']} |")
    return lines


def run(
    database_url: str, sizes: dict, seconds: float, rate: float, rate_seconds: float, alone_seconds: float,
    real_hash: bool, explain: bool,
) -> list[str]:  # fmt: skip
    started = time.perf_counter()
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    ids = seed(database_url, sizes["cards"], sizes["orders"], sizes["postings"], real_hash)
    c, s = ids["counts"], ids["seconds"]
    lines = [
        f"Carga ({engine}): {_n(c['cards'])} tarjetas, {_n(c['orders'])} órdenes de servicio, "
        f"{_n(c['postings'])} líneas del libro (con las de la demostración); datos en {sum(s.values()):.0f} s "
        f"(demostración {s['demo']:.0f} s, tarjetas {s['cards']:.0f} s, órdenes {s['orders']:.0f} s, "
        f"líneas {s['postings']:.0f} s, ANALYZE {s['analyze']:.0f} s)",
        _hash_cost_ms(real_hash),
    ]
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "bench-load", "DEMO_MODE": "0", "SESSION_COOKIE_SECURE": "0",
           "SMTP_HOST": "", "PYTHONPATH": str(ROOT)}  # fmt: skip
    count = workers()
    with ExitStack() as stack:
        portal = stack.enter_context(make_serve(env))
        floor = stack.enter_context(gunicorn("bench.minimal_app:app", ROOT, env, workers=count))
        session_floor = stack.enter_context(gunicorn("bench.session_floor:app", ROOT, env, workers=count))
        users = sign_in(portal, ids["product"])
        minimal = Page("página mínima", [Variant("GET", "/", {})], minimal=True, base=floor)
        empty = Page(
            SESSION_FLOOR, [Variant("GET", f"/productos/{ids['product']}/piso", {"Cookie": u.cookie}) for u in users],
            minimal=True, base=session_floor,
        )  # fmt: skip
        all_pages = [minimal, empty, *pages(ids, users)]
        for page in all_pages:
            page.base = page.base or portal
            check(page.base, page)
        by_name = {page.name: page for page in all_pages}

        since = _utcnow()
        saturation(portal, all_pages, seconds, users[0].cookie)
        found = audit(database_url, since)
        lines += [
            f"  1. Saturación: cada página sola bajo wrk -t2 -c{USERS} {int(seconds)} s (los {USERS} usuarios en turno), "
            f"make serve con gunicorn -w {count} + python -m jobs; la mínima con gunicorn -w {count}",
            *_table(all_pages, "wrk", minimal.results["wrk"], empty.results["wrk"]),
        ]
        lines.append(_audit_line(found))  # wrk's warm-up and its requests in flight count too

        since = _utcnow()
        office = [page for page in all_pages if page is not empty]  # the office load is the one it was before the floor
        paced(office, rate, rate_seconds)
        sent = {name: sum(by_name[name].results[k]["requests"] for k in ("paced",))
                for name in ("Ingresar", "Consultar saldo (operación)")}  # fmt: skip
        late = office[0].results["paced"]["late_p95"]
        lines += [
            f"  2. Oficina: todas las páginas a la vez, cada una a {rate:.0f} solicitudes/s fijas durante "
            f"{int(rate_seconds)} s ({USERS} usuarios, cada uno un hilo que envía según un horario fijo; "
            f"{_n(rate * len(office))} solicitudes/s en total; retraso p95 de un envío sobre su horario {late:.0f} ms)",
            *_table(office, "paced", None),
        ]  # fmt: skip
        if alone_seconds:
            for page in all_pages:
                paced([page], rate, alone_seconds, key="alone")
                _settle(portal, users[0].cookie)
            for name in sent:
                sent[name] += by_name[name].results["alone"]["requests"]
            lines += [
                f"  2b. Cada página sola a {rate:.0f} solicitudes/s fijas durante {int(alone_seconds)} s (el mismo "
                f"cliente): qué página no cumple por sí misma",
                *_table(all_pages, "alone", None),
            ]
        lines.append(_audit_line(audit(database_url, since), sent["Ingresar"], sent["Consultar saldo (operación)"]))
        for page in all_pages:
            check(page.base, page)  # the sessions still hold
    if explain:
        lines += slowest_queries(database_url, all_pages)
    lines.append(f"  (duración total {time.perf_counter() - started:.0f} s)")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_load", description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="pg,sqlite", help="pg, sqlite or both (default pg,sqlite)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")  # fmt: skip
    parser.add_argument("--in-place", action="store_true", default=os.environ.get("BENCH_IN_PLACE") == "1",
                        help="use the URL's PostgreSQL database itself, emptied first")  # fmt: skip
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--sqlite-cards", type=int, default=None, help="default: --cards")
    parser.add_argument("--sqlite-postings", type=int, default=None, help="default: --postings")
    parser.add_argument("--seconds", type=int, default=10, help="wrk seconds per page (default 10)")
    parser.add_argument("--rate", type=float, default=50, help="requests/s per page in the second run (default 50)")
    parser.add_argument("--rate-seconds", type=int, default=30, help="length of the second run (default 30)")
    parser.add_argument(
        "--alone-seconds",
        type=int,
        default=8,
        help="each page alone at --rate for this long after the office run (0: skip; default 8)",
    )
    parser.add_argument("--real-hash", action="store_true", help="keep scrypt for the users' passwords")
    parser.add_argument(
        "--no-explain", dest="explain", action="store_false", help="skip the slowest query of each page (and its plan)"
    )
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for engine in engines:
        sizes = {"cards": args.cards, "orders": args.orders, "postings": args.postings}
        if engine == "sqlite":
            sizes["cards"] = args.sqlite_cards if args.sqlite_cards is not None else args.cards
            sizes["postings"] = args.sqlite_postings if args.sqlite_postings is not None else args.postings
        base = args.database_url if engine == "pg" else "sqlite:"
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, scratch_database(
            base, Path(tmp), args.in_place
        ) as url:  # fmt: skip
            for line in run(url, sizes, args.seconds, args.rate, args.rate_seconds, args.alone_seconds,
                            args.real_hash, args.explain):  # fmt: skip
                print(line, flush=True)


if __name__ == "__main__":
    main()
