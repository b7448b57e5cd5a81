"""Every ``from X import Y`` in the benchmarks resolves, including the imports inside
functions that only a full benchmark run would reach (a moved name, such as
``PatientProfileError`` leaving ``matchers.normalize``, fails here, not mid-run)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))


def _imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            for alias in node.names if alias.name != "*"]


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_every_from_import_resolves(path: Path) -> None:
    missing = []
    for module, name in _imports(path):
        mod = importlib.import_module(module)
        if not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"from {module} import {name}")
    assert not missing, f"{path.name}: {missing}"
