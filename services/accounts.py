"""User accounts: authentication, lockout, password changes and recovery (SPEC §2)."""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, render_template
from werkzeug.security import check_password_hash, generate_password_hash

from domain import passwords
from models import Company, LoginAttempt, PasswordHistory, User, UserCompany, db, utcnow
from services.audit import Event, client_ip, record_event
from services.mail import send_mail

HASH_METHOD = "scrypt"


def hash_password(plain: str) -> str:
    return generate_password_hash(plain, method=HASH_METHOD)


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str = ""
    expired: bool = False


def rate_limited() -> bool:
    """Count this attempt for the client IP; True when the IP went over the limit."""
    config = current_app.config
    window_start = utcnow() - timedelta(seconds=config["LOGIN_RATE_WINDOW_SECONDS"])
    ip = client_ip()
    LoginAttempt.delete().where(LoginAttempt.created_at < window_start).execute()
    LoginAttempt.create(ip=ip)
    recent = LoginAttempt.select().where((LoginAttempt.ip == ip) & (LoginAttempt.created_at >= window_start)).count()
    if recent > config["LOGIN_RATE_LIMIT"]:
        record_event(Event.LOGIN_RATE_LIMITED, detail=f"{recent} intentos")
        return True
    return False


def authenticate(username: str, password: str) -> LoginResult:
    """Check the credentials, applying the 3-strike lockout and the temporary-password expiry."""
    user = User.get_or_none(User.username == (username or "").strip())
    if user is None:
        # Same work and answer as a wrong password: no hint that the user doesn't exist.
        check_password_hash(_DUMMY_HASH, password or "")
        record_event(Event.LOGIN_FAILED, username=(username or "")[:40], detail="usuario desconocido")
        return LoginResult(None, passwords.INVALID)
    if user.status == User.BLOCKED:
        record_event(Event.LOGIN_FAILED, user, detail="usuario bloqueado")
        return LoginResult(None, passwords.BLOCKED)
    if user.status == User.INACTIVE:
        record_event(Event.LOGIN_FAILED, user, detail="usuario inactivo")
        return LoginResult(None, passwords.INVALID)
    if not check_password_hash(user.password_hash, password or ""):
        return _failed(user)
    now = utcnow()
    if user.temp_password_expires_at and user.temp_password_expires_at < now:
        record_event(Event.LOGIN_FAILED, user, detail="contraseña temporal vencida")
        return LoginResult(None, "La contraseña temporal venció. Solicita una nueva en «¿Olvidaste tu contraseña?»")
    expired = not user.must_change_password and passwords.is_expired(
        user.password_changed_at, now, current_app.config["PASSWORD_MAX_AGE_DAYS"]
    )
    User.update(
        failed_attempts=0,
        last_login_at=now,
        must_change_password=user.must_change_password or expired,
    ).where(User.id == user.id).execute()
    record_event(Event.LOGIN, user)
    return LoginResult(User.get_by_id(user.id), expired=expired)


def _failed(user: User) -> LoginResult:
    outcome = passwords.register_failure(user.failed_attempts)
    changes = {"failed_attempts": outcome.attempts}
    if outcome.blocked:
        changes.update(status=User.BLOCKED, session_version=User.session_version + 1)
    User.update(**changes).where(User.id == user.id).execute()
    record_event(
        Event.LOGIN_BLOCKED if outcome.blocked else Event.LOGIN_FAILED, user, detail=f"intento {outcome.attempts}"
    )
    return LoginResult(None, outcome.message)


def accept_terms(user: User) -> None:
    User.update(terms_accepted_at=utcnow()).where(User.id == user.id).execute()
    record_event(Event.TERMS_ACCEPTED, user)


def change_password(user: User, current: str, new: str, confirm: str) -> list[str]:
    """Change the password after checking the current one and every rule; [] on success."""
    if not check_password_hash(user.password_hash, current or ""):
        record_event(Event.PASSWORD_CHANGE_FAILED, user, detail="contraseña actual incorrecta")
        return ["La contraseña actual no es correcta"]
    history = [
        h.password_hash
        for h in PasswordHistory.select()
        .where(PasswordHistory.user == user)
        .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
        .limit(passwords.HISTORY_SIZE)
    ]
    errors = passwords.change_errors(new or "", confirm or "", history, check_password_hash, user.password_hash)
    if errors:
        record_event(Event.PASSWORD_CHANGE_FAILED, user, detail="; ".join(errors))
        return errors
    new_hash = hash_password(new)
    with db.atomic():
        User.update(
            password_hash=new_hash,
            password_changed_at=utcnow(),
            must_change_password=False,
            temp_password_expires_at=None,
            session_version=User.session_version + 1,
        ).where(User.id == user.id).execute()
        PasswordHistory.create(user=user, password_hash=new_hash)
    record_event(Event.PASSWORD_CHANGE, user)
    return []


def set_temporary_password(user: User, hours: int | None = None) -> str:
    """Give `user` a fresh temporary password that forces a change; returns it (never logged)."""
    temp = passwords.temporary_password()
    expires = passwords.temporary_expiry(utcnow()) if hours is None else utcnow() + timedelta(hours=hours)
    User.update(
        password_hash=hash_password(temp),
        must_change_password=True,
        temp_password_expires_at=expires,
        failed_attempts=0,
        status=User.ACTIVE,
        session_version=User.session_version + 1,
    ).where(User.id == user.id).execute()
    return temp


def request_recovery(username: str, nit: str, email: str) -> None:
    """If usuario, NIT and correo all match, e-mail a temporary password. Silent either way."""
    username, nit, email = (username or "").strip(), (nit or "").strip(), (email or "").strip().lower()
    user = (
        User.select()
        .join(UserCompany)
        .join(Company)
        .where((User.username == username) & (Company.nit == nit) & (User.email.is_null(False)))
        .first()
    )
    record_event(Event.RECOVERY_REQUESTED, user, username=username[:40], detail=f"NIT {nit[:12]}")
    if user is None or user.email.lower() != email or user.status == User.INACTIVE:
        return
    temp = set_temporary_password(user)
    body = render_template("auth/email_recovery.txt", user=user, password=temp, hours=passwords.TEMPORARY_VALID_HOURS)
    send_mail(user.email, "Conexión Empresas: contraseña temporal", body)
    record_event(Event.RECOVERY_SENT, user)


def create_user(
    username, first_name, last_name, email, position="", area="", password=None, must_change=True, terms_accepted=False
):
    """Create a user. Without `password` a temporary one is generated; returns (user, password)."""
    temp = password or passwords.temporary_password()
    user = User.create(
        username=username,
        password_hash=hash_password(temp),
        first_name=first_name,
        last_name=last_name,
        email=email,
        position=position,
        area=area,
        must_change_password=must_change,
        terms_accepted_at=utcnow() if terms_accepted else None,
        temp_password_expires_at=None,
    )
    PasswordHistory.create(user=user, password_hash=user.password_hash)
    return user, temp


_DUMMY_HASH = generate_password_hash("dummy-password-for-timing", method=HASH_METHOD)
