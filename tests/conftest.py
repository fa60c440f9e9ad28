"""Shared fixtures: one app and schema per test session, tables emptied after every test.

The database is a temporary SQLite file, or PostgreSQL when DATABASE_URL says so
(`make test-pg`, and the second pass of .ci/run).

Passwords are hashed with a fast method (FAST_HASH) in every test: scrypt is slow on purpose
and most tests log in. A test of the hashing itself, or one whose race window is the hash
check (the lockout under parallel guesses), asks for the real method with
`@pytest.mark.real_hash`. `assert_query_count(n)` bounds the SQL statements a block runs.
"""

import os
import re
import threading
from contextlib import contextmanager

import pytest

import models
from app import create_app
from tests import factories
from tests.server import free_port

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')

FAST_HASH = "pbkdf2:sha256:1"  # one PBKDF2 round: microseconds instead of scrypt's 0.06–0.13 s here
_hash = {"method": FAST_HASH}  # what apps built for the current test are configured with


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _config(database_url, **extra):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "SMTP_HOST": "",
        "DEMO_MODE": False,
        "LOGIN_RATE_LIMIT": 1000,
        "SESSION_COOKIE_SECURE": False,
        "PASSWORD_HASH_METHOD": _hash["method"],
        **extra,
    }


@pytest.fixture(scope="session")
def app(database_url):
    application = create_app(_config(database_url))
    models.db.connect(reuse_if_open=True)
    models.drop_all()
    models.upgrade()
    models.db.close()
    return application


@pytest.fixture(scope="session")
def make_app(database_url, app):
    """Build another app on the same database with some settings changed (e.g. DEMO_MODE)."""

    def build(**extra):
        return create_app(_config(database_url, **extra))

    return build


_production_hash: dict[str, str] = {}


@pytest.fixture(autouse=True)
def password_hashing(request, app, monkeypatch):
    """FAST_HASH for the test, or the production method under @pytest.mark.real_hash.

    Two knobs, because users are created both inside requests (the app's PASSWORD_HASH_METHOD)
    and by the factories outside any app context (services.accounts.HASH_METHOD)."""
    from services import accounts

    production = _production_hash.setdefault("method", accounts.HASH_METHOD)
    method = production if request.node.get_closest_marker("real_hash") else FAST_HASH
    monkeypatch.setitem(_hash, "method", method)
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", method)
    monkeypatch.setattr(accounts, "HASH_METHOD", method)
    return method


@pytest.fixture(autouse=True)
def clean_db(app):
    yield
    models.db.connect(reuse_if_open=True)
    with models.db.atomic():
        for model in reversed(models.SCHEMA_MODELS):
            model.delete().execute()
        models.CardTally.delete().execute()  # again: deleting the cards wrote to it
    if not models._is_sqlite(models.db):
        # Ids start at 1 again, as SQLite does once a table is empty. (DELETE, not TRUNCATE:
        # TRUNCATE rewrites every table and index, ~10x slower for a test's few rows.)
        models.db.execute_sql(_RESTART_SEQUENCES)
    models.db.close()


_RESTART_SEQUENCES = """
SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), 1, false) FROM pg_sequences
WHERE schemaname = current_schema() AND last_value IS NOT NULL
"""


@pytest.fixture
def db(app):
    """An open connection for tests that use the models directly."""
    models.db.connect(reuse_if_open=True)
    yield models.db
    if not models.db.is_closed():
        models.db.close()


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def runner(app, db):
    return app.test_cli_runner()


def csrf_token(client) -> str:
    """The CSRF token of the client's session, read from a page's <meta> tag."""
    html = client.get("/ingresar", follow_redirects=True).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, "page without csrf-token meta"
    return match.group(1)


def post(client, url, data=None, **kwargs):
    """POST a form with a valid CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=data, **kwargs)


def login(client, username, password=factories.PASSWORD):
    return post(client, "/ingresar", {"username": username, "password": password})


@pytest.fixture
def auth(client):
    """auth.login(user) logs the client in and checks it landed past the login page."""

    class Auth:
        def login(self, username, password=factories.PASSWORD):
            response = login(client, username, password)
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
            return response

        def logout(self):
            return post(client, "/salir")

    return Auth()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free local port; yields (port, received messages)."""
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture
def assert_query_count(db):
    """`with assert_query_count(max_queries) as statements: client.get(...)` fails when the block
    ran more SQL statements through `models.db` (in this thread) than `max_queries`; the list of
    statements it yields lets a test compare two runs (a list page must not grow with its rows)."""

    @contextmanager
    def check(max_queries: int):
        database = models.db.obj  # the app's database now (building another app re-points the proxy)
        thread = threading.get_ident()
        statements: list[str] = []
        execute_sql = database.execute_sql
        patched_before = "execute_sql" in vars(database)  # a block inside another one

        def counting(sql, *args, **kwargs):
            if threading.get_ident() == thread:
                statements.append(sql)
            return execute_sql(sql, *args, **kwargs)

        database.execute_sql = counting
        try:
            yield statements
        finally:
            if patched_before:
                database.execute_sql = execute_sql
            else:
                del database.execute_sql
        listing = "\n".join(f"  {i}. {sql}" for i, sql in enumerate(statements, 1))
        assert len(statements) <= max_queries, f"{len(statements)} queries, at most {max_queries} expected:\n{listing}"

    return check


def in_threads(func, count: int = 6, timeout: float = 60) -> list:
    """Run `func()` in `count` threads at once, each on its own database connection (opened
    and closed around it); returns their results (a raised exception becomes the result)."""
    import threading

    results, barrier = [], threading.Barrier(count)

    def run():
        models.db.connect(reuse_if_open=True)
        try:
            barrier.wait(timeout)
            results.append(func())
        except Exception as exc:  # reported to the test as a result, never lost in a thread
            results.append(exc)
        finally:
            models.db.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
