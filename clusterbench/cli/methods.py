"""``clusterbench methods [NAME]``: the registered methods and their ``--set`` options.

The list is read from the METHODS registry (built-ins and plug-ins) and each method's declared
capabilities (``methods.base.Method``); the papers and tables that use a method come from the
report's table specs; an option's explanation is the line of the Config's (or its bases' or the
method module's) docstring that names it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sys
import typing
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clusterbench.errors import UnknownNameError


def _tables_using(method: str) -> list[str]:
    """``"<paper> Table <n>"`` for every table spec with a measured row of ``method``."""
    import clusterbench.report.spec as S

    out = []
    for pid, paper in S.load_papers().items():
        for num, spec in paper.tables.items():
            if any(c.method == method and not c.reported for c in spec.iter_cells()):
                out.append(f"{pid} {spec.label}")
    return out


def _type_name(t: Any) -> str:
    if typing.get_origin(t) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(t))
    name = getattr(t, "__name__", None)
    return name if name and not typing.get_args(t) else str(t).replace("typing.", "")


def _doc_lines(cls: type) -> list[str]:
    """Docstring lines of the Config class, its dataclass bases and the method's module."""
    lines: list[str] = []
    for c in cls.Config.__mro__:
        if dataclasses.is_dataclass(c) and c.__doc__:
            lines += inspect.cleandoc(c.__doc__).splitlines()
    if cls.__doc__:
        lines += inspect.cleandoc(cls.__doc__).splitlines()
    mod = sys.modules.get(cls.__module__)
    if mod is not None and mod.__doc__:
        lines += inspect.cleandoc(mod.__doc__).splitlines()
    return lines


def option_rows(cls: type) -> list[dict[str, Any]]:
    """One dict per ``--set`` key of ``cls``: key, type, default, the docstring line naming it."""
    hints = typing.get_type_hints(cls.Config)
    lines = _doc_lines(cls)
    rows = []
    for f in dataclasses.fields(cls.Config):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        pat = re.compile(rf"(?<![\w-]){re.escape(f.name)}(?![\w-])")
        doc = next((ln.strip() for ln in lines if pat.search(ln)), "")
        rows.append({"key": f.name, "type": _type_name(hints.get(f.name, f.type)), "default": default, "doc": doc})
    return rows


def _summary(name: str, cls: type) -> dict[str, Any]:
    doc = inspect.getdoc(cls) or ""
    return {
        "method": name,
        "kind": "deep" if cls.deep else "classical",
        "generative": bool(cls.generative),
        "clusters": bool(cls.clusters),
        "inputs": sorted(cls.inputs) + (["sparse"] if cls.accepts_sparse else []),
        "tables": _tables_using(name),
        "summary": doc.splitlines()[0] if doc else "",
    }


def methods(
    name: Annotated[Optional[str], typer.Argument(help="A method id: show its --set options.", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the methods (kind, what data they take, the papers' tables that use them), or, for one
    method, every `--set` key with its type, default and explanation.

    Examples: `clusterbench methods`, `clusterbench methods dual-aae`.
    """
    from clusterbench.methods import METHODS, get_method

    out = Console() if sys.stdout.isatty() else Console(width=200)
    if name is None:
        rows = [_summary(n, c) for n, c in METHODS.items()]
        if json_out:
            typer.echo(json.dumps(rows, indent=2))
            return
        t = Table(title=f"{len(rows)} methods (`clusterbench methods NAME` for its options)")
        for c in ("method", "kind", "generative", "input", "papers' tables", "what it is"):
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(escape(r["method"]), r["kind"], "yes" if r["generative"] else ("only" if not r["clusters"] else "no"),
                      ", ".join(r["inputs"]), escape("; ".join(r["tables"]) or "-"), escape(r["summary"]))
        out.print(t)
        return
    try:
        cls = get_method(name)
    except KeyError:  # pragma: no cover - get_method raises UnknownNameError
        raise UnknownNameError("method", name, METHODS) from None
    rows = option_rows(cls)
    info = _summary(name, cls)
    if json_out:
        typer.echo(json.dumps({**info, "options": rows}, indent=2, default=str))
        return
    out.print(f"[bold]{escape(name)}[/] — {escape(info['summary'])}", highlight=False)
    out.print(f"kind: {info['kind']}; generative: {info['generative']}; clusters: {info['clusters']}; "
              f"input: {', '.join(info['inputs'])}; tables: {escape('; '.join(info['tables']) or '-')}", highlight=False)
    t = Table(title=escape(f"--set options of {name} (e.g. --set {name}.{rows[0]['key'] if rows else 'key'}=VALUE)"))
    for c in ("key", "type", "default", "what it does"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(escape(r["key"]), escape(r["type"]), escape(repr(r["default"])), escape(r["doc"] or "-"))
    out.print(t)
