"""«Exportar PDF» of a report: title block, chart, a table of any length, totals.

    pdf = build_pdf(
        ["Cuenta maestra", "Empresa: ACME · NIT 900123456", "Producto: Clásica", "Criterios: …", "Generado: …"],
        columns,                   # objects with .header, .width (Excel characters), .kind (services.exports.Column)
        rows,                      # an iterator of tuples in column order, consumed once, lazily
        totals=[("Total cargos", "$ 1.000,00")],
        chart=charts.BarChart(...),
        progress=lease.renew,      # called every 1,000 rows; may raise to abort
    )

Drawn straight on a reportlab canvas with its own pagination rather than with platypus: a
platypus Table of 100,000 rows splits in quadratic time, and even in page-sized Tables it keeps
every flowable until the end. Here each row costs a few string operations and a page is written
to the canvas once, when full. Measured for 100,000 rows of 6 columns: 10,000-14,000 rows/s and
about 60 MB (the canvas keeps each finished page's operators, ~0.6 KB a row, until save()).

Text goes through the standard Helvetica (WinAnsi: Spanish accents, "ñ", "•"); characters
outside it fall back to reportlab's Symbol/ZapfDingbats substitution. The bullet is written
as WinAnsi's 0x95 (reportlab's codec writes 0x7F, which viewers draw as a bullet but text
extraction and copy-paste turn into a control character), so "•••• 1234" copies as typed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from reportlab.graphics import renderPDF
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth, unicode2T1
from reportlab.pdfgen.canvas import Canvas

from domain.money import format_cop
from services.charts import drawing

TEXT, INTEGER, MONEY, DATE, DATETIME = "text", "integer", "money", "date", "datetime"
PROGRESS_EVERY = 1_000
LANDSCAPE_OVER = 6  # columns; more go on A4 landscape

FONT, BOLD = "Helvetica", "Helvetica-Bold"
SIZE, LEADING = 7.5, 9.0  # table body
TITLE_SIZE, HEADING_SIZE = 13.0, 8.5
MIN_SIZE = 5.0  # a figure too wide for its column is drawn smaller, never cut
PAD = 2.5  # inside a cell, each side
MAX_LINES = 2  # a text cell wraps to this many lines, the last one ends in "…"
MARGIN = 32.0
FOOTER = 18.0  # "Página N" baseline above the bottom edge
ZEBRA = "0.94 g"
HEADER_FILL = "0.85 g"
ELLIPSIS = "…"
EMPTY = "Sin registros para los criterios de búsqueda."

# PDF literal-string escapes: ASCII printable stays, the rest as octal, ( ) \ escaped.
_ESCAPE = {i: f"\\{i:03o}" for i in list(range(32)) + list(range(127, 256))}
_ESCAPE.update({ord("("): "\\(", ord(")"): "\\)", ord("\\"): "\\\\"})


def build_pdf(
    heading: list[str],
    columns: Sequence,
    rows: Iterable[tuple],
    *,
    totals: Iterable[tuple[str, str]] = (),
    chart=None,
    progress: Callable[[int], object] | None = None,
) -> bytes:
    """The report as PDF bytes. `columns`: objects with header, width and kind ("text",
    "integer", "money" in centavos, "date", "datetime" or "" to infer from the value)."""
    out = io.BytesIO()
    size = landscape(A4) if len(columns) > LANDSCAPE_OVER else A4
    canvas = Canvas(out, pagesize=size, pageCompression=1, invariant=1)
    canvas.setTitle(heading[0] if heading else "Reporte")
    canvas.setCreator("Conexión Empresas")
    writer = _Writer(canvas, size, heading, columns)
    writer.first_page(chart)
    count = 0
    for row in rows:
        writer.row(row)
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    if not count:
        writer.empty()
    writer.totals(list(totals))
    writer.finish_page()
    canvas.save()
    return out.getvalue()


# ---------------------------------------------------------------- cells


def cell_text(value, kind: str) -> tuple[str, bool]:
    """(text, right-aligned) of one value as the PDF shows it."""
    if value is None or value == "":
        return "", False
    if kind == MONEY:
        return format_cop(int(value)), True
    if kind == INTEGER:
        return str(int(value)), True
    if kind == DATE and isinstance(value, date):
        return value.strftime("%d/%m/%Y"), False
    if kind == TEXT:
        return str(value), False
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M"), False
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y"), False
    if isinstance(value, bool):
        return ("Sí" if value else "No"), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, (float, Decimal)):
        return f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", "."), True
    return str(value), False


def fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut to `width` points, ending in "…" when something was cut."""
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)  # longest prefix that fits with the ellipsis
    while low < high:
        middle = (low + high + 1) // 2
        if stringWidth(text[:middle].rstrip() + ELLIPSIS, font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Lines of `text` within `width`; at most `max_lines`, the last one ends in "…" if cut."""
    if "\n" not in text and stringWidth(text, font, size) <= width:
        return [text]
    lines = simpleSplit(text, font, size, width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = fit(lines[-1].rstrip() + ELLIPSIS, font, size, width)
    return [fit(line, font, size, width) for line in lines]


class _Writer:
    """Pagination and drawing. Graphics and text of the current page are collected as PDF
    operators and handed to the canvas once per page (and before the chart)."""

    def __init__(self, canvas: Canvas, size, heading: list[str], columns: Sequence):
        self.canvas = canvas
        self.width, self.height = size
        self.heading = heading
        self.kinds = [getattr(c, "kind", "") or "" for c in columns]
        self.page = 0
        self.graphics: list[str] = []
        self.text: list[str] = []
        self.current = None  # (font, size) set in the open BT block
        self.font_names: dict[str, str] = {}
        self.fonts = {name: getFont(name) for name in (FONT, BOLD)}
        usable = self.width - 2 * MARGIN
        weights = [max(int(getattr(c, "width", 10) or 10), 1) for c in columns] or [1]
        total = sum(weights)
        self.x = [MARGIN]
        for w in weights:
            self.x.append(self.x[-1] + usable * w / total)
        self.header = [wrap(str(c.header), BOLD, SIZE, self._inner(i), 3) for i, c in enumerate(columns)]
        self.header_h = max((len(lines) for lines in self.header), default=1) * LEADING + 2 * PAD
        self.striped = False

    def _inner(self, i: int) -> float:
        return self.x[i + 1] - self.x[i] - 2 * PAD

    # ------------------------------------------------------------ PDF operators

    def _font(self, name: str) -> str:
        if name not in self.font_names:
            self.font_names[name] = self.canvas._doc.getInternalFontName(name)
        return self.font_names[name]

    def put(self, x: float, y: float, text: str, font: str = FONT, size: float = SIZE) -> None:
        """Text at (x, y), baseline; in the page's single BT … ET block."""
        ops = self.text
        ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm")
        for run_font, data in unicode2T1(text, [self.fonts[font], *self.fonts[font].substitutionFonts]):
            if run_font.fontName in (FONT, BOLD):
                data = data.replace(b"\x7f", b"\x95")  # the bullet, see the module docstring
            current = (run_font.fontName, size)
            if current != self.current:  # Tf only when it changes: a page holds ~60 rows × columns
                ops.append(f"{self._font(run_font.fontName)} {size:g} Tf")
                self.current = current
            ops.append(f"({data.decode('latin-1').translate(_ESCAPE)}) Tj")

    def put_right(self, right: float, y: float, text: str, font: str = FONT, size: float = SIZE) -> None:
        self.put(right - stringWidth(text, font, size), y, text, font, size)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.graphics.append(f"{fill} {x:.2f} {y:.2f} {w:.2f} {h:.2f} re f")

    def rule(self, y: float, width: float = 0.5) -> None:
        self.graphics.append(f"0 g {width:g} w {MARGIN:.2f} {y:.2f} m {self.width - MARGIN:.2f} {y:.2f} l S")

    def flush(self) -> None:
        parts = []
        if self.graphics:
            parts.append("q " + "\n".join(self.graphics) + " Q")
        if self.text:
            parts.append("BT 0 g\n" + "\n".join(self.text) + "\nET")
        if parts:
            self.canvas.addLiteral("\n".join(parts))
        self.graphics, self.text, self.current = [], [], None

    # ------------------------------------------------------------ pages

    def first_page(self, chart) -> None:
        self.page = 1
        y = self.height - MARGIN - TITLE_SIZE
        usable = self.width - 2 * MARGIN
        for n, line in enumerate(self.heading):
            font, size = (BOLD, TITLE_SIZE) if n == 0 else (FONT, HEADING_SIZE)
            for part in wrap(str(line), font, size, usable, 4):
                self.put(MARGIN, y, part, font, size)
                y -= size * 1.35
            if n == 0:
                y -= 3
        y -= 6
        if chart is not None:
            picture = drawing(chart)  # the page's SVG is drawn from the same Drawing
            scale = min(1.0, usable / picture.width)
            self.flush()
            self.canvas.saveState()
            self.canvas.translate(MARGIN, y - picture.height * scale)
            self.canvas.scale(scale, scale)
            renderPDF.draw(picture, self.canvas, 0, 0)
            self.canvas.restoreState()
            y -= picture.height * scale + 10
        self.y = y
        self.draw_header()

    def running_title(self) -> float:
        y = self.height - MARGIN - HEADING_SIZE
        title = self.heading[0] if self.heading else ""
        self.put(MARGIN, y, fit(str(title), BOLD, HEADING_SIZE, self.width - 2 * MARGIN), BOLD, HEADING_SIZE)
        return y - 10

    def new_page(self, header: bool = True) -> None:
        self.finish_page()
        self.page += 1
        self.y = self.running_title()
        self.striped = False
        if header:
            self.draw_header()

    def finish_page(self) -> None:
        self.put_right(self.width - MARGIN, FOOTER, f"Página {self.page}", FONT, SIZE)
        self.flush()
        self.canvas.showPage()

    def draw_header(self) -> None:
        top = self.y
        self.rect(MARGIN, top - self.header_h, self.width - 2 * MARGIN, self.header_h, HEADER_FILL)
        for i, lines in enumerate(self.header):
            y = top - PAD - SIZE
            right = self.kinds[i] in (MONEY, INTEGER)
            for line in lines:
                if right:
                    self.put_right(self.x[i + 1] - PAD, y, line, BOLD)
                else:
                    self.put(self.x[i] + PAD, y, line, BOLD)
                y -= LEADING
        self.y = top - self.header_h
        self.rule(self.y)

    # ------------------------------------------------------------ rows

    def row(self, values: tuple) -> None:
        cells = []
        lines_needed = 1
        for i, kind in enumerate(self.kinds):
            text, right = cell_text(values[i] if i < len(values) else None, kind)
            inner = self._inner(i)
            if right:
                size = SIZE
                width = stringWidth(text, FONT, size)
                if width > inner:  # a figure is never cut: drawn smaller instead
                    size = max(MIN_SIZE, size * inner / width)
                cells.append((True, [text], size))
            else:
                lines = wrap(text, FONT, SIZE, inner, MAX_LINES)
                lines_needed = max(lines_needed, len(lines))
                cells.append((False, lines, SIZE))
        height = lines_needed * LEADING + 2 * PAD
        if self.y - height < MARGIN + FOOTER:
            self.new_page()
        top = self.y
        if self.striped:
            self.rect(MARGIN, top - height, self.width - 2 * MARGIN, height, ZEBRA)
        self.striped = not self.striped
        for i, (right, lines, size) in enumerate(cells):
            y = top - PAD - SIZE
            for line in lines:
                if not line:
                    continue
                if right:
                    self.put_right(self.x[i + 1] - PAD, y, line, FONT, size)
                else:
                    self.put(self.x[i] + PAD, y, line)
                y -= LEADING
        self.y = top - height

    def empty(self) -> None:
        self.put(MARGIN + PAD, self.y - PAD - SIZE, EMPTY)
        self.y -= LEADING + 2 * PAD

    def totals(self, lines: list[tuple[str, str]]) -> None:
        if not lines:
            return
        self.rule(self.y, 0.8)
        needed = len(lines) * (LEADING + 2) + 8
        if self.y - needed < MARGIN + FOOTER:
            self.new_page(header=False)
        labels = [str(label) for label, _ in lines]
        texts = [str(text) for _, text in lines]
        label_w = max(stringWidth(t, BOLD, SIZE + 0.5) for t in labels)
        text_w = max(stringWidth(t, FONT, SIZE + 0.5) for t in texts)
        right = min(self.width - MARGIN, MARGIN + label_w + 24 + text_w)
        y = self.y - 8 - SIZE
        for label, text in zip(labels, texts, strict=True):
            self.put(MARGIN + PAD, y, label, BOLD, SIZE + 0.5)
            self.put_right(right, y, text, FONT, SIZE + 0.5)
            y -= LEADING + 2
        self.y = y
