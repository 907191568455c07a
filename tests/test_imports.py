"""The package's import graph, read with ``ast`` (nothing is imported):

* ``report/`` reads records and renders: it imports neither the runner, nor the methods, nor the
  download/fetch stack (data flows registry -> fetch -> HDF5 -> method -> record -> report);
* a function-level import of a ``clusterbench`` module says why it is not at the top of its module
  (a comment on its line, or on the line above its block of imports): lazy loading of torch or
  scikit-learn, an import cycle, ... Unexplained ones in modules other helpers own are listed in
  ``KNOWN_UNEXPLAINED`` until their owners annotate or lift them; the list must not grow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "clusterbench"

#: report/ must not import these (module prefixes).
REPORT_FORBIDDEN = ("clusterbench.runner", "clusterbench.methods", "clusterbench.data.fetch")

#: (module path relative to the package, enclosing function, imported module): function-level
#: imports without a reason, outside cli/, runner/ and results/ (owned by other work in progress).
KNOWN_UNEXPLAINED = {
    ("__init__.py", "load", "clusterbench.data"),
    ("data/__init__.py", "load", "clusterbench.data.fetch"),
    ("data/byod.py", "_read_h5", "clusterbench.data.hdf5"),
    ("data/byod.py", "_prepare", "clusterbench.data.download"),
    ("data/byod.py", "register_local", "clusterbench.data.registry"),
    ("data/byod.py", "register_local", "clusterbench.data.download"),
    ("data/fetch.py", "fetch", "clusterbench.data.byod"),
    ("methods/mnist_classifier.py", "get_classifier", "clusterbench"),
    ("report/figures.py", "reject_curve", "clusterbench.metrics.clustering"),
    ("report/figures.py", "_labels_for", "clusterbench.data"),
    ("report/render.py", "render", "clusterbench.errors"),
    ("report/spec.py", "_builtin_dataset_ids", "clusterbench.data.registry"),
    # added on main while this test was written (not in its branch): to annotate by their owners
    ("cli/methods.py", "_tables_using", "clusterbench.report.spec"),
    ("cli/methods.py", "methods", "clusterbench.methods"),
    ("cli/summary.py", "summary", "clusterbench"),
    ("cli/summary.py", "summary", "clusterbench.report.summary"),
    ("report/summary.py", "render_summary", "clusterbench.report.render"),
}


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _imported(node: ast.Import | ast.ImportFrom, path: Path) -> list[str]:
    """Absolute names a statement imports (``from a import b`` yields ``a.b`` too: b may be a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the module's package
        pkg = path.relative_to(PKG.parent).with_suffix("").parts[: -node.level]
        base = ".".join([*pkg, base] if base else pkg)
    return [base, *(f"{base}.{a.name}" for a in node.names)]


def _function_imports(path: Path) -> list[tuple[ast.stmt, str, bool]]:
    """(import statement, enclosing function, explained?) of every import inside a function."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[tuple[ast.stmt, str, bool]] = []

    def explained(node: ast.stmt) -> bool:
        if "#" in lines[node.lineno - 1]:
            return True
        i = node.lineno - 2  # walk up over the block of imports to the line above it
        while i >= 0 and lines[i].strip().startswith(("import ", "from ")):
            if "#" in lines[i]:
                return True
            i -= 1
        return i >= 0 and lines[i].strip().startswith("#")

    def visit(node: ast.AST, func: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            f = func
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                f = child.name if func is None else f"{func}.{child.name}"
            elif func is not None and isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, func, explained(child)))
            visit(child, f)

    visit(ast.parse("\n".join(lines)), None)
    return out


def _is_pkg(name: str) -> bool:
    return name == "clusterbench" or name.startswith("clusterbench.")


def test_report_imports_neither_runner_methods_nor_fetch():
    bad = []
    for path in (PKG / "report").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(node, path):
                    if any(name == p or name.startswith(p + ".") for p in REPORT_FORBIDDEN):
                        bad.append(f"{path.relative_to(PKG)}:{node.lineno} imports {name}")
    assert not bad, "report/ must read records and render only:\n" + "\n".join(bad)


def test_function_level_imports_say_why():
    unexplained = set()
    where = {}
    for path in _modules():
        rel = path.relative_to(PKG).as_posix()
        for node, func, ok in _function_imports(path):
            if ok:
                continue
            for name in _imported(node, path)[:1] if isinstance(node, ast.ImportFrom) else _imported(node, path):
                if _is_pkg(name):
                    unexplained.add((rel, func, name))
                    where[(rel, func, name)] = f"clusterbench/{rel}:{node.lineno}"
    new = sorted(unexplained - KNOWN_UNEXPLAINED)
    assert not new, ("function-level imports of clusterbench modules need a comment saying why (or move them to the "
                     "top of the module):\n" + "\n".join(f"{where[k]} in {k[1]}(): {k[2]}" for k in new))
    # entries of KNOWN_UNEXPLAINED fixed since are harmless (branches merge in any order); prune them


def test_the_checker_sees_what_it_should(tmp_path):
    """The two rules on a hand-written module (so a broken parser cannot pass them vacuously)."""
    p = PKG / "report" / "spec.py"  # any module path inside the package, for relative-import resolution
    tree = ast.parse("from ..runner import grid\nfrom . import render\n")
    names = [n for node in tree.body for n in _imported(node, p)]
    assert "clusterbench.runner.grid" in names and "clusterbench.report.render" in names
    m = tmp_path / "m.py"
    m.write_text("def f():\n    # lazy: torch\n    import clusterbench.methods\n    import clusterbench.data\n\n"
                 "def g():\n    x = 1\n    from clusterbench import paths\n")
    got = [(func, ok) for _, func, ok in _function_imports(m)]
    assert got == [("f", True), ("f", True), ("g", False)]
