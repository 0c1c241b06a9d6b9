"""The shape of the house: no import cycle in the application, and the library never imports it.

A static check over the source: every ``import`` and ``from … import`` counts, wherever it
stands (inside a function or under ``TYPE_CHECKING`` too).
"""

import ast
from pathlib import Path

from tests.conftest import REPOSITORY


def imports_of(package: str) -> dict[str, set[str]]:
    """Module → the modules of the project it imports (``bench.cell`` → {``bench.config``, …})."""
    graph: dict[str, set[str]] = {}
    for path in sorted((REPOSITORY / package).glob("*.py")):
        module = f"{package}.{path.stem}" if path.stem != "__init__" else package
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from bench import check`
        graph[module] = {target for target in targets if target.split(".")[0] in ("bench", "denoiser")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if target not in graph or target == module:
                continue
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_the_application_has_no_import_cycle() -> None:
    graph = imports_of("bench")
    assert "bench.cell" in graph and "bench.record" in graph
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_the_library_has_no_import_cycle_and_never_imports_the_application() -> None:
    graph = imports_of("denoiser")
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))
    offenders = {module: sorted(target for target in targets if target.startswith("bench"))
                 for module, targets in graph.items()}
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function() -> None:
    graph = {"bench.a": {"bench.b"}, "bench.b": {"bench.c"}, "bench.c": {"bench.a"}, "bench.d": set()}
    assert find_cycle(graph) == ["bench.a", "bench.b", "bench.c", "bench.a"]
    assert find_cycle({"bench.a": {"bench.b"}, "bench.b": set()}) is None


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def test_no_module_over_400_lines_and_no_function_over_50() -> None:
    """Each module of the package reads in one sitting, each function on one screen."""
    long_modules, long_functions = [], []
    for path in sorted([*(REPOSITORY / "bench").glob("*.py"), *(REPOSITORY / "denoiser").glob("*.py")]):
        text = path.read_text()
        where = path.relative_to(REPOSITORY)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{where}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                if node.end_lineno is not None and node.end_lineno - first + 1 > MAX_FUNCTION_LINES:
                    long_functions.append(f"{where}:{node.lineno} {node.name}: {node.end_lineno - first + 1} lines")
    assert long_modules == [] and long_functions == []
