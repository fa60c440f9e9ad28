"""Configuración > Usuarios (issue 14): a company's administrator lists its users, creates them,
edits their permissions per product and blocks, unblocks, inactivates, activates or resets their
password, each confirmed with the administrator's password (services/users_admin.py keeps the
rules). Another company's users are never listed nor found (404)."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from blueprints.helpers import done, list_state, page_or_fragment, password_dialog, user_companies
from blueprints.pagination import paginate
from domain.permissions import PERMISSIONS
from services import Refused, users_admin

bp = Blueprint("users", __name__, url_prefix="/configuracion/usuarios")

FIELDS = (
    ("username", "Usuario", 40), ("first_name", "Nombre", 80), ("last_name", "Apellido", 80),
    ("position", "Cargo", 80), ("area", "Área", 80), ("email", "Correo electrónico", 200),
)  # fmt: skip


def _admin():
    return current_user._get_current_object()


def _company(company_id: int):
    """The company, if the user administers it: 404 if it isn't one of theirs, 403 if it is but
    they hold no users.manage there."""
    if not any(c.id == company_id for c in user_companies()):
        abort(404)
    company = users_admin.administered(_admin(), company_id)
    if company is None:
        abort(403)
    return company


def _list_url(company) -> str:
    return url_for("users.index", company_id=company.id, **list_state(names=("q",)))


@bp.route("")
def home():
    """The first company the user administers (403 if none)."""
    companies = users_admin.admin_companies(_admin())
    if not companies:
        abort(403)
    chosen = request.args.get("empresa", "")
    company = next((c for c in companies if str(c.id) == chosen), companies[0])
    return redirect(url_for("users.index", company_id=company.id))


def _list_context(company, values=None):
    values = request.args if values is None else values
    text = (values.get("q") or "")[:60]
    page = paginate(users_admin.users_of(company, text), values)
    return {
        "company": company, "companies": users_admin.admin_companies(_admin()), "page": page, "q": text,
        "offered": users_admin.offered, "actions": users_admin.ACTIONS, "me": _admin(),
    }  # fmt: skip


@bp.route("/<int:company_id>")
def index(company_id):
    """Usuarios: the company's users, «Buscar…», 10 per page (the table alone for htmx)."""
    company = _company(company_id)
    return page_or_fragment("users/index.html", "users/_table.html", **_list_context(company))


def _matrix(company, target=None):
    """What the permission check boxes show: per product, the target's permissions (or none),
    which ones the administrator may change (the others are shown, disabled, and kept)."""
    mine = users_admin.held(_admin(), company)
    theirs = users_admin.held(target, company) if target is not None else {}
    if request.method == "POST":
        theirs = {
            **{p: v for p, v in theirs.items()},
            **users_admin.grants_from(request.form, users_admin.products_of(company)),
        }
    return {
        "products": users_admin.products_of(company), "mine": mine, "theirs": theirs, "roles": users_admin.ROLES,
        "permissions": PERMISSIONS,
    }  # fmt: skip


def _done(company, message, title):
    return done(
        "users/_done.html", message, _list_url(company),
        lambda: {**_list_context(company, request.form), "title": title},
    )  # fmt: skip


@bp.route("/<int:company_id>/nuevo", methods=["GET", "POST"])
def create(company_id):
    """Crear usuario: its data and permissions, confirmed with the administrator's password."""
    company = _company(company_id)
    error = None
    values = {name: (request.form.get(name) or "").strip()[:size] for name, _label, size in FIELDS}
    if request.method == "POST":
        try:
            wanted = users_admin.grants_from(request.form, users_admin.products_of(company))
            user = users_admin.create(_admin(), company, values, wanted, request.form.get("password", ""))
        except Refused as refused:
            error = refused.message
        else:
            message = f"El usuario {user.username} fue creado. Enviamos su contraseña temporal a {user.email}."
            return _done(company, message, "Crear usuario")
    return password_dialog(
        name="user-create", title="Crear usuario", body="users/_create_body.html", fields="users/_user_fields.html",
        button="Crear usuario", action_url=url_for("users.create", company_id=company.id),
        cancel_url=_list_url(company), error=error, keep=list_state(names=("q",)), company=company,
        form_fields=FIELDS, values=values, **_matrix(company),
    )  # fmt: skip


def _target(company, user_id):
    user = users_admin.user_of(company, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/<int:company_id>/<int:user_id>/permisos", methods=["GET", "POST"])
def permissions(company_id, user_id):
    """Editar permisos of one user."""
    company = _company(company_id)
    user = _target(company, user_id)
    error = None
    if request.method == "POST":
        try:
            wanted = users_admin.grants_from(request.form, users_admin.products_of(company))
            users_admin.set_permissions(_admin(), company, user.id, wanted, request.form.get("password", ""))
        except Refused as refused:
            error = refused.message
        else:
            return _done(company, f"Los permisos de {user.username} fueron actualizados.", "Editar permisos")
    return password_dialog(
        name="user-permissions", title="Editar permisos", body="users/_user_body.html",
        fields="users/_permissions.html", button="Guardar permisos",
        action_url=url_for("users.permissions", company_id=company.id, user_id=user.id),
        cancel_url=_list_url(company), error=error, keep=list_state(names=("q",)), company=company, user=user,
        **_matrix(company, user),
    )  # fmt: skip


def account_action(company_id, user_id, action):
    """Bloquear / Desbloquear / Inactivar / Activar / Restablecer contraseña of one user."""
    company = _company(company_id)
    user = _target(company, user_id)
    label, button, _message, _states = users_admin.ACTIONS[action]
    error = None
    if request.method == "POST":
        try:
            user, message = users_admin.act(_admin(), company, user.id, action, request.form.get("password", ""))
        except Refused as refused:
            error = refused.message
        else:
            return _done(company, message, label)
    return password_dialog(
        name=f"user-{action}", title=label, body="users/_user_body.html", button=button,
        button_class="danger" if action in ("bloquear", "inactivar") else "primary",
        action_url=url_for(f"users.{action}", company_id=company.id, user_id=user.id), cancel_url=_list_url(company),
        error=error, keep=list_state(names=("q",)), company=company, user=user, action=action,
    )  # fmt: skip


def _bound(action):
    def view(company_id, user_id):
        return account_action(company_id, user_id, action)

    view.__doc__ = f"{account_action.__doc__} ({action})"
    return view


for _action in users_admin.ACTIONS:
    bp.add_url_rule(f"/<int:company_id>/<int:user_id>/{_action}", _action, _bound(_action), methods=["GET", "POST"])


@bp.app_template_global()
def manages_users() -> bool:
    """Whether Configuración shows «Usuarios»: the user administers some company."""
    return current_user.is_authenticated and bool(users_admin.admin_companies(_admin()))
