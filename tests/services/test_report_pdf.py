"""services/report_pdf.py: long tables read back with pypdf."""

import io
from dataclasses import dataclass
from datetime import date, datetime

import pypdf
import pytest
from reportlab.lib.pagesizes import A4

from services.charts import BarChart, Series
from services.report_pdf import EMPTY, build_pdf, cell_text


@dataclass(frozen=True)
class Column:  # the shape of services.exports.Column
    header: str
    width: int
    kind: str = ""


HEADING = [
    "Tarjetahabientes",
    "Empresa: Compañía Ñandú S.A.S. · NIT 900291499",
    "Producto: Clásica / Visa (nominada)",
    "Criterios: estado Activa; documento 1234",
    "Generado: 02/03/2026 14:05 (hora de Colombia)",
]
COLUMNS = [
    Column("Fecha", 12, "date"),
    Column("Tarjeta", 16, "text"),
    Column("Tarjetahabiente", 30),
    Column("Ref.", 12, "text"),
    Column("Saldo", 16, "money"),
    Column("Movimientos", 10, "integer"),
]
NAMES = ["José Peña", "María Ángela Núñez", "Iñaki Ibáñez", "Sofía Gómez", "Andrés Muñoz"]


def rows(n):
    for i in range(n):
        yield (
            date(2026, 1 + i % 12, 1 + i % 28),
            f"•••• {1000 + i}",
            f"{NAMES[i % len(NAMES)]} {i}",
            f"R{i:05d}",
            123_456 + i,
            i,
        )


def read(pdf: bytes) -> pypdf.PdfReader:
    assert pdf.startswith(b"%PDF")
    return pypdf.PdfReader(io.BytesIO(pdf))


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in read(pdf).pages]


def test_a_long_table_reads_back_on_every_page():
    pdf = build_pdf(HEADING, COLUMNS, rows(120), totals=[("Total saldo", "$ 1.234,56"), ("Tarjetas", "120")])
    pages = page_texts(pdf)
    assert len(pages) >= 2
    for line in HEADING:
        assert line in pages[0]
    for page in pages:  # the header row repeats
        assert "Fecha Tarjeta Tarjetahabiente Ref. Saldo Movimientos" in page
    everything = "\n".join(pages)
    for row in rows(120):
        day, card, name, ref, cents, moves = row
        line = f"{day:%d/%m/%Y} {card} {name} {ref}"
        assert line in everything, line
    assert "$ 1.234,56" in everything  # row 0's Saldo: centavos as es-CO pesos
    assert "$ 1.235,75" in everything  # row 119's
    assert "Total saldo $ 1.234,56" in pages[-1]
    assert "Tarjetas 120" in pages[-1]
    assert "Página 1" in pages[0] and "Página 2" in pages[1]
    assert "Tarjetahabientes" in pages[1]  # a running title after the first page


def test_six_columns_portrait_seven_landscape():
    portrait = read(build_pdf(HEADING, COLUMNS, rows(3))).pages[0].mediabox
    seven = [*COLUMNS, Column("Estado", 10, "text")]
    landscape = read(build_pdf(HEADING, seven, (r + ("Activa",) for r in rows(3)))).pages[0].mediabox
    assert (round(portrait.width), round(portrait.height)) == (round(A4[0]), round(A4[1]))
    assert (round(landscape.width), round(landscape.height)) == (round(A4[1]), round(A4[0]))


def test_the_chart_is_drawn_after_the_heading():
    chart = BarChart(
        "Tarjetas emitidas por mes",
        ("ene 2026", "feb 2026"),
        (Series("Nominadas", (12, 30)), Series("Innominadas", (4, 0))),
    )
    first = page_texts(build_pdf(HEADING, COLUMNS, rows(5), chart=chart))[0]
    for word in ("Tarjetas emitidas por mes", "ene 2026", "feb 2026", "Nominadas", "Innominadas", "30"):
        assert word in first
    assert first.index("Generado:") < first.index("Tarjetas emitidas por mes") < first.index("Movimientos")


def test_long_text_wraps_within_its_column():
    long = "Dispersión de fondos a tarjetas por nómina quincenal de la sucursal principal " * 5
    pdf = build_pdf(["Cuenta maestra"], COLUMNS, iter([(date(2026, 1, 5), "x", long, "R1", 100, 1)]))
    text = page_texts(pdf)[0]
    assert "Dispersión de fondos" in text
    assert "…" in text  # cut after two lines
    assert text.count("quincenal") < 5


def test_cells_as_people_read_them():
    assert cell_text(123_456, "money") == ("$ 1.234,56", True)
    assert cell_text(-5, "money") == ("-$ 0,05", True)
    assert cell_text(datetime(2026, 3, 4, 9, 7), "datetime") == ("04/03/2026 09:07", False)
    assert cell_text(datetime(2026, 3, 4, 9, 7), "date") == ("04/03/2026", False)
    assert cell_text(date(2026, 3, 4), "") == ("04/03/2026", False)
    assert cell_text(datetime(2026, 3, 4, 23, 59), "") == ("04/03/2026 23:59", False)
    assert cell_text(None, "money") == ("", False)
    assert cell_text(42, "") == ("42", True)
    assert cell_text(True, "") == ("Sí", False)
    assert cell_text("=1+1", "text") == ("=1+1", False)


def test_nulls_print_empty_and_odd_text_survives():
    columns = [Column("Documento", 12, "text"), Column("Nombre", 20, "text"), Column("Saldo", 14, "money")]
    data = [("(1) \\ 2", None, None), ("Nguyễn 中文", "ok", 0)]
    text = page_texts(build_pdf(["Reporte"], columns, iter(data)))[0]
    assert "(1) \\ 2" in text
    assert "$ 0,00" in text and "ok" in text


def test_no_rows_says_so():
    text = page_texts(build_pdf(HEADING, COLUMNS, iter(())))[0]
    assert EMPTY in text and "Tarjetahabiente" in text and "Página 1" in text


def test_progress_every_thousand_rows():
    calls = []
    build_pdf(["Reporte"], COLUMNS, rows(2_500), progress=calls.append)
    assert calls == [1_000, 2_000]


def test_a_progress_that_raises_aborts_the_build():
    consumed = []

    def counted(n):
        for row in rows(n):
            consumed.append(row)
            yield row

    def lost_lease(done):
        raise RuntimeError("lease lost")

    with pytest.raises(RuntimeError, match="lease lost"):
        build_pdf(["Reporte"], COLUMNS, counted(5_000), progress=lost_lease)
    assert len(consumed) == 1_000  # stopped there, rows read lazily
