"""Ayuda: the user guide as web pages (/ayuda) and as the downloadable PDF manual.

Both render the same chapter templates in templates/help/; the PDF uses a print template and
xhtml2pdf, and is built once per process.
"""

import io
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, abort, current_app, has_app_context, render_template
from jinja2 import Environment, FileSystemLoader, select_autoescape

from blueprints.menu import MENU
from domain import layouts
from domain.passwords import BLOCKED, INVALID, LAST_WARNING, MAX_FAILED_ATTEMPTS, REQUIREMENTS, TEMPORARY_VALID_HOURS

bp = Blueprint("help", __name__, url_prefix="/ayuda")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MANUAL_TITLE = "Manual de Usuario Conexión Empresas Online"


@dataclass(frozen=True)
class Chapter:
    slug: str
    title: str
    summary: str
    template: str


CHAPTERS = (
    Chapter(
        "ingreso",
        "Ingreso al sistema",
        "Primer ingreso, requisitos de la contraseña, bloqueo, recuperación y sesión.",
        "help/_ingreso.html",
    ),
    Chapter(
        "configuracion",
        "Configuración",
        "Tus datos, cambio de contraseña, datos de la empresa y descargas.",
        "help/_configuracion.html",
    ),
    Chapter(
        "empresas-y-productos",
        "Selección de empresa y producto",
        "Cómo elegir la empresa y el producto, y qué ofrece el menú del producto.",
        "help/_empresas.html",
    ),
    Chapter(
        "archivos-de-lotes",
        "Archivos de lotes",
        "Tipos de lote, reglas de los archivos y columnas de cada plantilla.",
        "help/_archivos.html",
    ),
    Chapter(
        "operaciones",
        "Lotes y órdenes de servicio",
        "Carga y autorización de lotes; consulta, pago y anulación de órdenes de servicio.",
        "help/_operaciones.html",
    ),
    Chapter(
        "tarjetas-innominadas",
        "Tarjetas innominadas",
        "Solicitud de tarjetas sin titular, existencias por sucursal y afiliación por archivo o una a una.",
        "help/_innominadas.html",
    ),
    Chapter(
        "cuenta-maestra",
        "Cuenta maestra",
        "Recarga de la cuenta maestra, abonos, cargos y consultas de saldo de una tarjeta o de varias.",
        "help/_cuenta_maestra.html",
    ),
    Chapter(
        "consulta-de-tarjetas",
        "Consulta de tarjetas",
        "Buscar cualquier tarjeta, bloquearla o desbloquearla, seguir la entrega del plástico y cancelarla.",
        "help/_tarjetas.html",
    ),
    Chapter(
        "reportes",
        "Reportes",
        "El catálogo de reportes, sus criterios, los gráficos y las exportaciones a Excel y PDF.",
        "help/_reportes.html",
    ),
    Chapter("definiciones", "Definiciones", "Los términos que usa el portal.", "help/_definiciones.html"),
)

# What each menu section offers today; a section whose items are all still to come (endpoint
# None) is described as not available. Each issue that lands a screen extends its text.
MENU_DESCRIPTIONS = {
    "Lotes": "Cargar, confirmar, firmar y autorizar lotes de emisión, recarga y afiliación; solicitar tarjetas "
    "innominadas y asignarlas a sus titulares.",
    "Consultas": "Consultar, pagar y anular órdenes de servicio; buscar tarjetas, bloquearlas y seguir su entrega.",
    "Servicios": "Recargar la cuenta maestra y mover dinero entre ella y las tarjetas.",
    "Reportes": "Consultar el catálogo de reportes (cuenta maestra, tarjetas, recargas, lotes, usuarios) y "
    "exportarlos a Excel o PDF; recoger en Mis descargas los archivos grandes.",
}

BATCH_TYPE_SOURCES = {
    layouts.BatchKind.EMI: "Archivo con los datos de cada persona a la que se emite una tarjeta con su nombre.",
    layouts.BatchKind.REC: "Archivo con el documento de cada titular y el monto a recargar (Excel, texto delimitado o TXT de ancho fijo).",
    layouts.BatchKind.AFI: "Archivo con el número de cada tarjeta innominada y los datos de la persona que la recibe.",
}

LAYOUT_INTROS = {
    layouts.BatchKind.EMI: "Una fila por persona que recibirá una tarjeta nominada. La persona no debe tener ya una "
    "tarjeta de este producto en la empresa.",
    layouts.BatchKind.REC: "Una fila por recarga. La persona debe tener una tarjeta activa del producto en la empresa.",
    layouts.BatchKind.AFI: "Las dos primeras columnas identifican la tarjeta innominada (su número enmascarado y su "
    "referencia, como vienen en el archivo de afiliación descargado); las demás son las mismas de la emisión "
    "nominada y describen a la persona que la recibe.",
}

GLOSSARY = (
    (
        "Conexión Empresas",
        "Portal web con el que la empresa administra sus tarjetas prepago corporativas: "
        "emisión, recargas y órdenes de servicio.",
    ),
    (
        "Producto",
        "Un tipo de tarjeta contratado por la empresa, por ejemplo «Clásica / Visa». Cada producto "
        "tiene sus tarifas y sus límites.",
    ),
    (
        "Lote",
        "Conjunto de registros que se envían juntos en un archivo: emisiones, recargas o afiliaciones.",
    ),
    ("Tarjeta nominada", "Tarjeta emitida con el nombre de su titular."),
    ("Tarjeta innominada", "Tarjeta emitida sin titular, que se asigna a una persona mediante un lote de afiliación."),
    (
        "Orden de servicio",
        "Documento que resume lo que la empresa paga por uno o varios lotes autorizados: "
        "comisiones, IVA, GMF y el monto de las recargas.",
    ),
    (
        "Cuenta maestra",
        "El dinero de la empresa en el programa, por producto, para abonar a las tarjetas o cargarles saldo "
        "en el momento.",
    ),
    ("Firma", "Aprobación de un lote por un usuario autorizado. Según la empresa, un lote necesita una o dos firmas."),
    (
        "Contraseña temporal",
        f"Contraseña enviada por correo, válida por {TEMPORARY_VALID_HOURS} horas, que "
        "debe cambiarse en el primer ingreso con ella.",
    ),
)

# SPEC §5 defaults; the batch upload settings may change them per installation.
BATCH_LIMITS = {"max_mb": 20, "max_records": "100.000"}
DEFAULT_IDLE_MINUTES, DEFAULT_MAX_AGE_DAYS = 30, 90


def help_context(web: bool) -> dict:
    """What the chapter templates need; `web` is False when rendering the PDF."""
    config = current_app.config if has_app_context() else {}
    return {
        "web": web,
        "chapters": CHAPTERS,
        "requirements": REQUIREMENTS,
        "max_failed": MAX_FAILED_ATTEMPTS,
        "temp_hours": TEMPORARY_VALID_HOURS,
        "messages": {"invalid": INVALID, "last_warning": LAST_WARNING, "blocked": BLOCKED},
        "idle_minutes": config.get("SESSION_IDLE_MINUTES", DEFAULT_IDLE_MINUTES),
        "max_age_days": config.get("PASSWORD_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS),
        "help_menu": MENU,  # not "menu": that is the layout's product menu
        "menu_descriptions": MENU_DESCRIPTIONS,
        # The types a user uploads (INN comes from the Solicitud form: its own chapter).
        "batch_types": [(k, n) for k, n in layouts.BATCH_TYPE_NAMES.items() if k in BATCH_TYPE_SOURCES],
        "batch_type_sources": BATCH_TYPE_SOURCES,
        "layouts": [layouts.layout(kind) for kind in layouts.UPLOADABLE],
        "layout_intros": LAYOUT_INTROS,
        "limits": BATCH_LIMITS,
        "rec_name": layouts.batch_type_name("REC"),
        "txt_control": layouts.REC_TXT_CONTROL,
        "txt_detail": layouts.REC_TXT_DETAIL,
        "txt_example": layouts.REC_TXT_EXAMPLE,
        "unavailable": [item.label for sec in MENU for item in sec.items if item.endpoint is None],
        "glossary": GLOSSARY,
    }


@bp.route("/")
def index():
    """Ayuda: the list of chapters."""
    return render_template("help/index.html", chapters=CHAPTERS)


@bp.route("/<slug>")
def chapter(slug: str):
    """One chapter of the user guide."""
    current = next((c for c in CHAPTERS if c.slug == slug), None)
    if current is None:
        abort(404)
    return render_template("help/chapter.html", chapter=current, **help_context(web=True))


_pdf_lock = threading.Lock()
_pdf_cache: bytes | None = None


def manual_pdf_bytes() -> bytes:
    """The "Manual de Usuario Conexión Empresas Online" PDF, built on first use and kept."""
    global _pdf_cache
    if _pdf_cache is None:
        with _pdf_lock:
            if _pdf_cache is None:
                _pdf_cache = build_manual_pdf()
    return _pdf_cache


def manual_html() -> str:
    """The print version of the guide, as xhtml2pdf takes it."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template("help/manual_pdf.html").render(title=MANUAL_TITLE, **help_context(web=False))


def build_manual_pdf() -> bytes:
    from xhtml2pdf import pisa

    out = io.BytesIO()
    status = pisa.CreatePDF(manual_html(), dest=out, encoding="utf-8")
    if status.err:
        raise RuntimeError(f"xhtml2pdf could not build the manual ({status.err} errors)")
    return out.getvalue()
