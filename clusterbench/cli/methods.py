"""``clusterbench methods [NAME]``: the registered methods and their ``--set`` options.

The list is read from the METHODS registry (built-ins and plug-ins) and each method's declared
capabilities (``methods.base.Method``); the papers and tables that use a method come from the
report's table specs; an option's explanation is the ``help`` metadata declared beside its
Config field (``field(default=..., metadata={"help": "..."})``; a subclass that redeclares a
field without help inherits its base's).

Listing imports no method module (they import torch: 10 s and 370 MB on a laptop) once the
built-ins were described: :func:`catalog` keeps their description in
``$CLUSTERBENCH_HOME/cache/methods-<digest>.json``, where the digest covers the version and
every source file of the package, so an edited method is described afresh. ``clusterbench run``
(which imports the methods anyway) writes it too. Plug-ins are described live.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import clusterbench
from clusterbench import paths
from clusterbench.cli.output import stdout_console
from clusterbench.fsutil import write_json_atomic
from clusterbench.plugins import BUILTIN_METHODS, method_refs
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


def field_help(config_cls: type, name: str) -> str:
    """The ``help`` metadata of field ``name``: its own, else the nearest base dataclass's."""
    for c in config_cls.__mro__:
        f = getattr(c, "__dataclass_fields__", {}).get(name)
        if f is not None and f.metadata.get("help"):
            return str(f.metadata["help"])
    return ""


def option_rows(cls: type) -> list[dict[str, Any]]:
    """One dict per ``--set`` key of ``cls``: key, type, default (JSON-able), its repr, help."""
    hints = typing.get_type_hints(cls.Config)
    rows = []
    for f in dataclasses.fields(cls.Config):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        rows.append({"key": f.name, "type": _type_name(hints.get(f.name, f.type)),
                     "default": json.loads(json.dumps(default, default=str)), "default_text": repr(default),
                     "doc": field_help(cls.Config, f.name)})
    return rows


def describe(cls: type) -> dict[str, Any]:
    """What ``methods`` shows of a method class (JSON-able; the tables that use it apart)."""
    doc = inspect.getdoc(cls) or ""
    return {
        "kind": "deep" if cls.deep else "classical",
        "generative": bool(cls.generative),
        "clusters": bool(cls.clusters),
        "inputs": sorted(cls.inputs) + (["sparse"] if cls.accepts_sparse else []),
        "summary": doc.splitlines()[0] if doc else "",
        "options": option_rows(cls),
    }


def _digest() -> str:
    """Hash of the version and every ``*.py`` of the package: a method's class, Config and
    docstring (and their bases) can only change with one of them."""
    root = Path(clusterbench.__file__).parent
    h = hashlib.sha256(clusterbench.__version__.encode())
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def catalog() -> dict[str, dict[str, Any]]:
    """method id -> :func:`describe` of every registered method, in registry order. Built-ins
    come from the cache file when it matches the sources (no method module, no torch imported),
    else they are imported and the cache is (re)written; plug-ins are always imported."""
    refs = method_refs()
    folder = paths.home() / "cache"
    cache = folder / f"methods-{_digest()}.json"
    builtins: dict[str, Any] | None = None
    if cache.is_file():
        try:
            builtins = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            builtins = None  # unreadable or torn: describe afresh below
    if builtins is None or set(builtins) != set(BUILTIN_METHODS):
        from clusterbench.methods import METHODS  # imports every method (torch): once per code version

        builtins = {n: describe(METHODS[n]) for n in BUILTIN_METHODS}
        try:
            for old in folder.glob("methods-*.json"):
                old.unlink(missing_ok=True)
            write_json_atomic(cache, builtins)
        except OSError:  # a read-only home: the listing still works, only slower next time
            pass
    out = {}
    plugins = [n for n in refs if n not in BUILTIN_METHODS]
    if plugins:
        from clusterbench.methods import METHODS  # plug-ins are described live (their code is not hashed)

        plugins = [n for n in plugins if n in METHODS]  # a broken plug-in was left out with a warning
    for n in refs:
        if n in BUILTIN_METHODS:
            out[n] = builtins[n]
        elif n in plugins:
            out[n] = describe(METHODS[n])
    return out


def methods(
    name: Annotated[Optional[str], typer.Argument(help="A method id: show its --set options.", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the methods (kind, what data they take, the papers' tables that use them), or, for one
    method, every `--set` key with its type, default and explanation.

    Examples: `clusterbench methods`, `clusterbench methods dual-aae`.
    """
    cat = catalog()
    out = stdout_console()
    if name is None:
        rows = [{"method": n, **{k: v for k, v in d.items() if k != "options"}, "tables": _tables_using(n)}
                for n, d in cat.items()]
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
    if name not in cat:
        raise UnknownNameError("method", name, cat)
    d = cat[name]
    rows = d["options"]
    info = {"method": name, **{k: v for k, v in d.items() if k != "options"}, "tables": _tables_using(name)}
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
        t.add_row(escape(r["key"]), escape(r["type"]), escape(r["default_text"]), escape(r["doc"] or "-"))
    out.print(t)
