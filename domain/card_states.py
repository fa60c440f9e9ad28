"""The life of a card (SPEC §10a) as plain data: its states, the moves between them, and what
each state allows. The card screens change states; the cuenta maestra asks `takes_money`.

    NO_AFILIADA ─affiliate─► ACTIVA ◄─unblock─ BLOQUEO_TEMPORAL
    ACTIVA ─block (temporary)─► BLOQUEO_TEMPORAL
    ACTIVA / BLOQUEO_TEMPORAL ─block (loss / theft)─► BLOQUEADA_EXTRAVIO / BLOQUEADA_ROBO ─replace─► REEMPLAZADA
    ACTIVA / BLOQUEO_TEMPORAL ─cancel─► CANCELADA
"""

from __future__ import annotations

from enum import StrEnum


class CardState(StrEnum):
    NOT_AFFILIATED = "NO_AFILIADA"
    ACTIVE = "ACTIVA"
    TEMPORARY_BLOCK = "BLOQUEO_TEMPORAL"
    BLOCKED_LOSS = "BLOQUEADA_EXTRAVIO"
    BLOCKED_THEFT = "BLOQUEADA_ROBO"
    CANCELLED = "CANCELADA"
    REPLACED = "REEMPLAZADA"


LABELS = {
    CardState.NOT_AFFILIATED: "No afiliada",
    CardState.ACTIVE: "Activa",
    CardState.TEMPORARY_BLOCK: "Bloqueo temporal",
    CardState.BLOCKED_LOSS: "Bloqueada por extravío",
    CardState.BLOCKED_THEFT: "Bloqueada por robo",
    CardState.CANCELLED: "Cancelada",
    CardState.REPLACED: "Reemplazada",
}

# (from, action) -> to
MOVES: dict[tuple[CardState, str], CardState] = {
    (CardState.NOT_AFFILIATED, "affiliate"): CardState.ACTIVE,
    (CardState.ACTIVE, "block_temporary"): CardState.TEMPORARY_BLOCK,
    (CardState.TEMPORARY_BLOCK, "unblock"): CardState.ACTIVE,
    (CardState.ACTIVE, "block_loss"): CardState.BLOCKED_LOSS,
    (CardState.TEMPORARY_BLOCK, "block_loss"): CardState.BLOCKED_LOSS,
    (CardState.ACTIVE, "block_theft"): CardState.BLOCKED_THEFT,
    (CardState.TEMPORARY_BLOCK, "block_theft"): CardState.BLOCKED_THEFT,
    (CardState.BLOCKED_LOSS, "replace"): CardState.REPLACED,
    (CardState.BLOCKED_THEFT, "replace"): CardState.REPLACED,
    (CardState.ACTIVE, "cancel"): CardState.CANCELLED,
    (CardState.TEMPORARY_BLOCK, "cancel"): CardState.CANCELLED,
}


class InvalidMove(ValueError):
    pass


def move(state: str, action: str) -> CardState:
    """The state after `action`, or InvalidMove."""
    try:
        return MOVES[(CardState(state), action)]
    except (KeyError, ValueError):
        raise InvalidMove(f"una tarjeta {state} no admite {action}") from None


def label(state: str) -> str:
    try:
        return LABELS[CardState(state)]
    except ValueError:
        return state


def takes_money(state: str) -> bool:
    """Only an active card takes credits, debits and balance inquiries (SPEC §10a)."""
    return state == CardState.ACTIVE


def is_blocked(state: str) -> bool:
    return state in (CardState.TEMPORARY_BLOCK, CardState.BLOCKED_LOSS, CardState.BLOCKED_THEFT, CardState.CANCELLED)


# ---------------------------------------------------------------- the plastic's delivery
#     EN_ELABORACION ─send─► ENVIADA_EMPRESA ─receive─► RECIBIDA_EMPRESA ─deliver─► ENTREGADA


class PlasticState(StrEnum):
    MAKING = "EN_ELABORACION"
    SENT = "ENVIADA_EMPRESA"
    RECEIVED = "RECIBIDA_EMPRESA"
    DELIVERED = "ENTREGADA"


PLASTIC_LABELS = {
    PlasticState.MAKING: "En elaboración",
    PlasticState.SENT: "Enviada a la empresa",
    PlasticState.RECEIVED: "Recibida en la empresa",
    PlasticState.DELIVERED: "Entregada al tarjetahabiente",
}

# action -> (from, to)
PLASTIC_MOVES: dict[str, tuple[PlasticState, PlasticState]] = {
    "send": (PlasticState.MAKING, PlasticState.SENT),
    "receive": (PlasticState.SENT, PlasticState.RECEIVED),
    "deliver": (PlasticState.RECEIVED, PlasticState.DELIVERED),
}


def plastic_move(state: str, action: str) -> PlasticState:
    """The plastic's state after `action` (send, receive, deliver), or InvalidMove."""
    step = PLASTIC_MOVES.get(action)
    if step is None or state != step[0]:
        raise InvalidMove(f"el plástico {state} no admite {action}")
    return step[1]


def plastic_label(state: str) -> str:
    try:
        return PLASTIC_LABELS[PlasticState(state)]
    except ValueError:
        return state
