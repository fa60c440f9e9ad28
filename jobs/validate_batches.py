"""Validate uploaded batches (one claimed at a time; resumable after a crash)."""

from services.batches import validate_waiting


def run(app) -> int:
    return validate_waiting()
