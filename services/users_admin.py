"""Gestión de usuarios by a company's own administrator (issue 14, SPEC §10b).

An administrator of a company holds `users.manage` on at least one of its products. From
Configuración > Usuarios they list the company's users, create one (a temporary password is
e-mailed; terms and the forced change at first login follow), edit a user's permissions per
product (chosen from roles, each adjusted with checkboxes), block, unblock, inactivate, activate
and reset the password. Every action is confirmed with the administrator's password and recorded
in the audit log (Reportes > Actividad por usuario).

The rules, all checked here on the server whatever the form sent:
- an administrator manages only the companies where they hold `users.manage` (another
  company's user is "not found");
- never their own permissions or state;
- never a permission they don't hold themselves on that product (a permission of the user that
  the administrator doesn't hold is left as it is);
- the last active administrator of a company keeps `users.manage` and stays active;
- in a two-signature company one user can't hold both `batch.sign` and `batch.authorize` on a
  product (it would defeat the second signature), unless the operator's setting
  ALLOW_SIGN_AND_AUTHORIZE says so;
- the account actions (block, inactivate, reset) are refused on a user who also works for a
  company this administrator does not administer: their login is not this company's alone.

Permissions are read on every request (blueprints/helpers.py), so a change applies to the
user's next request; blocking or inactivating also ends their sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_app_context, render_template
from peewee import fn

from bulk import is_sqlite
from domain.permissions import PERMISSIONS
from models import Company, Product, User, UserCompany, UserPermission, db
from services import Refused
from services.accounts import end_sessions, hash_password, require_password
from services.audit import Event, record_event
from services.mail import send_mail
from services.provisioning import create_company_user

MANAGE = "users.manage"
SIGN, AUTHORIZE = "batch.sign", "batch.authorize"


@dataclass(frozen=True)
class Role:
    code: str
    label: str
    permissions: tuple[str, ...]


# Every permission of SPEC §1 belongs to at least one role (tests/services/test_users_admin.py).
ROLES = (
    Role(
        "cargador", "Cargador",
        ("batch.upload", "batch.confirm", "batch.delete", "innominate.request", "innominate.affiliate"),
    ),
    Role("firmante", "Firmante", (SIGN,)),
    Role("autorizador", "Autorizador", (AUTHORIZE,)),
    Role("pagador", "Pagador", ("order.view", "order.pay", "order.void")),
    Role("tesorero", "Tesorero", ("master.balance", "master.credit", "master.debit", "master.fund")),
    Role("gestor", "Gestor de tarjetas", ("cards.view", "cards.manage")),
    Role("consulta", "Consulta", ("order.view", "cards.view", "reports.view")),
    Role("administrador", "Administrador", (MANAGE,)),
)  # fmt: skip
ROLE_BY_CODE = {role.code: role for role in ROLES}

NOT_FOUND = "El usuario no existe o no pertenece a la empresa"
NOT_YOURSELF = "No puedes cambiar tus propios permisos ni tu estado"
LAST_ADMIN = "La empresa debe conservar al menos un administrador activo"
SIGN_AND_AUTHORIZE = (
    "En una empresa de dos firmas un mismo usuario no puede firmar y autorizar lotes del mismo producto ({product})"
)
NOT_YOURS = "No puedes otorgar permisos que no tienes en {product}: {permissions}"
SHARED_USER = "Este usuario también trabaja con otra empresa: pide el cambio a soporte"
NO_PERMISSION = "Selecciona al menos un permiso en algún producto"

EVENTS = {
    "create": Event.USER_CREATE,
    "permissions": Event.USER_PERMISSIONS,
    "block": Event.USER_BLOCK,
    "unblock": Event.USER_UNBLOCK_ADMIN,
    "inactivate": Event.USER_INACTIVATE,
    "activate": Event.USER_ACTIVATE,
    "reset": Event.USER_RESET,
}


# ---------------------------------------------------------------- who administers what


def admin_companies(admin: User) -> list[Company]:
    """The companies where `admin` holds users.manage on some product, by name."""
    return list(
        Company.select()
        .join(Product)
        .join(UserPermission, on=(UserPermission.product == Product.id))
        .join_from(Company, UserCompany, on=(UserCompany.company == Company.id))
        .where(
            (UserPermission.user == admin.id) & (UserPermission.permission == MANAGE) & (UserCompany.user == admin.id)
        )
        .distinct()
        .order_by(Company.name)
    )


def administered(admin: User, company_id: int) -> Company | None:
    """The company if `admin` administers it, else None (the views answer 404)."""
    return next((c for c in admin_companies(admin) if c.id == company_id), None)


def held(user: User, company: Company) -> dict[int, frozenset]:
    """{product id: the permissions `user` holds on it} over the company's products."""
    found: dict[int, set] = {}
    rows = (
        UserPermission.select(UserPermission.product, UserPermission.permission)
        .join(Product)
        .where((UserPermission.user == user.id) & (Product.company == company.id))
        .tuples()
    )
    for product_id, permission in rows:
        found.setdefault(product_id, set()).add(permission)
    return {p: frozenset(perms) for p, perms in found.items()}


def products_of(company: Company) -> list[Product]:
    return list(Product.select().where(Product.company == company.id).order_by(Product.name))


# ---------------------------------------------------------------- the list


def users_of(company: Company, text: str = ""):
    """The company's users, by username; «Buscar…» matches usuario, nombre, apellido or correo."""
    query = User.select().join(UserCompany).where(UserCompany.company == company.id)
    text = (text or "").strip().lower()[:60]
    if text:
        query = query.where(
            fn.LOWER(User.username).contains(text) | fn.LOWER(User.first_name).contains(text)
            | fn.LOWER(User.last_name).contains(text) | fn.LOWER(User.email).contains(text)
        )  # fmt: skip
    return query.order_by(User.username)


def user_of(company: Company, user_id: int) -> User | None:
    return User.select().join(UserCompany).where((UserCompany.company == company.id) & (User.id == user_id)).first()


def _target(company: Company, user_id: int) -> User:
    user = user_of(company, user_id)
    if user is None:
        raise Refused(NOT_FOUND)
    return user


def active_admins(company: Company) -> set[int]:
    """Ids of the company's active users holding users.manage on one of its products."""
    rows = (
        UserPermission.select(UserPermission.user)
        .join(Product)
        .join_from(UserPermission, User, on=(UserPermission.user == User.id))
        .join_from(UserPermission, UserCompany, on=(UserCompany.user == UserPermission.user))
        .where(
            (Product.company == company.id)
            & (UserPermission.permission == MANAGE)
            & (User.status == User.ACTIVE)
            & (UserCompany.company == company.id)
        )  # fmt: skip
        .distinct()
        .tuples()
    )
    return {user_id for (user_id,) in rows}


# ---------------------------------------------------------------- grants


def grants_from(form, products: list[Product]) -> dict[int, frozenset]:
    """The permissions a form asks for, per product: the check boxes "permiso-<product id>"
    (permission codes) plus every permission of the roles ticked in "rol-<product id>" (role
    codes); unknown codes are dropped."""
    wanted = {}
    for product in products:
        codes = {v for v in form.getlist(f"permiso-{product.id}") if v in PERMISSIONS}
        for role in form.getlist(f"rol-{product.id}"):
            if role in ROLE_BY_CODE:
                codes.update(ROLE_BY_CODE[role].permissions)
        if codes:
            wanted[product.id] = frozenset(codes)
    return wanted


def _allow_sign_and_authorize() -> bool:
    return bool(has_app_context() and current_app.config.get("ALLOW_SIGN_AND_AUTHORIZE"))


def _merged(admin_held, target_held, wanted, products) -> dict[int, frozenset]:
    """What the user will hold: the requested permissions among those the administrator holds,
    plus what the user holds that the administrator doesn't (theirs to keep). Requesting one
    the administrator doesn't hold is refused."""
    names = {p.id: p.name for p in products}
    result = {}
    for product in products:
        mine = admin_held.get(product.id, frozenset())
        asked = wanted.get(product.id, frozenset())
        beyond = asked - mine - target_held.get(product.id, frozenset())
        if beyond:
            raise Refused(NOT_YOURS.format(product=names[product.id], permissions=", ".join(sorted(beyond))))
        kept = target_held.get(product.id, frozenset()) - mine
        merged = frozenset((asked & mine) | kept)
        if merged:
            result[product.id] = merged
    return result


def _check_rules(company: Company, products, grants: dict[int, frozenset], before=None) -> None:
    """Refuse a change that gives one user both signatures of a two-signature company's product
    (a user who already held both, from the operator, keeps them)."""
    if company.signatures < 2 or _allow_sign_and_authorize():
        return
    for product in products:
        perms, had = grants.get(product.id, frozenset()), (before or {}).get(product.id, frozenset())
        if {SIGN, AUTHORIZE} <= perms and not {SIGN, AUTHORIZE} <= had:
            raise Refused(SIGN_AND_AUTHORIZE.format(product=product.name))


def _write_grants(user: User, company: Company, grants: dict[int, frozenset]) -> None:
    product_ids = [p.id for p in products_of(company)]
    UserPermission.delete().where((UserPermission.user == user.id) & UserPermission.product.in_(product_ids)).execute()
    rows = [
        {"user": user.id, "product": product_id, "permission": perm}
        for product_id, perms in sorted(grants.items())
        for perm in sorted(perms)
    ]
    if rows:
        UserPermission.insert_many(rows).execute()


def _describe(grants: dict[int, frozenset], products) -> str:
    names = {p.id: p.name for p in products}
    return "; ".join(f"{names[p]}: {', '.join(sorted(perms))}" for p, perms in sorted(grants.items())) or "sin permisos"


# ---------------------------------------------------------------- actions


def create(admin: User, company: Company, fields: dict, wanted: dict[int, frozenset], password: str) -> User:
    """«Crear usuario»: the user, its permissions, and the temporary password by e-mail."""
    products = products_of(company)
    if not wanted:
        raise Refused(NO_PERMISSION)
    grants = _merged(held(admin, company), {}, wanted, products)
    _check_rules(company, products, grants)
    require_password(admin, password)
    with db.atomic():
        user, temp = create_company_user(company, fields)
        _write_grants(user, company, grants)
    body = render_template("auth/email_new_user.txt", user=user, company=company, password=temp)
    send_mail(user.email, "Conexión Empresas: tu usuario", body)
    record_event(EVENTS["create"], admin, company, obj=f"usuario:{user.id}", detail=_describe(grants, products))
    return user


def set_permissions(admin: User, company: Company, user_id: int, wanted: dict[int, frozenset], password: str) -> User:
    """«Editar permisos»: the user's permissions on the company's products."""
    user = _target(company, user_id)
    if user.id == admin.id:
        raise Refused(NOT_YOURSELF)
    products = products_of(company)
    before = held(user, company)
    grants = _merged(held(admin, company), before, wanted, products)
    _check_rules(company, products, grants, before)
    keeps_admin = any(MANAGE in perms for perms in grants.values())
    require_password(admin, password)
    with db.atomic():
        _lock(company)
        if not keeps_admin and active_admins(company) <= {user.id}:
            raise Refused(LAST_ADMIN)
        _write_grants(user, company, grants)
    record_event(EVENTS["permissions"], admin, company, obj=f"usuario:{user.id}", detail=_describe(grants, products))
    return user


ACTIONS = {
    # action: (label, button, done message, allowed states)
    "bloquear": ("Bloquear", "Bloquear", "El usuario fue bloqueado.", (User.ACTIVE,)),
    "desbloquear": ("Desbloquear", "Desbloquear", "El usuario fue desbloqueado.", (User.BLOCKED,)),
    "inactivar": ("Inactivar", "Inactivar", "El usuario fue inactivado.", (User.ACTIVE, User.BLOCKED)),
    "activar": ("Activar", "Activar", "El usuario fue activado.", (User.INACTIVE,)),
    "restablecer": (
        "Restablecer contraseña", "Restablecer", "Enviamos una contraseña temporal al correo del usuario.",
        (User.ACTIVE,),
    ),
}  # fmt: skip
ACTION_EVENTS = {
    "bloquear": "block", "desbloquear": "unblock", "inactivar": "inactivate", "activar": "activate",
    "restablecer": "reset",
}  # fmt: skip


def offered(user: User) -> list[str]:
    """The account actions a user's state allows."""
    return [name for name, (_l, _b, _m, states) in ACTIONS.items() if user.status in states]


def act(admin: User, company: Company, user_id: int, action: str, password: str) -> tuple[User, str]:
    """Bloquear / Desbloquear / Inactivar / Activar / Restablecer contraseña: (user, message)."""
    if action not in ACTIONS:
        raise Refused("Operación desconocida")
    user = _target(company, user_id)
    if user.id == admin.id:
        raise Refused(NOT_YOURSELF)
    label, _button, message, states = ACTIONS[action]
    if user.status not in states:
        raise Refused(f"«{label}» no aplica a un usuario {user.status_label.lower()}")
    others = {c.id for c in user.companies()} - {c.id for c in admin_companies(admin)}
    if others:
        raise Refused(SHARED_USER)
    require_password(admin, password)
    if action == "restablecer":
        _reset(user, company)
    else:
        status = {"bloquear": User.BLOCKED, "desbloquear": User.ACTIVE, "inactivar": User.INACTIVE}.get(
            action, User.ACTIVE
        )
        with db.atomic():
            _lock(company)
            if status != User.ACTIVE and active_admins(company) <= {user.id}:
                raise Refused(LAST_ADMIN)
            changed = (
                User.update(status=status, failed_attempts=0)
                .where((User.id == user.id) & User.status.in_(states))
                .execute()
            )
            if not changed:
                raise Refused("El usuario cambió mientras tanto: vuelve a intentarlo")
        if status != User.ACTIVE:
            end_sessions(user)
    record_event(EVENTS[ACTION_EVENTS[action]], admin, company, obj=f"usuario:{user.id}", detail=user.username)
    return User.get_by_id(user.id), message


def _lock(company: Company) -> None:
    """Serialize the changes of one company's administrators (two of them removing each other at
    once must not leave the company with none): the company's row locked until the transaction
    ends on PostgreSQL; SQLite's transactions here take the write lock when they begin."""
    if not is_sqlite():
        db.execute_sql("SELECT id FROM company WHERE id = %s FOR UPDATE", (company.id,))


def _reset(user: User, company: Company) -> None:
    """A new temporary password replaces the current one (to be changed at the next login); every
    session ends; the password goes by e-mail only."""
    from domain import passwords

    temp = passwords.temporary_password()
    User.update(
        password_hash=hash_password(temp), temp_password_hash=None, temp_password_expires_at=None,
        must_change_password=True, failed_attempts=0, session_version=User.session_version + 1,
    ).where(User.id == user.id).execute()  # fmt: skip
    body = render_template("auth/email_reset_by_admin.txt", user=user, company=company, password=temp)
    send_mail(user.email, "Conexión Empresas: contraseña temporal", body)
