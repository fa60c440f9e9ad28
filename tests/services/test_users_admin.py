"""Gestión de usuarios (services/users_admin.py): roles, and every rule refused on the server
with its Spanish message."""

import pytest

from domain.permissions import PERMISSIONS
from models import AuditEvent, OutboxMessage, User, UserCompany, UserPermission
from services import Refused, users_admin
from tests.factories import PASSWORD, make_company, make_product, make_user


class Form(dict):
    """A request form: getlist like werkzeug's MultiDict."""

    def getlist(self, name):
        value = self.get(name, [])
        return value if isinstance(value, list) else [value]


@pytest.fixture
def world(db, app):
    company = make_company("JAHC TEST", signatures=2)
    clasica, oro = make_product(company, "Clásica / Visa"), make_product(company, "Oro / Visa")
    admin = make_user("admin", perms={clasica: "all", oro: "users.manage,order.view"})
    other = make_company("OTRA SAS", nit="800111222")
    other_product = make_product(other, "Otra / Visa")
    stranger = make_user("ajeno", perms={other_product: "all"})
    with app.test_request_context():
        yield {"company": company, "clasica": clasica, "oro": oro, "admin": admin, "other": other, "stranger": stranger}


FIELDS = {"username": "nuevo1", "first_name": "Nora", "last_name": "Nueva", "email": "nora@example.com"}


def perms_of(user, product):
    return {
        p.permission
        for p in UserPermission.select().where(
            (UserPermission.user == user.id) & (UserPermission.product == product.id)
        )
    }


def test_every_permission_belongs_to_a_role():
    covered = {perm for role in users_admin.ROLES for perm in role.permissions}
    assert covered == set(PERMISSIONS)


def test_create_gives_the_roles_permissions_and_emails_a_temporary_password(world):
    w = world
    form = Form({f"rol-{w['clasica'].id}": ["cargador"], f"permiso-{w['clasica'].id}": ["reports.view"]})
    wanted = users_admin.grants_from(form, users_admin.products_of(w["company"]))
    user = users_admin.create(w["admin"], w["company"], FIELDS, wanted, PASSWORD)
    assert perms_of(user, w["clasica"]) == {*users_admin.ROLE_BY_CODE["cargador"].permissions, "reports.view"}
    assert perms_of(user, w["oro"]) == set()
    assert UserCompany.select().where(UserCompany.user == user.id).count() == 1
    assert user.must_change_password and user.terms_accepted_at is None
    mail = OutboxMessage.get(OutboxMessage.recipient == "nora@example.com")
    assert "Contraseña temporal" in mail.body and "nuevo1" in mail.body
    assert AuditEvent.get(AuditEvent.tag == "user:create").object_ref == f"usuario:{user.id}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**FIELDS, "username": "a"}, "Usuario inválido"),
        ({**FIELDS, "email": "no-es-correo"}, "correo electrónico válido"),
        ({**FIELDS, "first_name": ""}, "Escribe el nombre"),
        ({**FIELDS, "username": "ADMIN"}, "ya existe"),
    ],
)
def test_create_refuses_bad_data_and_creates_nothing(world, fields, message):
    w = world
    with pytest.raises(Refused, match=message):
        users_admin.create(w["admin"], w["company"], fields, {w["clasica"].id: frozenset({"order.view"})}, PASSWORD)
    assert not User.select().where(User.email == "nora@example.com").exists()


def test_an_administrator_cannot_grant_what_they_do_not_hold(world):
    w = world
    with pytest.raises(Refused, match="No puedes otorgar permisos que no tienes en Oro / Visa: batch.upload"):
        users_admin.create(w["admin"], w["company"], FIELDS, {w["oro"].id: frozenset({"batch.upload"})}, PASSWORD)


def test_a_two_signature_company_refuses_sign_and_authorize_together(world, app):
    w = world
    both = {w["clasica"].id: frozenset({"batch.sign", "batch.authorize"})}
    with pytest.raises(Refused, match="no puede firmar y autorizar"):
        users_admin.create(w["admin"], w["company"], FIELDS, both, PASSWORD)
    app.config["ALLOW_SIGN_AND_AUTHORIZE"] = True
    try:
        user = users_admin.create(w["admin"], w["company"], FIELDS, both, PASSWORD)
    finally:
        app.config.pop("ALLOW_SIGN_AND_AUTHORIZE")
    assert perms_of(user, w["clasica"]) == {"batch.sign", "batch.authorize"}


def test_the_password_is_required_and_a_wrong_one_creates_nothing(world):
    w = world
    with pytest.raises(Refused, match="contraseña es incorrecta"):
        users_admin.create(w["admin"], w["company"], FIELDS, {w["clasica"].id: frozenset({"order.view"})}, "mala")
    assert not User.select().where(User.username == "nuevo1").exists()


def test_editing_keeps_what_the_administrator_does_not_hold(world):
    w = world
    user = make_user("mixto", perms={w["oro"]: "batch.upload,order.view"})
    users_admin.set_permissions(w["admin"], w["company"], user.id, {w["oro"].id: frozenset()}, PASSWORD)
    assert perms_of(user, w["oro"]) == {"batch.upload"}  # the admin holds order.view on Oro, not batch.upload
    assert AuditEvent.get(AuditEvent.tag == "user:permissions").detail == "Oro / Visa: batch.upload"


def test_never_ones_own_permissions_or_state(world):
    w = world
    with pytest.raises(Refused, match="tus propios permisos"):
        users_admin.set_permissions(w["admin"], w["company"], w["admin"].id, {}, PASSWORD)
    with pytest.raises(Refused, match="tu estado"):
        users_admin.act(w["admin"], w["company"], w["admin"].id, "bloquear", PASSWORD)


def test_the_last_active_administrator_keeps_users_manage_and_stays_active(world, monkeypatch):
    """Two administrators; the second one's password was checked just before another request
    inactivated them (require_password passes): the first one is then the last active
    administrator, and loses neither users.manage nor their access."""
    w = world
    monkeypatch.setattr(users_admin, "require_password", lambda user, password: None)
    second = make_user("admin2", perms={w["clasica"]: "users.manage,order.view", w["oro"]: "users.manage"})
    User.update(status=User.INACTIVE).where(User.id == second.id).execute()
    assert users_admin.active_admins(w["company"]) == {w["admin"].id}
    for attempt in (
        lambda: users_admin.set_permissions(second, w["company"], w["admin"].id, {}, PASSWORD),
        lambda: users_admin.act(second, w["company"], w["admin"].id, "bloquear", PASSWORD),
        lambda: users_admin.act(second, w["company"], w["admin"].id, "inactivar", PASSWORD),
    ):
        with pytest.raises(Refused, match="al menos un administrador activo"):
            attempt()
    assert perms_of(w["admin"], w["clasica"]) >= {"users.manage"} and User.get_by_id(w["admin"].id).is_active


def test_two_administrators_removing_each_other_at_once_leave_one(world, app, monkeypatch):
    """Both passwords checked, then both at once: the check and the write run under the company's
    lock, so one of the two is refused."""
    import threading

    w = world
    checked = users_admin.require_password

    def check_then_wait(user, password):
        checked(user, password)
        barrier.wait()

    monkeypatch.setattr(users_admin, "require_password", check_then_wait)
    second = make_user("admin2", perms={w["clasica"]: "users.manage,order.view"})
    barrier, outcomes = threading.Barrier(2), []

    def remove(actor, target):
        with app.test_request_context():
            try:
                users_admin.act(actor, w["company"], target.id, "inactivar", PASSWORD)
                outcomes.append("ok")
            except Refused as refused:
                outcomes.append(refused.message)
            finally:
                from models import db

                db.close()

    threads = [threading.Thread(target=remove, args=pair) for pair in ((w["admin"], second), (second, w["admin"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["ok", users_admin.LAST_ADMIN]), outcomes
    assert len(users_admin.active_admins(w["company"])) == 1


def test_another_companys_user_is_not_found(world):
    w = world
    with pytest.raises(Refused, match="no pertenece a la empresa"):
        users_admin.act(w["admin"], w["company"], w["stranger"].id, "bloquear", PASSWORD)
    with pytest.raises(Refused, match="no pertenece a la empresa"):
        users_admin.set_permissions(w["admin"], w["company"], w["stranger"].id, {}, PASSWORD)
    assert users_admin.administered(w["admin"], w["other"].id) is None
    assert [u.username for u in users_admin.users_of(w["company"])] == ["admin"]


def test_account_actions_follow_the_state_and_end_sessions(world):
    w = world
    user = make_user("clerk", perms={w["clasica"]: "order.view"})
    version = User.get_by_id(user.id).session_version
    blocked, message = users_admin.act(w["admin"], w["company"], user.id, "bloquear", PASSWORD)
    assert (blocked.status, message) == (User.BLOCKED, "El usuario fue bloqueado.")
    assert blocked.session_version == version + 1
    assert users_admin.offered(blocked) == ["desbloquear", "inactivar"]
    with pytest.raises(Refused, match="no aplica"):
        users_admin.act(w["admin"], w["company"], user.id, "bloquear", PASSWORD)
    assert users_admin.act(w["admin"], w["company"], user.id, "desbloquear", PASSWORD)[0].status == User.ACTIVE
    inactive, _ = users_admin.act(w["admin"], w["company"], user.id, "inactivar", PASSWORD)
    assert inactive.status == User.INACTIVE and users_admin.offered(inactive) == ["activar"]
    assert users_admin.act(w["admin"], w["company"], user.id, "activar", PASSWORD)[0].status == User.ACTIVE
    tags = [
        e.tag for e in AuditEvent.select().where(AuditEvent.object_ref == f"usuario:{user.id}").order_by(AuditEvent.id)
    ]
    assert tags == ["user:block", "user:unblock-admin", "user:inactivate", "user:activate"]


def test_reset_replaces_the_password_and_emails_a_temporary_one(world):
    w = world
    user = make_user("clerk", perms={w["clasica"]: "order.view"})
    before = User.get_by_id(user.id).password_hash
    users_admin.act(w["admin"], w["company"], user.id, "restablecer", PASSWORD)
    after = User.get_by_id(user.id)
    assert after.password_hash != before and after.must_change_password
    mail = OutboxMessage.select().where(OutboxMessage.recipient == user.email).order_by(OutboxMessage.id.desc()).get()
    assert "restableció la contraseña" in mail.body


def test_a_user_of_another_company_too_keeps_their_account(world):
    w = world
    shared = make_user("compartido", perms={w["clasica"]: "order.view"}, companies=(w["other"],))
    with pytest.raises(Refused, match="también trabaja con otra empresa"):
        users_admin.act(w["admin"], w["company"], shared.id, "inactivar", PASSWORD)
