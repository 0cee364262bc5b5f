"""The library as the bridge's tests use it: installed from its wheel, the same
code as library/, and standing on its own (nothing of the bridge in it).

``./scripts/test`` installs the library into the test environments from the
wheel pip builds of library/, as users get it, so the bridge's tests run
against that wheel; these tests prove it, and that the wheel is not stale.
"""

from __future__ import annotations

import ast
import filecmp
import importlib.metadata
import json
import sys
import sysconfig
from pathlib import Path

import wxstation

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "library" / "wxstation"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"]).resolve()


def _modules(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_library_is_imported_from_the_installed_wheel() -> None:
    """Test that wxstation (every module of it loaded so far) comes from
    site-packages, installed from a wheel, not from library/ or an editable install."""
    installed = Path(wxstation.__file__).resolve().parent
    assert installed == SITE_PACKAGES / "wxstation", installed
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "wxstation" and getattr(module, "__file__", None):
            assert Path(module.__file__).resolve().is_relative_to(installed), name
    direct_url = json.loads(
        importlib.metadata.distribution("wxstation").read_text("direct_url.json") or "{}"
    )
    assert not direct_url.get("dir_info", {}).get("editable", False), direct_url


def test_the_installed_library_is_this_checkouts() -> None:
    """Test that the installed wheel holds exactly library/wxstation's files, byte
    for byte: the bridge's tests run against this checkout's library, not a stale one."""
    installed = Path(wxstation.__file__).resolve().parent
    assert _modules(installed) == _modules(SOURCE)
    _, differ, errors = filecmp.cmpfiles(
        SOURCE, installed, sorted(_modules(SOURCE)), shallow=False
    )
    assert (differ, errors) == ([], [])


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_the_library_imports_nothing_of_the_bridge() -> None:
    """Test that no module of library/wxstation imports ``bridge`` or anything
    but the standard library, itself and its declared dependencies."""
    allowed = {"wxstation", "orjson", "voluptuous", "yaml"}
    outside = [
        f"{path.relative_to(SOURCE)}: {module}"
        for path in sorted(SOURCE.rglob("*.py"))
        for module in _imports(path)
        if module.split(".")[0] not in allowed | sys.stdlib_module_names
    ]
    assert outside == []


def test_the_import_check_sees_the_bridge(tmp_path: Path) -> None:
    """Test that the check above sees ``from bridge...`` and ``import aiomqtt``."""
    module = tmp_path / "m.py"
    module.write_text("import aiomqtt\nfrom bridge.spool import Spool\nimport json\n")
    assert _imports(module) == ["aiomqtt", "bridge.spool", "json"]
