"""Browser fixtures: the app served by a real HTTP server in a thread (tests/server.py), and the
system Chromium.

`live_server` serves the session's `app`; `serve(**config)` builds another app on the same
database (e.g. with an SMTP server or a short idle timeout) and serves it for one test. Every
test gets a fresh browser context (locale es-CO), so no cookie leaks from one test to the next.
"""

import os
import re
from contextlib import ExitStack, contextmanager
from email import message_from_bytes, policy
from pathlib import Path

import pytest

import models
from tests.server import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path("/tmp/shots")
TIMEOUT_MS = 10_000


@contextmanager
def connected():
    """A database connection in the test thread, closed afterwards.

    Closing matters: building another app re-points `models.db`, and a connection left open
    on the previous database object would leak."""
    models.db.connect(reuse_if_open=True)
    try:
        yield models.db
    finally:
        if not models.db.is_closed():
            models.db.close()


def seed_demo():
    """The demo data of `make run` (users jhomez, nuevo, firmante, autorizador)."""
    from seed import seed

    with connected():
        seed()


@pytest.fixture(scope="session")
def live_server(app):
    """Base URL of the session's app, served in a background thread."""
    with serving(app) as url:
        yield url


@pytest.fixture
def serve(make_app):
    """serve(**config) -> base URL of a new app with those settings, stopped after the test."""
    with ExitStack() as stack:
        yield lambda **config: stack.enter_context(serving(make_app(**config)))


@pytest.fixture
def background_jobs(app, live_server):
    """start() runs the background jobs of `make run` (batch validation every second) for the
    live server's app, as `jobs.start_background_scheduler` does; stopped after the test, before
    the tables are emptied. A test calls it when it wants validation to happen, so it can first
    look at a batch still in VALIDANDO."""
    import jobs

    schedulers = []

    def start():
        schedulers.append(jobs.start_background_scheduler(app))
        return schedulers[-1]

    yield start
    for scheduler in schedulers:
        # wait=True: a validation run still going must not race the clean_db truncation.
        scheduler.shutdown(wait=True)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        reason = f"Chromium no está instalado en {CHROMIUM}"
        print(reason)
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: en CI las pruebas de navegador deben ejecutarse (.ci/run lo instala)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="es-CO", timezone_id="America/Bogota", viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def shot(page, name: str) -> None:
    """Save a full-page screenshot as /tmp/shots/<name>.png for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret makes Playwright add style="" to inputs, which htmx then
    # copies into swapped content and the CSP reports as a (test-only) console error.
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, caret="initial")


def login(page, base_url, username, password):
    """Fill the login form as a user does and press Ingresar."""
    page.goto(f"{base_url}/ingresar")
    page.get_by_label("Usuario", exact=True).fill(username)
    page.get_by_label("Contraseña", exact=True).fill(password)
    page.get_by_role("button", name="Ingresar").click()


TEMP_PASSWORD_RE = re.compile(r"Contraseña temporal:\s*(\S+)")


def mail_text(envelope) -> str:
    """The plain-text body of a message received by the `smtp_server` fixture."""
    message = message_from_bytes(envelope.content, policy=policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


def mail_subject(envelope) -> str:
    return message_from_bytes(envelope.content, policy=policy.default)["Subject"]
