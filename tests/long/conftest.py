"""The long suite: real killed processes, several processes at once, load.

Every test under tests/long/ gets the `long` marker (registered in pyproject.toml): `make test`
leaves them out (`-m "not long"`), `make test-long` and `make test-long-pg` run only them, and
.ci/run runs both suites on SQLite and on PostgreSQL. A test elsewhere may also carry
`@pytest.mark.long`. Servers in their own process come from tests/server.py (`server_process`).
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # A conftest's collection hook sees the whole session's items: mark only this folder's.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.long)
