"""The package's shape, enforced: the layer order of the README's layout, no import cycles, small files.

The layer contract lives in ``pyproject.toml`` ([tool.importlinter]); import-linter (grimp) reads every
import statement, including those inside functions, so a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ase_relaxed"


def test_layers_contract_is_kept(capsys):
    from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == EXIT_STATUS_SUCCESS, capsys.readouterr().out


def _cycle(graph) -> list[str] | None:
    """One import cycle among the package's modules (depth-first search), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("ase_relaxed", cache_dir=None)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    assert _cycle(graph) in (["a.x", "a.y", "a.x"], ["a.y", "a.x", "a.y"])


def test_no_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_core_never_names_a_model_family():
    """Model families register their kind; models/, the calculator and the CLI do not name one."""
    core = [*sorted((PACKAGE / "models").glob("*.py")), PACKAGE / "calculator.py",
            *sorted((PACKAGE / "cli").glob("*.py"))]
    offenders = [str(p.relative_to(ROOT)) for p in core if "kernel-soap" in p.read_text() or "import kernel" in
                 p.read_text() or "..kernel" in p.read_text()]
    assert not offenders, offenders
