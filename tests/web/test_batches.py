"""Lotes > Carga de lotes: upload, pending list, detail, errors download, confirm, delete."""

import io
import re

import openpyxl
import pytest

from models import AuditEvent, Batch, BatchFile, BatchRecord, Card, Person
from services.batches import local_today, validate_waiting
from tests import batchfiles
from tests.conftest import csrf_token, login, post
from tests.factories import PASSWORD, make_company, make_product, make_user


@pytest.fixture
def world(db):
    company = make_company("JAHC TEST", nit="900291499", branches=("1", "73"))
    named = make_product(company, "Clásica / Visa")
    unnamed = make_product(company, "Clásica In / Visa", named=False)
    coop = make_company("COOP TEST", nit="9013434540", signatures=2, branches=("73",))
    coop_named = make_product(coop, "Clásica / Visa")
    make_user("jefe", perms={named: "all", unnamed: "all"})
    make_user("cargador", perms={named: "batch.upload"})
    make_user("consulta", perms={named: "order.view"})
    make_user("coop", perms={coop_named: "all"})
    return {"company": company, "named": named, "unnamed": unnamed, "coop": coop, "coop_named": coop_named}


def base(product):
    return f"/productos/{product.id}/lotes"


def pending_fragment(client, product, query=""):
    """The Lotes pendientes table as htmx asks for it (search, pages): the fragment of /carga."""
    response = client.get(f"{base(product)}/carga{query}", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Nuevos lotes" not in html  # the table alone, not the page
    return html


def send(client, product, kind, filename, content, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    data = {"csrf_token": csrf_token(client), "kind": kind, "file": (io.BytesIO(content), filename)}
    return client.post(f"{base(product)}/carga", data=data, headers=headers, content_type="multipart/form-data")


def emi_file(n=12, bad=(), **kwargs):
    rows = batchfiles.emi_rows(n)
    for index in bad:
        rows[index]["TIPO ID"] = "XX"
    return batchfiles.xlsx_bytes("EMI", rows, **kwargs)


def validated(app):
    with app.app_context():
        return validate_waiting()


def only_batch():
    return Batch.get()


def test_upload_page_has_the_manual_labels(client, world):
    login(client, "jefe")
    html = client.get(f"{base(world['named'])}/carga").get_data(as_text=True)
    for text in (
        "Nuevos lotes",
        '<label for="kind">Tipo de lote</label>',
        "Selecciona un tipo de lote",
        "Clic aquí para seleccionar el archivo de lote",
        ">Enviar</button>",
        "Lotes pendientes",
        "Buscar…",
        '<th scope="col">Nro. de lote</th>',
        '<th scope="col">Opciones</th>',
        "No se encontraron registros para tu consulta",
    ):
        assert text in html
    assert "Emisión nominada (Id persona)" in html and "Recarga (Id persona)" in html
    assert "Afiliación (Id persona)" not in html


def test_unnamed_product_takes_only_affiliation(client, world):
    login(client, "jefe")
    html = client.get(f"{base(world['unnamed'])}/carga").get_data(as_text=True)
    assert "Afiliación (Id persona)" in html and "Emisión nominada (Id persona)" not in html
    response = send(client, world["unnamed"], "EMI", "lote.xlsx", emi_file())
    assert "Selecciona un tipo de lote válido para este producto" in response.get_data(as_text=True)
    assert Batch.select().count() == 0


def test_menu_points_to_carga_de_lotes(client, world):
    login(client, "jefe")
    html = client.get(f"/productos/{world['named'].id}/lotes").get_data(as_text=True)
    assert f'href="{base(world["named"])}/carga"' in html


def test_upload_answers_at_once_and_validates_in_the_background(app, client, world):
    login(client, "jefe")
    content = emi_file(12, bad=(2, 5))
    response = send(client, world["named"], "EMI", "EMISION.xlsx", content)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Lote cargado exitosamente. La validación de los registros está en proceso." in html
    batch = only_batch()
    # The rows are counted by the job, when it reads the file: until then the row says so.
    assert batch.status == "VALIDANDO" and batch.total_records == 0 and batch.processed_records == 0
    assert batch.number == local_today().strftime("%y%m%d") + "00"
    assert bytes(BatchFile.get().content) == content  # the file is kept as received
    # The pending row polls its own status while validating.
    assert f'hx-get="{base(world["named"])}/{batch.id}/estado"' in html and 'hx-trigger="every 1s"' in html
    assert "<progress" in html and "Leyendo archivo…" in html
    assert validated(app) == 1
    batch = only_batch()
    assert batch.total_records == 12
    assert (batch.status, batch.valid_records, batch.error_records) == ("VALIDO_PARCIAL", 10, 2)
    assert BatchRecord.select().count() == 10
    row = client.get(f"{base(world['named'])}/{batch.id}/estado").get_data(as_text=True)
    assert "every 1s" not in row and "Válido con errores" in row
    assert 'aria-label="Confirmar lote"' in row and 'aria-label="Ver detalle"' in row and 'aria-label="Eliminar"' in row
    assert "batch:upload" in [e.tag for e in AuditEvent.select()]


def test_status_polling_does_not_renew_the_idle_session(client, world):
    import time

    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    old = int(time.time()) - 60
    with client.session_transaction() as session:
        session["last_seen"] = old
    client.get(f"{base(world['named'])}/{only_batch().id}/estado")
    with client.session_transaction() as session:
        assert session["last_seen"] == old


def test_batch_numbers_follow_a_daily_sequence_per_company(client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "a.xlsx", emi_file(3))
    send(client, world["named"], "EMI", "b.xlsx", emi_file(4))
    numbers = sorted(b.number for b in Batch.select())
    prefix = local_today().strftime("%y%m%d")
    assert numbers == [prefix + "00", prefix + "01"]


def test_same_content_twice_is_refused_while_alive(app, client, world):
    login(client, "jefe")
    content = emi_file(5)
    send(client, world["named"], "EMI", "lote.xlsx", content)
    again = send(client, world["named"], "EMI", "otro-nombre.xlsx", content).get_data(as_text=True)
    assert "El lote ya está registrado" in again
    assert Batch.select().count() == 1
    post(client, f"{base(world['named'])}/{only_batch().id}/eliminar", {"password": PASSWORD})
    assert "Lote cargado exitosamente" in send(client, world["named"], "EMI", "lote.xlsx", content).get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("lote.pdf", b"%PDF-1.4 hola", "extensión"),
        ("lote.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "no corresponde a su extensión"),
        ("lote.xlsx", b"", "El archivo está vacío"),
        ("lote.csv", b"TITULO SIN ENCABEZADOS\nhola;mundo\n", "No se encontró la fila de encabezados"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(client, world, filename, content, message):
    login(client, "jefe")
    response = send(client, world["named"], "EMI", filename, content)
    assert message in response.get_data(as_text=True)
    assert Batch.select().count() == 0 and BatchFile.select().count() == 0


def test_missing_type_or_file(client, world):
    login(client, "jefe")
    data = {"csrf_token": csrf_token(client), "kind": ""}
    html = client.post(f"{base(world['named'])}/carga", data=data, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Selecciona un tipo de lote" in html
    data = {"csrf_token": csrf_token(client), "kind": "EMI"}
    html = client.post(f"{base(world['named'])}/carga", data=data, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Selecciona el archivo de lote" in html


def test_upload_without_javascript_renders_the_whole_page(client, world):
    login(client, "jefe")
    ok = send(client, world["named"], "EMI", "lote.xlsx", emi_file(3), htmx=False)
    assert ok.status_code == 200 and "<html" in ok.get_data(as_text=True)
    bad = send(client, world["named"], "EMI", "lote.exe", b"MZ\x90\x00", htmx=False)
    assert bad.status_code == 422 and "extensión" in bad.get_data(as_text=True)


def test_over_the_record_limit_ends_no_valido_with_the_message(make_app, db, world):
    """The upload does not count the rows (the job does): a file over the limit is taken, and
    the job ends it No válido with the message the upload gave before, storing no record."""
    limited_app = make_app(BATCH_MAX_RECORDS=5)
    limited = limited_app.test_client()
    login(limited, "jefe")
    html = send(limited, world["named"], "EMI", "lote.xlsx", emi_file(6)).get_data(as_text=True)
    assert "Lote cargado exitosamente" in html
    assert validated(limited_app) == 1
    batch = only_batch()
    assert batch.status == "NO_VALIDO" and "máximo de 5 registros" in batch.file_errors
    assert BatchRecord.select().count() == 0 and batch.total_records == 0
    detail = limited.get(f"{base(world['named'])}/{batch.id}").get_data(as_text=True)
    assert "máximo de 5 registros" in detail


def test_detail_lists_rejected_lines_with_pagination(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(30, bad=range(0, 24, 2)))
    validated(app)
    batch = only_batch()
    html = client.get(f"{base(world['named'])}/{batch.id}").get_data(as_text=True)
    for text in (
        "900291499",
        "JAHC TEST",
        "Emisión nominada (Id persona)",
        "Válido con errores",
        ">Volver</a>",
        "Descargar errores",
    ):
        assert text in html
    assert "<dt>Registros</dt><dd>30</dd>" in html and "<dt>Con error</dt><dd>12</dd>" in html
    lines = re.findall(r"<li>Línea (\d+): ([^<]+)</li>", html)
    assert len(lines) == 10
    assert int(lines[0][0]) == min(e.line for e in batch.errors)
    assert "Tipo de documento inválido" in lines[0][1]
    second = client.get(f"{base(world['named'])}/{batch.id}?pagina=2").get_data(as_text=True)
    assert len(re.findall(r"<li>Línea \d+:", second)) == 2
    assert "Mostrando registro(s) del 11 al 12 de un total de 12 registro(s)" in second


def test_line_numbers_are_the_rows_the_user_sees(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(5, bad=(0,), title=True))
    validated(app)
    error = only_batch().errors[0]
    # Title in row 1, header in row 2: the first data row is Excel row 3.
    assert error.line == 3


def test_errors_download_gives_back_the_rows_with_messages(app, client, world):
    login(client, "jefe")
    rows = batchfiles.emi_rows(6)
    rows[1]["TIPO ID"] = "XX"
    rows[1]["PRIMER NOMBRE"] = "=cmd|'/c calc'!A1"
    rows[3]["TIPO ID"] = "XX"
    send(client, world["named"], "EMI", "lote.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    validated(app)
    batch = only_batch()
    response = client.get(f"{base(world['named'])}/{batch.id}/errores.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f"errores-lote-{batch.number}.xlsx" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    header_index = next(i for i, row in enumerate(values) if "TIPO ID" in row)
    header = values[header_index]
    assert header[-1] == "ERRORES"
    data = [row for row in values[header_index + 1 :] if any(v is not None for v in row)]
    assert len(data) == 2
    assert all("Tipo de documento inválido" in row[-1] for row in data)
    hostile = [c for row in sheet.iter_rows() for c in row if c.value == "=cmd|'/c calc'!A1"]
    assert hostile and all(c.data_type == "s" for c in hostile)


def test_hostile_text_is_stored_as_text_and_escaped(app, client, world):
    login(client, "jefe")
    rows = batchfiles.emi_rows(2)
    rows[0]["PRIMER NOMBRE"] = "<script>alert(1)</script>"
    send(client, world["named"], "EMI", "<b>lote</b>.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    validated(app)
    batch = only_batch()
    html = client.get(f"{base(world['named'])}/{batch.id}").get_data(as_text=True)
    assert "<b>lote</b>" not in html and "&lt;b&gt;lote&lt;/b&gt;.xlsx" in html
    stored = [r.data for r in BatchRecord.select()] + [e.raw for e in batch.errors]
    assert any("<script>alert(1)</script>" in text for text in stored)


def confirm_modal(client, product, batch):
    return client.get(f"{base(product)}/{batch.id}/confirmar", headers={"HX-Request": "true"}).get_data(as_text=True)


def confirm_post(client, product, batch, password):
    return post(client, f"{base(product)}/{batch.id}/confirmar", {"password": password}, headers={"HX-Request": "true"})


def test_confirm_modal_shows_the_summary(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(5, bad=(1,)))
    validated(app)
    batch = only_batch()
    html = confirm_modal(client, world["named"], batch)
    assert "<dialog data-modal" in html and "<html" not in html
    for text in (
        "Confirmación de lote",
        "NIT",
        "Nombre de la empresa",
        "Tipo de lote",
        "Cantidad de registros",
        "Monto total",
        "Nro. de lote",
        "Observaciones",
        '<label for="confirm-password">Contraseña</label>',
        ">Confirmar</button>",
    ):
        assert text in html
    assert "<dt>Cantidad de registros</dt><dd>4</dd>" in html
    assert "solo se confirmarán los 4 válidos" in html


def test_confirm_with_a_wrong_password_stays_in_the_modal(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    validated(app)
    batch = only_batch()
    response = confirm_post(client, world["named"], batch, "Mala*Clave1")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "La contraseña es incorrecta" in html and "<dialog data-modal" in html
    assert only_batch().status == "VALIDO"


@pytest.mark.parametrize(
    "company_key, user, expected", [("named", "jefe", "POR_AUTORIZAR"), ("coop_named", "coop", "POR_FIRMAR")]
)
def test_confirm_moves_the_batch_by_the_number_of_signatures(app, client, world, company_key, user, expected):
    product = world[company_key]
    login(client, user)
    branch = "73"
    rows = batchfiles.emi_rows(3)
    for row in rows:
        row["SUCURSAL"] = branch
    send(client, product, "EMI", "lote.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    validated(app)
    batch = only_batch()
    html = confirm_post(client, product, batch, PASSWORD).get_data(as_text=True)
    assert f"El lote Nro: {batch.number} fue confirmado exitosamente." in html
    assert only_batch().status == expected and only_batch().confirmed_by.username == user
    # It left the pending table.
    assert batch.number not in pending_fragment(client, product)
    # Confirming twice is refused: the dialog states why instead of asking for the password.
    again = confirm_post(client, product, only_batch(), PASSWORD).get_data(as_text=True)
    label = only_batch().status_label
    assert f"El lote {batch.number} está {label}: ya no se puede confirmar." in again
    assert 'name="password"' not in again


def test_a_validating_or_invalid_batch_cannot_be_confirmed(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3, bad=(0, 1, 2)))
    html = confirm_post(client, world["named"], only_batch(), PASSWORD).get_data(as_text=True)
    assert "no se puede confirmar" in html
    validated(app)
    assert only_batch().status == "NO_VALIDO"
    assert "no se puede confirmar" in confirm_post(client, world["named"], only_batch(), PASSWORD).get_data(
        as_text=True
    )


def test_confirm_without_javascript(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    validated(app)
    batch = only_batch()
    page = client.get(f"{base(world['named'])}/{batch.id}/confirmar").get_data(as_text=True)
    assert "<html" in page and "Confirmación de lote" in page
    response = post(client, f"{base(world['named'])}/{batch.id}/confirmar", {"password": PASSWORD})
    assert response.status_code == 302
    assert "fue confirmado exitosamente" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_delete_needs_the_password(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    batch = only_batch()
    modal = client.get(f"{base(world['named'])}/{batch.id}/eliminar", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Eliminar lote" in modal and batch.number in modal
    wrong = post(
        client, f"{base(world['named'])}/{batch.id}/eliminar", {"password": "x"}, headers={"HX-Request": "true"}
    )
    assert "La contraseña es incorrecta" in wrong.get_data(as_text=True) and only_batch().status == "VALIDANDO"
    ok = post(
        client, f"{base(world['named'])}/{batch.id}/eliminar", {"password": PASSWORD}, headers={"HX-Request": "true"}
    )
    assert f"El lote Nro: {batch.number} fue eliminado." in ok.get_data(as_text=True)
    assert only_batch().status == "ELIMINADO"
    # The validation job leaves a deleted batch alone, and its pages are gone.
    assert validated(app) == 0 and BatchRecord.select().count() == 0
    assert client.get(f"{base(world['named'])}/{batch.id}").status_code == 404


@pytest.mark.parametrize(
    "user, method, path, status",
    [
        ("cargador", "get", "/carga", 200),
        ("cargador", "get", "/{id}/confirmar", 403),
        ("cargador", "post", "/{id}/confirmar", 403),
        ("cargador", "get", "/{id}/eliminar", 403),
        ("cargador", "post", "/{id}/eliminar", 403),
        ("consulta", "get", "/carga", 403),
        ("consulta", "post", "/carga", 403),
        ("consulta", "get", "/{id}", 403),
        ("consulta", "get", "/{id}/estado", 403),
        ("consulta", "get", "/{id}/errores.xlsx", 403),
    ],
)
def test_permissions(app, client, world, user, method, path, status):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    post(client, "/salir")
    login(client, user)
    url = base(world["named"]) + path.format(id=only_batch().id)
    response = client.get(url) if method == "get" else post(client, url, {"password": PASSWORD})
    assert response.status_code == status


def test_uploader_without_confirm_sees_no_confirm_icon(app, client, world):
    login(client, "cargador")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    validated(app)
    html = client.get(f"{base(world['named'])}/carga").get_data(as_text=True)
    assert 'aria-label="Ver detalle"' in html
    assert 'aria-label="Confirmar lote"' not in html and 'aria-label="Eliminar"' not in html


@pytest.mark.parametrize("path", ["", "/estado", "/errores.xlsx", "/confirmar", "/eliminar"])
def test_another_companys_batch_answers_404(app, client, world, path):
    login(client, "coop")
    rows = batchfiles.emi_rows(2)
    for row in rows:
        row["SUCURSAL"] = "73"
    send(client, world["coop_named"], "EMI", "lote.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    foreign = only_batch()
    post(client, "/salir")
    login(client, "jefe")
    # Through jefe's own product (the batch belongs to another product) and through the foreign product.
    assert client.get(f"{base(world['named'])}/{foreign.id}{path}").status_code == 404
    assert client.get(f"{base(world['coop_named'])}/{foreign.id}{path}").status_code == 404


def test_upload_requires_csrf(client, world):
    login(client, "jefe")
    data = {"kind": "EMI", "file": (io.BytesIO(emi_file(2)), "lote.xlsx")}
    response = client.post(f"{base(world['named'])}/carga", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and Batch.select().count() == 0


def test_pending_search_and_pagination(app, client, world):
    login(client, "jefe")
    for n in range(12):
        send(client, world["named"], "EMI", f"lote{n}.xlsx", emi_file(2 + n))
    prefix = local_today().strftime("%y%m%d")
    first = pending_fragment(client, world["named"])
    assert "Mostrando registro(s) del 1 al 10 de un total de 12 registro(s)" in first
    found = pending_fragment(client, world["named"], f"?q={prefix}11")
    assert f"{prefix}11" in found and f"{prefix}10" not in found
    by_type = pending_fragment(client, world["named"], "?q=recarga")
    assert "No se encontraron registros para tu consulta" in by_type


def test_recharge_checks_active_cardholders(app, client, world):
    person = Person.create(id_type="CC", id_number="1020304050", first_name="ANA", first_surname="PEREZ")
    Card.create(product=world["named"], person=person, masked_pan="450714******9053", status="ACTIVA")
    login(client, "jefe")
    content = batchfiles.csv_bytes(
        "REC",
        [
            {"TIPO ID": "CC", "NRO ID": "1020304050", "MONTO": "150000.50", "DESCRIPCION": "Bono"},
            {"TIPO ID": "CC", "NRO ID": "99999999", "MONTO": "1000", "DESCRIPCION": ""},
        ],
    )
    send(client, world["named"], "REC", "recarga.csv", content)
    validated(app)
    batch = only_batch()
    assert (batch.status, batch.valid_records, batch.amount) == ("VALIDO_PARCIAL", 1, 15_000_050)
    assert "El empleado no está asociado a la empresa para el producto dado" in batch.errors[0].messages


def test_emission_refuses_people_who_already_hold_a_card(app, client, world):
    rows = batchfiles.emi_rows(2)
    person = Person.create(id_type=rows[0]["TIPO ID"], id_number=str(rows[0]["NRO ID"]), first_name="X")
    Card.create(product=world["named"], person=person, masked_pan="450714******0001", status="ACTIVA")
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", batchfiles.xlsx_bytes("EMI", rows))
    validated(app)
    assert "El empleado ya está asociado a la empresa para el producto dado" in only_batch().errors[0].messages


def test_wrong_passwords_in_the_confirm_modal_block_the_user(app, client, world):
    from models import User

    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    validated(app)
    batch = only_batch()
    first = confirm_post(client, world["named"], batch, "Mala*Clave1").get_data(as_text=True)
    second = confirm_post(client, world["named"], batch, "Mala*Clave1").get_data(as_text=True)
    third = confirm_post(client, world["named"], batch, "Mala*Clave1").get_data(as_text=True)
    assert "La contraseña es incorrecta" in first
    assert "Al siguiente intento fallido tu usuario será bloqueado" in second
    assert "Usuario bloqueado por intentos fallidos" in third
    assert User.get(User.username == "jefe").status == "BLOQUEADO" and only_batch().status == "VALIDO"
    # The session is over: an htmx request is told to go to the login page.
    response = client.get(f"{base(world['named'])}/carga", headers={"HX-Request": "true"})
    assert response.headers.get("HX-Redirect", "").endswith("/ingresar")


def test_delete_only_users_cannot_read_the_cardholders_data(app, client, world):
    make_user("borrador", perms={world["named"]: "batch.delete"})
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3, bad=(0,)))
    validated(app)
    post(client, "/salir")
    login(client, "borrador")
    batch = only_batch()
    assert client.get(f"{base(world['named'])}/{batch.id}").status_code == 403
    assert client.get(f"{base(world['named'])}/{batch.id}/errores.xlsx").status_code == 403
    assert client.get(f"{base(world['named'])}/carga").status_code == 200  # the list, to delete from


@pytest.mark.parametrize("query", ["?q=1&endpoint=x", "?q=1&_method=POST", "?product_id=9", "?q=%00", "?pagina=abc"])
def test_hostile_query_strings_never_break_the_list(client, world, query):
    login(client, "jefe")
    response = client.get(f"{base(world['named'])}/carga{query}", headers={"HX-Request": "true"})
    assert response.status_code in (200, 400)


@pytest.mark.parametrize("htmx", [True, False], ids=["dialogo", "pagina"])
@pytest.mark.parametrize(
    "action, status, label",
    [
        ("confirmar", Batch.TO_AUTHORIZE, "Por autorizar"),
        ("confirmar", Batch.DELETED, "Eliminado"),
        ("eliminar", Batch.IN_ORDER, "En orden de servicio"),
        ("eliminar", Batch.DELETED, "Eliminado"),
    ],
)
def test_an_action_the_batch_no_longer_allows_shows_its_state_not_the_form(
    app, client, world, action, status, label, htmx
):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    validated(app)
    batch = only_batch()
    Batch.update(status=status).where(Batch.id == batch.id).execute()
    headers = {"HX-Request": "true"} if htmx else {}
    url = f"{base(world['named'])}/{batch.id}/{action}"
    for response in (client.get(url, headers=headers), post(client, url, {"password": PASSWORD}, headers=headers)):
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert f"El lote {batch.number} está {label}: ya no se puede {action}." in html
        assert 'name="password"' not in html
    assert only_batch().status == status  # nothing moved


def test_the_pending_table_refreshed_after_confirming_keeps_the_search_and_page(app, client, world):
    login(client, "jefe")
    for n in range(12):
        send(client, world["named"], "EMI", f"lote{n}.xlsx", emi_file(2 + n))
    validated(app)
    listing = pending_fragment(client, world["named"], "?pagina=2")
    assert '<form id="pending-state"' in listing and 'name="pagina" value="2"' in listing
    assert 'hx-include="#pending-state"' in listing  # each row's ✓ and Eliminar send the page along
    first = Batch.select().order_by(Batch.id).first()
    html = post(
        client, f"{base(world['named'])}/{first.id}/confirmar", {"password": PASSWORD, "pagina": "2"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)  # fmt: skip
    assert "fue confirmado exitosamente" in html and 'id="pending" hx-swap-oob="true"' in html
    assert "Mostrando registro(s) del 11 al 11 de un total de 11 registro(s)" in html


def test_confirming_from_the_detail_page_goes_back_to_the_list(app, client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    validated(app)
    batch = only_batch()
    detail = client.get(f"{base(world['named'])}/{batch.id}").get_data(as_text=True)
    assert f"{base(world['named'])}/{batch.id}/confirmar?origen=detalle" in detail
    dialog = client.get(
        f"{base(world['named'])}/{batch.id}/confirmar?origen=detalle", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<input type="hidden" name="origen" value="detalle">' in dialog
    html = post(
        client, f"{base(world['named'])}/{batch.id}/confirmar", {"password": PASSWORD, "origen": "detalle"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)  # fmt: skip
    assert f'<a class="button primary" href="{base(world["named"])}/carga" autofocus>Aceptar</a>' in html
    assert 'id="pending"' not in html  # no list on the detail page to refresh


def test_the_pending_row_shows_reading_then_validating_with_thousands(client, world):
    login(client, "jefe")
    send(client, world["named"], "EMI", "lote.xlsx", emi_file(3))
    batch = only_batch()
    url = f"{base(world['named'])}/{batch.id}/estado"
    row = client.get(url).get_data(as_text=True)
    assert "Leyendo archivo…" in row and "Validando" not in row and 'hx-trigger="every 1s"' in row
    # The job has read the file and validated 40.000 of its 100.000 records.
    Batch.update(total_records=100_000, processed_records=40_000).where(Batch.id == batch.id).execute()
    row = client.get(url).get_data(as_text=True)
    assert "Leyendo archivo…" not in row and "Validando" in row and "40.000 / 100.000" in row
    assert 'max="100000" value="40000"' in row
    Batch.update(status=Batch.VALID, processed_records=100_000).where(Batch.id == batch.id).execute()
    row = client.get(url).get_data(as_text=True)
    assert "Válido" in row and "Validando" not in row and "every 1s" not in row
