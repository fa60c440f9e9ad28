"""User accounts: authentication, lockout, password changes and recovery (SPEC §2).

The 3-strike lockout is a budget of guesses kept in `User.failed_attempts` and spent BEFORE a
password hash is checked: a conditional UPDATE takes one of the MAX_GUESSES guesses, so
parallel requests (a burst of logins, of password dialogs) can't get more hashes checked than
the budget allows, whatever their timing. A wrong guess stays counted, and the guess that
filled the budget blocks the user. A right guess gives back itself and the guesses counted
before it, in an UPDATE that also checks nothing changed meanwhile (still active, same
session_version, same password): a success racing with the block is refused. A blocked
user's only way in is the recovery's temporary password, with a budget of its own (the
counts from MAX_GUESSES to 2 × MAX_GUESSES, restarted by each recovery e-mail).
"""

import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, has_app_context, render_template
from peewee import Case, fn
from werkzeug.security import check_password_hash, generate_password_hash

from domain import passwords
from models import Company, LoginAttempt, PasswordHistory, User, UserCompany, db, utcnow
from services import Refused
from services.audit import Event, client_ip, record_event
from services.mail import send_mail

HASH_METHOD = "scrypt"  # outside an app context; inside one, the PASSWORD_HASH_METHOD setting
MAX_GUESSES = passwords.MAX_FAILED_ATTEMPTS
GUESS_WAIT_SECONDS = 10.0  # how long a guess waits for a budget held by guesses being checked
_POLL_SECONDS = 0.05

PASSWORD_MISSING = "Ingresa tu contraseña"
PASSWORD_WRONG = "La contraseña es incorrecta"
CURRENT_WRONG = "La contraseña actual no es correcta"
SESSION_CHANGED = "Tu sesión cambió mientras verificábamos la contraseña. Ingresa de nuevo."
TEMP_EXPIRED = "La contraseña temporal venció. Solicita una nueva en «¿Olvidaste tu contraseña?»"


def _hash_method() -> str:
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", HASH_METHOD)
    return HASH_METHOD


def hash_password(plain: str) -> str:
    return generate_password_hash(plain, method=_hash_method())


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash made with the configured method on first use: checking it costs what checking a
    user's password costs (the unknown-user path gives no timing hint)."""
    method = _hash_method()
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("dummy-password-for-timing", method=method)
    return _DUMMY_HASHES[method]


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str = ""
    expired: bool = False


# ---------------------------------------------------------------- rate limit per IP


def _window_start():
    return utcnow() - timedelta(seconds=current_app.config["LOGIN_RATE_WINDOW_SECONDS"])


def rate_limited(username: str = "") -> bool:
    """Count this attempt for the client IP; True when the IP went over the limit.

    Counted before the credentials are checked (a burst can't slip past the count); a login
    that succeeds takes its attempt back (`authenticate`), so only failed logins count and a
    whole office behind one NAT can log in. A recovery request (no `username`) always counts."""
    ip = client_ip()
    LoginAttempt.create(ip=ip, username=(username or "").strip()[:40])
    recent = LoginAttempt.select().where((LoginAttempt.ip == ip) & (LoginAttempt.created_at >= _window_start())).count()
    if recent > current_app.config["LOGIN_RATE_LIMIT"]:
        record_event(Event.LOGIN_RATE_LIMITED, detail=f"{recent} intentos")
        return True
    return False


def _forget_attempt(username: str) -> None:
    """Take back the attempt `rate_limited` counted for this (successful) login."""
    newest = (
        LoginAttempt.select(fn.MAX(LoginAttempt.id))
        .where(
            (LoginAttempt.ip == client_ip())
            & (LoginAttempt.username == username[:40])
            & (LoginAttempt.created_at >= _window_start())
        )
        .scalar()
    )
    if newest is not None:
        LoginAttempt.delete().where(LoginAttempt.id == newest).execute()


# ---------------------------------------------------------------- the guess budget


@dataclass(frozen=True)
class _Guess:
    """One guess counted against the lockout: the user's row as it was once counted, and
    `number`, the value of failed_attempts this guess brought."""

    row: User
    number: int
    temporary_only: bool  # a blocked user's guess: only the recovery's temporary password can match


def _take_guess(user_id: int, allow_temporary: bool) -> "_Guess | str":
    """Count one guess before any hash is checked: the guess, or the status that refuses it.

    While the budget is held by guesses still being checked, wait for them (a double click with
    the right password must work) up to GUESS_WAIT_SECONDS; a budget never given back (their
    process died) then blocks the user, as their failures would have."""
    deadline = time.monotonic() + GUESS_WAIT_SECONDS
    while True:
        row = User.select(User.status, User.failed_attempts, User.temp_password_hash).where(User.id == user_id).first()
        if row is None:
            return User.INACTIVE
        condition = None
        if row.status == User.ACTIVE and row.failed_attempts < MAX_GUESSES:
            condition = (User.status == User.ACTIVE) & (User.failed_attempts < MAX_GUESSES)
        elif allow_temporary and row.status == User.BLOCKED and row.temp_password_hash:
            if row.failed_attempts >= 2 * MAX_GUESSES:
                return User.BLOCKED
            condition = (
                (User.status == User.BLOCKED)
                & User.temp_password_hash.is_null(False)
                & (User.failed_attempts < 2 * MAX_GUESSES)
            )
        elif row.status != User.ACTIVE:
            return row.status
        if condition is not None:
            with db.atomic():
                taken = (
                    User.update(failed_attempts=User.failed_attempts + 1)
                    .where((User.id == user_id) & condition)
                    .execute()
                )
                if taken:
                    counted = User.get_by_id(user_id)
                    return _Guess(counted, counted.failed_attempts, counted.status == User.BLOCKED)
            continue  # another guess took the last one meanwhile: look again
        if time.monotonic() >= deadline:
            _block(user_id)
            return User.BLOCKED
        time.sleep(_POLL_SECONDS)


def _block(user_id: int) -> bool:
    """Block an active user whose budget is spent, ending every session; True if this did it."""
    return bool(
        User.update(status=User.BLOCKED, session_version=User.session_version + 1)
        .where((User.id == user_id) & (User.status == User.ACTIVE) & (User.failed_attempts >= MAX_GUESSES))
        .execute()
    )


def _wrong(guess: _Guess, tag: Event, detail: str = "") -> tuple[int, bool]:
    """A wrong guess stays counted. The one that filled the budget blocks the user, unless a
    success gave the budget back meanwhile. Returns (failures in a row, whether blocked)."""
    blocked = not guess.temporary_only and guess.number >= MAX_GUESSES and _block(guess.row.id)
    now = User.select(User.status, User.failed_attempts).where(User.id == guess.row.id).first()
    attempts = min(now.failed_attempts, MAX_GUESSES) if now else MAX_GUESSES
    is_blocked = blocked or now is None or now.status != User.ACTIVE
    if guess.temporary_only:
        detail = detail or "usuario bloqueado"
    record_event(Event.LOGIN_BLOCKED if blocked else tag, guess.row, detail=detail or f"intento {attempts}")
    return attempts, is_blocked


def _right(guess: _Guess, session_version: int, matched_temporary: bool = False, **changes) -> bool:
    """Give back this guess and the ones counted before it, applying `changes`, only if nothing
    changed since the guess was counted (not blocked meanwhile, no new password, no ended
    sessions). False means the success lost a race with one of those: no session."""
    row = guess.row
    unchanged = (
        (User.id == row.id)
        & (User.status == row.status)
        & (User.session_version == session_version)
        & (User.password_hash == row.password_hash)
    )
    if matched_temporary:
        unchanged &= User.temp_password_hash == row.temp_password_hash
    given_back = Case(None, [(User.failed_attempts > guess.number, User.failed_attempts - guess.number)], 0)
    changes.setdefault("failed_attempts", given_back)
    return bool(User.update(**changes).where(unchanged).execute())


def _failure_message(attempts: int, blocked: bool, wrong: str) -> str:
    if blocked:
        return passwords.BLOCKED
    if attempts >= MAX_GUESSES - 1:
        return f"{wrong}. {passwords.LAST_WARNING}"
    return wrong


# ---------------------------------------------------------------- login


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
    result = _authenticate(user, password)
    if result.user is not None:
        _forget_attempt(username)
    return result


def _authenticate(user: User, password: str) -> LoginResult:
    guess = _take_guess(user.id, allow_temporary=True)
    if not isinstance(guess, _Guess):  # refused before any hash is checked
        if guess == User.BLOCKED:
            record_event(Event.LOGIN_FAILED, user, detail="usuario bloqueado")
            return LoginResult(None, passwords.BLOCKED)
        check_password_hash(_dummy_hash(), password)  # answers like an unknown user, at the same cost
        record_event(Event.LOGIN_FAILED, user, detail="usuario inactivo")
        return LoginResult(None, passwords.INVALID)
    row = guess.row
    matches_current = not guess.temporary_only and check_password_hash(row.password_hash, password)
    matches_temp = bool(row.temp_password_hash) and check_password_hash(row.temp_password_hash, password)
    now = utcnow()
    temp_expired = bool(row.temp_password_expires_at) and row.temp_password_expires_at < now
    # An operator's temporary password is the current one until changed (no separate hash).
    operator_temp = matches_current and row.must_change_password and not row.temp_password_hash
    if (matches_temp or operator_temp) and temp_expired:
        _wrong(guess, Event.LOGIN_FAILED, detail="contraseña temporal vencida")
        return LoginResult(None, TEMP_EXPIRED)
    if not (matches_current or matches_temp):
        attempts, blocked = _wrong(guess, Event.LOGIN_FAILED)
        return LoginResult(None, _failure_message(attempts, blocked, passwords.INVALID))
    changes = {"last_login_at": now, "temp_password_hash": None, "temp_password_expires_at": None}
    expired = False
    by_temporary = matches_temp and not matches_current
    if by_temporary:
        # The recovery password becomes the current one, to be changed right away.
        changes.update(password_hash=row.temp_password_hash, must_change_password=True, status=User.ACTIVE)
        if guess.temporary_only:
            changes["failed_attempts"] = 0  # unblocked: a new budget
    else:
        expired = not row.must_change_password and passwords.is_expired(
            row.password_changed_at, now, current_app.config["PASSWORD_MAX_AGE_DAYS"]
        )
        changes["must_change_password"] = row.must_change_password or expired
    if not _right(guess, row.session_version, by_temporary, **changes):
        record_event(Event.LOGIN_FAILED, user, detail="cambió durante el ingreso")
        blocked = User.select(User.status).where(User.id == user.id).scalar() == User.BLOCKED
        return LoginResult(None, passwords.BLOCKED if blocked else passwords.INVALID)
    record_event(Event.LOGIN, user)
    return LoginResult(User.get_by_id(user.id), expired=expired)


def _unknown_user(username: str, password: str) -> LoginResult:
    """Same work and the same sequence of answers as a known user with a wrong password:
    no hint that the user doesn't exist (failures counted per name in the rate-limit window)."""
    check_password_hash(_dummy_hash(), password)
    tries = (
        LoginAttempt.select()
        .where((LoginAttempt.username == username[:40]) & (LoginAttempt.created_at >= _window_start()))
        .count()
    )
    record_event(Event.LOGIN_FAILED, username=username[:40], detail="usuario desconocido")
    return LoginResult(None, passwords.register_failure(max(tries, 1) - 1).message)


# ---------------------------------------------------------------- password dialogs


def require_password(user: User, password: str) -> None:
    """Re-check the password before a sensitive action (confirm, delete, sign, authorize, void):
    returns if right; else raises Refused with the message. Guesses spend the same budget as
    the login (parallel dialogs can't get more than 3 wrong passwords checked), and the third
    wrong one blocks the user and ends the session."""
    if not password:
        raise Refused(PASSWORD_MISSING)
    guess = _take_guess(user.id, allow_temporary=False)
    if not isinstance(guess, _Guess):
        record_event(Event.PASSWORD_RECHECK_FAILED, user, detail="usuario bloqueado")
        raise Refused(passwords.BLOCKED)
    if not check_password_hash(guess.row.password_hash, password):
        attempts, blocked = _wrong(guess, Event.PASSWORD_RECHECK_FAILED)
        raise Refused(_failure_message(attempts, blocked, PASSWORD_WRONG))
    if not _right(guess, user.session_version):
        record_event(Event.PASSWORD_RECHECK_FAILED, user, detail="cambió durante la verificación")
        blocked = User.select(User.status).where(User.id == user.id).scalar() != User.ACTIVE
        raise Refused(passwords.BLOCKED if blocked else SESSION_CHANGED)


def verify_password(user: User, password: str) -> str | None:
    """`require_password` as a value: None if right, else the Spanish message."""
    try:
        require_password(user, password)
    except Refused as refused:
        return refused.message
    return None


def end_sessions(user: User) -> None:
    """Invalidate every session of `user` (logout, idle expiry): the cookie's version no longer matches."""
    User.update(session_version=User.session_version + 1).where(User.id == user.id).execute()


def accept_terms(user: User) -> None:
    User.update(terms_accepted_at=utcnow()).where(User.id == user.id).execute()
    record_event(Event.TERMS_ACCEPTED, user)


def change_password(user: User, current: str, new: str, confirm: str) -> list[str]:
    """Change the password after checking the current one and every rule; [] on success."""
    try:
        require_password(user, current or "")
    except Refused as refused:
        return [passwords.BLOCKED if refused.message == passwords.BLOCKED else CURRENT_WRONG]
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
    until it is used; returns it (never logged). A blocked user gets a new budget of guesses
    for it; an active user's count of failures is left as it is (a recovery request, which
    anyone knowing usuario, NIT and correo can make, must not reset the lockout)."""
    temp = passwords.temporary_password()
    expires = passwords.temporary_expiry(utcnow()) if hours is None else utcnow() + timedelta(hours=hours)
    User.update(
        temp_password_hash=hash_password(temp),
        temp_password_expires_at=expires,
        failed_attempts=Case(None, [(User.status == User.BLOCKED, MAX_GUESSES)], User.failed_attempts),
    ).where(User.id == user.id).execute()
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


def purge_login_attempts(window_seconds: int) -> int:
    """Forget rate-limit rows older than the window (the clean-up job)."""
    cutoff = utcnow() - timedelta(seconds=window_seconds)
    return LoginAttempt.delete().where(LoginAttempt.created_at < cutoff).execute()
