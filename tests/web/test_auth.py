"""Ingreso al sistema: login, lockout, terms, forced change, recovery, logout, idle session."""

import re
import threading
import time
from datetime import timedelta

import pytest

from models import AuditEvent, OutboxMessage, User, utcnow
from tests.conftest import csrf_token, in_threads, login, post
from tests.factories import PASSWORD, make_company, make_product, make_user

NEW_PASSWORD = "Nueva*Clave7"


@pytest.fixture
def company(db):
    return make_company("ACME SAS", nit="900111222")


@pytest.fixture
def user(company):
    return make_user("ana", perms={make_product(company): "all"})


@pytest.fixture
def hash_checks(monkeypatch):
    """The results of every password hash check services.accounts makes (the real check, counted)."""
    from services import accounts

    checked = []
    real = accounts.check_password_hash

    def counting(pwhash, password):
        ok = real(pwhash, password)
        checked.append(ok)
        return ok

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return checked


def reload(user):
    return User.get_by_id(user.id)


def tags(user=None):
    query = AuditEvent.select().order_by(AuditEvent.id)
    if user is not None:
        query = query.where(AuditEvent.user == user)
    return [e.tag for e in query]


def test_login_page_has_the_manual_labels(client):
    html = client.get("/ingresar").get_data(as_text=True)
    assert '<label for="username">Usuario</label>' in html
    assert '<label for="password">Contraseña</label>' in html
    assert ">Ingresar</button>" in html
    assert "¿Olvidaste tu contraseña?" in html


def test_home_sends_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/ingresar")


def test_successful_login_lands_on_companies_and_is_audited(client, user):
    response = login(client, "ana")
    assert response.status_code == 302 and response.headers["Location"].endswith("/empresas")
    assert "ACME SAS" in client.get("/empresas").get_data(as_text=True)
    assert tags(user) == ["login:success"]
    assert reload(user).last_login_at is not None


def test_unknown_user_gets_the_same_message_as_a_wrong_password(client, user):
    unknown = login(client, "nadie", "Algo*123").get_data(as_text=True)
    wrong = login(client, "ana", "Mala*Clave1").get_data(as_text=True)
    assert "Usuario o contraseña inválido" in unknown and "Usuario o contraseña inválido" in wrong
    failures = AuditEvent.select().where(AuditEvent.tag == "login:failure")
    assert {e.username for e in failures} == {"nadie", "ana"}


def test_second_failure_warns_and_third_blocks(client, user):
    first = login(client, "ana", "Mala*Clave1").get_data(as_text=True)
    assert "Al siguiente intento fallido" not in first
    second = login(client, "ana", "Mala*Clave1").get_data(as_text=True)
    assert "Al siguiente intento fallido tu usuario será bloqueado" in second
    third = login(client, "ana", "Mala*Clave1").get_data(as_text=True)
    assert "Usuario bloqueado por intentos fallidos" in third
    assert reload(user).status == User.BLOCKED
    # Even the right password is refused now.
    right = login(client, "ana", PASSWORD)
    assert right.status_code == 200 and "Usuario bloqueado por intentos fallidos" in right.get_data(as_text=True)
    assert "login:blocked" in tags(user)


def test_a_success_resets_the_failure_count(client, user):
    login(client, "ana", "Mala*Clave1")
    login(client, "ana", "Mala*Clave1")
    assert login(client, "ana").status_code == 302
    assert reload(user).failed_attempts == 0


def test_inactive_user_cannot_log_in(client, user):
    User.update(status=User.INACTIVE).where(User.id == user.id).execute()
    assert "Usuario o contraseña inválido" in login(client, "ana").get_data(as_text=True)


def test_login_form_requires_both_fields(client, user):
    html = post(client, "/ingresar", {"username": "", "password": ""}).get_data(as_text=True)
    assert html.count("Este campo es obligatorio") == 2


def test_first_login_requires_terms_then_change(client, company):
    make_user(
        "nuevo", perms={make_product(company): "order.view"}, password="Temporal*01", terms=False, must_change=True
    )
    response = login(client, "nuevo", "Temporal*01")
    assert client.get("/empresas").headers["Location"].endswith("/terminos")
    assert client.get("/configuracion/usuario").headers["Location"].endswith("/terminos")
    page = client.get("/terminos").get_data(as_text=True)
    assert "Términos y condiciones" in page and ">Aceptar</button>" in page
    refused = post(client, "/terminos", {}).get_data(as_text=True)
    assert "Debes aceptar los términos y condiciones" in refused
    response = post(client, "/terminos", {"accept": "y"})
    assert response.headers["Location"].endswith("/cambio-contrasena")
    assert client.get("/empresas").headers["Location"].endswith("/cambio-contrasena")
    page = client.get("/cambio-contrasena").get_data(as_text=True)
    for label in ("Contraseña actual", "Contraseña nueva", "Confirma la contraseña", "De 1 a 3 números"):
        assert label in page


def forced_change(client, current, new, confirm=None):
    return post(client, "/cambio-contrasena", {"current": current, "new": new, "confirm": confirm or new})


@pytest.fixture
def pending(company):
    return make_user("pendiente", perms={make_product(company): "all"}, password="Temporal*01", must_change=True)


def test_forced_change_reports_every_broken_rule(client, pending):
    login(client, "pendiente", "Temporal*01")
    html = forced_change(client, "Temporal*01", "abc").get_data(as_text=True)
    assert "La contraseña debe tener de 8 a 15 caracteres" in html
    assert "La contraseña debe tener al menos una letra mayúscula" in html
    assert "La contraseña debe tener de 1 a 3 números" in html
    assert reload(pending).must_change_password


def test_forced_change_checks_current_confirmation_and_reuse(client, pending):
    login(client, "pendiente", "Temporal*01")
    wrong = forced_change(client, "Otra*Clave1", NEW_PASSWORD).get_data(as_text=True)
    assert "La contraseña actual no es correcta" in wrong
    mismatch = forced_change(client, "Temporal*01", NEW_PASSWORD, "Nueva*Clave8").get_data(as_text=True)
    assert "La confirmación no coincide con la contraseña nueva" in mismatch
    reused = forced_change(client, "Temporal*01", "Temporal*01").get_data(as_text=True)
    assert "diferente a las últimas 5 contraseñas" in reused


def test_forced_change_ends_the_session_and_the_new_password_works(client, pending):
    login(client, "pendiente", "Temporal*01")
    response = forced_change(client, "Temporal*01", NEW_PASSWORD)
    assert response.headers["Location"].endswith("/ingresar")
    assert client.get("/empresas").status_code == 302
    assert "Tu contraseña fue cambiada exitosamente" in client.get("/ingresar").get_data(as_text=True)
    assert "Usuario o contraseña inválido" in login(client, "pendiente", "Temporal*01").get_data(as_text=True)
    assert login(client, "pendiente", NEW_PASSWORD).headers["Location"].endswith("/empresas")
    assert not reload(pending).must_change_password
    assert "password:change" in tags(pending)


def test_the_last_five_passwords_cannot_be_reused(client, user):
    login(client, "ana")
    history = [PASSWORD]
    for n in range(1, 6):
        new = f"Clave*Nueva{n}"
        response = post(
            client, "/configuracion/usuario/contrasena", {"current": history[-1], "new": new, "confirm": new}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        history.append(new)
    # PASSWORD is now the 6th most recent: allowed; Clave*Nueva2 is among the last 5: refused.
    refused = post(
        client,
        "/configuracion/usuario/contrasena",
        {"current": history[-1], "new": "Clave*Nueva2", "confirm": "Clave*Nueva2"},
    )
    assert "diferente a las últimas 5 contraseñas" in refused.get_data(as_text=True)
    allowed = post(
        client, "/configuracion/usuario/contrasena", {"current": history[-1], "new": PASSWORD, "confirm": PASSWORD}
    )
    assert allowed.status_code == 302, re.findall(r"<li>[^<]*</li>", allowed.get_data(as_text=True))


def test_expired_password_forces_a_change(client, user):
    User.update(password_changed_at=utcnow() - timedelta(days=91)).where(User.id == user.id).execute()
    response = login(client, "ana")
    assert response.status_code == 302
    follow = client.get("/empresas")
    assert follow.headers["Location"].endswith("/cambio-contrasena")
    assert "Tu contraseña está vencida" in client.get("/cambio-contrasena").get_data(as_text=True)


def test_a_password_within_the_max_age_is_not_expired(client, user):
    User.update(password_changed_at=utcnow() - timedelta(days=89)).where(User.id == user.id).execute()
    login(client, "ana")
    assert client.get("/empresas").status_code == 200


def recover(client, username="ana", nit="900111222", email="ana@example.com"):
    return post(client, "/recuperar", {"username": username, "nit": nit, "email": email})


def without_tokens(html):
    return re.sub(r'(content|value)="[\w.-]{40,}"', "", html)


def temp_password_from_outbox():
    body = OutboxMessage.select().order_by(OutboxMessage.id.desc()).first().body
    return re.search(r"Contraseña temporal: (\S+)", body).group(1)


def test_recovery_page_has_the_manual_fields(client):
    html = client.get("/recuperar").get_data(as_text=True)
    for label in ("Usuario", "NIT de la empresa", "Correo electrónico", ">Continuar</button>"):
        assert label in html


def test_recovery_with_matching_data_mails_a_temporary_password(client, user):
    html = recover(client).get_data(as_text=True)
    assert "Si los datos corresponden a un usuario registrado" in html
    message = OutboxMessage.get()
    assert message.recipient == "ana@example.com"
    temp = temp_password_from_outbox()
    assert login(client, "ana", temp).status_code == 302
    assert client.get("/empresas").headers["Location"].endswith("/cambio-contrasena")
    assert forced_change(client, temp, NEW_PASSWORD).headers["Location"].endswith("/ingresar")
    assert login(client, "ana", NEW_PASSWORD).headers["Location"].endswith("/empresas")
    assert {"password:recovery-request", "password:recovery-sent"} <= set(tags(user))


@pytest.mark.parametrize(
    "data",
    [
        {"username": "ana", "nit": "900111222", "email": "otra@example.com"},
        {"username": "ana", "nit": "999999999", "email": "ana@example.com"},
        {"username": "nadie", "nit": "900111222", "email": "ana@example.com"},
    ],
)
def test_recovery_answers_the_same_when_data_does_not_match(client, user, data):
    other = without_tokens(recover(client, **data).get_data(as_text=True))
    assert OutboxMessage.select().count() == 0
    # The password still works: nothing changed.
    assert login(client, "ana").status_code == 302
    post(client, "/salir")
    matching = without_tokens(recover(client).get_data(as_text=True))
    assert OutboxMessage.select().count() == 1
    assert other == matching


@pytest.mark.parametrize("nit", ["90011122", "900.111.222", "900111222 3", "NIT900111222", "12345678901-2"])
def test_recovery_refuses_a_malformed_nit_the_same_for_anyone(client, user, nit):
    known = recover(client, username="ana", nit=nit).get_data(as_text=True)
    unknown = recover(client, username="nadie", nit=nit).get_data(as_text=True)
    assert "El NIT debe tener 9 o 10 dígitos, sin puntos ni espacios" in known
    assert without_tokens(known).replace('value="ana"', 'value="nadie"') == without_tokens(unknown)
    assert OutboxMessage.select().count() == 0 and "password:recovery-request" not in tags()


@pytest.mark.parametrize("nit", ["900111222", " 900111222 ", "9001112223", "900111222-3"])
def test_recovery_takes_a_nit_with_or_without_its_check_digit(client, user, nit):
    html = recover(client, nit=nit).get_data(as_text=True)
    assert "Si los datos corresponden a un usuario registrado" in html


def test_recovery_nit_field_has_a_valid_autocomplete(client):
    html = client.get("/recuperar").get_data(as_text=True)
    nit_input = re.search(r'<input[^>]*id="nit"[^>]*>', html).group(0)
    assert 'autocomplete="off"' in nit_input
    assert 'autocomplete="None"' not in html


def test_recovery_unblocks_a_blocked_user_when_the_temporary_password_is_used(client, user):
    User.update(status=User.BLOCKED, failed_attempts=3).where(User.id == user.id).execute()
    recover(client)
    assert reload(user).status == User.BLOCKED  # a recovery request alone changes nothing
    assert "Usuario bloqueado por intentos fallidos" in login(client, "ana").get_data(as_text=True)
    assert login(client, "ana", temp_password_from_outbox()).status_code == 302
    assert reload(user).status == User.ACTIVE and reload(user).must_change_password


def test_a_recovery_request_does_not_lock_the_user_out(client, user):
    """Usuario, NIT and correo are not secrets: a stranger's recovery request must not
    replace the working password nor end the user's sessions."""
    other = client.application.test_client()
    login(other, "ana")
    recover(client)
    assert login(client, "ana").status_code == 302
    assert other.get("/empresas").status_code == 200
    assert reload(user).temp_password_hash is None  # a normal login discards the unused temporary password


@pytest.mark.real_hash
def test_parallel_wrong_passwords_cannot_skip_the_lockout(app, user, hash_checks):
    def guess():
        login(app.test_client(), "ana", "Mala*Clave1")

    in_threads(guess, 6, 60)
    assert reload(user).status == User.BLOCKED and reload(user).failed_attempts == 3
    assert len(hash_checks) == 3  # a guess is counted before its hash is checked


def test_parallel_logins_with_one_right_password_check_at_most_three(app, user, hash_checks):
    passwords = iter(["Mala*Clave1"] * 4 + [PASSWORD] + ["Mala*Clave1"] * 5)
    lock = threading.Lock()

    def guess():
        with lock:
            password = next(passwords)
        return login(app.test_client(), "ana", password).status_code

    statuses = in_threads(guess, 10, 60)
    accepted = statuses.count(302)
    assert accepted <= 1 and statuses.count(200) == 10 - accepted
    # A success gives back the guesses counted before it, so 3 more may follow it: never more.
    assert len(hash_checks) <= 3 * (1 + accepted)
    assert reload(user).status == User.BLOCKED


def test_a_blocked_user_is_refused_without_checking_the_password(client, user, hash_checks):
    User.update(status=User.BLOCKED, failed_attempts=3).where(User.id == user.id).execute()
    assert "Usuario bloqueado por intentos fallidos" in login(client, "ana").get_data(as_text=True)
    assert hash_checks == []
    assert reload(user).failed_attempts == 3


def test_a_double_click_with_the_right_password_after_two_failures_logs_in(app, user):
    """The second request waits for the first one's guess instead of being refused."""
    User.update(failed_attempts=2).where(User.id == user.id).execute()
    statuses = in_threads(lambda: login(app.test_client(), "ana").status_code, 2, 60)
    assert statuses == [302, 302]
    assert reload(user).failed_attempts == 0 and reload(user).status == User.ACTIVE


def test_a_budget_never_given_back_ends_in_a_block(client, user, hash_checks, monkeypatch):
    """Three guesses counted whose requests died before their check: the next one waits, then
    blocks the user as their failures would have (the recovery e-mail then unblocks)."""
    from services import accounts

    monkeypatch.setattr(accounts, "GUESS_WAIT_SECONDS", 0.2)
    User.update(failed_attempts=3).where(User.id == user.id).execute()
    assert "Usuario bloqueado por intentos fallidos" in login(client, "ana").get_data(as_text=True)
    assert hash_checks == [] and reload(user).status == User.BLOCKED


def block_during_the_check(monkeypatch, user):
    """The hash check of `user`'s right password is slow; a parallel guess blocks the user meanwhile."""
    from services import accounts

    real = accounts.check_password_hash

    def check_while_blocked(pwhash, password):
        ok = real(pwhash, password)
        User.update(status=User.BLOCKED, session_version=User.session_version + 1).where(User.id == user.id).execute()
        return ok

    monkeypatch.setattr(accounts, "check_password_hash", check_while_blocked)


def test_a_right_password_racing_with_the_block_gets_no_session(client, user, monkeypatch):
    block_during_the_check(monkeypatch, user)
    response = login(client, "ana")
    assert response.status_code == 200
    assert "Usuario bloqueado por intentos fallidos" in response.get_data(as_text=True)
    assert client.get("/empresas").status_code == 302
    assert "login:success" not in tags(user)


def test_a_password_dialog_racing_with_the_block_is_refused(app, user, monkeypatch):
    from services import Refused, accounts

    block_during_the_check(monkeypatch, user)
    with app.app_context(), pytest.raises(Refused) as refused:
        accounts.require_password(user, PASSWORD)
    assert refused.value.message == "Usuario bloqueado por intentos fallidos"


def test_the_password_dialog_check_and_its_messages(app, user, hash_checks):
    from services import Refused, accounts

    def refusal(password):
        with pytest.raises(Refused) as refused:
            accounts.require_password(reload(user), password)
        return refused.value.message

    with app.app_context():
        assert refusal("") == "Ingresa tu contraseña"
        assert hash_checks == [] and reload(user).failed_attempts == 0  # nothing typed: not a guess
        assert refusal("Mala*Clave1") == "La contraseña es incorrecta"
        assert accounts.require_password(reload(user), PASSWORD) is None
        assert reload(user).failed_attempts == 0  # a success resets the count
        assert refusal("Mala*Clave1") == "La contraseña es incorrecta"
        assert (
            refusal("Mala*Clave1")
            == "La contraseña es incorrecta. Al siguiente intento fallido tu usuario será bloqueado"
        )
        assert accounts.verify_password(reload(user), "Mala*Clave1") == "Usuario bloqueado por intentos fallidos"
        assert reload(user).status == User.BLOCKED
        checked = len(hash_checks)
        assert refusal(PASSWORD) == "Usuario bloqueado por intentos fallidos"
        assert len(hash_checks) == checked  # blocked: refused without checking


def test_parallel_password_dialogs_check_at_most_three(app, user, hash_checks):
    from services import Refused, accounts

    passwords = iter(["Mala*Clave1"] * 4 + [PASSWORD] + ["Mala*Clave1"] * 5)
    lock = threading.Lock()

    def confirm():
        with lock:
            password = next(passwords)
        with app.app_context():
            try:
                accounts.require_password(User.get_by_id(user.id), password)
                return "ok"
            except Refused as refused:
                return refused.message

    answers = in_threads(confirm, 10, 60)
    accepted = answers.count("ok")
    assert accepted <= 1 and all(isinstance(a, str) for a in answers), answers
    assert len(hash_checks) <= 3 * (1 + accepted)
    assert reload(user).status == User.BLOCKED


def test_the_temporary_password_of_a_blocked_user_has_a_budget_too(client, user, hash_checks):
    User.update(status=User.BLOCKED, failed_attempts=3).where(User.id == user.id).execute()
    recover(client)
    temp = temp_password_from_outbox()
    for _ in range(3):
        assert "Usuario bloqueado por intentos fallidos" in login(client, "ana", "Otra*Clave9").get_data(as_text=True)
    assert len(hash_checks) == 3  # the temporary password only: a blocked user's current one is never checked
    # Its budget spent, even the temporary password is refused unchecked...
    assert "Usuario bloqueado por intentos fallidos" in login(client, "ana", temp).get_data(as_text=True)
    assert len(hash_checks) == 3
    # ...until a new recovery e-mail gives the new temporary password a new budget.
    recover(client)
    assert login(client, "ana", temp_password_from_outbox()).status_code == 302
    assert reload(user).status == User.ACTIVE and reload(user).failed_attempts == 0


def test_a_recovery_request_does_not_reset_the_count_of_failures(client, user):
    login(client, "ana", "Mala*Clave1")
    login(client, "ana", "Mala*Clave1")
    recover(client)
    assert "Usuario bloqueado por intentos fallidos" in login(client, "ana", "Mala*Clave1").get_data(as_text=True)
    assert reload(user).status == User.BLOCKED


def test_unknown_users_get_the_same_sequence_of_answers(client, user):
    answers = [login(client, "nadie", "Mala*Clave1").get_data(as_text=True) for _ in range(3)]
    assert "Al siguiente intento fallido tu usuario será bloqueado" not in answers[0]
    assert "Al siguiente intento fallido tu usuario será bloqueado" in answers[1]
    assert "Usuario bloqueado por intentos fallidos" in answers[2]


def test_wrong_current_passwords_in_settings_count_toward_the_lockout(client, user):
    login(client, "ana")
    url = "/configuracion/usuario/contrasena"
    for _ in range(2):
        html = post(client, url, {"current": "Mala*Clave1", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}).get_data(
            as_text=True
        )
        assert "La contraseña actual no es correcta" in html
    post(client, url, {"current": "Mala*Clave1", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert reload(user).status == User.BLOCKED
    assert client.get("/empresas").status_code == 302  # the session ended with the block


def test_an_expired_temporary_password_is_refused(client, user):
    recover(client)
    temp = temp_password_from_outbox()
    User.update(temp_password_expires_at=utcnow() - timedelta(minutes=1)).where(User.id == user.id).execute()
    html = login(client, "ana", temp).get_data(as_text=True)
    assert "La contraseña temporal venció" in html


def test_successful_logins_do_not_count_toward_the_ip_limit(make_app, db, company):
    """A whole office behind one NAT logs in within the window: only failures count."""
    office = make_app(LOGIN_RATE_LIMIT=3).test_client()
    product = make_product(company)
    for n in range(6):
        make_user(f"colega{n}", perms={product: "order.view"})
        assert login(office, f"colega{n}").status_code == 302
        post(office, "/salir")
    for _ in range(3):
        assert login(office, "colega0", "Mala*Clave1").status_code == 200
    assert login(office, "colega1").status_code == 429  # three failures: the limit


def test_recovery_requests_count_toward_the_ip_limit(make_app, db, user):
    limited = make_app(LOGIN_RATE_LIMIT=3).test_client()
    for _ in range(3):
        assert recover(limited).status_code == 200
    assert recover(limited).status_code == 429
    assert login(limited, "ana").status_code == 429


def test_login_is_rate_limited_per_ip(make_app, db, user):
    limited = make_app(LOGIN_RATE_LIMIT=3).test_client()
    for _ in range(3):
        assert login(limited, "ana", "Mala*Clave1").status_code == 200
    response = login(limited, "ana", PASSWORD)
    assert response.status_code == 429
    assert "Demasiados intentos" in response.get_data(as_text=True)
    other_ip = limited.post("/ingresar", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code != 429


def test_logout_ends_the_session_on_the_server_too(app, client, user):
    login(client, "ana")
    with client.session_transaction() as session:
        copied = dict(session)
    post(client, "/salir")
    thief = app.test_client()
    with thief.session_transaction() as session:
        session.update(copied)
    assert thief.get("/empresas").status_code == 302  # the copied cookie is dead


def test_logout_needs_post_and_ends_the_session(client, user):
    login(client, "ana")
    assert client.get("/salir").status_code == 405
    response = post(client, "/salir")
    assert response.headers["Location"].endswith("/ingresar")
    assert client.get("/empresas").status_code == 302
    assert "logout" in tags(user)


def test_idle_session_expires(client, user):
    login(client, "ana")
    with client.session_transaction() as session:
        session["last_seen"] = int(time.time()) - 31 * 60
    response = client.get("/empresas")
    assert response.headers["Location"].endswith("/ingresar")
    assert "Tu sesión expiró por inactividad" in client.get("/ingresar").get_data(as_text=True)
    assert "session:expired" in tags(user)


def test_keepalive_renews_and_status_is_passive(client, user):
    login(client, "ana")
    old = int(time.time()) - 29 * 60
    with client.session_transaction() as session:
        session["last_seen"] = old
    status = client.get("/sesion/estado").get_json()
    assert status["active"] and 0 < status["remaining"] <= 60
    with client.session_transaction() as session:
        assert session["last_seen"] == old  # polling the status is not activity
    assert post(client, "/sesion/mantener").status_code == 200
    with client.session_transaction() as session:
        assert session["last_seen"] >= int(time.time()) - 5


def test_keepalive_requires_csrf(client, user):
    login(client, "ana")
    assert client.post("/sesion/mantener").status_code == 400
    token = csrf_token(client)
    assert client.post("/sesion/mantener", headers={"X-CSRFToken": token, "HX-Request": "true"}).status_code == 200


def test_pages_carry_the_idle_warning(client, user):
    login(client, "ana")
    html = client.get("/empresas").get_data(as_text=True)
    assert 'data-idle-minutes="30"' in html
    assert "Mantener sesión" in html


def test_a_password_change_ends_other_sessions(app, client, user):
    other = app.test_client()
    login(other, "ana")
    login(client, "ana")
    post(
        client, "/configuracion/usuario/contrasena", {"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert client.get("/empresas").status_code == 200  # this session stays
    assert other.get("/empresas").status_code == 302  # the other one is gone


@pytest.mark.parametrize("url", ["/ingresar", "/recuperar", "/salir", "/terminos", "/cambio-contrasena"])
def test_posts_without_csrf_are_refused(client, user, url):
    response = client.post(url, data={"username": "ana", "password": PASSWORD})
    assert response.status_code == 400
    assert "El formulario venció o no es válido" in response.get_data(as_text=True)


def test_security_headers(client):
    response = client.get("/ingresar")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.real_hash
def test_passwords_are_hashed_with_scrypt_and_never_logged(client, user, caplog):
    assert reload(user).password_hash.startswith("scrypt:")
    with caplog.at_level("DEBUG"):
        login(client, "ana", "Mala*Clave1")
        recover(client)
    temp = temp_password_from_outbox()
    assert "Mala*Clave1" not in caplog.text and temp not in caplog.text
    assert all("Mala*Clave1" not in e.detail for e in AuditEvent.select())
