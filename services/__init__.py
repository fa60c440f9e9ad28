"""Use cases, one module per area of the manual (mirroring blueprints/).

A service may import models, domain, adapters and bulk; never Flask views or blueprints.
Every refusal a user must read is a `Refused` carrying its Spanish message.
"""


class Refused(Exception):
    """An action refused, with the Spanish message to show the user (`.message`)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# The criteria a list carries in its query string (search text, dates, states, numbers): what
# its pager keeps from page to page and what «Exportar Excel» sends (blueprints/pagination.py,
# services/exports.py). One list: a criterion added to a screen is added here.
LIST_CRITERIA = (
    "q",
    "periodo",
    "fecha_inicial",
    "fecha_final",
    "estado",
    "buscar",
    "lote",
    "documento",
    "tarjeta",
    "orden",
    # the reports (services/reports.py)
    "tipo",
    "vista",
    "anio",
    "mes",
    "fecha",
    "clase",
    "usuario",
)
