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

from domain import layouts
from domain.passwords import BLOCKED, INVALID, LAST_WARNING, MAX_FAILED_ATTEMPTS, REQUIREMENTS, TEMPORARY_VALID_HOURS
from web import MENU

bp = Blueprint("help", __name__, url_prefix="/ayuda")

TEMPLATES = Path(__file__).resolve().parent / "templates"
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
        "Lotes, órdenes de servicio, cuenta maestra y reportes",
        "Carga y autorización de lotes, tarjetas innominadas, órdenes, cuenta maestra y reportes.",
        "help/_operaciones.html",
    ),
    Chapter("definiciones", "Definiciones", "Los términos que usa el portal.", "help/_definiciones.html"),
)

MENU_DESCRIPTIONS = {
    "Lotes": "Cargar, confirmar y autorizar lotes de emisión, recarga y afiliación, y solicitar tarjetas innominadas.",
    "Consultas": "Consultar y pagar órdenes de servicio y revisar las tarjetas del producto.",
    "Servicios": "Mover saldo entre la cuenta maestra y las tarjetas, y consultar saldos.",
    "Reportes": "Obtener informes de la operación para control y auditoría.",
}

BATCH_TYPE_SOURCES = {
    layouts.BatchKind.EMI: "Archivo con los datos de cada persona a la que se emite una tarjeta con su nombre.",
    layouts.BatchKind.REC: "Archivo con el documento de cada titular y el monto a recargar (Excel, texto delimitado o TXT de ancho fijo).",
    layouts.BatchKind.AFI: "Archivo de afiliación descargado en Tarjetas innominadas - Afiliación, completado con los datos de cada titular.",
    layouts.BatchKind.INN: "Formulario Tarjetas innominadas - Solicitud; no requiere archivo.",
}

LAYOUT_INTROS = {
    layouts.BatchKind.EMI: "Una fila por persona que recibirá una tarjeta nominada. La persona no debe tener ya una "
    "tarjeta de este producto en la empresa.",
    layouts.BatchKind.REC: "Una fila por recarga. La persona debe tener una tarjeta activa del producto en la empresa.",
    layouts.BatchKind.AFI: "La primera columna identifica la tarjeta innominada; las demás son las mismas de la "
    "emisión nominada y describen a la persona que la recibe.",
}

REPORTS = (
    (
        "Cuenta maestra",
        "movimientos de la cuenta maestra (cargos, abonos y saldo) por trimestre, semestre o rango de fechas.",
    ),
    ("Tarjetas emitidas", "tarjetas emitidas por mes, con gráfico."),
    ("Recargas realizadas", "recargas por mes, con gráfico."),
    ("Estado de lotes", "situación de los lotes cargados."),
    ("Tarjetahabientes", "titulares de las tarjetas del producto."),
    ("Saldo al cierre", "saldo de las tarjetas al cierre de un período."),
    ("Actividad por usuario", "operaciones realizadas por cada usuario de la empresa."),
)

GLOSSARY = (
    (
        "Conexión Empresas",
        "Portal web con el que la empresa administra sus tarjetas prepago corporativas: "
        "emisión, recargas, órdenes de servicio, cuenta maestra y reportes.",
    ),
    (
        "Producto",
        "Un tipo de tarjeta contratado por la empresa, por ejemplo «Clásica / Visa». Cada producto "
        "tiene sus tarifas, límites y cuenta maestra.",
    ),
    (
        "Lote",
        "Conjunto de registros que se envían juntos: emisiones, recargas o afiliaciones. Se carga como "
        "archivo o, en la emisión innominada, se crea con un formulario.",
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
        "Cuenta de saldo de la empresa para cada producto, desde la cual se abona a las tarjetas o se les hace cargos.",
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
        "menu": MENU,
        "menu_descriptions": MENU_DESCRIPTIONS,
        "batch_types": list(layouts.BATCH_TYPE_NAMES.items()),
        "batch_type_sources": BATCH_TYPE_SOURCES,
        "layouts": [layouts.layout(kind) for kind in layouts.UPLOADABLE],
        "layout_intros": LAYOUT_INTROS,
        "limits": BATCH_LIMITS,
        "rec_name": layouts.batch_type_name("REC"),
        "txt_control": layouts.REC_TXT_CONTROL,
        "txt_detail": layouts.REC_TXT_DETAIL,
        "txt_example": layouts.REC_TXT_EXAMPLE,
        "reports": REPORTS,
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
