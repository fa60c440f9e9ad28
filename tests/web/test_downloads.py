"""Configuración > Descargas: the user manual PDF and the batch templates .zip (manual 2.4)."""

import io
import zipfile

import pypdf
import pytest

from blueprints import help
from domain.batch_templates import FILE_NAMES, TXT_NAME
from domain.layouts import layout
from tests.factories import make_company, make_product, make_user

PDF_URL = "/configuracion/descargas/manual-usuario.pdf"
ZIP_URL = "/configuracion/descargas/archivos-lotes.zip"


@pytest.fixture
def user(db):
    company = make_company("ACME SAS")
    return make_user("ana", perms={make_product(company): "batch.upload"})


@pytest.fixture(scope="module")
def manual_text():
    reader = pypdf.PdfReader(io.BytesIO(help.manual_pdf_bytes()))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_downloads_page_links_both_files(client, auth, user):
    auth.login("ana")
    html = client.get("/configuracion/descargas").get_data(as_text=True)
    assert f'href="{PDF_URL}"' in html and "Manual de Usuario Conexión Empresas Online" in html
    assert f'href="{ZIP_URL}"' in html and "Archivos lotes operativos" in html


def test_manual_download(client, auth, user):
    auth.login("ana")
    response = client.get(PDF_URL)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Manual-Usuario-Conexion-Empresas-Online.pdf"'
    )
    assert response.data.startswith(b"%PDF-")
    assert response.data == help.manual_pdf_bytes()


def test_templates_download(client, auth, user):
    auth.login("ana")
    response = client.get(ZIP_URL)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="Archivos-lotes-operativos.zip"'
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert sorted(names) == sorted([*FILE_NAMES.values(), TXT_NAME])


@pytest.mark.parametrize("url", ["/configuracion/descargas", PDF_URL, ZIP_URL])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/ingresar")


def test_manual_has_cover_toc_and_page_numbers(manual_text):
    reader = pypdf.PdfReader(io.BytesIO(help.manual_pdf_bytes()))
    assert reader.metadata.title == "Manual de Usuario Conexión Empresas Online"
    pages = len(reader.pages)
    assert pages >= 5
    cover = " ".join(reader.pages[0].extract_text().split())
    assert "Manual de Usuario Conexión Empresas Online" in cover and "Página" not in cover
    assert "Tabla de contenido" in reader.pages[1].extract_text()
    assert f"Página {pages} de {pages}" in reader.pages[-1].extract_text()


@pytest.mark.parametrize(
    "text",
    [
        "Manual de Usuario Conexión Empresas Online",
        "¿Olvidaste tu contraseña?",
        "Carga de lotes",
        "Mantener sesión",
        "Usuario bloqueado por intentos fallidos",
        "De 1 a 3 números",
        "Archivos lotes operativos",
        "Emisión nominada (Id persona)",
        "Afiliación (Id persona)",
        "Órdenes de servicio",
        "Cuenta maestra",
    ],
)
def test_manual_covers(manual_text, text):
    assert text in manual_text


@pytest.mark.parametrize("kind", ["EMI", "REC", "AFI"])
def test_manual_lists_every_layout_header(manual_text, kind):
    for name in layout(kind).column_names:
        assert name in manual_text, name


def test_manual_documents_the_fixed_width_txt(manual_text):
    assert "56 caracteres" in manual_text and "42 caracteres" in manual_text


def test_manual_is_built_once():
    assert help.manual_pdf_bytes() is help.manual_pdf_bytes()
