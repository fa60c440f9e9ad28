"""Several real server processes on one database, as a deployment with more than one worker runs:
the lockout holds across processes, many users at once get their pages, and a worker killed
mid-request leaves nothing locked for the others."""

import http.client
import re
import signal
import threading
import time

import pytest

import models
from models import User
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.server import HttpClient, server_process

SETTINGS = {"LOGIN_RATE_LIMIT": 10_000}


def at_once(funcs, timeout=120):
    """Run each function in its own thread, released together; returns results (or exceptions)."""
    barrier = threading.Barrier(len(funcs))
    results = [None] * len(funcs)

    def run(index, func):
        try:
            barrier.wait(timeout)
            results[index] = func()
        except Exception as exc:  # reported to the test, never lost in a thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(funcs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


@pytest.fixture
def product(db):
    company = make_company("JAHC TEST", nit="900291499")
    return make_product(company)


@pytest.mark.real_hash  # the race window is the scrypt check of each guess
def test_wrong_passwords_on_two_servers_at_once_cannot_skip_the_lockout(db, database_url, product):
    user = make_user("ana", perms={product: "all"})
    db.close()
    with server_process(database_url, **SETTINGS) as one, server_process(database_url, **SETTINGS) as two:
        clients = [HttpClient(server.url) for server in (one, two) * 4]
        tokens = [client.csrf_token() for client in clients]
        guesses = [
            (
                lambda c=c, t=t: c.request(
                    "POST", "/ingresar", {"csrf_token": t, "username": "ana", "password": "Mala*1"}
                )
            )
            for c, t in zip(clients, tokens, strict=True)
        ]
        answers = at_once(guesses)
        assert all(isinstance(a, tuple) and a[0] == 200 for a in answers), answers  # the form again, never a 500
        assert HttpClient(two.url).login("ana", PASSWORD) == 200  # blocked: the right password no longer opens
    db.connect(reuse_if_open=True)
    blocked = User.get_by_id(user.id)
    assert blocked.status == User.BLOCKED and blocked.failed_attempts >= 3


def _browse(base_url, username, product_id, rounds=4):
    client = HttpClient(base_url)
    assert client.login(username, PASSWORD) == 302
    statuses = []
    for _ in range(rounds):
        for path in ("/empresas", f"/productos/{product_id}", f"/productos/{product_id}/ordenes",
                     f"/productos/{product_id}/lotes/carga", f"/productos/{product_id}/autorizacion"):  # fmt: skip
            statuses.append(client.request("GET", path)[0])
    return statuses


def test_many_users_at_once_on_two_servers_get_their_pages(db, database_url, product):
    users = [make_user(f"usuario{i}", perms={product: "all"}) for i in range(10)]
    db.close()
    with server_process(database_url, **SETTINGS) as one, server_process(database_url, **SETTINGS) as two:
        servers = (one, two)
        results = at_once(
            [lambda i=i, u=u: _browse(servers[i % 2].url, u.username, product.id) for i, u in enumerate(users)]
        )
    for user, statuses in zip(users, results, strict=True):
        assert statuses == [200] * 20, (user.username, statuses)


def test_a_server_killed_mid_request_leaves_the_database_usable(db, database_url, product):
    """SIGKILL one worker while its users browse and log in; the other worker keeps serving the
    same sessions (signed cookies) and can still write (logins, audit)."""
    users = [make_user(f"usuario{i}", perms={product: "all"}) for i in range(6)]
    db.close()
    with server_process(database_url, **SETTINGS) as survivor, server_process(database_url, **SETTINGS) as victim:
        clients = [HttpClient(victim.url) for _ in users]
        for client, user in zip(clients, users, strict=True):
            assert client.login(user.username, PASSWORD) == 302
        started = threading.Event()

        tokens = {
            id(c): re.search(r'name="csrf-token" content="([^"]+)"', c.request("GET", "/empresas")[1]).group(1)
            for c in clients
        }

        def busy(client):
            started.set()
            for _ in range(500):  # until the kill cuts it off; each Seleccionar writes an audit event
                try:
                    client.request(
                        "POST", "/seleccionar", {"csrf_token": tokens[id(client)], "producto": product.id}, timeout=10
                    )
                except (OSError, http.client.HTTPException):
                    return

        threads = [threading.Thread(target=busy, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        started.wait(10)
        time.sleep(0.5)  # requests in flight, some inside their transaction
        victim.kill()
        assert victim.process.returncode == -signal.SIGKILL
        for thread in threads:
            thread.join(60)

        for client in clients:  # the same cookies, now against the surviving process
            client.base_url = survivor.url
            assert client.request("GET", "/empresas")[0] == 200
        fresh = HttpClient(survivor.url)
        assert fresh.login("usuario0", PASSWORD) == 302  # a write after the kill: nothing stayed locked
    db.connect(reuse_if_open=True)
    assert models.AuditEvent.select().where(models.AuditEvent.tag == "product:select").count() > 0
