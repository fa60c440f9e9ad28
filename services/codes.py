"""Verification codes e-mailed before money moves (SPEC §2): 6 digits, valid 10 minutes,
single use, 3 tries. Only a hash is stored; issuing a new code for the same purpose (the
"Reenviar código" button) retires the previous one.

Every check is a conditional UPDATE, so two requests racing with the same code can't both
use it, and a fourth try is refused even if three run at once.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app

from models import User, VerificationCode, _is_sqlite, db, utcnow
from services import Refused
from services.mail import send_mail

VALIDITY = timedelta(minutes=10)
MAX_TRIES = 3
RESEND_AFTER = timedelta(seconds=30)

WRONG = "El código de verificación no es correcto"
EXPIRED = "El código de verificación venció. Solicita uno nuevo con «Reenviar código»"
USED = "El código de verificación ya fue usado"
USED_UP = "Superaste los intentos permitidos. Solicita un código nuevo con «Reenviar código»"
MISSING = "Ingresa el código de verificación enviado a tu correo"
TOO_SOON = "Ya enviamos un código hace unos segundos; revisa tu correo antes de pedir otro"
TOO_MANY = "Se enviaron demasiados códigos en la última hora. Inténtalo de nuevo más tarde."
MAX_PER_HOUR = 5


def _digest(user_id: int, purpose: str, code: str) -> str:
    """Keyed with the app secret: a leaked table doesn't give the codes (10^6 is easy to brute force)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{user_id}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


class CodeRefused(Refused):
    """No new code now (one was just sent, or too many this hour); `.message` says why."""


def issue(user, purpose: str, subject: str, what: str) -> VerificationCode:
    """Retire any live code for (user, purpose), create a new one and e-mail it.

    Refused (CodeRefused, nothing sent) if a code was sent less than RESEND_AFTER ago, or
    MAX_PER_HOUR were sent in the last hour: each code allows MAX_TRIES guesses, so the cap
    bounds the guesses on one operation. The check and the new row are one transaction with
    the user's row locked, so a burst of clicks sends one code."""
    code = f"{secrets.randbelow(10**6):06d}"
    with db.atomic():
        _lock_user(user)
        now = utcnow()
        recent = VerificationCode.select().where(
            (VerificationCode.user == user.id) & (VerificationCode.purpose == purpose)
        )
        if recent.where(VerificationCode.created_at > now - RESEND_AFTER).exists():
            raise CodeRefused(TOO_SOON)
        if recent.where(VerificationCode.created_at > now - timedelta(hours=1)).count() >= MAX_PER_HOUR:
            raise CodeRefused(TOO_MANY)
        VerificationCode.update(retired=True).where(
            (VerificationCode.user == user.id) & (VerificationCode.purpose == purpose)
        ).execute()
        row = VerificationCode.create(
            user=user.id, purpose=purpose, code_hash=_digest(user.id, purpose, code), expires_at=now + VALIDITY
        )
    minutes = int(VALIDITY.total_seconds() // 60)
    send_mail(
        user.email,
        subject,
        f"Hola {user.first_name}:\n\nTu código de verificación para {what} es: {code}\n\n"
        f"Es válido por {minutes} minutos y sirve una sola vez. Si no solicitaste esta operación, "
        "no compartas el código y comunícate con el administrador de tu empresa.\n\nConexión Empresas",
    )
    return row


def _lock_user(user) -> None:
    """Serialize code requests of one user (SQLite transactions already take the write lock)."""
    if not _is_sqlite(db):
        User.select(User.id).where(User.id == user.id).for_update().execute()


def check(user, purpose: str, code: str) -> str | None:
    """Use the live code for (user, purpose): None if `code` is right (it is now spent),
    else the Spanish reason. Wrong, expired, retired and used-up codes are all refused; the
    right code once spent (a parallel request won the race) is USED, never "venció"."""
    code = (code or "").strip()
    if not code:
        return MISSING
    latest = (
        VerificationCode.select()
        .where(
            (VerificationCode.user == user.id)
            & (VerificationCode.purpose == purpose)
            & (VerificationCode.retired == False)  # noqa: E712
        )
        .order_by(VerificationCode.id.desc())
        .first()
    )
    if latest is None:
        return EXPIRED
    if latest.used_at is not None:
        return USED if _matches(latest, user, purpose, code) else EXPIRED
    now = utcnow()
    if latest.expires_at <= now:
        return EXPIRED
    # Count the try first (conditional: never past MAX_TRIES, even with parallel requests).
    counted = (
        VerificationCode.update(attempts=VerificationCode.attempts + 1)
        .where(
            (VerificationCode.id == latest.id)
            & (VerificationCode.attempts < MAX_TRIES)
            & VerificationCode.used_at.is_null()
        )
        .execute()
    )
    if not counted:
        spent = VerificationCode.select(VerificationCode.used_at).where(VerificationCode.id == latest.id).scalar()
        return USED if spent is not None and _matches(latest, user, purpose, code) else USED_UP
    if not _matches(latest, user, purpose, code):
        return USED_UP if latest.attempts + 1 >= MAX_TRIES else WRONG
    spent = (
        VerificationCode.update(used_at=now)
        .where((VerificationCode.id == latest.id) & VerificationCode.used_at.is_null())
        .execute()
    )
    return None if spent else USED


def _matches(row, user, purpose: str, code: str) -> bool:
    return len(code) == 6 and code.isdigit() and hmac.compare_digest(row.code_hash, _digest(user.id, purpose, code))
