"""«Exportar Excel» in Órdenes de servicio (blueprints/exports.py): the file at once when small;
over EXPORT_INLINE_ROWS the dialog with its progress, then «Descargar» for its user only."""

import io
import re

import openpyxl
import pytest

from models import ExportJob, ServiceOrder, UserPermission
from services import exports
from tests.conftest import login, post
from tests.factories import make_company, make_product, make_user
from tests.services.test_exports import HEADER_ROW, make_orders

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(db):
    company = make_company("EXPORTA SA", nit="900123456")
    product = make_product(company, "Clásica / Visa")
    other = make_product(make_company("OTRA SA", nit="800111222"), "Clásica / Visa")
    make_user("jefe", perms={product: "order.view,batch.upload"})
    make_user("colega", perms={product: "order.view"})
    make_user("cargador", perms={product: "batch.upload"})
    make_orders(product, 12)
    make_orders(other, 2)
    base = f"/productos/{product.id}/exportaciones"
    return {"product": product, "other": other, "base": base}


def numbers(content: bytes) -> list[int]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return [row[0] for row in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]


def mine(product, status=None):
    query = ServiceOrder.select().where(ServiceOrder.product == product)
    return sorted(o.id for o in query if status is None or o.status == status)


def test_the_orders_page_offers_exportar_excel(client, world):
    login(client, "jefe")
    html = client.get(f"/productos/{world['product'].id}/ordenes?estado=ANULADO").get_data(as_text=True)
    assert "Exportar Excel" in html and f'action="{world["base"]}/ordenes"' in html
    assert '<input type="hidden" name="estado" value="ANULADO">' in html  # without JavaScript


def test_a_small_export_downloads_the_whole_result(client, world):
    login(client, "jefe")
    response = post(client, f"{world['base']}/ordenes", {"pagina": "2"})
    assert response.status_code == 200
    assert response.mimetype == exports_mimetype()
    assert 'filename="ordenes-servicio-' in response.headers["Content-Disposition"]
    assert sorted(numbers(response.data)) == mine(world["product"])  # 12 rows, not the page's 10


def exports_mimetype():
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_with_htmx_a_small_export_is_fetched_by_the_browser(client, world):
    login(client, "jefe")
    ServiceOrder.update(status=ServiceOrder.VOIDED).where(ServiceOrder.id.in_(mine(world["product"])[:3])).execute()
    response = post(client, f"{world['base']}/ordenes", {"estado": "ANULADO"}, headers=HTMX)
    assert response.status_code == 204
    target = response.headers["HX-Redirect"]
    assert target.startswith(f"{world['base']}/ordenes?") and "estado=ANULADO" in target
    download = client.get(target)
    assert download.status_code == 200
    assert sorted(numbers(download.data)) == mine(world["product"], ServiceOrder.VOIDED)


def test_wrong_criteria_are_told_not_exported(client, world):
    login(client, "jefe")
    wrong = {"fecha_inicial": "01/01/2026", "fecha_final": "30/06/2026"}
    response = post(client, f"{world['base']}/ordenes", wrong, headers=HTMX)
    assert response.status_code == 200 and "El rango de fechas no puede superar 3 meses" in response.get_data(
        as_text=True
    )
    assert post(client, f"{world['base']}/ordenes", wrong).status_code == 422
    assert ExportJob.select().count() == 0


def _progress_url(html):
    return re.search(r'hx-get="([^"]+)" hx-trigger="every 2s"', html).group(1)


def test_a_large_export_runs_in_the_background_then_downloads(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_INLINE_ROWS", 3)
    login(client, "jefe")
    response = post(client, f"{world['base']}/ordenes", {"q": ""}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Exportación en proceso" in html and "<dialog" in html
    job = ExportJob.get()
    assert job.status == ExportJob.PENDING and job.total == 12
    poll = _progress_url(html)
    assert poll == f"{world['base']}/{job.id}"
    fragment = client.get(poll, headers={**HTMX, "HX-Target": f"exportacion-{job.id}"}).get_data(as_text=True)
    assert "En cola" in fragment and "<dialog" not in fragment and "Descargar" not in fragment

    ExportJob.update(status=ExportJob.RUNNING, done=5, claimed_at=ExportJob.created_at).execute()
    fragment = client.get(poll, headers={**HTMX, "HX-Target": f"exportacion-{job.id}"}).get_data(as_text=True)
    assert "5 de 12 registros" in fragment and 'value="5"' in fragment
    ExportJob.update(status=ExportJob.PENDING, claimed_at=None).execute()

    assert exports.run_waiting() == 1
    fragment = client.get(poll, headers={**HTMX, "HX-Target": f"exportacion-{job.id}"}).get_data(as_text=True)
    assert "Descargar" in fragment and "every 2s" not in fragment  # it stops polling
    download = client.get(f"{world['base']}/{job.id}/descargar")
    assert download.status_code == 200 and download.mimetype == exports_mimetype()
    assert sorted(numbers(download.data)) == mine(world["product"])


def test_without_javascript_the_export_page_shows_its_state(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_INLINE_ROWS", 3)
    login(client, "jefe")
    response = post(client, f"{world['base']}/ordenes", {})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Exportación en proceso" in page and "Actualizar" in page and "<html" in page


def test_only_its_user_downloads_an_export(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_INLINE_ROWS", 3)
    login(client, "jefe")
    post(client, f"{world['base']}/ordenes", {}, headers=HTMX)
    exports.run_waiting()
    job = ExportJob.get()
    assert client.get(f"{world['base']}/{job.id}/descargar").status_code == 200

    colleague = app.test_client()
    login(colleague, "colega")  # same company and permission, not their export
    assert colleague.get(f"{world['base']}/{job.id}/descargar").status_code == 404
    assert colleague.get(f"{world['base']}/{job.id}").status_code == 404
    # through another product's URL (the other company's), it does not exist either
    assert client.get(f"/productos/{world['other'].id}/exportaciones/{job.id}/descargar").status_code == 404


def test_the_permission_of_the_list_is_required(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_INLINE_ROWS", 3)
    login(client, "cargador")  # batch.upload only: no order.view
    assert post(client, f"{world['base']}/ordenes", {}).status_code == 403
    assert client.get(f"{world['base']}/ordenes").status_code == 403

    boss = app.test_client()
    login(boss, "jefe")
    assert post(boss, f"{world['base']}/desconocida", {}).status_code == 404
    post(boss, f"{world['base']}/ordenes", {}, headers=HTMX)
    exports.run_waiting()
    job = ExportJob.get()
    UserPermission.delete().where(UserPermission.permission == "order.view").execute()  # withdrawn since
    assert boss.get(f"{world['base']}/{job.id}/descargar").status_code == 403
