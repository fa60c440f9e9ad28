"""Processing benchmark: a paid order of 100,000 EMI records (cards created), then one of
100,000 REC records for the same people (ledger postings), each timed from the first run of
the job until the order is PROCESADO. Target (SQLite, 2-core machine): ≤ 30 s each.

    python -m bench.processing [--records N] [--database-url URL]

Without --database-url it uses a temporary SQLite file. The database is emptied first
(every table dropped): never point it at one whose data you want.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from peewee import fn  # noqa: E402

import ledger  # noqa: E402
import models  # noqa: E402
from models import (  # noqa: E402
    Batch,
    BatchRecord,
    Card,
    Company,
    LedgerAccount,
    LedgerOperation,
    LedgerPosting,
    Person,
    Product,
    ServiceOrder,
)
from services import processing  # noqa: E402

AMOUNT = 15_000  # centavos per recharge, plus i % 100 so cards differ
_SURNAMES = ("GÓMEZ", "PEÑA", "RODRÍGUEZ", "O'NEILL", "PÉREZ-ÁLVAREZ", "Muñoz")
_NAMES = ("ANA", "José", "MARÍA", "LUIS", "JUAN PABLO", "SOFÍA")


def _thousands(n: float) -> str:
    return f"{n:,.0f}".replace(",", ".")


def _person(i: int) -> dict:
    """A record as validation stores it (domain/batch_validation.py's keys)."""
    return {
        "id_type": "CC",
        "id_number": str(1_000_000_000 + i),
        "amount": 0,
        "branch": "1",
        "first_surname": _SURNAMES[i % len(_SURNAMES)],
        "second_surname": "",
        "first_name": _NAMES[i % len(_NAMES)],
        "second_name": "",
        "birth_date": f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "marital_status": "SOLTERO",
        "sex": "F" if i % 2 else "M",
        "address": f"Calle {i % 200} # {i % 90}-{i % 50}",
        "city": "Bogotá",
        "phone": "",
        "mobile": f"3{i % 1_000_000_000:09d}",
        "email": f"persona{i}@ejemplo.com",
    }


def _recharge(i: int) -> dict:
    return {"id_type": "CC", "id_number": str(1_000_000_000 + i), "amount": AMOUNT + i % 100, "description": "Bono"}


def _paid_order(product: Product, kind: str, records: list[dict], number: str) -> ServiceOrder:
    """An order already paid (EN_PROCESO) with one batch of `records`, written directly."""
    with models.db.atomic():
        order = ServiceOrder.create(
            company=product.company_id, product=product, status=ServiceOrder.IN_PROCESS, kind=kind,
            records=len(records), amount=sum(r["amount"] for r in records),
        )  # fmt: skip
        batch = Batch.create(
            company=product.company_id, product=product, number=number, kind=kind, status=Batch.IN_PROCESS,
            order=order, total_records=len(records), valid_records=len(records),
            amount=sum(r["amount"] for r in records),
        )  # fmt: skip
        ledger.insert_rows(
            "batch_record",
            ("batch_id", "line", "id_type", "id_number", "amount", "data", "status", "reason"),
            [
                (batch.id, line, r["id_type"], r["id_number"], r["amount"], orjson.dumps(r).decode(), "VALIDO", "")
                for line, r in enumerate(records, start=2)
            ],
        )
    return order


def _process(order: ServiceOrder) -> float:
    start = time.perf_counter()
    while ServiceOrder.get_by_id(order.id).status != ServiceOrder.PROCESSED:
        if processing.process_paid_orders() == 0:
            raise RuntimeError(f"order {order.id} did not finish")
    return time.perf_counter() - start


def _line(label: str, records: int, seconds: float) -> str:
    return f"{label} {_thousands(records)} registros: {seconds:.1f} s ({_thousands(records / seconds)} reg/s)"


def run(database_url: str, records: int = 100_000) -> list[str]:
    """Build both orders in a fresh database, process them, check the results, return the figures."""
    models.open_database(database_url)
    models.db.connect(reuse_if_open=True)
    try:
        models.drop_all()
        models.upgrade()
        company = Company.create(nit="900999999", name="BENCH SAS", legal_name="BENCH SAS")
        product = Product.create(company=company, name="Clásica / Visa")
        lines = []

        emission = _paid_order(product, "EMI", [_person(i) for i in range(records)], "25011501")
        seconds = _process(emission)
        lines.append(_line("Procesar orden EMI", records, seconds))
        cards = Card.select().where(Card.product == product).count()
        processed = BatchRecord.select().where(BatchRecord.status == "PROCESADO").count()
        assert cards == records == processed == Person.select().count(), (cards, processed)

        recharges = [_recharge(i) for i in range(records)]
        total = sum(r["amount"] for r in recharges)
        ledger.post(
            "pago:bench",
            "Pago orden",
            [(ledger.company_bank_account(company), -total - 1), (ledger.funding_account(product), total + 1)],
        )
        recharge = _paid_order(product, "REC", recharges, "25011502")
        seconds = _process(recharge)
        lines.append(_line("Procesar orden REC", records, seconds))
        operations = LedgerOperation.select().where(LedgerOperation.key.startswith("rec:")).count()
        postings = LedgerPosting.select().count()
        card_total = (
            LedgerAccount.select(fn.SUM(LedgerAccount.balance)).where(LedgerAccount.kind == LedgerAccount.CARD).scalar()
        )
        wrong = (
            Card.select()
            .join(LedgerAccount, on=(Card.account == LedgerAccount.id))
            .switch(Card)
            .join(Person)
            .join(BatchRecord, on=(BatchRecord.id_number == Person.id_number))
            .join(Batch)
            .where((Batch.kind == "REC") & (LedgerAccount.balance != BatchRecord.amount))
            .count()
        )
        assert operations == records and postings == 2 * records + 2, (operations, postings)
        assert card_total == total and wrong == 0, (card_total, total, wrong)
        assert ledger.balance(ledger.funding_account(product)) == 1
        lines.append(f"Pico de memoria: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        return lines
    finally:
        models.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="vacía: un archivo SQLite temporal")
    args = parser.parse_args()
    if args.database_url:
        lines = run(args.database_url, args.records)
    else:
        with tempfile.TemporaryDirectory() as folder:
            lines = run(f"sqlite:///{os.path.join(folder, 'bench.db')}", args.records)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
