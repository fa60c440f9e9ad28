"""The import direction of the README's "Estructura": blueprints → services → adapters →
models/bulk/ledger → domain, and jobs → services. Read from the source (ast), so a new module
that imports upward fails here the day it is written."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {
    "app", "config", "cli", "seed", "models", "bulk", "ledger", "migrations",
    "domain", "adapters", "services", "blueprints", "jobs",
}  # fmt: skip

# What each layer may import from the project (besides itself).
ALLOWED = {
    "domain": set(),
    "migrations": set(),
    "models": {"domain", "migrations"},
    "bulk": {"models"},
    "ledger": {"models", "bulk", "domain"},
    "adapters": {"models", "bulk", "ledger", "domain"},
    "services": {"models", "bulk", "ledger", "domain", "adapters"},
    "jobs": {"services", "models", "app"},
    "blueprints": {"services", "models", "domain", "config"},
    "cli": {"services", "models", "domain", "seed"},
    "seed": {"services", "models"},
}


def _layer(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _sources():
    for layer in ALLOWED:
        target = ROOT / layer
        yield from sorted(target.rglob("*.py")) if target.is_dir() else [ROOT / f"{layer}.py"]


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_upward(path):
    layer = _layer(path)
    wrong = [
        f"line {line}: {name}"
        for line, name in _imports(path)
        if name in PROJECT and name != layer and name not in ALLOWED[layer]
    ]
    assert not wrong, f"{path.relative_to(ROOT)} ({layer}) imports {wrong}"


def test_services_hold_no_flask_views():
    for path in (ROOT / "services").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "Blueprint(" not in text and "render_template(" not in text.replace('render_template("auth/', ""), path


def test_seed_and_cli_no_longer_import_each_other_at_import_time():
    seed_imports = {name for _line, name in _imports(ROOT / "seed.py")}
    assert "cli" not in seed_imports
