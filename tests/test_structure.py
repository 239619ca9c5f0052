"""The package's shape: every module of rag/ imports on its own, and rag/ has no import cycle.

The graph is read with ast from the source. Imports at module level must form no cycle (that is what
breaks an import, depending on which module comes first). An import inside a function runs later, so a
cycle through one is allowed only where it is listed in LAZY_CYCLES with its reason: a new one fails.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RAG = Path(__file__).resolve().parent.parent / "rag"
MODULES = sorted(p.stem for p in RAG.glob("*.py"))
# cycles that close only through an import inside a function, and why that is the design
LAZY_CYCLES = {
    ("generation", "openai_backend"): "make_generator picks the model-server backend, which builds its prompts "
                                      "with generation's helpers; it is imported only when configured",
}


def rag_imports(path: Path, top_level_only: bool) -> set[str]:
    """The rag modules ``path`` imports (relative or absolute), at module level or anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 or module == "rag" or module.startswith("rag."):
                module = module.removeprefix("rag").lstrip(".")
                found |= {module.split(".")[0]} if module else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("rag.")}
    return {m for m in found if m in MODULES and m != path.stem}


def graph(top_level_only: bool) -> dict[str, set[str]]:
    return {m: rag_imports(RAG / f"{m}.py", top_level_only) for m in MODULES}


def cycles(g: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every cycle depth-first search meets, each as its sorted set of modules."""
    found, state = set(), {}

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(g[node]):
            if state.get(nxt) == "open":
                found.add(tuple(sorted(path[path.index(nxt):])))
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node, [])
    return sorted(found)


def test_the_checker_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert rag_imports(RAG / "api.py", top_level_only=True) >= {"service", "web", "api_models"}


def test_no_import_cycle_at_module_level():
    assert cycles(graph(top_level_only=True)) == []


def test_lazy_cycles_are_only_the_listed_ones():
    assert cycles(graph(top_level_only=False)) == sorted(LAZY_CYCLES)


def test_every_module_imports_on_its_own():
    """One interpreter; before each module every rag module is forgotten, so each import starts from a
    clean package (third-party libraries stay loaded: this is about rag's own order)."""
    script = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    for key in [k for k in sys.modules if k == 'rag' or k.startswith('rag.')]:\n"
        "        del sys.modules[key]\n"
        "    importlib.import_module('rag.' + name)\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=RAG.parent)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
