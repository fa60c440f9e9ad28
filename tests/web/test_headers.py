"""The security headers of every page (issue 15): a Content Security Policy without inline script
or style, framing refused, no caching of data pages, and the session cookie HttpOnly, SameSite
and Secure behind HTTPS. Every GET route of the app is checked, from the route table."""

import pytest

from tests.conftest import login
from tests.web.test_route_security import PROTECTED, _ids, url, world  # noqa: F401 (the fixture)

GETS = [r for r in PROTECTED if r[1] == "GET"]


def _check(response, data_page: bool):
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if data_page:
        assert "no-store" in response.headers.get("Cache-Control", ""), response.request.path


@pytest.mark.parametrize(("endpoint", "method", "rule"), GETS, ids=_ids(GETS))
def test_every_page_sends_the_security_headers_and_is_not_cached(app, client, world, endpoint, method, rule):  # noqa: F811
    login(client, "ana")
    response = client.get(url(app, endpoint, rule, world["mine"]))
    _check(response, data_page=endpoint != "static")


def test_the_login_page_too_and_the_session_cookie_flags(app, client, db):
    _check(client.get("/ingresar"), data_page=False)
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        from tests.factories import make_user

        make_user("ana")
        response = login(client, "ana")
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
