"""Audit trail: one row per login, failure, password change, recovery and action, written at
once (`record_event`, always inside a POST or a job); and the views of cardholders' personal data
(`record_view`), which Colombia's data-protection law (Ley 1581 de 2012) asks to account for.

A view is a GET, and a GET never writes to the database in the request (SQLite has one writer;
every page must cost what a page should). So `record_view` only appends the row to an in-process
buffer, and a background thread of the process writes the buffer in one INSERT of many rows:
every FLUSH_SECONDS, as soon as FLUSH_SIZE rows are waiting, and at the process's normal exit
(atexit: gunicorn's graceful stop, `make run` stopped with Ctrl+C). The trade-off: a process
killed outright (SIGKILL, power loss) loses the views of its last FLUSH_SECONDS at most; a
database error keeps the rows for the next try, up to MAX_BUFFERED (then the oldest go, logged).
The actions themselves (uploads, signatures, payments…) are never buffered.
"""

import atexit
import logging
import os
import threading
from enum import StrEnum

from flask import current_app, has_app_context, has_request_context, request

from models import AuditEvent, db, utcnow

log = logging.getLogger(__name__)


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
    USER_CREATE = "user:create"
    USER_PERMISSIONS = "user:permissions"
    USER_BLOCK = "user:block"
    USER_UNBLOCK_ADMIN = "user:unblock-admin"
    USER_INACTIVATE = "user:inactivate"
    USER_ACTIVATE = "user:activate"
    USER_RESET = "user:reset"
    PRODUCT_SELECTED = "product:select"
    BATCH_UPLOAD = "batch:upload"
    BATCH_CONFIRM = "batch:confirm"
    BATCH_DELETE = "batch:delete"
    BATCH_SIGN = "batch:sign"
    BATCH_UNSIGN = "batch:unsign"
    INNOMINATE_REQUEST = "innominate:request"
    CARD_AFFILIATE = "card:affiliate"
    MASTER_OPERATION = "master:operation"
    MASTER_FUND = "master:fund"
    CARD_STATE = "card:state"
    CARD_PLASTIC = "card:plastic"
    CARD_CONTACT = "card:contact"
    CARD_REPLACE = "card:replace"
    CARD_REPLACE_REQUEST = "card:replace-request"
    ORDER_CREATE = "order:create"
    ORDER_VOID = "order:void"
    ORDER_PAY = "order:pay"
    ORDER_PAY_REFUSED = "order:pay-refused"
    ORDER_CODE_SENT = "order:code-sent"
    PERSONAL_DATA_VIEWED = "personal-data:view"


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


# ---------------------------------------------------------------- views of personal data, buffered

FLUSH_SECONDS = 5.0
FLUSH_SIZE = 200
MAX_BUFFERED = 100_000


class ViewBuffer:
    """The views waiting to be written, and the thread that writes them (one per process: it is
    started on the first view after a fork, so each gunicorn worker has its own)."""

    def __init__(self):
        self.rows: list[dict] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.pid = None
        self.background = True  # False under TESTING: only flush() writes (the tests call it themselves)

    def add(self, row: dict) -> None:
        with self.lock:
            if self.pid != os.getpid():  # a new process (or a fork): its own thread and buffer
                self.pid, self.rows = os.getpid(), []
                self.background = not (has_app_context() and current_app.testing)
                if self.background:
                    threading.Thread(target=self._run, name="audit-views", daemon=True).start()
            self.rows.append(row)
            full = len(self.rows) >= FLUSH_SIZE
        if full:
            self.wake.set()

    def _run(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            self.wake.wait(FLUSH_SECONDS)
            self.wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write the buffered views in one INSERT (on this thread's own connection); the number written."""
        with self.lock:
            rows, self.rows = self.rows, []
        if not rows:
            return 0
        try:
            with db.connection_context():
                with db.atomic():
                    for start in range(0, len(rows), 1000):
                        AuditEvent.insert_many(rows[start : start + 1000]).execute()
        except Exception:
            log.exception("could not write %d audit rows of personal-data views; kept for the next try", len(rows))
            with self.lock:
                self.rows = (rows + self.rows)[-MAX_BUFFERED:]
            return 0
        return len(rows)

    def pending(self) -> int:
        with self.lock:
            return len(self.rows)


views = ViewBuffer()


def record_view(user, company, obj: str, detail: str = "") -> None:
    """A user saw cardholders' personal data (`obj`, e.g. "lote:12"; `detail` what of it, e.g.
    the page and search): buffered, written within FLUSH_SECONDS by the process's audit thread."""
    views.add(
        {
            "tag": str(Event.PERSONAL_DATA_VIEWED),
            "user": user.id if user is not None else None,
            "username": (user.username if user is not None else "")[:40],
            "company": company.id if hasattr(company, "id") else company,
            "object_ref": obj[:80],
            "ip": client_ip(),
            "detail": detail[:2000],
            "created_at": utcnow(),
        }
    )


def flush_views() -> int:
    """Write the buffered views now (in tests, before a report of the audit trail)."""
    return views.flush()


def _flush_at_exit() -> None:
    if views.background and views.pid == os.getpid():  # a server process, not a test run
        views.flush()


atexit.register(_flush_at_exit)
