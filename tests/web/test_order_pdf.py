"""The ORDEN DE SERVICIO PDF (services/order_pdf.py): what it prints, read back with pypdf."""

import io
import re
from datetime import date, datetime
from decimal import Decimal

import pypdf
import pytest

from domain.clock import local_today
from models import Batch, Company, ServiceOrder
from services.order_pdf import batch_type_label, iva_label, order_html, order_pdf
from tests.factories import make_company, make_product, make_user

PRINTED_ON = date(2023, 7, 6)
MONEY_RE = re.compile(r"^\$ [0-9]{1,3}(\.[0-9]{3})*,[0-9]{2}$")


def make_order(company, product, user, batches, iva_rate="0.19", iva=None, kind=None, created_at=None):
    """An order with the given batches, its totals summed from them as services/orders.py freezes
    them; `iva` is given by each test (a known figure, not recomputed here)."""
    kinds = {b["kind"] for b in batches}
    order = ServiceOrder.create(
        company=company,
        product=product,
        kind=kind if kind is not None else (next(iter(kinds)) if len(kinds) == 1 else ""),
        status=ServiceOrder.PENDING_PAYMENT,
        authorized_by=user,
        iva_rate=Decimal(iva_rate),
        created_at=created_at or datetime(2023, 4, 29, 3, 56, 38),  # 28/04 22:56 in Bogotá
    )
    for i, spec in enumerate(batches):
        records = spec.get("records", 1)
        unit = spec.get("unit_price", 0)
        card = records * unit
        dist = spec.get("distribution", 0)
        rec = spec.get("recharge_commission", 0)
        Batch.create(
            company=company,
            product=product,
            number=spec.get("number", f"230428{i:02d}"),
            kind=spec["kind"],
            status=Batch.IN_ORDER,
            total_records=records,
            valid_records=records,
            amount=spec.get("amount", 0),
            uploaded_by=spec.get("uploaded_by", user),
            created_at=spec.get("created_at", datetime(2023, 4, 28, 15, 0)),
            order=order,
            unit_price=unit,
            card_price_total=card,
            distribution=dist,
            recharge_commission=rec,
            commission=card + dist + rec,
            gmf=spec.get("gmf", 0),
        )
    rows = list(order.batches)
    base = sum(b.commission for b in rows)
    gmf = sum(b.gmf for b in rows)
    amount = sum(b.amount for b in rows)
    os_total = base + gmf + iva
    ServiceOrder.update(
        card_price_total=sum(b.card_price_total for b in rows),
        distribution=sum(b.distribution for b in rows),
        recharge_commission=sum(b.recharge_commission for b in rows),
        gmf=gmf,
        iva_base=base,
        iva=iva,
        commission=base + gmf,
        os_total=os_total,
        amount=amount,
        total_to_pay=os_total + amount,
        records=sum(b.valid_records for b in rows),
    ).where(ServiceOrder.id == order.id).execute()
    return ServiceOrder.get_by_id(order.id)


def pdf_pages(app, order, printed_on=PRINTED_ON) -> list[list[str]]:
    """Render in an app context only (no request, as a job would) and return each page's text
    lines, stripped."""
    with app.app_context():
        data = order_pdf(order, printed_on=printed_on)
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [[line.strip() for line in page.extract_text().splitlines() if line.strip()] for page in reader.pages]


def pdf_lines(app, order, printed_on=PRINTED_ON) -> list[str]:
    pages = pdf_pages(app, order, printed_on)
    assert len(pages) == 1, f"{len(pages)} pages"
    return pages[0]


def follows(lines: list[str], *items: str) -> bool:
    """`items` appear one right after the other somewhere in `lines`."""
    n = len(items)
    return any(tuple(lines[i : i + n]) == items for i in range(len(lines) - n + 1))


def cents(text: str) -> int:
    assert MONEY_RE.match(text), text
    return int(text[2:].replace(".", "").replace(",", ""))


def section(lines: list[str], title: str, columns: int, header: int) -> list[list[str]]:
    """The data rows of the table titled `title`: `header` column titles, then rows of `columns`."""
    start = lines.index(title) + 1 + header
    rows = []
    while start + columns <= len(lines) and re.fullmatch(r"[0-9]{8}", lines[start]):
        rows.append(lines[start : start + columns])
        start += columns
    return rows


def totals(lines: list[str]) -> list[tuple[str, int, bool]]:
    """The totals block as (label, centavos, is_result): a result line has no trailing "+"."""
    i = lines.index("Total Precio")
    out = []
    while i < len(lines):
        label, amount = lines[i], lines[i + 1]
        added = i + 2 < len(lines) and lines[i + 2] == "+"
        out.append((label, cents(amount), not added))
        i += 3 if added else 2
        if label == "TOTAL A PAGAR":
            break
    return out


@pytest.fixture
def setup(app, db):
    company = make_company("JAHC TECHNOLOGIES", nit="900291499")
    Company.update(address="Carrera 13 #83-19", phone1="4193333").where(Company.id == company.id).execute()
    company = Company.get_by_id(company.id)
    product = make_product(company, "CLASICA", iva_rate=Decimal("0.12"))
    user = make_user("jhomeznp", perms={product: "all"})
    return company, product, user


def test_manual_example_commission_10_at_iva_12(app, setup):
    company, product, user = setup
    order = make_order(
        company, product, user, [{"kind": "EMI", "number": "23042800", "unit_price": 1000}], iva_rate="0.12", iva=120
    )
    lines = pdf_lines(app, order)

    assert follows(lines, "ORDEN DE SERVICIO", "Gerencia de Operaciones")
    assert "Fecha de Impresión: 06/07/2023" in lines
    assert f"Número de Orden de Servicio: {order.id}" in lines
    assert follows(lines, "NOMBRE DE LA EMPRESA:", "JAHC TECHNOLOGIES", "NIT:", "900291499")
    assert follows(lines, "DIRECCIÓN FISCAL:", "Carrera 13 #83-19", "TELÉFONO:", "4193333")
    assert follows(lines, "Producto:", "CLASICA", "Autorizado por:", "JHOMEZNP")
    # Authorized 03:56 UTC on 29/04: still 28/04 in Bogotá (UTC-5).
    assert follows(lines, "Tipo de Lote:", "Emisión nominada (Id persona)", "Fecha de Autorización:", "28/04/2023")
    assert follows(lines, "INFORMACIÓN DE LOTES", "Lote", "Usuario/Carga", "Fecha/Carga", "Cantidad")
    assert follows(
        lines, "Precio Unitario", "SubTotal", "23042800", "JHOMEZNP", "28/04/2023", "1", "$ 10,00", "$ 10,00"
    )
    assert follows(lines, "GASTOS DE DISTRIBUCIÓN", "Lote", "Cantidad", "Destino", "Costo")
    assert "Esta orden no tiene gastos de distribución." in lines
    assert totals(lines) == [
        ("Total Precio", 1000, False),
        ("Total Gastos Distribución", 0, False),
        ("SubTotal Orden de Servicio", 1000, True),
        ("IVA (12%)", 120, False),
        ("TOTAL ORDEN SERVICIO", 1120, True),
        ("Total Orden Servicio", 1120, False),
        ("Monto a depositar en tarjetas", 0, False),
        ("TOTAL A PAGAR", 1120, True),
    ]
    # Nothing to show: no recharge commission table or line, no GMF line.
    assert not any("RECARGAS" in line.upper() or line == "GMF" for line in lines)


def test_demo_like_three_cards_and_distribution_at_iva_19(app, setup):
    company, product, user = setup
    Company.update(billing_address="Calle 72 #10-07").where(Company.id == company.id).execute()
    order = make_order(
        company,
        product,
        user,
        [{"kind": "EMI", "number": "26042801", "records": 3, "unit_price": 1000, "distribution": 500_000}],
        iva=95_570,
    )
    lines = pdf_lines(app, order)

    # Dirección fiscal is the billing address; the cards travel to the company's address.
    assert follows(lines, "DIRECCIÓN FISCAL:", "Calle 72 #10-07")
    assert follows(lines, "26042801", "JHOMEZNP", "28/04/2023", "3", "$ 10,00", "$ 30,00")
    assert follows(lines, "Costo", "26042801", "3", "Carrera 13 #83-19", "$ 5.000,00")
    assert totals(lines) == [
        ("Total Precio", 3000, False),
        ("Total Gastos Distribución", 500_000, False),
        ("SubTotal Orden de Servicio", 503_000, True),
        ("IVA (19%)", 95_570, False),
        ("TOTAL ORDEN SERVICIO", 598_570, True),
        ("Total Orden Servicio", 598_570, False),
        ("Monto a depositar en tarjetas", 0, False),
        ("TOTAL A PAGAR", 598_570, True),
    ]
    assert follows(lines, "TOTAL A PAGAR", "$ 5.985,70")


def test_mixed_order_every_printed_figure_adds_up(app, setup):
    company, product, user = setup
    uploader = make_user("cargador.2", perms={product: "all"})
    batches = [
        {"kind": "EMI", "number": "26050101", "records": 4, "unit_price": 1500, "distribution": 500_000},
        {
            "kind": "REC",
            "number": "26050102",
            "records": 3,
            "amount": 30_000_000,
            "recharge_commission": 300_000,
            "gmf": 120_000,
            "uploaded_by": uploader,
        },
        {"kind": "AFI", "number": "26050103", "records": 2},
        {"kind": "EMI", "number": "26050104", "records": 1, "unit_price": 1500, "distribution": 500_000},
        {"kind": "REC", "number": "26050105", "records": 1, "amount": 1_234_567, "recharge_commission": 12_346},
    ]
    # Base 6.000 + 1.500 + 10.000 + 3.000 + 123,46 = 1.000.000 + 7.500 + 312.346 = 1.319.846 centavos.
    order = make_order(company, product, user, batches, iva=250_771)
    lines = pdf_lines(app, order)

    assert follows(lines, "Tipo de Lote:", "Varios")
    lots = section(lines, "INFORMACIÓN DE LOTES", 6, 6)
    assert [row[0] for row in lots] == ["26050101", "26050102", "26050103", "26050104", "26050105"]
    assert lots[1][1] == "CARGADOR.2"
    for row in lots:  # SubTotal = Cantidad × Precio Unitario; no card price for REC and AFI
        assert cents(row[5]) == int(row[3]) * cents(row[4])
    shipments = section(lines, "GASTOS DE DISTRIBUCIÓN", 4, 4)
    assert [row[0] for row in shipments] == ["26050101", "26050104"]
    recharges = section(lines, "COMISIÓN POR RECARGAS", 4, 4)
    assert [(row[0], row[1], row[3]) for row in recharges] == [
        ("26050102", "3", "$ 3.000,00"),
        ("26050105", "1", "$ 123,46"),
    ]

    block = totals(lines)
    figures = {label: amount for label, amount, _ in block}
    assert figures["Total Precio"] == sum(cents(row[5]) for row in lots) == 7_500
    assert figures["Total Gastos Distribución"] == sum(cents(row[3]) for row in shipments) == 1_000_000
    assert figures["Comisión por recargas"] == sum(cents(row[3]) for row in recharges) == 312_346
    assert figures["IVA (19%)"] == 250_771
    assert figures["GMF"] == 120_000
    assert figures["Monto a depositar en tarjetas"] == 31_234_567
    # Each bold line adds up the lines above it, as the manual lays them out.
    assert [label for label, _, is_result in block if is_result] == [
        "SubTotal Orden de Servicio",
        "TOTAL ORDEN SERVICIO",
        "TOTAL A PAGAR",
    ]
    assert figures["SubTotal Orden de Servicio"] == (
        figures["Total Precio"] + figures["Total Gastos Distribución"] + figures["Comisión por recargas"]
    )
    assert (
        figures["TOTAL ORDEN SERVICIO"] == figures["SubTotal Orden de Servicio"] + figures["IVA (19%)"] + figures["GMF"]
    )
    assert figures["Total Orden Servicio"] == figures["TOTAL ORDEN SERVICIO"]
    assert figures["TOTAL A PAGAR"] == figures["Total Orden Servicio"] + figures["Monto a depositar en tarjetas"]
    assert figures["SubTotal Orden de Servicio"] == order.iva_base == 1_319_846
    assert figures["TOTAL ORDEN SERVICIO"] == order.os_total == 1_319_846 + 250_771 + 120_000
    assert figures["TOTAL A PAGAR"] == order.total_to_pay == order.os_total + 31_234_567
    assert [label for label, _, _ in block].index("GMF") > [label for label, _, _ in block].index("IVA (19%)")
    # No card number (13 to 19 digits) anywhere.
    assert not any(re.search(r"[0-9]{13,}", line) for line in lines)


def test_markup_in_names_is_printed_as_text(app, setup):
    _company, _product, user = setup
    company = make_company("ACME <b>& Cía</b>", nit="900111222")
    product = make_product(company, "Plus <i>x</i>")
    order = make_order(company, product, user, [{"kind": "EMI", "unit_price": 100}], iva=19)
    with app.app_context():
        html = order_html(order, printed_on=PRINTED_ON)
    assert "ACME &lt;b&gt;&amp; Cía&lt;/b&gt;" in html and "<b>&" not in html
    lines = pdf_lines(app, order)
    assert follows(lines, "NOMBRE DE LA EMPRESA:", "ACME <b>& Cía</b>")
    assert follows(lines, "Producto:", "Plus <i>x</i>")


def test_each_order_prints_its_own_company(app, setup):
    company_a, product_a, user = setup
    company_b = make_company("OTRA EMPRESA SAS", nit="901555666")
    Company.update(address="Avenida 68 #1-1", phone1="6047654321").where(Company.id == company_b.id).execute()
    company_b = Company.get_by_id(company_b.id)
    product_b = make_product(company_b, "GOLD")
    other = make_user("otro.usuario", perms={product_b: "all"})
    order_a = make_order(company_a, product_a, user, [{"kind": "EMI", "number": "11111111", "unit_price": 700}], iva=84)
    order_b = make_order(
        company_b, product_b, other, [{"kind": "INN", "number": "22222222", "records": 5, "unit_price": 900}], iva=855
    )
    lines_a, lines_b = pdf_lines(app, order_a), pdf_lines(app, order_b)

    assert follows(lines_a, "NOMBRE DE LA EMPRESA:", "JAHC TECHNOLOGIES", "NIT:", "900291499")
    assert follows(lines_b, "NOMBRE DE LA EMPRESA:", "OTRA EMPRESA SAS", "NIT:", "901555666")
    assert follows(lines_b, "DIRECCIÓN FISCAL:", "Avenida 68 #1-1", "TELÉFONO:", "6047654321")
    assert follows(lines_b, "Producto:", "GOLD", "Autorizado por:", "OTRO.USUARIO")
    assert follows(lines_b, "Tipo de Lote:", "Emisión innominada")
    assert f"Número de Orden de Servicio: {order_a.id}" in lines_a
    assert f"Número de Orden de Servicio: {order_b.id}" in lines_b
    assert "22222222" in lines_b and "22222222" not in lines_a
    assert "11111111" in lines_a and "11111111" not in lines_b
    text_a, text_b = "\n".join(lines_a), "\n".join(lines_b)
    for foreign in ("OTRA EMPRESA SAS", "901555666", "GOLD", "OTRO.USUARIO"):
        assert foreign not in text_a
    for foreign in ("JAHC TECHNOLOGIES", "900291499", "CLASICA", "JHOMEZNP"):
        assert foreign not in text_b


def test_fifty_batches_flow_across_pages_with_the_header_repeated(app, setup):
    company, product, user = setup
    batches = [
        {"kind": "EMI", "number": f"2605{i:04d}", "records": 2, "unit_price": 1000, "distribution": 500_000}
        for i in range(50)
    ]
    order = make_order(company, product, user, batches, iva=4_769_000)
    pages = pdf_pages(app, order)

    assert 2 <= len(pages) <= 5
    everything = [line for page in pages for line in page]
    numbers = [line for line in everything if re.fullmatch(r"2605[0-9]{4}", line)]
    assert sorted(numbers) == sorted([b["number"] for b in batches] * 2)  # lotes and distribución
    for n, page in enumerate(pages, start=1):
        assert f"Orden de Servicio {order.id} · Página {n}" in page
    # A table that continues on the next page starts there with its title and column headers.
    continued = [page for page in pages[1:] if page[1] in ("INFORMACIÓN DE LOTES", "GASTOS DE DISTRIBUCIÓN")]
    assert continued, [page[:3] for page in pages]
    for page in continued:
        assert page[2] == "Lote"
    assert follows(pages[-1], "TOTAL A PAGAR", "$ 298.690,00")


def test_printed_today_in_bogota_by_default(app, setup):
    company, product, user = setup
    order = make_order(company, product, user, [{"kind": "EMI", "unit_price": 100}], iva=12)
    with app.test_request_context("/"):  # as the download route calls it
        data = order_pdf(order)
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert f"Fecha de Impresión: {local_today():%d/%m/%Y}" in text


def test_order_without_an_authorizer_or_uploader_still_prints(app, setup):
    company, product, user = setup
    order = make_order(company, product, user, [{"kind": "REC", "amount": 1000, "uploaded_by": None}], iva=0)
    ServiceOrder.update(authorized_by=None).where(ServiceOrder.id == order.id).execute()
    lines = pdf_lines(app, ServiceOrder.get_by_id(order.id))
    assert follows(lines, "Autorizado por:", "Tipo de Lote:", "Recarga (Id persona)")
    assert follows(lines, "SubTotal", "23042800", "28/04/2023", "1", "$ 0,00", "$ 0,00")


@pytest.mark.parametrize(
    "rate, label", [("0.19", "19%"), ("0.12", "12%"), ("0.125", "12,5%"), ("0", "0%"), ("0.1900", "19%")]
)
def test_iva_label(rate, label):
    assert iva_label(Decimal(rate)) == label


@pytest.mark.parametrize(
    "kind, label", [("EMI", "Emisión nominada (Id persona)"), ("REC", "Recarga (Id persona)"), ("", "Varios")]
)
def test_batch_type_label(kind, label):
    assert batch_type_label(kind) == label
