"""How the bridge's modules may import each other: no circles, and no arrow back
up the layers (the runtime builds on the spool, the sinks and decoding, never
the reverse; the status page reads the runtime's published status only)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = ROOT / "bridge"
#: The modules that may import the runtime: itself, the command line and the
#: add-on's entry point that run it, the offline work that decodes as it does,
#: the embedders' surface (its listener is the runtime's receiver), and the
#: status page.
ABOVE_THE_RUNTIME = (
    "bridge.runtime",
    "wxstation",
    "bridge.cli",
    "bridge.addon",
    "bridge.offline",
    "bridge.service",
    "bridge.web",
)
#: The longest a class and a function of the bridge may be, in lines: past
#: these a part does more than one job (the runtime's own rule).
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 100


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_name(path): path for path in BRIDGE.rglob("*.py")}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str], *, at_import: bool) -> set[str]:
    """The modules of ``bridge`` that ``module`` imports: all of them, or only
    those it imports when it is imported (``at_import``: not inside functions or
    ``if TYPE_CHECKING``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if at_import and (
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                or (isinstance(child, ast.If) and _type_checking(child))
            ):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - child.level + 1], *filter(None, [base])])
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text("utf-8"), str(path)))
    return {name for name in found if name in known and name != module}


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_nothing_below_the_runtime_imports_it() -> None:
    """Test that the spool, the sinks, decoding and every other part the runtime
    builds on never import the runtime, and the status page imports only its status."""
    modules = _modules()
    known = set(modules)
    offending = []
    for module, path in modules.items():
        for imported in _imports(module, path, known, at_import=False):
            if not _within(imported, ("bridge.runtime",)) or imported == "bridge.runtime":
                continue
            if not _within(module, ABOVE_THE_RUNTIME):
                offending.append(f"{module} imports {imported}")
            elif _within(module, ("bridge.web",)) and imported != "bridge.runtime.status":
                offending.append(f"{module} imports {imported} (the page reads the status only)")
    assert not offending, "\n".join(offending)


def test_no_import_circles() -> None:
    """Test that no module of the bridge imports, through others, itself when it is imported."""
    modules = _modules()
    known = set(modules)
    graph = {m: _imports(m, p, known, at_import=True) for m, p in modules.items()}
    circles = []
    state: dict[str, int] = {}

    def walk(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if imported.startswith(module + "."):
                continue  # a package's __init__ importing its own modules
            if state.get(imported) == 1:
                circles.append(" -> ".join([*trail[trail.index(imported) :], imported]))
            elif imported not in state:
                walk(imported, [*trail, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert not circles, "\n".join(circles)


def test_the_checks_see_a_runtime_import() -> None:
    """Test the checks themselves: the status page's server imports the runtime's
    status, and the assembly imports the store."""
    modules = _modules()
    known = set(modules)
    server = _imports("bridge.web.server", modules["bridge.web.server"], known, at_import=True)
    assert "bridge.runtime.status" in server
    assembly = modules["bridge.runtime.assembly"]
    assert "bridge.runtime.store" in _imports(
        "bridge.runtime.assembly", assembly, known, at_import=True
    )


def _too_long(tree: ast.AST, where: str) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            limit = MAX_CLASS_LINES
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION_LINES
        else:
            continue
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > limit:
            found.append(f"{where}: {node.name} has {lines} lines (at most {limit})")
    return found


def test_no_class_or_function_is_too_long() -> None:
    """Test that no class of the bridge is over MAX_CLASS_LINES lines and no
    function over MAX_FUNCTION_LINES, and that the check finds one that is."""
    long_function = "def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    assert _too_long(ast.parse(long_function), "example") == [
        f"example: f has {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})"
    ]
    offending = []
    for module, path in sorted(_modules().items()):
        offending += _too_long(ast.parse(path.read_text("utf-8"), str(path)), module)
    assert not offending, "\n".join(offending)
