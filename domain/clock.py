"""Colombian local time: dates people read and batch numbers use America/Bogota."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

BOGOTA = ZoneInfo("America/Bogota")


def local_today() -> date:
    return datetime.now(BOGOTA).date()
