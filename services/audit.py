"""Audit trail: one row per login, failure, password change, recovery and action."""

from enum import StrEnum

from flask import has_request_context, request

from models import AuditEvent


class Event(StrEnum):
    LOGIN = "login:success"
    LOGIN_FAILED = "login:failure"
    LOGIN_BLOCKED = "login:blocked"
    LOGIN_RATE_LIMITED = "login:rate-limited"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session:expired"
    TERMS_ACCEPTED = "terms:accept"
    PASSWORD_CHANGE = "password:change"
    PASSWORD_CHANGE_FAILED = "password:change-failure"
    PASSWORD_RECHECK_FAILED = "password:recheck-failure"
    RECOVERY_REQUESTED = "password:recovery-request"
    RECOVERY_SENT = "password:recovery-sent"
    USER_UNBLOCKED = "user:unblock"
    PRODUCT_SELECTED = "product:select"
    BATCH_UPLOAD = "batch:upload"
    BATCH_CONFIRM = "batch:confirm"
    BATCH_DELETE = "batch:delete"
    BATCH_SIGN = "batch:sign"
    BATCH_UNSIGN = "batch:unsign"
    ORDER_CREATE = "order:create"
    ORDER_VOID = "order:void"
    ORDER_PAY = "order:pay"
    ORDER_PAY_REFUSED = "order:pay-refused"
    ORDER_CODE_SENT = "order:code-sent"


def client_ip() -> str:
    if not has_request_context():
        return ""
    return (request.remote_addr or "")[:45]


def record_event(
    tag: Event, user=None, company=None, obj: str = "", detail: str = "", username: str = ""
) -> AuditEvent:
    return AuditEvent.create(
        tag=str(tag),
        user=user,
        username=(user.username if user is not None else username)[:40],
        company=company,
        object_ref=obj[:80],
        ip=client_ip(),
        detail=detail[:2000],
    )
