"""The database connection of a request: pooled (checked out and given back, not opened per
request), and never shared with a forked child (a gunicorn worker, a job's subprocess)."""

import os

import models
from tests.conftest import login
from tests.factories import make_company, make_product, make_user


def _raw_connection():
    return models.db.connection()


def test_requests_reuse_a_pooled_connection(client, db):
    company = make_company()
    make_user("ana", perms={make_product(company): "all"})
    assert login(client, "ana").status_code == 302
    models.db.close()  # the test's own connection goes back to the pool too
    seen = []
    original = models.db.obj._connect

    def opening():
        conn = original()
        seen.append(conn)  # kept: a closed one's id could be taken by the next
        return conn

    models.db.obj._connect = opening
    try:
        for _ in range(3):
            assert client.get("/empresas").status_code == 200
    finally:
        del models.db.obj._connect
    assert len(seen) == 3 and all(conn is seen[0] for conn in seen), (
        "each request should check out the same pooled connection"
    )
    assert models.db.is_closed(), "the request gave its connection back"


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(db):
    parent = _raw_connection()
    db.execute_sql("SELECT 1")
    pid = os.fork()
    if pid == 0:  # the child: it inherited no open connection and opens its own
        code = 1
        try:
            if models.db.is_closed():
                models.db.connect()
                if models.db.connection() is not parent and models.db.execute_sql("SELECT 1").fetchone() == (1,):
                    code = 0
            models.db.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child reused its parent's connection"
    assert _raw_connection() is parent
    assert db.execute_sql("SELECT 1").fetchone() == (1,), "the child's exit closed the parent's session"
