"""Configuración: Usuario (datos, cambio de contraseña), Empresas, Descargas (manual cap. 2)."""

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from blueprints.auth import ChangePasswordForm
from blueprints.helpers import company_for_user, done, user_companies
from domain.passwords import REQUIREMENTS
from models import Branch, User
from services import accounts, notices

bp = Blueprint("settings", __name__, url_prefix="/configuracion")


@bp.route("/")
def index():
    return redirect(url_for("settings.user"))


@bp.route("/usuario")
def user():
    """Datos del usuario and its Notificaciones."""
    return render_template(
        "settings/user.html", user=current_user, notice_preferences=notices.preferences(current_user.id)
    )


@bp.route("/usuario/notificaciones", methods=["POST"], endpoint="notices")
def save_notices():
    """Guardar the Notificaciones: each kind on (checked) or off."""
    notices.set_preferences(current_user.id, request.form.getlist("aviso"))
    return done(
        "settings/_notices.html", "Tus notificaciones fueron actualizadas.", url_for("settings.user"),
        lambda: {"notice_preferences": notices.preferences(current_user.id)},
    )  # fmt: skip


@bp.route("/usuario/contrasena", methods=["GET", "POST"])
def password():
    """Cambio de contraseña (voluntary); the session stays open after it."""
    form = ChangePasswordForm()
    errors = []
    if form.validate_on_submit():
        errors = accounts.change_password(current_user, form.current.data, form.new.data, form.confirm.data)
        if not errors:
            # The change ended every other session; keep this one.
            login_user(User.get_by_id(current_user.id))
            flash("Tu contraseña fue cambiada exitosamente.", "success")
            return redirect(url_for("settings.user"))
    return render_template("settings/password.html", form=form, errors=errors, requirements=REQUIREMENTS)


@bp.route("/empresas")
def companies():
    """Configuración de la empresa: read-only data and branches of one of the user's companies."""
    companies = user_companies()
    chosen = request.args.get("empresa", type=int)
    company = company_for_user(chosen) if chosen else (companies[0] if companies else None)
    branches = list(company.branches.order_by(Branch.code)) if company else []
    return render_template("settings/companies.html", companies=companies, company=company, branches=branches)


@bp.route("/descargas")
def downloads():
    """Descargas: manual and batch templates."""
    return render_template("settings/downloads.html")


@bp.route("/descargas/manual-usuario.pdf")
def manual_pdf():
    """Manual de Usuario Conexión Empresas Online, as a PDF built from our help pages."""
    from blueprints.help import manual_pdf_bytes

    return Response(
        manual_pdf_bytes(),
        mimetype="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="Manual-Usuario-Conexion-Empresas-Online.pdf"'},
    )


@bp.route("/descargas/archivos-lotes.zip")
def batch_templates():
    """Archivos lotes operativos: one .xlsx template per batch type and the TXT layouts."""
    from domain.batch_templates import templates_zip_bytes

    return Response(
        templates_zip_bytes(),
        mimetype="application/zip",
        headers={"Content-Disposition": 'attachment; filename="Archivos-lotes-operativos.zip"'},
    )
