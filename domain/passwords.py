"""Password rules, lockout and temporary credentials (SPEC §2). Pure functions."""

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

SPECIALS = "!@*-?¡¿+/.,_#"
MIN_LEN, MAX_LEN = 8, 15
HISTORY_SIZE = 5
MAX_FAILED_ATTEMPTS = 3
TEMPORARY_VALID_HOURS = 24


def _max_run(text: str) -> int:
    longest = run = 0
    previous = None
    for ch in text:
        run = run + 1 if ch == previous else 1
        previous = ch
        longest = max(longest, run)
    return longest


RULES = [
    (
        "De 8 a 15 caracteres",
        "La contraseña debe tener de 8 a 15 caracteres",
        lambda p: MIN_LEN <= len(p) <= MAX_LEN,
    ),
    (
        "Al menos una letra minúscula",
        "La contraseña debe tener al menos una letra minúscula",
        lambda p: any(c.islower() for c in p),
    ),
    (
        "Al menos una letra mayúscula",
        "La contraseña debe tener al menos una letra mayúscula",
        lambda p: any(c.isupper() for c in p),
    ),
    (
        "De 1 a 3 números",
        "La contraseña debe tener de 1 a 3 números",
        lambda p: 1 <= sum(c in string.digits for c in p) <= 3,
    ),
    (
        "Al menos un carácter especial (ej: ! @ * - ? ¡ ¿ + / . , _ #)",
        "La contraseña debe tener al menos un carácter especial (! @ * - ? ¡ ¿ + / . , _ #)",
        lambda p: any(c in SPECIALS for c in p),
    ),
    (
        "No debe tener más de 2 caracteres iguales consecutivos",
        "La contraseña no debe tener más de 2 caracteres iguales consecutivos",
        lambda p: _max_run(p) <= 2,
    ),
]

REQUIREMENTS = [label for label, _error, _check in RULES] + ["Diferente a las últimas 5 contraseñas"]

REUSED = "La contraseña nueva debe ser diferente a las últimas 5 contraseñas"
MISMATCH = "La confirmación no coincide con la contraseña nueva"


def rule_errors(password: str) -> list[str]:
    """Every composition rule the password breaks, in the order they are listed."""
    password = password or ""
    return [error for _label, error, check in RULES if not check(password)]


def change_errors(new: str, confirm: str, recent_hashes, verify, current_hash: str | None = None) -> list[str]:
    """Errors for a change to `new`: composition, confirmation, and reuse of any of the
    last HISTORY_SIZE passwords (newest first) or of the current one, even a temporary
    password kept out of the history (`verify(hash, plain)` checks a stored hash)."""
    errors = rule_errors(new)
    if new != confirm:
        errors.append(MISMATCH)
    if not errors and any(
        verify(h, new) for h in [*list(recent_hashes)[:HISTORY_SIZE], *([current_hash] if current_hash else [])]
    ):
        errors.append(REUSED)
    return errors


@dataclass(frozen=True)
class FailureOutcome:
    attempts: int
    blocked: bool
    message: str


INVALID = "Usuario o contraseña inválido"
LAST_WARNING = "Al siguiente intento fallido tu usuario será bloqueado"
BLOCKED = "Usuario bloqueado por intentos fallidos"


def register_failure(previous_attempts: int) -> FailureOutcome:
    """The consequence of one more wrong password after `previous_attempts` in a row."""
    attempts = previous_attempts + 1
    if attempts >= MAX_FAILED_ATTEMPTS:
        return FailureOutcome(attempts, True, BLOCKED)
    if attempts == MAX_FAILED_ATTEMPTS - 1:
        return FailureOutcome(attempts, False, f"{INVALID}. {LAST_WARNING}")
    return FailureOutcome(attempts, False, INVALID)


def is_expired(changed_at: datetime, now: datetime, max_age_days: int) -> bool:
    return now - changed_at > timedelta(days=max_age_days)


def temporary_password() -> str:
    """A random password that satisfies every rule, for first access and recovery."""
    rng = secrets.SystemRandom()
    while True:
        chars = (
            [rng.choice(string.ascii_uppercase) for _ in range(3)]
            + [rng.choice(string.ascii_lowercase) for _ in range(5)]
            + [rng.choice(string.digits) for _ in range(2)]
            + [rng.choice("!@*-?+#")]
        )
        rng.shuffle(chars)
        candidate = "".join(chars)
        if not rule_errors(candidate):
            return candidate


def temporary_expiry(now: datetime) -> datetime:
    return now + timedelta(hours=TEMPORARY_VALID_HOURS)
