"""services.codes: the verification codes e-mailed before a payment (SPEC §2)."""

import re

import pytest

from models import OutboxMessage
from services import codes
from tests.conftest import in_threads
from tests.factories import make_user

PURPOSE = "orden:1"


@pytest.fixture
def user(db):
    return make_user("ana")


def issue(app, user) -> str:
    """Issue a code for PURPOSE and return it, read from the e-mail."""
    with app.app_context():
        codes.issue(user, PURPOSE, "Código", "pagar la orden 1")
    body = OutboxMessage.select().order_by(OutboxMessage.id.desc()).first().body
    return re.search(r"es: (\d{6})", body).group(1)


def check(app, user, code):
    with app.app_context():
        return codes.check(user, PURPOSE, code)


def test_parallel_requests_with_the_right_code_use_it_once_and_the_others_are_told_it_was_used(app, user):
    code = issue(app, user)
    answers = in_threads(lambda: check(app, user, code), codes.MAX_TRIES, 60)
    assert sorted(answers, key=str) == sorted([None] + [codes.USED] * (codes.MAX_TRIES - 1), key=str)


def test_a_spent_code_is_used_not_expired(app, user):
    code = issue(app, user)
    assert check(app, user, code) is None
    assert check(app, user, code) == codes.USED
    # Another code after the right one was spent: there is no live code (nothing to guess).
    other = f"{(int(code) + 1) % 10**6:06d}"
    assert check(app, user, other) == codes.EXPIRED


def test_the_messages_say_tu():
    assert "revisa tu correo" in codes.TOO_SOON
    assert "revise" not in codes.TOO_SOON and "su correo" not in codes.TOO_SOON
