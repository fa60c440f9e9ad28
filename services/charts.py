"""Bar charts drawn on the server: one reportlab Drawing for the page (inline SVG) and the PDF.

    chart = BarChart(
        "Tarjetas emitidas por mes",
        ("ene 2026", "feb 2026"),
        (Series("Nominadas", (120, 80)), Series("Innominadas", (40, 0))),
    )
    svg(chart)            # Markup: <svg role="img" ...> to put in a template, no JavaScript
    drawing(chart)        # the same picture for renderPDF (services/report_pdf.py)

Readable without colour: every bar carries its value, series are told apart by grey shades and
a hatch as well as by a legend in words. The page puts the figures in a table beside the chart
for screen readers; the SVG itself only names the chart (<title>, aria-label).

Money series hold integer centavos; they become floats only as coordinates. Bar labels are
exact pesos (domain.money.format_cop); the value axis is abbreviated ("$ 1,2 M").
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.dom import minidom

from markupsafe import Markup
from reportlab.graphics import renderSVG
from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.lib.colors import Color, black, white
from reportlab.pdfbase.pdfmetrics import stringWidth

from domain.money import format_cop

EMPTY = "Sin datos para el período consultado."
FONT, BOLD = "Helvetica", "Helvetica-Bold"
TITLE_SIZE, LEGEND_SIZE, LABEL_SIZE, AXIS_SIZE = 11, 8, 7, 7
MAX_TICKS = 5
SANS = "Helvetica, Arial, sans-serif"  # what a browser has of the PDF's Helvetica
WEB_FONTS = {FONT: {"family": SANS}, BOLD: {"family": SANS, "weight": "bold"}}

GRID = Color(0.82, 0.82, 0.82)
HATCH = Color(0.35, 0.35, 0.35)
# (fill, hatched): shades far enough apart to tell in greyscale print; the third is hatched.
FILLS = (
    (Color(0.25, 0.25, 0.25), False),
    (Color(0.62, 0.62, 0.62), False),
    (white, True),
    (Color(0.86, 0.86, 0.86), False),
)


@dataclass(frozen=True)
class Series:
    label: str  # "Nominadas", "Innominadas", "Reposiciones" or "Monto"
    values: tuple[int, ...]  # one per category; counts, or centavos when the chart's money=True


@dataclass(frozen=True)
class BarChart:
    title: str  # "Tarjetas emitidas por mes"
    categories: tuple[str, ...]  # "ene 2026", "feb 2026", ...
    series: tuple[Series, ...]
    money: bool = False  # values are centavos


# ---------------------------------------------------------------- text of figures


def count_text(n: int) -> str:
    """1234 -> '1.234' (es-CO grouping)."""
    return f"{int(n):,}".replace(",", ".")


def compact_cop(cents: int) -> str:
    """An axis figure in pesos, short: '$ 950', '$ 12,5 mil', '$ 1,2 M', '$ 1.234,5 M'."""
    cents = int(cents)
    sign, pesos = ("-" if cents < 0 else ""), abs(cents) // 100
    for unit, suffix in ((1_000_000, " M"), (1_000, " mil")):
        if pesos >= unit:
            tenths = (pesos * 10 + unit // 2) // unit  # rounded half-up, in integers
            whole, decimal = divmod(tenths, 10)
            text = count_text(whole) + (f",{decimal}" if decimal else "")
            return f"{sign}$ {text}{suffix}"
    return f"{sign}$ {count_text(pesos)}"


def value_text(chart: BarChart, value: int) -> str:
    return format_cop(value) if chart.money else count_text(value)


def axis_text(chart: BarChart, value: int) -> str:
    return compact_cop(value) if chart.money else count_text(value)


# ---------------------------------------------------------------- layout


def _check(chart: BarChart) -> None:
    for series in chart.series:
        if len(series.values) != len(chart.categories):
            raise ValueError(f"la serie {series.label!r} no tiene un valor por categoría")


def _is_empty(chart: BarChart) -> bool:
    return not chart.categories or not chart.series or not any(v for s in chart.series for v in s.values)


def _ticks(low: int, high: int, money: bool) -> list[int]:
    """Round ticks from <= low to >= high (integers: centavos or counts), at most MAX_TICKS steps."""
    minimum = 100 if money else 1  # a whole peso, a whole card
    step, magnitude = minimum, minimum
    while True:
        for m in (1, 2, 5):
            step = m * magnitude
            below = -(low // step) if low < 0 else 0  # steps under zero, rounded up
            above = -(-high // step) if high > 0 else 0
            if below + above <= MAX_TICKS:
                return [step * i for i in range(-below, max(above, 1) + 1)]
        magnitude *= 10


def _legend(chart: BarChart, width: float, y: float) -> Group:
    group = Group()
    box, gap = 9, 14
    widths = [box + 4 + stringWidth(s.label, FONT, LEGEND_SIZE) for s in chart.series]
    x = max(4.0, (width - sum(widths) - gap * (len(widths) - 1)) / 2)
    for i, series in enumerate(chart.series):
        _bar(group, i, x, y, box, box)
        group.add(String(x + box + 4, y + 1.5, series.label, fontName=FONT, fontSize=LEGEND_SIZE))
        x += widths[i] + gap
    return group


def _bar(group: Group, index: int, x: float, y: float, w: float, h: float) -> None:
    fill, hatched = FILLS[index % len(FILLS)]
    group.add(Rect(x, y, w, h, fillColor=fill, strokeColor=black, strokeWidth=0.5))
    if hatched and h > 0:
        step = 3.0
        offset = step
        while offset < w:
            group.add(Line(x + offset, y, x + offset, y + h, strokeColor=HATCH, strokeWidth=0.5))
            offset += step


def _rotated(text: str, x: float, y: float, size: float, angle: float, anchor: str) -> Group:
    group = Group(String(0, 0, text, fontName=FONT, fontSize=size, textAnchor=anchor))
    group.translate(x, y)
    group.rotate(angle)
    return group


def drawing(chart: BarChart, width: float = 480, height: float = 240) -> Drawing:
    """The chart as a reportlab Drawing (points), for renderPDF and svg()."""
    _check(chart)
    d = Drawing(width, height)
    d.add(String(width / 2, height - 15, chart.title, fontName=BOLD, fontSize=TITLE_SIZE, textAnchor="middle"))
    if _is_empty(chart):
        d.add(String(width / 2, height / 2 - 10, EMPTY, fontName=FONT, fontSize=9, textAnchor="middle"))
        return d
    d.add(_legend(chart, width, height - 34))

    categories, series = chart.categories, chart.series
    labels = [[value_text(chart, v) for v in s.values] for s in series]
    values = [v for s in series for v in s.values]
    group_w_guess = (width - 60) / len(categories)
    bar_w = group_w_guess * 0.78 / len(series)
    rotate_values = any(stringWidth(t, FONT, LABEL_SIZE) > bar_w + 3 for row in labels for t in row)

    bottom, top = 30.0, height - 44.0
    plot_h = top - bottom

    def room(text: str) -> float:  # height a bar's label needs above the bar
        return (stringWidth(text, FONT, LABEL_SIZE) if rotate_values else LABEL_SIZE) + 3

    low = min(0, *values)
    high = max(0, *values)
    # The end ticks leave room for the labels: (v - low) / (high - low) * plot_h + room <= plot_h
    # above zero, and the mirror image below it (twice: each end moves the other's scale).
    for _ in range(2):
        for row, s in zip(labels, series, strict=True):
            for text, v in zip(row, s.values, strict=True):
                free = max(plot_h - room(text), plot_h * 0.25)
                if v > 0:
                    high = max(high, int(low + (v - low) * plot_h / free) + 1)
                elif v < 0:
                    low = min(low, int(high - (high - v) * plot_h / free) - 1)
    ticks = _ticks(low, high, chart.money)
    low, high = ticks[0], ticks[-1]

    tick_labels = [axis_text(chart, t) for t in ticks]
    left = max(stringWidth(t, FONT, AXIS_SIZE) for t in tick_labels) + 10
    right = width - 8
    plot_w = right - left

    def y_of(v: int) -> float:
        return bottom + (v - low) / (high - low) * plot_h

    for tick, text in zip(ticks, tick_labels, strict=True):
        y = y_of(tick)
        d.add(Line(left, y, right, y, strokeColor=GRID, strokeWidth=0.5))
        d.add(String(left - 4, y - 2.5, text, fontName=FONT, fontSize=AXIS_SIZE, textAnchor="end"))
    base = y_of(0)
    d.add(Line(left, base, right, base, strokeColor=black, strokeWidth=0.8))

    group_w = plot_w / len(categories)
    bar_w = group_w * 0.78 / len(series)
    rotate_categories = any(stringWidth(c, FONT, AXIS_SIZE) > group_w - 2 for c in categories)
    for c, category in enumerate(categories):
        x0 = left + c * group_w + group_w * 0.11
        for i, s in enumerate(series):
            v = s.values[c]
            x = x0 + i * bar_w
            y = y_of(v)
            _bar(d, i, x, min(base, y), bar_w, abs(y - base))
            cx, text = x + bar_w / 2, labels[i][c]
            label_y = max(base, y) + 2 if v >= 0 else min(base, y) - 2
            if rotate_values:
                anchor = "start" if v >= 0 else "end"
                d.add(_rotated(text, cx + LABEL_SIZE / 3, label_y, LABEL_SIZE, 90, anchor))
            else:
                y_text = label_y if v >= 0 else label_y - LABEL_SIZE
                d.add(String(cx, y_text, text, fontName=FONT, fontSize=LABEL_SIZE, textAnchor="middle"))
        cx = left + (c + 0.5) * group_w
        if rotate_categories:
            d.add(_rotated(category, cx, bottom - 8, AXIS_SIZE, 30, "end"))
        else:
            d.add(String(cx, bottom - 11, category, fontName=FONT, fontSize=AXIS_SIZE, textAnchor="middle"))
    return d


# ---------------------------------------------------------------- SVG for the page


def svg(chart: BarChart) -> Markup:
    """The chart as an inline <svg> for a Jinja page: scales to its container (viewBox, width 100%),
    named by <title> and aria-label, no ids (several charts can share a page), no script."""
    d = drawing(chart)
    canvas = renderSVG.SVGCanvas((d.width, d.height), useClip=True, fontHacks=WEB_FONTS)  # no clipPath id
    renderSVG.draw(d, canvas)
    root = canvas.svg
    for name in ("width", "height", "version", "xmlns:xlink", "preserveAspectRatio"):
        if root.hasAttribute(name):
            root.removeAttribute(name)
    root.setAttribute("viewBox", f"0 0 {d.width:g} {d.height:g}")
    root.setAttribute("width", "100%")  # at most its own width: svg.chart in app.css
    root.setAttribute("role", "img")
    root.setAttribute("aria-label", chart.title)
    root.setAttribute("class", "chart")
    for element in [root, *root.getElementsByTagName("*")]:
        if element.hasAttribute("id"):
            element.removeAttribute("id")
        _presentation_attributes(element)
    title = root.getElementsByTagName("title")[0]
    title.firstChild.data = chart.title
    for desc in root.getElementsByTagName("desc"):
        root.removeChild(desc)
    return Markup(_xml(root))


def _presentation_attributes(element: minidom.Element) -> None:
    """style="fill: …; font-size: …" → fill="…" font-size="…": the page's Content Security Policy
    (style-src 'self') blocks inline style attributes, not SVG presentation attributes."""
    if not element.hasAttribute("style"):
        return
    for declaration in element.getAttribute("style").split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if name and value and not element.hasAttribute(name):
            element.setAttribute(name, value)
    element.removeAttribute("style")


def _xml(element: minidom.Element) -> str:
    return element.toxml()
