"""Real HTTP servers for the tests: the app in a background thread, or in a process of its own.

`serving(app)` serves an app object of this process in a thread (the browser tests, where the
test and the server share the app's database). `server_process(database_url, **config)` starts
`create_app` in a separate Python process, as `make run` would, for the long tests that need a
server they can kill or several servers at once on one database.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(application):
    """Serve `application` on a free local port in a daemon thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# Runs in the child: the app of `make run` (without its scheduler) on the given port.
_SERVER_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from werkzeug.serving import make_server
from app import create_app
app = create_app(json.loads({config!r}))
make_server("127.0.0.1", {port}, app, threaded=True).serve_forever()
"""


class ServerProcess:
    """A server in its own process: `.url`, `.process` (a Popen), `.kill()` (SIGKILL)."""

    def __init__(self, url: str, process: subprocess.Popen):
        self.url, self.process = url, process

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server process ended with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ingresar", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"no server answered at {url} within {timeout} s")


@contextmanager
def server_process(database_url: str, timeout: float = 30, **config):
    """Start the app in a new process on `database_url` (settings `config` on top of the test
    ones); yields a ServerProcess once it answers, and stops it afterwards."""
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "SMTP_HOST": "",
        "DEMO_MODE": False,
        "SESSION_COOKIE_SECURE": False,
        **config,
    }
    port = free_port()
    script = _SERVER_SCRIPT.format(root=str(ROOT), config=json.dumps(settings), port=port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env)
    server = ServerProcess(f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_up(server.url, process, timeout)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


class HttpClient:
    """A minimal client for a real server (no browser): keeps cookies, reads the page's CSRF token."""

    def __init__(self, base_url: str):
        import http.cookiejar

        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(
        self, method: str, path: str, data: dict | None = None, timeout: float = 60, headers: dict | None = None
    ) -> tuple[int, str]:
        """(status, body) of one request; redirects are answers, not followed."""
        from urllib.parse import urlencode

        body = urlencode(data, doseq=True).encode() if data is not None else None
        req = urllib.request.Request(f"{self.base_url}{path}", data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def csrf_token(self, path: str = "/ingresar") -> str:
        """The CSRF token of the page at `path` (the session's, once logged in)."""
        import re

        _status, html = self.request("GET", path)
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert match, "page without csrf-token meta"
        return match.group(1)

    def post(self, path: str, data: dict | None = None) -> tuple[int, str]:
        return self.request("POST", path, {"csrf_token": self.csrf_token(), **(data or {})})

    def htmx(self, path: str, data: dict, timeout: float = 120) -> tuple[int, str]:
        """POST as a dialog's htmx does (the answer is the dialog fragment); `data` carries its
        csrf_token."""
        return self.request("POST", path, data, timeout, headers={"HX-Request": "true"})

    def login(self, username: str, password: str) -> int:
        return self.post("/ingresar", {"username": username, "password": password})[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Node:
    """A production node of the portal in its own process group (gunicorn with its workers, or
    `python -m jobs`): `.url` (gunicorn), `.kill()` kills the whole group at once (SIGKILL)."""

    def __init__(self, process: subprocess.Popen, url: str = ""):
        self.process, self.url = process, url

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _node_env(database_url: str, **settings) -> dict:
    return {
        **os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url, "SECRET_KEY": "nodes-secret",
        "SMTP_HOST": "", "DEMO_MODE": "0", "SESSION_COOKIE_SECURE": "0", "LOGIN_RATE_LIMIT": "1000",
        **{k: str(v) for k, v in settings.items()},
    }  # fmt: skip


@contextmanager
def gunicorn_node(database_url: str, workers: int = 2, timeout: float = 60, **settings):
    """`make serve`'s web half on a free port: gunicorn with `workers` workers on the database."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
        "--graceful-timeout", "5", "app:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=_node_env(database_url, **settings), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    node = Node(process, f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(node.url, process, timeout)
        yield node
    finally:
        node.stop()


@contextmanager
def jobs_node(database_url: str, **settings):
    """`make serve`'s job half: `python -m jobs` on the database."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs"], cwd=ROOT, env=_node_env(database_url, **settings), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    node = Node(process)
    try:
        yield node
    finally:
        node.stop()
