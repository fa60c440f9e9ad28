"""No full card number, password, temporary password or code in any log line or page (issue 15).

The main flows run with logging at DEBUG, through the views, with SMTP configured (the real local
SMTP server of the mail tests): log in, recover a password, an administrator creates a user and
resets another's password, pay a service order with its e-mailed code, fund the cuenta maestra
with its code, open the card pages and the reports. Then every log line and every page seen is
scanned for those secrets, and so is every text column of the database: with SMTP, a delivered
message keeps no secret in the outbox."""

import email
import logging
import re

import orjson
import pytest

import models
from models import Batch, BatchRecord, OutboxMessage, User
from services import authorization
from tests import batchfiles
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards

HX = {"HX-Request": "true"}
SIXTEEN_DIGITS = re.compile(r"(?<!\d)\d{16}(?!\d)")


def _luhn(number: str) -> bool:
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(number)):
        total += digit if i % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
    return total % 10 == 0


@pytest.fixture
def smtp_client(make_app, smtp_server):
    port, received = smtp_server
    application = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    return application, application.test_client(), received


def _post(client, url, data=None, **kwargs):
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})}, **kwargs)


def _mailed(received, pattern):
    """The last secret matching `pattern` in the messages the SMTP server received."""
    for envelope in reversed(received):
        message = email.message_from_bytes(envelope.content)
        body = "".join(
            part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace")
            for part in message.walk()
            if part.get_content_maintype() == "text"
        )
        found = re.search(pattern, body)
        if found:
            return found.group(1)
    raise AssertionError(f"nothing matched {pattern}")


def test_no_secret_in_logs_pages_or_database(smtp_client, caplog):
    application, client, received = smtp_client
    company = make_company("SECRETOS SAS", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**12)
    product = make_product(company, transfer_fee=5_500, card_price_named=1_000)
    admin = make_user("jefa", perms={product: "all"})
    make_user("olvida", perms={product: "order.view"})
    issue_cards(product, 2)
    batch = Batch.create(
        company=company, product=product, number="26120299", kind="EMI", status=Batch.TO_AUTHORIZE, valid_records=1,
        total_records=1,
    )  # fmt: skip
    BatchRecord.create(batch=batch, line=2, id_type="CC", id_number="123", data=orjson.dumps({}).decode())
    with application.test_request_context():
        (order,) = authorization.authorize(product, [batch.id], admin)
    pages, secrets = [], {PASSWORD}
    caplog.set_level(logging.DEBUG)

    def see(response):
        pages.append(response.get_data(as_text=True))
        return response

    # Login with the password, then recovery of another user's (a temporary one by e-mail).
    see(_post(client, "/ingresar", {"username": "jefa", "password": PASSWORD}))
    other = application.test_client()
    see(_post(other, "/recuperar", {"username": "olvida", "nit": company.nit, "email": "olvida@example.com"}))
    secrets.add(_mailed(received, r"Contraseña temporal: (\S+)"))
    # The administrator creates a user and resets another's password (temporary ones by e-mail).
    base = f"/configuracion/usuarios/{company.id}"
    see(_post(client, f"{base}/nuevo", {
        "username": "nueva", "first_name": "Nueva", "email": "nueva@example.com", f"permiso-{product.id}": "order.view",
        "password": PASSWORD,
    }, headers=HX))  # fmt: skip
    secrets.add(_mailed(received, r"Contraseña temporal: (\S+)"))
    olvida = User.get(User.username == "olvida")
    see(_post(client, f"{base}/{olvida.id}/restablecer", {"password": PASSWORD}, headers=HX))
    secrets.add(_mailed(received, r"Contraseña temporal: (\S+)"))
    # Pay the order with its code; fund the cuenta maestra with its code.
    orders = f"/productos/{product.id}/ordenes"
    see(_post(client, f"{orders}/{order.id}/pagar/codigo", headers=HX))
    code = _mailed(received, r"es: (\d{6})")
    secrets.add(code)
    see(_post(client, f"{orders}/{order.id}/pagar", {"code": code}, headers=HX))
    maestra = f"/productos/{product.id}/cuenta-maestra"
    see(
        _post(
            client,
            f"{maestra}/recarga",
            {"monto": "100.000", "descripcion": "Fondeo", "clave": "clave00001"},
            headers=HX,
        )
    )
    fund_code = _mailed(received, r"es: (\d{6})")
    secrets.add(fund_code)
    see(
        _post(
            client,
            f"{maestra}/recarga/confirmar",
            {"code": fund_code, "clave": "clave00001", "monto": "100.000"},
            headers=HX,
        )
    )
    # The pages that show cards and people.
    for path in (maestra, f"/productos/{product.id}/tarjetas", f"/productos/{product.id}/reportes/tarjetahabientes"):
        see(client.get(path))
    models.db.connect(reuse_if_open=True)
    from models import MasterOperation, ServiceOrder

    assert ServiceOrder.get_by_id(order.id).status in ServiceOrder.PAID  # the flows really ran
    assert MasterOperation.select().where(MasterOperation.kind == MasterOperation.FUND).count() == 1
    assert User.select().where(User.username == "nueva").exists()
    assert len(secrets) == 6, secrets  # each secret was really issued and found in its e-mail

    # The portal's log lines (the test's own SMTP server, aiosmtpd, logs what it receives: not ours).
    ours = [r for r in caplog.records if not r.name.startswith(("mail.log", "aiosmtpd"))]
    assert any("delivered by SMTP" in r.getMessage() for r in ours), "the mail log lines were not captured"
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
    for secret in secrets:
        assert secret not in logs, f"a secret in the logs: {secret[:2]}…"
        for page in pages:
            assert secret not in page, f"a secret in a page: {secret[:2]}…"
    for text in [logs, *pages]:
        assert not [n for n in SIXTEEN_DIGITS.findall(text) if _luhn(n)], "a full card number"

    # With SMTP, nothing delivered keeps its secret: scan every text column of every table.
    assert OutboxMessage.select().where(OutboxMessage.status == OutboxMessage.SENT).count() >= 5  # the 5 mailed secrets
    database = models.db.obj
    for model in models.SCHEMA_MODELS:
        columns = [f for f in model._meta.sorted_fields if f.field_type in ("TEXT", "VARCHAR")]
        if not columns:
            continue
        for row in model.select(*columns).tuples().iterator():
            for value in row:
                if value:
                    assert not any(secret in str(value) for secret in secrets), (model.__name__, str(value)[:60])
                    assert not [n for n in SIXTEEN_DIGITS.findall(str(value)) if _luhn(n)], model.__name__
    assert database is not None
