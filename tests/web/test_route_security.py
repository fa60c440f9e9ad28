"""The route table's security, generated from `app.url_map`: a route added tomorrow is covered
the day it is added, and fails here until it is protected or allowed on purpose.

For every rule and method:
- anonymous: redirected to the login page (an htmx request gets 401 with HX-Redirect), unless
  the endpoint is on the app's own allow-list, `app.PUBLIC_ENDPOINTS`;
- under /productos/<product_id>: a user of the company without any permission on the product
  gets 403 (`product_view` checks them), except the few pages listed in NEEDS_NO_PERMISSION;
- ids in the URL pointing at another company's objects: 404, never the object (and the same
  URL does answer its owner, so the 404 is about the company, not about the object's state);
- POST without a CSRF token: 400.
"""

import pytest

import models
from app import PUBLIC_ENDPOINTS, create_app
from models import Batch, ServiceOrder, UserCompany
from tests.conftest import csrf_token, login
from tests.factories import make_company, make_product, make_user

# Pages under /productos/<product_id> that a user of the company may open without any
# permission on the product (each with the reason).
NEEDS_NO_PERMISSION = {
    "companies.product": "the product page itself: its menu shows only what the user may do",
}

# The URL parameters this test knows how to point at one company's objects.
OBJECT_PARAMS = ("company_id", "product_id", "batch_id", "order_id", "request_id", "card_id", "export_id", "user_id")
# URL parameters that name no object, and the value the checks use for them.
NAMED_VALUES = {"kind": "ordenes", "slug": "cuenta-maestra"}  # an export's list (services/exports.py), a report
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _route_table():
    """(endpoint, method, rule) of the app, built once at collection (the database proxy is put
    back as it was: the session's app fixture opens the real one)."""
    previous = models.db.obj
    config = {"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite:///:memory:", "DEMO_MODE": False}
    application = create_app(config)
    if previous is not None:
        models.db.initialize(previous)
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in application.url_map.iter_rules()
        for method in sorted(rule.methods & set(METHODS))
    )


ROUTES = _route_table()
PROTECTED = [r for r in ROUTES if r[0] not in PUBLIC_ENDPOINTS]


def _ids(routes):
    return [f"{endpoint} {method}" for endpoint, method, _rule in routes]


def _rule(app, endpoint, rule):
    (found,) = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule]
    return found


def _company_objects(name, nit):
    """A company whose (unnamed) product has a batch in an order, and a processed innominate
    request (request_id) with one stock card (card_id), and a finished export (export_id)."""
    company = make_company(name, nit=nit)
    product = make_product(company, "Clásica In / Visa", named=False)
    order = ServiceOrder.create(company=company, product=product, status=ServiceOrder.PENDING_PAYMENT, records=1)
    batch = Batch.create(
        company=company, product=product, number=f"{nit[-6:]}01", kind="EMI", status=Batch.TO_AUTHORIZE,
        order=order, total_records=1, processed_records=1, valid_records=1,
    )  # fmt: skip
    models.BatchFile.create(batch=batch, content=b"", header='["TIPO ID", "NRO ID"]')  # as an upload stores it
    request = Batch.create(
        company=company, product=product, number=f"{nit[-6:]}02", kind="INN", status=Batch.PROCESSED, total_records=1,
    )  # fmt: skip
    record = models.BatchRecord.create(batch=request, line=1, id_type="", id_number="", status="PROCESADO", data="{}")
    holder = models.Person.create(id_type="CC", id_number=f"{nit}1", first_name="ANA", first_surname="ROJAS")
    card = models.Card.create(
        product=product, masked_pan="450714******0001", status=models.Card.ACTIVE, serial=1, record=record,
        person=holder,
    )  # fmt: skip
    export = models.ExportJob.create(  # a finished «Exportar Excel»; the world gives it to the company's user
        user=make_user(f"exporta{nit}"), company=company, product=product, kind="ordenes", total=1,
        status=models.ExportJob.READY, content=b"PK", filename="ordenes-servicio.xlsx",
    )  # fmt: skip
    employee = make_user(f"empleado{nit}", perms={product: "order.view"})  # Configuración > Usuarios
    return {
        "company_id": company.id, "product_id": product.id, "batch_id": batch.id, "order_id": order.id,
        "request_id": request.id, "card_id": card.id, "export_id": export.id, "user_id": employee.id,
    }  # fmt: skip


@pytest.fixture
def world(db):
    """Company A (user "ana" holds every permission; "nadie" is of the company with none) and
    company B (its owner "beto")."""
    mine = _company_objects("EMPRESA A", "900000001")
    theirs = _company_objects("EMPRESA B", "900000002")
    ana = make_user("ana", perms={models.Product.get_by_id(mine["product_id"]): "all"})
    beto = make_user("beto", perms={models.Product.get_by_id(theirs["product_id"]): "all"})
    for owner, objects in ((ana, mine), (beto, theirs)):  # an export is its user's only
        models.ExportJob.update(user=owner).where(models.ExportJob.id == objects["export_id"]).execute()
    nobody = make_user("nadie")
    UserCompany.create(user=nobody, company=mine["company_id"])
    return {"mine": mine, "theirs": theirs}


def url(app, endpoint, rule, values):
    """The path of this rule (an endpoint may have several) with its ids taken from `values`."""
    found = _rule(app, endpoint, rule)
    unknown = set(found.arguments) - set(OBJECT_PARAMS) - set(NAMED_VALUES)
    assert not unknown, f"{rule}: teach this test which object {sorted(unknown)} names"
    values = {**NAMED_VALUES, **values}
    return found.build({k: values[k] for k in found.arguments}, append_unknown=False)[1]


def call(client, method, target, csrf=True, **kwargs):
    data = {"csrf_token": csrf_token(client)} if csrf and method != "GET" else {}
    return client.open(target, method=method, data=data, **kwargs)


def test_the_route_table_is_the_apps(app, make_app):
    """Collected from an app built like the session's; the allow-list names real endpoints
    (the demo outbox exists only in demo mode)."""
    assert ROUTES == sorted(
        (r.endpoint, m, r.rule) for r in app.url_map.iter_rules() for m in sorted(r.methods & set(METHODS))
    )
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    demo = {r.endpoint for r in make_app(DEMO_MODE=True).url_map.iter_rules()}
    assert set(PUBLIC_ENDPOINTS) <= endpoints | demo, set(PUBLIC_ENDPOINTS) - endpoints - demo
    assert set(NEEDS_NO_PERMISSION) <= endpoints


def check_anonymous(client, method, target):
    response = call(client, method, target)
    assert response.status_code == 302, f"{method} {target} answered {response.status_code} to nobody"
    assert response.headers["Location"].endswith("/ingresar")
    response = call(client, method, target, headers={"HX-Request": "true"})
    assert response.status_code == 401, f"{method} {target} (htmx) answered {response.status_code} to nobody"
    assert response.headers["HX-Redirect"].endswith("/ingresar")


@pytest.mark.parametrize(("endpoint", "method", "rule"), PROTECTED, ids=_ids(PROTECTED))
def test_anonymous_is_sent_to_the_login_page(app, client, world, endpoint, method, rule):
    check_anonymous(client, method, url(app, endpoint, rule, world["mine"]))


PRODUCT_ROUTES = [r for r in PROTECTED if "<int:product_id>" in r[2]]


@pytest.mark.parametrize(("endpoint", "method", "rule"), PRODUCT_ROUTES, ids=_ids(PRODUCT_ROUTES))
def test_a_user_without_permissions_on_the_product_gets_403(app, client, world, endpoint, method, rule):
    login(client, "nadie")
    response = call(client, method, url(app, endpoint, rule, world["mine"]))
    expected = 200 if endpoint in NEEDS_NO_PERMISSION else 403
    assert response.status_code == expected, f"{method} {rule}: {response.status_code}"


OBJECT_ROUTES = [r for r in PROTECTED if any(f"<int:{p}>" in r[2] for p in OBJECT_PARAMS)]


def _foreign_variants(app, endpoint, rule, world):
    """The URL with every id of company B, then with one id at a time of B among A's ids."""
    arguments = [a for a in OBJECT_PARAMS if a in _rule(app, endpoint, rule).arguments]
    variants = {"todos de B": dict(world["theirs"])}
    if len(arguments) > 1:
        for name in arguments:
            variants[f"{name} de B"] = {**world["mine"], name: world["theirs"][name]}
    return {label: url(app, endpoint, rule, values) for label, values in variants.items()}


@pytest.mark.parametrize(("endpoint", "method", "rule"), OBJECT_ROUTES, ids=_ids(OBJECT_ROUTES))
def test_another_companys_objects_are_not_found(app, world, endpoint, method, rule):
    owner = app.test_client()
    login(owner, "beto")
    if method == "GET":  # the owner sees it: the 404 below is about the company, not the object
        response = owner.get(url(app, endpoint, rule, world["theirs"]))
        assert response.status_code != 404, f"GET {rule} is not found even for the owner"

    stranger = app.test_client()
    login(stranger, "ana")
    for label, target in _foreign_variants(app, endpoint, rule, world).items():
        response = call(stranger, method, target)
        assert response.status_code == 404, f"{method} {target} ({label}): {response.status_code}"


POST_ROUTES = [r for r in ROUTES if r[1] != "GET"]


@pytest.mark.parametrize(("endpoint", "method", "rule"), POST_ROUTES, ids=_ids(POST_ROUTES))
def test_a_post_without_csrf_token_is_refused(app, client, world, endpoint, method, rule):
    if endpoint not in PUBLIC_ENDPOINTS:
        login(client, "ana")
    before = models.AuditEvent.select().count()
    response = call(client, method, url(app, endpoint, rule, world["mine"]), csrf=False)
    assert response.status_code == 400, f"{method} {rule}: {response.status_code}"
    assert "El formulario venció o no es válido" in response.get_data(as_text=True)
    assert models.AuditEvent.select().count() == before  # nothing happened


def test_a_route_added_without_any_decorator_is_private(app, make_app, db):
    """Login is required by the app itself (app.PUBLIC_ENDPOINTS is the only way out): a view
    written tomorrow without a decorator still sends nobody to the login page."""
    previous = models.db.obj
    extra = make_app()
    models.db.initialize(previous)  # the test's connection stays on the session's database
    extra.add_url_rule("/nueva-pagina", "nueva_pagina", lambda: "secreto")
    check_anonymous(extra.test_client(), "GET", "/nueva-pagina")


def test_the_check_catches_a_route_left_open(app, make_app, db, monkeypatch):
    """The check itself: a route the app lets through without a session (here by widening the
    app's allow-list behind this test's back) fails the anonymous check."""
    import app as app_module

    previous = models.db.obj
    extra = make_app()
    models.db.initialize(previous)
    extra.add_url_rule("/nueva-pagina", "nueva_pagina", lambda: "secreto")
    monkeypatch.setattr(app_module, "PUBLIC_ENDPOINTS", PUBLIC_ENDPOINTS | {"nueva_pagina"})
    with pytest.raises(AssertionError, match="answered 200 to nobody"):
        check_anonymous(extra.test_client(), "GET", "/nueva-pagina")
