"""services/charts.py: one Drawing for the page's SVG and the PDF, readable without colour."""

import io
import re
from xml.dom import minidom

import pypdf
import pytest
from markupsafe import Markup
from reportlab.graphics import renderPDF
from reportlab.graphics.shapes import Drawing

from services.charts import EMPTY, BarChart, Series, compact_cop, drawing, svg

ISSUED = BarChart(
    "Tarjetas emitidas por mes",
    ("dic 2025", "ene 2026", "feb 2026"),
    (
        Series("Nominadas", (120, 1534, 0)),
        Series("Innominadas", (40, 7, 300)),
        Series("Reposiciones", (3, 0, 11)),
    ),
)
RECHARGES = BarChart(
    "Recargas realizadas",
    ("dic 2025", "ene 2026", "feb 2026"),
    (Series("Monto", (123_456, 98_765_432_100, 5_000_000)),),
    money=True,
)


def texts(markup: str) -> list[str]:
    """Every <text> of the SVG, as a browser would read it."""
    root = minidom.parseString(str(markup)).documentElement
    return [
        "".join(n.data for n in t.childNodes if n.nodeType == n.TEXT_NODE) for t in root.getElementsByTagName("text")
    ]


def test_svg_names_the_chart_and_labels_every_bar():
    markup = svg(ISSUED)
    assert isinstance(markup, Markup)
    root = minidom.parseString(str(markup)).documentElement
    assert root.tagName == "svg"
    assert root.getAttribute("role") == "img"
    assert root.getAttribute("aria-label") == "Tarjetas emitidas por mes"
    assert root.getElementsByTagName("title")[0].firstChild.data == "Tarjetas emitidas por mes"
    words = texts(markup)
    assert "Tarjetas emitidas por mes" in words
    for category in ISSUED.categories:
        assert category in words
    for label in ("Nominadas", "Innominadas", "Reposiciones"):  # the legend, in words
        assert label in words
    # every bar carries its value (es-CO grouping): 9 bars, zeros included
    bar_values = [w for w in words if re.fullmatch(r"[0-9.]+", w)]
    for value in ("120", "1.534", "40", "7", "300", "3", "11"):
        assert value in bar_values
    assert bar_values.count("0") >= 2 + 1  # two zero bars, and the axis' 0


def test_svg_scales_to_a_phone_and_runs_nothing():
    markup = str(svg(ISSUED))
    root = minidom.parseString(markup).documentElement
    assert root.getAttribute("viewBox") == "0 0 480 240"
    assert root.getAttribute("width") == "100%"
    assert not root.hasAttribute("height")
    assert root.getAttribute("class") == "chart"  # svg.chart { max-width } in app.css
    assert "style=" not in markup  # the page's CSP (style-src 'self') blocks inline styles
    assert "<script" not in markup and "onload" not in markup.lower()
    assert " id=" not in markup  # two charts on one page must not clash
    assert "<?xml" not in markup and "DOCTYPE" not in markup


def test_series_differ_without_colour():
    """Grey shades (and a hatch): no two series share a fill, all fills are greys."""
    root = minidom.parseString(str(svg(ISSUED))).documentElement
    fills = {r.getAttribute("fill") for r in root.getElementsByTagName("rect")}
    greys = [f for f in fills if f != "none"]
    assert len(greys) >= 3
    for fill in greys:
        r, g, b = re.fullmatch(r"rgb\(([0-9.]+)%,([0-9.]+)%,([0-9.]+)%\)", fill).groups()
        assert r == g == b


def test_money_chart_shows_pesos():
    words = texts(svg(RECHARGES))
    assert "$ 1.234,56" in words  # bar labels: exact pesos
    assert "$ 987.654.321,00" in words
    assert "$ 50.000,00" in words
    assert any(re.fullmatch(r"\$ [0-9.,]+ M", w) for w in words)  # the axis, abbreviated


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "$ 0"), (95_000, "$ 950"), (1_250_000, "$ 12,5 mil"), (120_000_000, "$ 1,2 M"), (-100_000_000, "-$ 1 M")],
)
def test_compact_pesos(cents, text):
    assert compact_cop(cents) == text


@pytest.mark.parametrize(
    "chart",
    [
        BarChart("Sin categorías", (), ()),
        BarChart("Todo en cero", ("ene 2026", "feb 2026"), (Series("Nominadas", (0, 0)),)),
        BarChart("Montos en cero", ("ene 2026",), (Series("Monto", (0,)),), money=True),
    ],
)
def test_a_chart_without_data_says_so(chart):
    words = texts(svg(chart))
    assert chart.title in words
    assert EMPTY in words


def test_a_series_must_have_one_value_per_category():
    with pytest.raises(ValueError):
        drawing(BarChart("Mal", ("ene", "feb"), (Series("Monto", (1,)),)))


def test_text_from_the_data_is_escaped():
    chart = BarChart("Recargas <b>&</b>", ("Clásica & Co",), (Series("Año <1>", (5,)),))
    markup = str(svg(chart))
    assert "<b>" not in markup
    assert "Año <1>" in texts(markup) and "Clásica & Co" in texts(markup)


def test_many_bars_still_carry_their_values():
    months = tuple(f"{m} 2025" for m in "ene feb mar abr may jun jul ago sep oct nov dic".split())
    chart = BarChart(
        "Año", months, (Series("Nominadas", tuple(range(10_000, 130_000, 10_000))), Series("Innominadas", (1,) * 12))
    )
    words = texts(svg(chart))
    assert "120.000" in words and words.count("1") >= 12
    assert all(m in words for m in months)


def test_negative_values_hang_below_zero():
    chart = BarChart("Saldo neto", ("ene 2026", "feb 2026"), (Series("Monto", (-150_00, 300_00)),), money=True)
    words = texts(svg(chart))
    assert "-$ 150,00" in words and "$ 300,00" in words
    assert any(w.startswith("-$") for w in words if w != "-$ 150,00")  # an axis tick under zero


def test_drawing_renders_to_pdf_with_its_text():
    d = drawing(RECHARGES)
    assert isinstance(d, Drawing)
    assert (d.width, d.height) == (480, 240)
    pdf = renderPDF.drawToString(d)
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Recargas realizadas" in text
    assert "$ 1.234,56" in text and "ene 2026" in text and "Monto" in text
    assert isinstance(drawing(BarChart("Vacío", (), ()), width=300, height=150), Drawing)
