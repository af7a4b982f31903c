"""ARCHITECTURE.md's rules, held: its layer and library tables are read here and every module
of the package (walked recursively, so a new folder is covered) is judged by them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "conformance"
ARCHITECTURE = REPO / "ARCHITECTURE.md"
MAX_MODULES = 12  # per folder, test_*.py, __init__ and __main__ aside


@dataclass(frozen=True)
class Module:
    name: str  # dotted: conformance._run.state
    path: Path

    @property
    def rel(self) -> str:
        return self.path.relative_to(PACKAGE).as_posix()


def _modules() -> list[Module]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_data" in path.relative_to(PACKAGE).parts:
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(Module(".".join(parts), path))
    return found


MODULES = _modules()
BY_NAME = {module.name: module for module in MODULES}


def _table(heading: str) -> list[list[str]]:
    """The rows of the first table under `## heading`, cells stripped."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


LAYERS = {row[0].strip("`"): _names(row[2]) for row in _table("Layers")}
LIBRARIES = {lib: _names(row[1]) for row in _table("Libraries") for lib in _names(row[0])}


def _matches(row: str, module: Module) -> int:
    """How specifically `row` names `module` (0: not at all)."""
    rel = module.rel
    if row.endswith("/"):
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        return 10 * row.count("/") if folder == row else 0
    if "*" in row:
        return 1000 if "/" not in rel and re.fullmatch(row.replace("*", ".*"), rel) else 0
    return 1000 if rel == row else 0


def layer_of(module: Module) -> str | None:
    scored = [(_matches(row, module), row) for row in LAYERS]
    best = max(scored)
    return best[1] if best[0] else None


def _within(row: str, module: Module) -> bool:
    """For the libraries table: `row` names the module, a folder including its subfolders."""
    rel = module.rel
    if row.endswith("/"):
        return rel.startswith(row)
    return _matches(row, module) > 0


def imports_of(module: Module) -> Iterator[tuple[str, int]]:
    """Every module it imports, anywhere in it (functions and `TYPE_CHECKING` blocks too), with
    the line: `from package import submodule` counts as importing the submodule."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"))
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in BY_NAME else base), node.lineno


def test_the_tables_are_read():
    assert "_core/" in LAYERS and LAYERS["_core/"] == []
    assert "checks/" in LAYERS and "_contract/" in LAYERS["checks/"]
    assert "pytest" in LIBRARIES


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.rel)
def test_every_module_belongs_to_a_layer_and_has_a_docstring(module):
    assert layer_of(module) is not None, f"{module.rel}: no row of ARCHITECTURE.md names it"
    if module.path.stat().st_size:
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{module.rel}: no opening docstring"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.rel)
def test_imports_follow_the_layers(module):
    own = layer_of(module)
    allowed = {own, *LAYERS[own]}
    wrong = []
    for name, line in imports_of(module):
        target = BY_NAME.get(name)
        if name.startswith("conformance") and target is not None:
            if layer_of(target) not in allowed:
                wrong.append(f"line {line}: {name} ({layer_of(target)})")
            continue
        top = name.split(".")[0]
        places = LIBRARIES.get(top)
        if places is not None and not any(_within(place, module) for place in places):
            wrong.append(f"line {line}: {top} (only in {', '.join(places)})")
    assert not wrong, f"{module.rel} ({own}) may not import: " + "; ".join(wrong)


def test_no_import_circles():
    graph = {
        module.name: {name for name, _ in imports_of(module) if name in BY_NAME} - {module.name}
        for module in MODULES
    }
    circles = _strongly_connected(graph)
    assert not circles, f"import circles: {circles}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle():
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]
    ]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_folder_holds_more_than_twelve_modules():
    folders: dict[Path, list[str]] = {}
    for module in MODULES:
        name = module.path.name
        if name.startswith("test_") or name in ("__init__.py", "__main__.py"):
            continue
        folders.setdefault(module.path.parent, []).append(name)
    crowded = {
        folder.relative_to(REPO).as_posix(): len(names)
        for folder, names in folders.items()
        if len(names) > MAX_MODULES
    }
    assert not crowded, crowded


def test_a_misplaced_import_is_caught(tmp_path):
    """The rule bites: a check that imported the transport would be refused."""
    checks = next(m for m in MODULES if m.rel == "checks/usage.py")
    fake = Module(checks.name, tmp_path / "usage.py")
    fake.path.write_text('"""x"""\nfrom conformance._client.transport import Transport\n')
    assert layer_of(checks) == "checks/"
    (name, _), *_ = imports_of(fake)
    assert layer_of(BY_NAME[name]) not in {"checks/", *LAYERS["checks/"]}


# --- the project's own tests ------------------------------------------------------------------

TESTS = REPO / "tests"
#: Helpers (tests/_support.py) and calls that start a subprocess.
STARTS_A_PROCESS = {"run_suite", "run_module", "mock_cli", "mock_cli_serving"}
#: Fixtures that start one (the kill matrix's runs).
PROCESS_FIXTURES = {"matrix"}


def _starts_a_process(function: ast.FunctionDef, module: dict[str, ast.FunctionDef]) -> bool:
    """Whether a test starts a subprocess: itself, or through a helper or fixture of its
    module (followed once each)."""
    seen: set[str] = set()
    todo = [function]
    while todo:
        node = todo.pop()
        if {arg.arg for arg in node.args.args} & PROCESS_FIXTURES:
            return True
        names = {arg.arg for arg in node.args.args}
        for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
            func = call.func
            if isinstance(func, ast.Attribute):
                base = func.value.id if isinstance(func.value, ast.Name) else ""
                if base == "subprocess":
                    return True
                names.add(func.attr)
            elif isinstance(func, ast.Name):
                names.add(func.id)
        if names & STARTS_A_PROCESS:
            return True
        for name in names - seen:
            seen.add(name)
            if name in module:
                todo.append(module[name])
    return False


def _marked_e2e(function: ast.FunctionDef) -> bool:
    return any(ast.unparse(d) == "pytest.mark.e2e" for d in function.decorator_list)


def test_tests_that_start_a_process_are_marked_e2e():
    unmarked = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if (TESTS / "e2e") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        marked_module = "pytest.mark.e2e" in path.read_text(encoding="utf-8").split("\ndef ")[0]
        for name, function in module.items():
            marked = _marked_e2e(function) or marked_module
            if name.startswith("test_") and not marked and _starts_a_process(function, module):
                unmarked.append(f"{path.relative_to(REPO)}::{name}")
    assert not unmarked, f"start a subprocess, not marked e2e (or moved to tests/e2e/): {unmarked}"


def test_the_process_finder_finds_one_through_a_helper():
    tree = ast.parse(
        "def helper():\n    return run_module('x')\n\ndef test_a():\n    helper()\n\n"
        "def test_b():\n    return 1\n"
    )
    module = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert _starts_a_process(module["test_a"], module)
    assert not _starts_a_process(module["test_b"], module)
