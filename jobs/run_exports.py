"""Build the «Exportar Excel» files too long for the request (services/exports.py), one claimed
export at a time; a killed run's export is taken over by the next run (its lease)."""

from services.exports import run_waiting


def run(app) -> int:
    return run_waiting()
