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


def rate_limited(username: str = "") -> bool:
    """Count this attempt for the client IP; True when the IP went over the limit."""
    config = current_app.config
    window_start = utcnow() - timedelta(seconds=config["LOGIN_RATE_WINDOW_SECONDS"])
    ip = client_ip()
    LoginAttempt.create(ip=ip, username=(username or "").strip()[:40])
    recent = LoginAttempt.select().where((LoginAttempt.ip == ip) & (LoginAttempt.created_at >= window_start)).count()
    if recent > config["LOGIN_RATE_LIMIT"]:
        record_event(Event.LOGIN_RATE_LIMITED, detail=f"{recent} intentos")
        return True
    return False


TEMP_EXPIRED = "La contraseña temporal venció. Solicita una nueva en «¿Olvidaste tu contraseña?»"


def authenticate(username: str, password: str) -> LoginResult:
    """Check the credentials, applying the 3-strike lockout and the temporary-password expiry.

    A recovery's temporary password is kept apart from the current one: the current password
    keeps working until the temporary one is used, so nobody can lock a user out by
    requesting recoveries, and only the temporary password unblocks a blocked user."""
    username = (username or "").strip()
    password = password or ""
    user = User.get_or_none(User.username == username)
    if user is None:
        return _unknown_user(username, password)
    matches_current = check_password_hash(user.password_hash, password)
    matches_temp = bool(user.temp_password_hash) and check_password_hash(user.temp_password_hash, password)
    now = utcnow()
    temp_expired = bool(user.temp_password_expires_at) and user.temp_password_expires_at < now
    # An operator's temporary password is the current one until changed (no separate hash).
    operator_temp = matches_current and user.must_change_password and not user.temp_password_hash
    if (matches_temp or operator_temp) and temp_expired:
        record_event(Event.LOGIN_FAILED, user, detail="contraseña temporal vencida")
        return LoginResult(None, TEMP_EXPIRED)
    if user.status == User.INACTIVE:
        record_event(Event.LOGIN_FAILED, user, detail="usuario inactivo")
        return LoginResult(None, passwords.INVALID)
    if user.status == User.BLOCKED and not matches_temp:
        record_event(Event.LOGIN_FAILED, user, detail="usuario bloqueado")
        return LoginResult(None, passwords.BLOCKED)
    if not (matches_current or matches_temp):
        return LoginResult(None, register_failure(user, Event.LOGIN_FAILED).message)
    changes = {"failed_attempts": 0, "last_login_at": now, "temp_password_hash": None, "temp_password_expires_at": None}
    expired = False
    if matches_temp and not matches_current:
        # The recovery password becomes the current one, to be changed right away.
        changes.update(password_hash=user.temp_password_hash, must_change_password=True, status=User.ACTIVE)
    else:
        expired = not user.must_change_password and passwords.is_expired(
            user.password_changed_at, now, current_app.config["PASSWORD_MAX_AGE_DAYS"]
        )
        changes["must_change_password"] = user.must_change_password or expired
    User.update(**changes).where(User.id == user.id).execute()
    record_event(Event.LOGIN, user)
    return LoginResult(User.get_by_id(user.id), expired=expired)


def _unknown_user(username: str, password: str) -> LoginResult:
    """Same work and the same sequence of answers as a known user with a wrong password:
    no hint that the user doesn't exist (failures counted per name in the rate-limit window)."""
    check_password_hash(_DUMMY_HASH, password)
    window_start = utcnow() - timedelta(seconds=current_app.config["LOGIN_RATE_WINDOW_SECONDS"])
    tries = (
        LoginAttempt.select()
        .where((LoginAttempt.username == username[:40]) & (LoginAttempt.created_at >= window_start))
        .count()
    )
    record_event(Event.LOGIN_FAILED, username=username[:40], detail="usuario desconocido")
    return LoginResult(None, passwords.register_failure(max(tries, 1) - 1).message)


def register_failure(user: User, tag: Event) -> passwords.FailureOutcome:
    """One more wrong password for `user`, counted atomically in the database (parallel guesses
    can't slip past the lockout); the third in a row blocks the user and ends its sessions."""
    with db.atomic():
        User.update(failed_attempts=User.failed_attempts + 1).where(User.id == user.id).execute()
        attempts = User.select(User.failed_attempts).where(User.id == user.id).scalar()
        outcome = passwords.register_failure(attempts - 1)
        if outcome.blocked:
            User.update(status=User.BLOCKED, session_version=User.session_version + 1).where(
                (User.id == user.id) & (User.status == User.ACTIVE)
            ).execute()
    record_event(Event.LOGIN_BLOCKED if outcome.blocked else tag, user, detail=f"intento {attempts}")
    return outcome


def verify_password(user: User, password: str) -> str | None:
    """Re-check the password before a sensitive action. None if right; else the message, and
    the failure counts toward the same 3-strike lockout as the login."""
    if password and check_password_hash(user.password_hash, password):
        if user.failed_attempts:
            User.update(failed_attempts=0).where(User.id == user.id).execute()
        return None
    outcome = register_failure(user, Event.PASSWORD_RECHECK_FAILED)
    if outcome.blocked:
        return passwords.BLOCKED
    message = "La contraseña es incorrecta"
    return f"{message}. {passwords.LAST_WARNING}" if outcome.attempts == passwords.MAX_FAILED_ATTEMPTS - 1 else message


def end_sessions(user: User) -> None:
    """Invalidate every session of `user` (logout, idle expiry): the cookie's version no longer matches."""
    User.update(session_version=User.session_version + 1).where(User.id == user.id).execute()


def accept_terms(user: User) -> None:
    User.update(terms_accepted_at=utcnow()).where(User.id == user.id).execute()
    record_event(Event.TERMS_ACCEPTED, user)


def change_password(user: User, current: str, new: str, confirm: str) -> list[str]:
    """Change the password after checking the current one and every rule; [] on success."""
    if verify_password(user, current or "") is not None:
        user = User.get_by_id(user.id)
        if user.status == User.BLOCKED:
            return [passwords.BLOCKED]
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
            temp_password_hash=None,
            temp_password_expires_at=None,
            session_version=User.session_version + 1,
        ).where(User.id == user.id).execute()
        PasswordHistory.create(user=user, password_hash=new_hash)
    record_event(Event.PASSWORD_CHANGE, user)
    return []


def set_temporary_password(user: User, hours: int | None = None) -> str:
    """Give `user` a temporary password (24 h unless `hours`), usable beside the current one
    until it is used; returns it (never logged)."""
    temp = passwords.temporary_password()
    expires = passwords.temporary_expiry(utcnow()) if hours is None else utcnow() + timedelta(hours=hours)
    User.update(temp_password_hash=hash_password(temp), temp_password_expires_at=expires).where(
        User.id == user.id
    ).execute()
    return temp


def unblock(user: User) -> str:
    """Operator: unblock now with a temporary password (valid 7 days, to be changed at the next
    login) that replaces the forgotten one and ends every session; returns it."""
    temp = passwords.temporary_password()
    User.update(
        password_hash=hash_password(temp),
        temp_password_hash=None,
        temp_password_expires_at=utcnow() + timedelta(days=7),
        must_change_password=True,
        status=User.ACTIVE,
        failed_attempts=0,
        session_version=User.session_version + 1,
    ).where(User.id == user.id).execute()
    record_event(Event.USER_UNBLOCKED, user, detail="desde la línea de comandos")
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
        hash_password(passwords.temporary_password())  # the same work either way: no timing hint
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
