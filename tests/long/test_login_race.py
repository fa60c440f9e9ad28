"""Parallel password guesses against a real server (issue 8, C.1): the 3-strike lockout holds.

A burst of fresh sessions (each with its own cookie jar and CSRF token) posts at the same
moment, through real HTTP to a threaded Werkzeug server, several wrong passwords and one
right one for the same user. The hash check is the race window, so the real scrypt hash is
used (`real_hash`), and every check the server makes is counted.

The properties, whatever the order the server takes the guesses in:
- guesses are counted before their hash is checked, and a success only clears the guesses
  counted before it: at most MAX_FAILED_ATTEMPTS hashes are checked, plus MAX_FAILED_ATTEMPTS
  more if the right guess was accepted (it resets the count, as a success always does);
- the burst ends with the user blocked, and no session of the burst is alive afterwards;
- the right guess is accepted at most once (one session, one confirmed batch).
"""

import io
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar

import pytest
from werkzeug.security import generate_password_hash

from domain.passwords import MAX_FAILED_ATTEMPTS
from models import AuditEvent, Batch, User
from services import accounts
from services.batches import validate_waiting
from tests import batchfiles
from tests.conftest import CSRF_RE, login, post
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.server import serving

pytestmark = [pytest.mark.long, pytest.mark.real_hash]

WRONG = "Mala*Clave1"


@dataclass
class Answer:
    status: int
    body: str
    location: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is an answer to look at, not to follow


class Browser:
    """One user agent: its own cookies, talking real HTTP to `base`."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def request(self, path: str, data: dict | None = None, headers: dict | None = None) -> Answer:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=120) as response:
                return Answer(response.status, response.read().decode(), response.headers.get("Location", ""))
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode(), error.headers.get("Location", ""))

    def token(self, path: str = "/ingresar") -> str:
        match = CSRF_RE.search(self.request(path).body)
        assert match, f"no csrf-token on {path}"
        return match.group(1)

    def logged_in(self) -> bool:
        answer = self.request("/empresas")
        return answer.status == 200


class CountingHash:
    """Wraps services.accounts.check_password_hash (the real scrypt check) and counts calls."""

    def __init__(self, monkeypatch):
        self.real = accounts.check_password_hash
        self.lock = threading.Lock()
        self.results: list[bool] = []
        monkeypatch.setattr(accounts, "check_password_hash", self)

    def __call__(self, pwhash: str, password: str) -> bool:
        ok = self.real(pwhash, password)
        with self.lock:
            self.results.append(ok)
        return ok

    def reset(self) -> None:
        with self.lock:
            self.results.clear()


def burst(actions) -> list:
    """Run every action in its own thread, released at the same moment; their results in order."""
    results: list = [None] * len(actions)
    barrier = threading.Barrier(len(actions))

    def run(i, action):
        barrier.wait(60)
        try:
            results[i] = action()
        except Exception as exc:  # reported to the test, never lost in a thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not any(t.is_alive() for t in threads), "a request never finished"
    return results


@pytest.fixture
def live(app):
    with serving(app) as url:
        yield url


@pytest.fixture
def company(db):
    return make_company("ACME SAS", nit="900111222")


def scrypt_user(username: str, product) -> User:
    """A user whose stored hash is the production one, whatever the suite's fast hasher."""
    user = make_user(username, perms={product: "all"})
    User.update(password_hash=generate_password_hash(PASSWORD, method="scrypt")).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


@pytest.mark.parametrize("wrong", [9, 19])
def test_parallel_logins_check_at_most_three_guesses(app, db, live, company, monkeypatch, wrong):
    user = scrypt_user("ana", make_product(company))
    checks = CountingHash(monkeypatch)
    right = wrong // 2
    passwords = [WRONG] * wrong
    passwords.insert(right, PASSWORD)
    browsers = [Browser(live) for _ in passwords]
    tokens = [b.token() for b in browsers]  # every session fetches its CSRF token first

    def guess(i):
        data = {"csrf_token": tokens[i], "username": "ana", "password": passwords[i]}
        return lambda: browsers[i].request("/ingresar", data)

    answers = burst([guess(i) for i in range(len(passwords))])

    assert all(isinstance(a, Answer) and a.status in (200, 302) for a in answers), answers
    accepted = [i for i, a in enumerate(answers) if a.status == 302]
    assert accepted in ([], [right])
    assert len(checks.results) <= MAX_FAILED_ATTEMPTS * (1 + len(accepted)), (
        f"{len(checks.results)} hashes checked, {len(accepted)} accepted"
    )
    # The right guess, even when checked, may lose the race with the block (then no session).
    assert checks.results.count(True) >= len(accepted)
    assert User.get_by_id(user.id).status == User.BLOCKED
    assert not any(b.logged_in() for b in browsers)  # the block ended the session it may have granted
    assert AuditEvent.select().where((AuditEvent.user == user) & (AuditEvent.tag == "login:success")).count() == len(
        accepted
    )


def test_parallel_password_dialogs_check_at_most_three_guesses(app, db, live, company, monkeypatch):
    product = make_product(company)
    user = scrypt_user("jefe", product)
    client = app.test_client()
    assert login(client, "jefe").status_code == 302
    content = batchfiles.xlsx_bytes("EMI", batchfiles.emi_rows(3))
    post(
        client,
        f"/productos/{product.id}/lotes/carga",
        {"kind": "EMI", "file": (io.BytesIO(content), "lote.xlsx")},
        content_type="multipart/form-data",
    )
    with app.app_context():
        validate_waiting()
    batch = Batch.get()
    assert batch.status in Batch.CONFIRMABLE

    passwords = [WRONG] * 9
    passwords.insert(4, PASSWORD)
    browsers = [Browser(live) for _ in passwords]
    for browser in browsers:
        answer = browser.request("/ingresar", {"csrf_token": browser.token(), "username": "jefe", "password": PASSWORD})
        assert answer.status == 302, answer.body[:300]
    tokens = [b.token("/empresas") for b in browsers]
    checks = CountingHash(monkeypatch)  # count from here: the logins above were one at a time
    url = f"/productos/{product.id}/lotes/{batch.id}/confirmar"

    def confirm(i):
        data = {"csrf_token": tokens[i], "password": passwords[i]}
        return lambda: browsers[i].request(url, data, {"HX-Request": "true"})

    answers = burst([confirm(i) for i in range(len(passwords))])

    assert all(isinstance(a, Answer) and a.status == 200 for a in answers), answers
    confirmed = [i for i, a in enumerate(answers) if "fue confirmado exitosamente" in a.body]
    assert confirmed in ([], [4])
    assert len(checks.results) <= MAX_FAILED_ATTEMPTS * (1 + len(confirmed)), (
        f"{len(checks.results)} hashes checked, {len(confirmed)} confirmed"
    )
    assert checks.results.count(True) >= len(confirmed)
    assert (Batch.get_by_id(batch.id).status == batch.status) == (not confirmed)
    assert User.get_by_id(user.id).status == User.BLOCKED
    assert not any(b.logged_in() for b in browsers)
