"""Shared fixtures: one app and schema per test session, tables emptied after every test.

The database is a temporary SQLite file, or PostgreSQL when DATABASE_URL says so
(`make test-pg`, and the second pass of .ci/run).
"""

import os
import re
import socket

import pytest

import models
from app import create_app
from tests import factories

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


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


@pytest.fixture(autouse=True)
def clean_db(app):
    yield
    models.db.connect(reuse_if_open=True)
    if models._is_sqlite(models.db):
        with models.db.atomic():
            for model in reversed(models.ALL_MODELS + models.LEDGER_MODELS):
                model.delete().execute()
    else:
        tables = ", ".join(f'"{m._meta.table_name}"' for m in models.ALL_MODELS + models.LEDGER_MODELS)
        models.db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    models.db.close()


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
