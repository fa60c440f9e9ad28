"""The processing job reads a batch in windows of CHUNK lines (services/processing.py): lines
far apart (the error lines of the file are not records), and records already done before a
crash, are all crossed, each record done once, no chunk larger than CHUNK."""

from models import BatchRecord, Card, ServiceOrder
from services import processing
from tests import batchfiles
from tests.jobs.test_process_orders import make_order, product, validated  # noqa: F401 (fixture)


def test_windows_cross_gaps_and_records_done_before(product, monkeypatch):  # noqa: F811
    monkeypatch.setattr(processing, "CHUNK", 3)
    records = validated("EMI", batchfiles.emi_rows(9, start=300))
    lines = [2, 3, 11, 12, 13, 14, 40, 97, 98]  # gaps wider than a window
    order = make_order(product, ("EMI", [(line, record) for line, (_l, record) in zip(lines, records, strict=True)]))
    done_before = BatchRecord.select().where(BatchRecord.line.in_([11, 12]))
    BatchRecord.update(status=BatchRecord.PROCESSED).where(BatchRecord.id.in_(done_before)).execute()
    sizes = []
    original = processing._next_records

    def spy(batch, after):
        rows = original(batch, after)
        sizes.append(len(rows))
        return rows

    monkeypatch.setattr(processing, "_next_records", spy)
    assert processing.process_paid_orders() == 1
    assert ServiceOrder.get_by_id(order.id).status == ServiceOrder.PROCESSED
    assert Card.select().count() == 7  # the two done before were not issued again
    assert BatchRecord.select().where(BatchRecord.status == BatchRecord.PROCESSED).count() == 9
    assert max(sizes) <= 3 and sizes[-1] == 0
    assert sum(sizes) == 7
