"""services/exports.py: the whole result of a list in .xlsx, typed and formula-safe, built in the
request when small and queued for the job when large."""

import io
import zipfile
from datetime import datetime, timedelta

import openpyxl
import pytest

from models import ExportJob, ServiceOrder, utcnow
from services import Refused, exports
from tests.factories import make_company, make_product, make_user

HEADER_ROW = 7  # 5 lines of title block, a blank line, then the header


def make_orders(product, count, status=ServiceOrder.PENDING_PAYMENT, start=0):
    made = []
    for n in range(start, start + count):
        made.append(
            ServiceOrder.create(
                company=product.company_id,
                product=product,
                status=status,
                commission=100_050 + n,
                gmf=50,
                iva=19_000,
                os_total=500_000_00 + n,
                deposited=0 if status == ServiceOrder.PENDING_PAYMENT else 7,
                created_at=utcnow() - timedelta(hours=n + 1),
            )  # fmt: skip
        )
    return made


@pytest.fixture
def world(db):
    company = make_company("EXPORTA SA", nit="900123456")
    product = make_product(company, "Clásica / Visa")
    other = make_product(make_company("OTRA SA", nit="800111222"), "Clásica / Visa")
    user = make_user("exportador", perms={product: "order.view"})
    return {"product": product, "other": other, "user": user}


def read(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content)).active


def data_rows(sheet):
    return [row for row in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]


def test_an_inline_export_holds_every_row_of_the_result_not_only_the_page(world):
    product = world["product"]
    made = make_orders(product, 12)
    make_orders(world["other"], 3)  # another company's orders never appear
    content = exports.start(world["user"], product, "ordenes", {})
    assert isinstance(content, bytes)
    sheet = read(content)
    assert sheet["A1"].value == "Órdenes de servicio"
    assert sheet["A2"].value == "Empresa: EXPORTA SA · NIT 900123456"
    assert sheet["A3"].value == "Producto: Clásica / Visa"
    assert [c.value for c in sheet[HEADER_ROW]] == [h for h, _w, _k in exports.ORDER_COLUMNS]
    rows = data_rows(sheet)
    assert len(rows) == 12  # the page shows 10
    newest = made[0]
    number, when, commission, gmf, iva, os_total, deposited, status = rows[0]
    assert number == newest.id and status == "Autorizado"
    assert commission == pytest.approx((newest.commission - newest.gmf) / 100)  # pesos, as numbers
    assert isinstance(os_total, (int, float)) and os_total == pytest.approx(500_000.00)  # a number, not "$ 500.000"
    assert isinstance(when, datetime) and abs((when - exports.local(newest.created_at)).total_seconds()) < 1
    cells = sheet[HEADER_ROW + 1]
    assert cells[2].number_format == exports.MONEY_FORMAT and cells[1].number_format == exports.DATETIME_FORMAT
    assert sheet.freeze_panes == f"A{HEADER_ROW + 1}"
    assert {r[0] for r in rows} == {o.id for o in made}


def test_the_criteria_choose_the_rows(world):
    product = world["product"]
    make_orders(product, 4)
    voided = make_orders(product, 2, status=ServiceOrder.VOIDED, start=4)
    sheet = read(exports.start(world["user"], product, "ordenes", {"estado": ServiceOrder.VOIDED}))
    assert sorted(r[0] for r in data_rows(sheet)) == sorted(o.id for o in voided)
    assert "estado Anulado" in sheet["A4"].value
    with pytest.raises(Refused, match="fecha inicial"):
        exports.start(world["user"], product, "ordenes", {"fecha_inicial": "31/02/2026", "fecha_final": "01/03/2026"})


TRICKY = ['=HYPERLINK("http://x","y")', "+57 300", "-1+2", "@SUM(A1)", "\tcmd", "\rcmd", "Ana María"]


@pytest.fixture
def tricky_kind(monkeypatch):
    """A list whose text cells are what an attacker would type into a name."""

    def rows(product, params):
        return len(TRICKY), ((text, 1_234_56, datetime(2026, 1, 31, 10, 5)) for text in TRICKY)

    export = exports.Export(
        "prueba", "=Prueba", (exports.Column("=Nombre", 20), exports.Column("Saldo", 12, exports.MONEY),
                              exports.Column("Fecha", 18, exports.DATE)),
        rows, "order.view",
    )  # fmt: skip
    monkeypatch.setitem(exports.EXPORTS, "prueba", export)
    return export


def _formulas(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return [name for name in book.namelist() if name.startswith("xl/worksheets/") and b"<f>" in book.read(name)]


@pytest.mark.parametrize("streaming", [False, True], ids=["openpyxl", "xlsxwriter"])
def test_text_that_looks_like_a_formula_is_written_as_text(world, tricky_kind, streaming):
    content, count = exports.build(tricky_kind, world["product"], {}, streaming=streaming)
    assert count == len(TRICKY)
    assert not _formulas(content)
    sheet = read(content)
    assert sheet["A1"].value == "'=Prueba" and sheet.cell(HEADER_ROW, 1).value == "'=Nombre"
    cells = [sheet.cell(HEADER_ROW + 1 + i, 1) for i in range(len(TRICKY))]
    assert all(c.data_type == "s" for c in cells)
    # (XlsxWriter's inline strings escape a CR as _x000D_, which Excel reads back as the CR)
    assert [c.value.replace("_x000D_", "\r") for c in cells[:6]] == ["'" + t for t in TRICKY[:6]]
    assert cells[6].value == "Ana María"  # plain text stays as it is
    assert sheet.cell(HEADER_ROW + 1, 2).value == pytest.approx(1_234.56)
    assert sheet.cell(HEADER_ROW + 1, 3).value == datetime(2026, 1, 31, 10, 5)


def test_safe_text_prefixes_only_dangerous_starts():
    assert exports.safe_text("=1+1") == "'=1+1"
    assert exports.safe_text("a=1") == "a=1"
    assert exports.safe_text("-") == "'-"
    assert exports.safe_text(" =x") == " =x"


def test_over_the_limit_the_export_is_queued_once(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_INLINE_ROWS", 3)
    product = world["product"]
    make_orders(product, 5)
    with app.app_context():
        job = exports.start(world["user"], product, "ordenes", {"estado": ServiceOrder.PENDING_PAYMENT})
        again = exports.start(world["user"], product, "ordenes", {"estado": ServiceOrder.PENDING_PAYMENT})
        small = exports.start(world["user"], product, "ordenes", {"estado": ServiceOrder.VOIDED})
    assert isinstance(job, ExportJob) and job.status == ExportJob.PENDING and job.total == 5
    assert again.id == job.id  # a double click queues one
    assert isinstance(small, bytes)  # no voided orders: built now
    assert job.filename.startswith("ordenes-servicio-") and job.filename.endswith(".xlsx")
    assert ExportJob.select().count() == 1


def test_expired_exports_are_purged(world):
    old = ExportJob.create(
        user=world["user"], company=world["product"].company_id, product=world["product"], kind="ordenes",
        created_at=utcnow() - exports.KEEP - timedelta(minutes=1),
    )  # fmt: skip
    fresh = ExportJob.create(
        user=world["user"], company=world["product"].company_id, product=world["product"], kind="ordenes"
    )
    assert exports.purge_expired() == 1
    assert [j.id for j in ExportJob.select()] == [fresh.id]
    assert old.id != fresh.id
