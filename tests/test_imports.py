"""What test modules may import: shared code lives in tests/support (or a test
folder's own helpers), never in another test module, a conftest or the benchmark."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _module_file(module: str) -> Path | None:
    """The file of ``module`` (dotted, from the repository's root) if it is in this tree."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _forbidden(module: str) -> bool:
    if module == "bench" or module.startswith("bench."):
        return True
    found = _module_file(module)
    return found is not None and (found.name.startswith("test_") or found.name == "conftest.py")


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """Every module ``node`` imports, dotted from the repository's root: for
    ``from a import b``, ``a`` and, where b is a module of this tree, ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    submodules = [f"{module}.{alias.name}" for alias in node.names]
    return [module, *(name for name in submodules if _module_file(name))]


def offending_imports(path: Path, source: str) -> list[str]:
    """``file:line: module`` for each import in ``source`` (the text of the test
    module at ``path``) of another test module, a conftest or ``bench``."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in _imported(node, package):
                if _forbidden(module):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}")
    return found


def test_no_test_module_imports_another_test_module_or_the_benchmark() -> None:
    """Test that every test_*.py below tests/ imports its helpers from tests/support
    (or its folder's helpers), not from a test module, a conftest or bench/."""
    modules = sorted(TESTS.rglob("test_*.py"))
    assert TESTS / "ha" / "test_mqtt.py" in modules
    offending = [
        line for path in modules for line in offending_imports(path, path.read_text("utf-8"))
    ]
    assert not offending, "move what these share into tests/support:\n" + "\n".join(offending)


def test_the_check_names_each_kind_of_forbidden_import() -> None:
    """Test the check itself on a module that does everything it forbids, and one that does not."""
    path = TESTS / "ha" / "test_example.py"
    source = "\n".join(
        [
            "from tests.test_mqtt import Watcher",
            "import bench.run",
            "from bench import run",
            "from tests import test_flood",
            "from .test_mqtt import anything",
            "from .conftest import FRAME_LOGGER",
            "from . import test_discovery",
            "from .common import setup_entry",
            "from tests.support.mqtt import Watcher",
            "import json",
        ]
    )
    assert offending_imports(path, source) == [
        "tests/ha/test_example.py:1: tests.test_mqtt",
        "tests/ha/test_example.py:2: bench.run",
        "tests/ha/test_example.py:3: bench",
        "tests/ha/test_example.py:3: bench.run",
        "tests/ha/test_example.py:4: tests.test_flood",
        "tests/ha/test_example.py:5: tests.ha.test_mqtt",
        "tests/ha/test_example.py:6: tests.ha.conftest",
        "tests/ha/test_example.py:7: tests.ha.test_discovery",
    ]
