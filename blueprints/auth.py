"""Ingreso al sistema: login, terms, password change, recovery, logout, idle session (manual cap. 1)."""

import time

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from domain.passwords import REQUIREMENTS
from services import accounts
from services.audit import Event, record_event
from services.provisioning import NIT_RE

bp = Blueprint("auth", __name__)

REQUIRED = "Este campo es obligatorio"
NIT_FORMAT = (
    "El NIT debe tener 9 o 10 dígitos, sin puntos ni espacios; el dígito de verificación es opcional (ej: 900123456-7)"
)


class LoginForm(FlaskForm):
    username = StringField("Usuario", validators=[DataRequired(REQUIRED), Length(max=40)])
    password = PasswordField("Contraseña", validators=[DataRequired(REQUIRED), Length(max=128)])


class TermsForm(FlaskForm):
    accept = BooleanField(
        "He leído y acepto los términos y condiciones",
        validators=[DataRequired("Debes aceptar los términos y condiciones")],
    )


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Contraseña actual", validators=[DataRequired(REQUIRED), Length(max=128)])
    new = PasswordField("Contraseña nueva", validators=[DataRequired(REQUIRED), Length(max=128)])
    confirm = PasswordField("Confirma la contraseña", validators=[DataRequired(REQUIRED), Length(max=128)])


class RecoveryForm(FlaskForm):
    username = StringField("Usuario", validators=[DataRequired(REQUIRED), Length(max=40)])
    nit = StringField(
        "NIT de la empresa",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[DataRequired(REQUIRED), Regexp(NIT_RE, message=NIT_FORMAT)],
    )
    email = StringField(
        "Correo electrónico",
        validators=[
            DataRequired(REQUIRED),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Ingresa un correo electrónico válido"),
            Length(max=200),
        ],
    )


@bp.route("/")
def index():
    """Home: the company list once logged in."""
    if current_user.is_authenticated:
        return redirect(url_for("companies.index"))
    return redirect(url_for("auth.login"))


@bp.route("/ingresar", methods=["GET", "POST"])
def login():
    """Página de identificación: Usuario, Contraseña, Ingresar."""
    if current_user.is_authenticated:
        return redirect(url_for("companies.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        if accounts.rate_limited(form.username.data):
            abort(429)
        result = accounts.authenticate(form.username.data, form.password.data)
        if result.user:
            session.clear()
            login_user(result.user)
            session["last_seen"] = int(time.time())
            if result.expired:
                flash("Tu contraseña está vencida. Debes cambiarla para continuar.", "warning")
            return redirect(url_for("companies.index"))
        error = result.message
    return render_template("auth/login.html", form=form, error=error)


@bp.route("/terminos", methods=["GET", "POST"])
def terms():
    """Términos y condiciones, accepted once at the first login."""
    if current_user.terms_accepted_at is not None:
        return redirect(url_for("auth.index"))
    form = TermsForm()
    if form.validate_on_submit():
        accounts.accept_terms(current_user)
        return redirect(url_for("auth.change_password"))
    return render_template("auth/terms.html", form=form)


@bp.route("/cambio-contrasena", methods=["GET", "POST"])
def change_password():
    """Forced password change (first login, temporary or expired password)."""
    if not current_user.must_change_password:
        return redirect(url_for("settings.password"))
    form = ChangePasswordForm()
    errors = []
    if form.validate_on_submit():
        errors = accounts.change_password(current_user, form.current.data, form.new.data, form.confirm.data)
        if not errors:
            logout_user()
            session.clear()
            flash("Tu contraseña fue cambiada exitosamente. Ingresa con tu nueva contraseña.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/change_password.html", form=form, errors=errors, requirements=REQUIREMENTS)


@bp.route("/recuperar", methods=["GET", "POST"])
def recover():
    """¿Olvidaste tu contraseña?: Usuario, NIT de la empresa, Correo electrónico."""
    form = RecoveryForm()
    if form.validate_on_submit():
        if accounts.rate_limited():
            abort(429)
        accounts.request_recovery(form.username.data, form.nit.data, form.email.data)
        return render_template("auth/recover_sent.html")
    return render_template("auth/recover.html", form=form)


@bp.route("/salir", methods=["POST"])
def logout():
    """Cerrar sesión."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        record_event(Event.LOGOUT, user)
        accounts.end_sessions(user)  # a copied session cookie dies with the logout too
        logout_user()
    session.clear()
    flash("Cerraste tu sesión.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/sesion/mantener", methods=["POST"])
def keepalive():
    """Mantener sesión: the idle warning's button resets the idle clock."""
    return jsonify(ok=True, idle_minutes=current_app.config["SESSION_IDLE_MINUTES"])


@bp.route("/sesion/estado")
def session_status():
    """Seconds left before the idle timeout (does not count as activity)."""
    if not current_user.is_authenticated:
        return jsonify(active=False, remaining=0)
    limit = current_app.config["SESSION_IDLE_MINUTES"] * 60
    remaining = max(0, limit - (int(time.time()) - session.get("last_seen", int(time.time()))))
    return jsonify(active=True, remaining=remaining)
