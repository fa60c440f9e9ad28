"""Hostile uploads: files built to keep the upload busy, each just under the 20 MB limit.

For each file, two figures: how long `domain.batch_files.read_batch` (the part of the request
that reads the file) takes in this process, and what a user waits for: the answer of «Enviar»
(POST Carga de lotes) from the app running in its own process, over HTTP, beside the answer of
a minimal page (the login page) measured in the same run. Target: the worst answer ≤ 2 s
(2-core machine).

    python -m bench.hostile [--only NAME] [--no-http]

Each file is built, timed, and dropped before the next (the peak memory is one file's).
"""

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 2.0
SIZE = 18 * 1024 * 1024  # 18 MiB: under the 20 MB upload limit
REC_HEADER = "TIPO ID;NRO ID;MONTO;DESCRIPCION\r\n"
FIXED_CONTROL = "02403150100000090029149900002220240315000000000035000000"  # REC_TXT_EXAMPLE[0]


def _wide_cell_xlsx(cell_chars: int, cells: int = 1) -> bytes:
    """An .xlsx whose header candidate row holds `cells` inline strings of `cell_chars` random
    letters (random so the zip's ratio checks let it through)."""
    from tests import batchfiles as b

    noise = random.Random(cell_chars).randbytes(cell_chars // 2).hex()
    inline = f'<c r="A1" t="inlineStr"><is><t>{noise}</t></is></c>'
    row = "".join(inline.replace('r="A1"', f'r="{chr(65 + i)}1"') for i in range(cells))
    return b.xlsx_with_sheet(b.sheet_xml(f'<row r="1">{row}</row>'.encode()))


def _many_rows_xlsx(rows: int) -> bytes:
    """An .xlsx (deflated, ratio under 200:1) whose first rows are all empty and whose last
    holds a value: the header search reads only ten of them."""
    from tests import batchfiles as b

    body = b"<row/>" * rows + b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    return b.xlsx_with_sheet(b.sheet_xml(body), padding=len(body) // 150)


def cases():
    """(name, filename, kind, builder) of every hostile upload."""
    from tests import batchfiles as b

    return [
        ("csv: 18 MiB de ';'", "lote.csv", "EMI", lambda: b";" * SIZE),
        ("txt REC: 18 MiB de ';'", "lote.txt", "REC", lambda: b";" * SIZE),
        ("csv: una línea de 18 MiB sin separadores", "lote.csv", "EMI", lambda: b"a" * SIZE),
        ("txt REC: una línea de 18 MiB de dígitos", "lote.txt", "REC", lambda: b"0" * SIZE),
        ("csv: 18 MiB de ';' entre comillas", "lote.csv", "REC", lambda: b'"' + b";" * SIZE + b'"'),
        ("csv: 10 líneas de 1,8 MiB de ';'", "lote.csv", "EMI", lambda: (b";" * (SIZE // 10) + b"\n") * 10),
        (
            "csv: 10 líneas de 40 campos de 45 KB",
            "lote.csv",
            "EMI",
            lambda: ((";".join(["x" * (SIZE // 400)] * 40) + "\n") * 10).encode(),
        ),
        ("csv: 18 millones de líneas vacías", "lote.csv", "REC", lambda: b"\n" * SIZE),
        ("csv: 9 millones de líneas ';'", "lote.csv", "REC", lambda: b";\n" * (SIZE // 2)),
        (
            "csv: encabezado + 9 millones de líneas vacías",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + b"\r\n" * (SIZE // 2),
        ),
        (
            "csv: encabezado + 4,5 millones de líneas ';;;'",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + b";;;\n" * (SIZE // 4),
        ),
        (
            "csv: encabezado + 9 millones de líneas vacías + comillas",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + b"\n" * (SIZE - 100) + b'CC;1;"x";\n',
        ),
        (
            "csv: encabezado + 6 millones de líneas '\"\"'",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + b'""\n' * (SIZE // 3),
        ),
        (
            "csv: encabezado + 6 millones de líneas de espacios duros",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + "\u00a0\n".encode() * (SIZE // 3),
        ),
        (
            "csv: encabezado + 3,6 millones de líneas ';;;;x'",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + b";;;;x\n" * (SIZE // 6),
        ),
        (
            "txt REC: registro de control + 9 millones de líneas en blanco",
            "lote.txt",
            "REC",
            lambda: (FIXED_CONTROL + "\r\n").encode() + b" \r\n" * (SIZE // 3),
        ),
        (
            "csv: encabezado + un campo entre comillas de 18 MiB",
            "lote.csv",
            "REC",
            lambda: REC_HEADER.encode() + b'CC;1;"' + b"x" * SIZE + b'";\r\n',
        ),
        ("xlsx: celda de 30 MB en la fila 1", "lote.xlsx", "EMI", lambda: _wide_cell_xlsx(30_000_000)),
        ("xlsx: 10 celdas de 3 MB en la fila 1", "lote.xlsx", "EMI", lambda: _wide_cell_xlsx(3_000_000, cells=10)),
        ("xlsx: 1 millón de filas vacías", "lote.xlsx", "REC", lambda: _many_rows_xlsx(1_000_000)),
        ("xlsx: bomba zip (150 MB de ceros)", "lote.xlsx", "EMI", lambda: b.zip_bomb_bytes(150 * 1024 * 1024)),
    ]


def measure(filename: str, kind: str, content: bytes) -> tuple[float, str]:
    """(seconds, the answer: the refusal message or the rows read)."""
    from domain.batch_files import FileRejected, read_batch

    start = time.perf_counter()
    try:
        sheet = read_batch(filename, content, kind)
    except FileRejected as exc:
        answer = exc.message
    except Exception as exc:  # a bug: the upload would answer 500
        answer = f"ERROR {type(exc).__name__}: {exc}"
    else:
        answer = f"{len(sheet.rows)} filas leídas"
    return time.perf_counter() - start, answer


class _Portal:
    """The app in its own process on a scratch SQLite database, with one user logged in."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        from app import create_app
        from tests.server import HttpClient, server_process

        url = f"sqlite:///{self.folder / 'hostile.db'}"
        config = {"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url, "SMTP_HOST": "", "DEMO_MODE": False}
        application = create_app({**config, "SESSION_COOKIE_SECURE": False})
        import models
        from services.provisioning import create_branch, create_company, create_product, create_user_with_grants

        with application.app_context():
            models.db.connect(reuse_if_open=True)
            models.upgrade()
            company = create_company(nit="900291499", name="HOSTIL SAS", legal_name="HOSTIL SAS")
            create_branch(company, "1", "Principal")
            self.product = create_product(company, "Clásica / Visa")
            create_user_with_grants(
                "bench", "Bench", "", "bench@example.com", "", "", ["900291499:*:all"],
                password="Bench*2024", must_change=False, terms_accepted=True,
            )  # fmt: skip
            models.db.close()
        self._server = server_process(url)
        self.server = self._server.__enter__()
        self.client = HttpClient(self.server.url)
        assert self.client.login("bench", "Bench*2024") == 302
        _status, html = self.client.request("GET", f"/productos/{self.product.id}/lotes/carga")
        import re

        self.token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        return self

    def __exit__(self, *exc):
        self._server.__exit__(*exc)

    def floor(self, runs: int = 5) -> float:
        """The median answer of a minimal page (the login page, no database work)."""
        import urllib.request

        times = []
        for _ in range(runs):
            start = time.perf_counter()
            with urllib.request.urlopen(f"{self.server.url}/ingresar", timeout=30) as response:
                response.read()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    def upload(self, filename: str, kind: str, content: bytes) -> tuple[float, int]:
        """(seconds until the answer of «Enviar», its HTTP status)."""
        import urllib.error
        import urllib.request

        boundary = "----bench" + random.Random(len(content)).randbytes(8).hex()
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{self.token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body = head + content + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            f"{self.server.url}/productos/{self.product.id}/lotes/carga",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "HX-Request": "true"},
        )
        start = time.perf_counter()
        try:
            with self.client.opener.open(request, timeout=120) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        return time.perf_counter() - start, status


def run(only: str | None = None, out=None, http: bool = True) -> list[str]:
    """The table's lines (each also passed to `out` as soon as it is measured, if given)."""
    import contextlib
    import tempfile

    lines = []

    def say(line: str) -> None:
        lines.append(line)
        if out is not None:
            out(line)

    with tempfile.TemporaryDirectory() as tmp, _Portal(Path(tmp)) if http else contextlib.nullcontext() as portal:
        floor = portal.floor() if portal else 0.0
        say("Cargas hostiles (cada archivo < 20 MB): read_batch en proceso | respuesta de «Enviar» por HTTP")
        if portal:
            say(f"  piso: página mínima (GET /ingresar) {floor * 1000:.0f} ms")
        worst = (0.0, "")
        for name, filename, kind, build in cases():
            if only and only not in name:
                continue
            content = build()
            seconds, answer = measure(filename, kind, content)
            answered, status = portal.upload(filename, kind, content) if portal else (seconds, 0)
            del content
            worst = max(worst, (answered, name))
            shown = answer if len(answer) <= 60 else answer[:57] + "…"
            http_text = f"{answered:6.2f} s ({status}, {answered / floor:5.0f}× el piso)" if portal else ""
            say(f"  {name:<60} {seconds:6.2f} s | {http_text}   {shown}")
        verdict = "OK" if worst[0] <= TARGET_SECONDS else "NO CUMPLE"
        what = "respuesta por HTTP" if portal else "read_batch"
        say(f"Peor carga hostil ({what}): {worst[0]:.2f} s ({worst[1]}) (≤ {TARGET_SECONDS:g} s)   {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    parser.add_argument("--no-http", action="store_true", help="only read_batch, without starting the app")
    args = parser.parse_args()
    run(args.only, out=lambda line: print(line, flush=True), http=not args.no_http)


if __name__ == "__main__":
    main()
