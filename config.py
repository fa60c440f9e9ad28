"""Configuration read from the environment (and an optional `.env` file)."""

import os
import secrets
from pathlib import Path

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent


def _bool(value, default=False):
    if value is None or value == "":
        return default
    return str(value).strip().lower() in {"1", "true", "yes", "si", "sí", "on"}


def _int(value, default):
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, or one generated once and kept in instance/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def finish_config(config: dict) -> None:
    """Settings derived from others, computed after overrides."""
    # The request limit follows the batch file limit, plus room for the form around it.
    config["MAX_CONTENT_LENGTH"] = config["BATCH_MAX_BYTES"] + 1024 * 1024


def load_config(instance_path: Path) -> dict:
    """Build the app configuration from the environment; tests pass overrides on top."""
    load_dotenv(ROOT / ".env", override=False)
    env = os.environ
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'conexion.db'}",
        "HOST": env.get("HOST", "127.0.0.1"),
        "PORT": _int(env.get("PORT"), 5000),
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": _int(env.get("SMTP_PORT"), 25),
        "SMTP_USER": env.get("SMTP_USER", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS")),
        "MAIL_FROM": env.get("MAIL_FROM", "Conexión Empresas <no-responder@conexion-empresas.local>"),
        "SESSION_IDLE_MINUTES": _int(env.get("SESSION_IDLE_MINUTES"), 30),
        "PASSWORD_MAX_AGE_DAYS": _int(env.get("PASSWORD_MAX_AGE_DAYS"), 90),
        "LOGIN_RATE_LIMIT": _int(env.get("LOGIN_RATE_LIMIT"), 20),
        "LOGIN_RATE_WINDOW_SECONDS": _int(env.get("LOGIN_RATE_WINDOW_SECONDS"), 300),
        "DEMO_MODE": _bool(env.get("DEMO_MODE")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure cookies unless told otherwise (make run sets it off: plain http on localhost).
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), default=True),
        "PROXY_FIX_X_FOR": _int(env.get("PROXY_FIX_X_FOR"), 0),
        "WTF_CSRF_TIME_LIMIT": None,
        "BATCH_MAX_BYTES": _int(env.get("BATCH_MAX_BYTES"), 20 * 1024 * 1024),
        "BATCH_MAX_RECORDS": _int(env.get("BATCH_MAX_RECORDS"), 100_000),
        # Operations: who is e-mailed when a paid order's processing keeps failing, and after how many failures.
        "OPS_EMAIL": env.get("OPS_EMAIL", ""),
        "ORDER_MAX_FAILURES": _int(env.get("ORDER_MAX_FAILURES"), 5),
        # «Exportar Excel»: up to this many rows the file is built in the request; more, by the export job.
        "EXPORT_INLINE_ROWS": _int(env.get("EXPORT_INLINE_ROWS"), 5_000),
        # Gestión de usuarios: let a two-signature company's administrator give one user both
        # batch.sign and batch.authorize on a product (refused by default: it defeats the second signature).
        "ALLOW_SIGN_AND_AUTHORIZE": _bool(env.get("ALLOW_SIGN_AND_AUTHORIZE")),
        # The portal's address as users reach it (https://portal.example.co): the e-mails' links; empty, paths.
        "BASE_URL": env.get("BASE_URL", ""),
    }
