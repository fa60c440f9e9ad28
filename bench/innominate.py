"""Tarjetas innominadas benchmark (in process, through the services the views call):

- a request of N unnamed cards (Solicitud → Autorización → paid order → processing);
- the affiliation of those N cards by file (the downloaded affiliation file, filled in, uploaded
  in Carga de lotes → validation → confirm → authorize → pay → processing);
- beside them, the processing of N named cards (EMI), the yardstick of the ratios.

    python -m bench.innominate [--records N] [--database-url URL]

It runs on a temporary SQLite file and, when the server answers, on a scratch database of the
local PostgreSQL server (bench/journey.py's scratch_database), created and dropped by the run;
--database-url names the server to use.
"""

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

import models  # noqa: E402
from app import create_app  # noqa: E402
from bench.journey import scratch_database  # noqa: E402
from bench.processing import _paid_order, _person, _process, _thousands  # noqa: E402
from models import Batch, Card, ServiceOrder  # noqa: E402
from services import authorization, batches, innominate, orders, processing  # noqa: E402
from services.provisioning import create_branch, create_company, create_product, create_user_with_grants  # noqa: E402

PASSWORD = "Bench*2024x"


def _fill(content: bytes, records: int) -> bytes:
    """The affiliation file with a person in every card's row (as a clerk would, at scale)."""
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook.active
    header = [cell.value for cell in sheet[2]]
    columns = {name: header.index(name) + 1 for name in header}
    for row, i in zip(range(3, 3 + records), range(records), strict=True):
        p = _person(i)
        values = {
            "TIPO ID": "CC", "NRO ID": p["id_number"], "PRIMER APELLIDO": "ROJAS", "PRIMER NOMBRE": "ANA",
            "FECHA DE NACIMIENTO": "15/03/1990", "SEXO": "FEMENINO", "TELEFONO CELULAR": p["mobile"],
            "CORREO ELECTRONICO": p["email"],
        }  # fmt: skip
        for name, value in values.items():
            sheet.cell(row, columns[name], value)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _through_order(product, batch, user) -> tuple[float, float]:
    """(seconds to authorize and pay, seconds to process) of one batch."""
    start = time.perf_counter()
    (order,) = authorization.authorize(product, [batch.id], user)
    orders.pay_without_code(order, user)
    paid = time.perf_counter()
    while ServiceOrder.get_by_id(order.id).status != ServiceOrder.PROCESSED:
        if processing.process_paid_orders() == 0:
            raise RuntimeError(f"order {order.id} did not finish")
    return paid - start, time.perf_counter() - paid


def run(database_url: str, records: int) -> list[str]:
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench", "BATCH_MAX_RECORDS": max(records, 100_000)})
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.drop_all()
        models.upgrade()
        company = create_company(
            nit="900999999", name="BENCH SAS", legal_name="BENCH SAS", contact="Bench", address="Calle 1",
            phone1="6011234567", signatures=1, opening_balance=10**15,
        )  # fmt: skip
        create_branch(company, "1", "Principal")
        unnamed = create_product(company, "Clásica In / Visa", named=False, max_innominate=records)
        named = create_product(company, "Clásica / Visa", named=True)
        user, _temp = create_user_with_grants(
            "bench", "Bench", "User", "bench@example.com", "Cargo", "Área", ["900999999:*:all"], password=PASSWORD,
            must_change=False, terms_accepted=True,
        )  # fmt: skip

        start = time.perf_counter()
        form = {"quantity": str(records), "line1": "BENCH SAS", "line2": "NIT 900999999", "branch": "1"}
        request = innominate.request_cards(user, unnamed, form, PASSWORD)
        requested = time.perf_counter() - start
        authorize_seconds, issue_seconds = _through_order(unnamed, request, user)
        assert Card.select().where(Card.product == unnamed).count() == records

        content = _fill(innominate.affiliation_file(Batch.get_by_id(request.id)), records)
        start = time.perf_counter()
        upload = batches.upload(user, unnamed, "AFI", "afiliacion.xlsx", content)
        while Batch.get_by_id(upload.id).status == Batch.VALIDATING:
            batches.validate_waiting()
        upload = Batch.get_by_id(upload.id)
        assert upload.status == Batch.VALID, (upload.status, upload.file_errors)
        batches.confirm(upload, user, PASSWORD)
        validated = time.perf_counter() - start
        _afi_authorize, affiliate_seconds = _through_order(unnamed, upload, user)
        affiliated = Card.select().where((Card.product == unnamed) & Card.person.is_null(False)).count()
        assert affiliated == records, affiliated

        named_order = _paid_order(named, "EMI", [_person(records + i) for i in range(records)], "99010101")
        named_seconds = _process(named_order)

    n = _thousands(records)
    return [
        f"Solicitud de {n} innominadas (lote INN):          {requested:6.2f} s",
        f"  autorizar y pagar su orden:                     {authorize_seconds:6.2f} s",
        f"  procesar (crear {n} tarjetas sin titular):  {issue_seconds:6.2f} s  ({issue_seconds / named_seconds:.2f}× nominadas)",
        f"Afiliación de {n} por archivo: carga+validación+confirmación {validated:6.2f} s",
        f"  procesar (asignar {n} titulares):           {affiliate_seconds:6.2f} s  ({affiliate_seconds / named_seconds:.2f}× nominadas)",
        f"Referencia: procesar {n} tarjetas nominadas (EMI): {named_seconds:6.2f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    servers = [""]
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
        servers.append(args.database_url)
    for server in servers:
        with tempfile.TemporaryDirectory() as tmp, scratch_database(server, Path(tmp)) as url:
            engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
            print(f"Tarjetas innominadas ({engine}, {_thousands(args.records)} tarjetas)")
            for line in run(url, args.records):
                print(line)
            models.db.close()


if __name__ == "__main__":
    main()
