"""Conexión Empresas: application factory and development entry point (`python app.py`)."""

import logging
import time
from pathlib import Path

from flask import Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

import models
from blueprints import templating
from blueprints.helpers import htmx, pending_step
from config import finish_config, load_config
from services import access
from services.audit import Event, record_event

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Ingresa con tu usuario y contraseña para continuar."
login_manager.login_message_category = "info"

# The only endpoints that answer without a session; every other one sends an anonymous user to
# the login page (a new route is private the day it is written; tests/web/test_route_security.py).
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "auth.index",  # "/" only redirects: to the login page, or to the companies once logged in
        "auth.login",
        "auth.recover",
        "auth.logout",  # ending no session is harmless; it lands on the login page
        "auth.session_status",  # the idle timer asks it; answers active=false without a session
        "help.index",
        "help.chapter",
        "health.check",  # GET /salud for the load balancer: database and job heartbeats, no personal data
        "demo.outbox",  # demo mode only, on localhost: where a temporary password is read before logging in
    }
)

# Endpoints a user with a pending step (terms, forced change) may still reach.
PENDING_STEP_ENDPOINTS = {"auth.terms", "auth.change_password", "auth.logout", "auth.keepalive", "static"}
# Requests that must not count as user activity for the idle timeout (e.g. polling).
PASSIVE_ENDPOINTS = {"auth.session_status", "batches.status", "orders.row", "static"}


def create_app(config=None) -> Flask:
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent / "instance"))
    app.config.update(load_config(Path(app.instance_path)))
    if config:
        app.config.update(config)
    finish_config(app.config)
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("peewee").setLevel(logging.INFO)  # SQL parameters hold hashes and personal data

    if app.config["PROXY_FIX_X_FOR"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N trusted proxies the client's address is in X-Forwarded-For (never trusted otherwise).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=1)
    models.open_database(app.config["DATABASE_URL"])
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)

    _register_request_hooks(app)
    templating.register(app)
    _register_errors(app)
    _register_blueprints(app)

    from cli import register_cli

    register_cli(app)
    return app


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        uid, version = (int(x) for x in user_id.split(":"))
    except ValueError:
        return None
    user = access.user(uid)
    # A password change or block bumps session_version, ending every other session.
    if user is None or user.session_version != version or not user.is_active:
        return None
    return user


def _register_blueprints(app: Flask) -> None:
    from blueprints import (
        auth,
        authorization,
        batches,
        cards,
        companies,
        health,
        help,
        innominate,
        master,
        orders,
        replacement,
        reports,
        settings,
        users,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(companies.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(authorization.bp)
    app.register_blueprint(orders.bp)
    app.register_blueprint(innominate.bp)
    app.register_blueprint(master.bp)
    app.register_blueprint(cards.bp)
    app.register_blueprint(replacement.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(help.bp)
    app.register_blueprint(health.bp)
    from blueprints import exports  # «Exportar Excel» / «Exportar PDF» of every list and report

    app.register_blueprint(exports.bp)
    if app.config["DEMO_MODE"]:
        if app.config["HOST"] not in ("127.0.0.1", "localhost", "::1"):
            # The demo outbox shows temporary passwords to whoever can reach it.
            raise RuntimeError("DEMO_MODE solo se permite con HOST=127.0.0.1 (localhost)")
        from blueprints import demo

        app.register_blueprint(demo.bp)


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _connect():
        models.db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc):
        if not models.db.is_closed():
            models.db.close()

    @app.before_request
    def _refuse_nul():
        # No legitimate input has NUL characters, and PostgreSQL refuses them in text.
        values = list(request.args.values()) + list(request.form.values())
        values += [f.filename or "" for f in request.files.values()]
        if any("\x00" in v for v in values):
            abort(400)

    @app.before_request
    def _require_login():
        if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
            return None  # a 404 or 405 answers as such; public pages answer everybody
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return None

    @app.before_request
    def _session_guard():
        if not current_user.is_authenticated:
            return None
        now = int(time.time())
        idle_limit = app.config["SESSION_IDLE_MINUTES"] * 60
        last_seen = session.get("last_seen", now)
        if now - last_seen > idle_limit:
            from services.accounts import end_sessions

            user = current_user._get_current_object()
            record_event(Event.SESSION_EXPIRED, user)
            end_sessions(user)
            logout_user()
            session.clear()
            flash("Tu sesión expiró por inactividad. Ingresa de nuevo.", "info")
            return _redirect_to_login()
        if request.endpoint not in PASSIVE_ENDPOINTS:
            session["last_seen"] = now
        step = pending_step(current_user)
        if step and request.endpoint not in PENDING_STEP_ENDPOINTS:
            return redirect(url_for(step))
        return None

    @app.url_value_preprocessor
    def _bounded_ids(endpoint, values):
        """An id in a URL beyond any real row (e.g. 25 digits) is simply not found, instead of
        overflowing the database driver."""
        if values and any(isinstance(v, int) and v > 2**53 for v in values.values()):
            abort(404)

    @app.after_request
    def _security_headers(response):
        response.vary.add("HX-Request")  # pages and their htmx fragments share URLs
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        if current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
        return response


@login_manager.unauthorized_handler
def _unauthorized():
    if request.headers.get("HX-Request") == "true":
        return _redirect_to_login()
    flash(login_manager.login_message, "info")
    return redirect(url_for("auth.login"))


def _redirect_to_login():
    if request.headers.get("HX-Request") == "true":
        return "", 401, {"HX-Redirect": url_for("auth.login")}
    return redirect(url_for("auth.login"))


def _register_errors(app: Flask) -> None:
    messages = {
        400: ("Solicitud inválida", "La solicitud no se pudo procesar. Recarga la página e inténtalo de nuevo."),
        403: ("Acceso denegado", "No tienes permiso para realizar esta operación."),
        404: ("No encontrado", "La página o el registro que buscas no existe."),
        405: ("Operación no permitida", "La operación solicitada no está permitida."),
        413: ("Archivo demasiado grande", "El archivo supera el tamaño máximo permitido."),
        429: ("Demasiados intentos", "Demasiados intentos. Espera unos minutos e inténtalo de nuevo."),
        500: ("Error interno", "Ocurrió un error inesperado. Inténtalo de nuevo más tarde."),
    }

    def handler(code):
        def render(_error):
            title, text = messages[code]
            return render_template("error.html", code=code, title=title, text=text), code

        return render

    for code in messages:
        app.register_error_handler(code, handler(code))

    @app.errorhandler(CSRFError)
    def _csrf_error(_error):
        title = "Sesión de formulario vencida"
        text = "El formulario venció o no es válido. Recarga la página e inténtalo de nuevo."
        return render_template("error.html", code=400, title=title, text=text), 400


def run_dev() -> None:
    """`make run`: one process serving the app and running the scheduler in-process."""
    app = create_app()
    from jobs import start_background_scheduler

    start_background_scheduler(app)
    app.run(host=app.config["HOST"], port=app.config["PORT"], threaded=True, use_reloader=False)


if __name__ == "__main__":
    run_dev()
