"""Table specs: the papers' tables as data (``clusterbench/report/tables/<paper>.toml``).

A user's package adds papers' tables without editing clusterbench through the entry-point group
``clusterbench.tables``; the value names a package whose directory holds the TOML files (same
schema), or one file in it (see :func:`plugin_table_files`)::

    [project.entry-points."clusterbench.tables"]
    my-tables = "my_package.tables"            # every *.toml in my_package/tables/
    # my-table = "my_package.tables:mine.toml"  # or one file

One TOML file per paper holds ``[paper]`` and a list of ``[[table]]``. A table has ``columns``
and ``rows``; every row carries the paper's printed ``values`` (one string per column, exactly as
printed: ``"97.86"``, ``"0.793*"``, ``"8.10±2.99"``, ``"-"``, ``"N/A"``). What a cell measures is
the merge, in this order, of the attributes of the table, its row and its column:

* ``method``   clusterbench method id (``dual-aae``, ``kmeans``, ...). A method that is not
  registered (``clusterbench.plugins.method_names()``) is not an error: its cells render "not
  implemented yet" until it is.
* ``dataset``  data set id from :data:`DATASET_IDS`.
* ``metric``   the key of ``RunRecord.metrics`` the cell reads: a key of the metrics catalogue
  (:mod:`clusterbench.metrics.catalog`, ``clusterbench report --metrics``). A row may
  give ``metrics = [...]`` (one per column) instead.
* ``set``      config overrides a run must have (and that the fill command passes as ``--set``).
  Under them, every measured cell also requires the paper's settings of its method on its data
  set (``methods/dataset_settings.toml``, :func:`clusterbench.plugins.dataset_settings`: e.g.
  DLS's ``latent_dim = 40`` on Fashion-MNIST), which plan time gives such runs by default.
* ``reported`` true for rows/columns the suite does not measure (VaDE, DEC, ...): paper value only.

Generation metrics (FID, SSIM) come from evaluators that a run only computes when asked: a
measured cell of a metric the catalogue ties to an evaluator (``Metric.evaluator``) must name it
in ``set`` (``evaluate = "fid"``; a run whose ``evaluate`` includes it, e.g. ``fid,ssim``, counts),
and a measured ``fid`` cell must name its feature network (``fid_network = "mnist-cnn"`` or
``"inception"``, :data:`clusterbench.evaluate.FID_NETWORKS`): FIDs of different networks are
different numbers, so only runs with that network fill the cell, and the rendered table prints
the network.

Compare like with like: every printed value says what it is, and the measured cell beside it is
the same thing.

* Definition: the cell's ``metric`` IS the definition (``acc`` = Hungarian ACC, ``purity``; see
  the catalogue). A column gives the paper's own definition; a row whose printed values use
  another gives ``redefine = { purity = "acc" }`` (every cell of the row) or ``metrics = [...]``
  (cell by cell). The measured cell reads that same key. A table that mixes two metrics of one
  catalogue ``family`` marks each such cell with the entry's ``marker`` (H, P) in every format.
* Provenance of the printed value (table, row or column; a row may give a list, one per
  column): ``source`` (``"ran"`` by the paper, the default; ``"cited"``; ``"not_stated"`` where the
paper does not say), ``cited_from`` (the
  paper's reference, required for cited values), ``paper_aggregation`` (one of
  :data:`PAPER_AGGREGATIONS`: ``mean_std``, ``mean``, ``best``, ``best_validated``, ``single``,
  ``not_stated``, the default) and ``paper_runs`` (N). A table's ``ran_mark`` (e.g. ``"*"``)
  makes every cell printed with that mark "ran" with the table's aggregation (the paper's own
  "obtained by us running the released code" marks).
* ``caveat`` (row, with optional ``caveat_columns`` = column labels; or column): why the
  comparison may mislead (an uncertain cell placement, another split); shown with a "?" mark.

Table attributes besides: ``number``, ``label``, ``caption``, ``scale`` (paper value = metric x
scale, e.g. 100 for percent), ``aggregation`` (how the *measured* cells aggregate the suite's
runs: ``mean_std``: mean +- std over seeds; ``best``: best of N seeds, max or min by the
catalogue's direction of the metric), ``seeds`` (N for the fill command),
``metric_definition``, ``nmi`` (``arithmetic``/``geometric``/``none``), ``split``,
``aggregation_note``, ``notes``, ``command`` (the CLI command whose records the cells read and
that the fill commands name: ``"run"``, the default, or ``"retrieval"`` for hash retrieval
tables, whose ``hash_bits`` setting becomes ``--bits``). A row may give ``numbers = [...]`` where a printed value cannot
be parsed (a typo in the paper), and ``note``.

``[paper.method_defaults.<method>]`` gives config switches a run is assumed to have when its
config lacks them (so ablation runs, e.g. DC3-GAN ``loss_ce = false``, never count as the full
model).

Metric keys (what methods/runners must write into ``RunRecord.metrics`` for a cell to fill):
the catalogue :mod:`clusterbench.metrics.catalog` (``clusterbench report --metrics`` lists it).
"""

from __future__ import annotations

import importlib.resources
import math
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from clusterbench.data.registry import load_registry
from clusterbench.errors import ConfigError, UnknownNameError
from clusterbench.evaluate import FID_NETWORKS, evaluator_names
from clusterbench.metrics.catalog import lookup as metric_lookup
from clusterbench.paths import name_problem
from clusterbench.plugins import dataset_settings, plugin_entry_points

TABLES_DIR = Path(__file__).with_name("tables")

def _builtin_dataset_ids() -> tuple[str, ...]:
    """The built-in data set ids of ``datasets.toml`` (the one registry; user sets excluded)."""
    return tuple(name for name, s in load_registry().items() if not s.user)


#: Data set ids a table cell may name: the built-in registry's.
DATASET_IDS: tuple[str, ...] = _builtin_dataset_ids()

Aggregation = Literal["mean_std", "best"]
#: CLI commands a table's cells are filled by (``command`` of a table).
TABLE_COMMANDS: tuple[str, ...] = ("run", "retrieval")
Source = Literal["ran", "cited", "not_stated"]
#: What a printed value aggregates (``paper_aggregation``), with ``paper_runs`` = N.
PAPER_AGGREGATIONS: dict[str, str] = {
    "mean_std": "mean ± std of {n}",
    "mean": "mean of {n}",
    "best": "best of {n}",
    "best_validated": "best of {n} by validation score",
    "single": "one run",
    "not_stated": "aggregation not stated",
}
PaperAggregation = Literal["mean_std", "mean", "best", "best_validated", "single", "not_stated"]


def paper_aggregation_text(kind: str, n: int | None) -> str:
    """``("best", 5)`` -> ``"best of 5"``; an unknown N reads ``"best of N (N not stated)"``."""
    text = PAPER_AGGREGATIONS[kind]
    return text.format(n=n) if n is not None else text.format(n="N (N not stated)")
MISSING_MARKS = ("-", "—", "–", "N/A", "n/a", "")
_NUM = re.compile(r"[-+]?\d+(?:\.\d+)?")


def parse_printed(text: str) -> tuple[float | None, float | None]:
    """``"8.10±2.99"`` -> (8.10, 2.99); ``"0.793*"`` -> (0.793, None); ``"-"`` -> (None, None).

    ``"0.617 (0.576)*"`` -> (0.617, None): the first number is the cell's value.
    """
    t = text.strip()
    if t in MISSING_MARKS:
        return None, None
    parts = re.split(r"±|\+-|\\pm", t)
    m = _NUM.search(parts[0])
    if not m:
        return None, None
    value = float(m.group())
    std = None
    if len(parts) > 1:
        s = _NUM.search(parts[1])
        std = float(s.group()) if s else None
    return value, std


def printed_decimals(text: str) -> int | None:
    """Decimals of the first number printed in ``text`` (None when there is no number)."""
    m = _NUM.search(text.split("±")[0])
    if not m:
        return None
    g = m.group()
    return len(g.split(".")[1]) if "." in g else 0


@dataclass(frozen=True)
class CellSpec:
    """One cell: what it measures and what the paper printed."""

    row: int
    col: int
    printed: str                 # exactly as printed
    paper_value: float | None    # parsed (None for "-", "N/A")
    paper_std: float | None
    method: str | None
    dataset: str | None
    metric: str | None
    settings: dict[str, Any]     # config overrides the runs must have
    reported: bool               # the suite does not measure it: paper value only
    source: Source = "ran"       # the paper ran it, or cited it (from ``cited_from``)
    cited_from: str | None = None
    paper_aggregation: PaperAggregation = "not_stated"   # what the printed value aggregates
    paper_runs: int | None = None                        # N of "best of N", "mean of N"
    caveat: str | None = None    # why this comparison may mislead (shown with a "?" mark)

    def provenance(self) -> str:
        """``"ran; best of 5"``, ``"cited from [49]; aggregation not stated"``."""
        src = {"ran": "run by the paper", "cited": f"cited from {self.cited_from}",
               "not_stated": "source not stated by the paper"}[self.source]
        return f"{src}; {paper_aggregation_text(self.paper_aggregation, self.paper_runs)}"


@dataclass(frozen=True)
class TableSpec:
    paper: str
    number: str
    label: str
    caption: str
    columns: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    cells: list[list[CellSpec]]
    scale: float
    aggregation: Aggregation
    seeds: int
    metric_definition: str
    nmi: str
    split: str
    aggregation_note: str
    notes: list[str] = field(default_factory=list)
    method_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    command: str = "run"

    @property
    def id(self) -> str:
        return f"{self.paper}:{self.number}"

    def iter_cells(self):
        for row in self.cells:
            yield from row


@dataclass(frozen=True)
class PaperSpec:
    id: str
    number: str
    title: str
    source: str
    tables: dict[str, TableSpec]


_TABLE_REQUIRED = ("number", "label", "caption", "columns", "rows", "aggregation", "seeds",
                   "metric_definition", "nmi", "split", "aggregation_note")
#: Provenance attributes: set on the table, a row or a column (later wins: table, row, column);
#: a row may give a list with one entry per column instead (a row that mixes, cell by cell).
_PROVENANCE = ("source", "cited_from", "paper_aggregation", "paper_runs")


def _per_cell(src: dict[str, Any], key: str, j: int) -> Any:
    v = src[key]
    return v[j] if isinstance(v, list) else v


def _bad(path: Path, where: str, what: str) -> ConfigError:
    return ConfigError(f"Bad table spec {path.name} ({where}): {what}.",
                       hint=f"Fix the TOML file {path}.")


def _parse_table(path: Path, paper: str, t: dict[str, Any], defaults: dict[str, dict[str, Any]]) -> TableSpec:
    where = f"table {t.get('number', '?')}"
    for k in _TABLE_REQUIRED:
        if k not in t:
            raise _bad(path, where, f"missing {k!r}")
    if t["aggregation"] not in ("mean_std", "best"):
        raise _bad(path, where, f"aggregation must be 'mean_std' or 'best', got {t['aggregation']!r}")
    if t["nmi"] not in ("arithmetic", "geometric", "none"):
        raise _bad(path, where, f"nmi must be arithmetic, geometric or none, got {t['nmi']!r}")
    if t.get("command", "run") not in TABLE_COMMANDS:
        raise _bad(path, where, f"command must be one of {', '.join(TABLE_COMMANDS)}, got {t['command']!r}")
    columns, rows = t["columns"], t["rows"]
    cells: list[list[CellSpec]] = []
    for i, row in enumerate(rows):
        values = row.get("values")
        if not isinstance(values, list) or len(values) != len(columns):
            raise _bad(path, f"{where}, row {row.get('label')!r}",
                       f"needs {len(columns)} printed values, got {values!r}")
        numbers = row.get("numbers")
        if numbers is not None and len(numbers) != len(columns):
            raise _bad(path, f"{where}, row {row.get('label')!r}", "'numbers' must match the columns")
        metrics = row.get("metrics")
        if metrics is not None and len(metrics) != len(columns):
            raise _bad(path, f"{where}, row {row.get('label')!r}", "'metrics' must match the columns")
        for key in _PROVENANCE:
            if isinstance(row.get(key), list) and len(row[key]) != len(columns):
                raise _bad(path, f"{where}, row {row.get('label')!r}", f"{key!r} as a list must match the columns")
        redefine = row.get("redefine", {})
        if not isinstance(redefine, dict):
            raise _bad(path, f"{where}, row {row.get('label')!r}", "'redefine' must be a table {metric = metric}")
        unknown = set(row.get("caveat_columns", [])) - {str(c.get("label")) for c in columns}
        if unknown:
            raise _bad(path, f"{where}, row {row.get('label')!r}", f"caveat_columns names no column: {sorted(unknown)}")
        ran_mark = t.get("ran_mark")
        out_row = []
        for j, col in enumerate(columns):
            attrs: dict[str, Any] = {}
            settings: dict[str, Any] = dict(t.get("set", {}))
            prov: dict[str, Any] = {}
            for src in (t, row, col):
                for k in ("method", "dataset", "metric"):
                    if k in src:
                        attrs[k] = src[k]
                for k in _PROVENANCE:
                    if k in src:
                        prov[k] = _per_cell(src, k, j)
                if src is not t:
                    attrs["reported"] = attrs.get("reported", False) or bool(src.get("reported", False))
                    settings.update(src.get("set", {}))
            if metrics is not None:
                attrs["metric"] = metrics[j]
            elif attrs.get("metric") in redefine:
                attrs["metric"] = redefine[attrs["metric"]]
            printed = str(values[j])
            if ran_mark and ran_mark in printed:  # the paper's own mark: "obtained by us running ..."
                prov = {k: t[k] for k in _PROVENANCE if k in t}
                prov["source"] = "ran"
            cell_where_p = f"{where}, row {row.get('label')!r}, column {col.get('label')!r}"
            source = prov.get("source", "ran")
            if source not in ("ran", "cited", "not_stated"):
                raise _bad(path, cell_where_p, f"source must be 'ran', 'cited' or 'not_stated', got {source!r}")
            cited_from = prov.get("cited_from") if source == "cited" else None
            if source == "cited" and not cited_from:
                raise _bad(path, cell_where_p, "a cited value needs 'cited_from' (the paper's reference, e.g. '[49]')")
            agg = prov.get("paper_aggregation", "not_stated")
            if agg not in PAPER_AGGREGATIONS:
                raise _bad(path, cell_where_p, f"paper_aggregation must be one of {', '.join(PAPER_AGGREGATIONS)}, got {agg!r}")
            runs = prov.get("paper_runs")
            if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
                raise _bad(path, cell_where_p, f"paper_runs must be a positive integer, got {runs!r}")
            caveat = None
            if "caveat" in row and (not row.get("caveat_columns") or col.get("label") in row["caveat_columns"]):
                caveat = str(row["caveat"])
            elif "caveat" in col:
                caveat = str(col["caveat"])
            value, std = parse_printed(printed)
            if numbers is not None:
                value = float(numbers[j])
            if numbers is None and value is None and printed.strip() not in MISSING_MARKS:
                raise _bad(path, f"{where}, row {row.get('label')!r}",
                           f"cannot read a number from {printed!r}; add 'numbers'")
            reported = bool(attrs.get("reported", False))
            method, dataset, metric = attrs.get("method"), attrs.get("dataset"), attrs.get("metric")
            if not reported:  # the paper's settings of the method on this data set, under the table's
                settings = {**dataset_settings(method, dataset), **settings}
            if not reported:
                for k, v in (("method", method), ("dataset", dataset), ("metric", metric)):
                    if not v:
                        raise _bad(path, cell_where_p, f"no {k} for a measured cell")
            if dataset is not None and dataset not in DATASET_IDS:
                raise _bad(path, cell_where_p, f"unknown data set {dataset!r} (valid: {', '.join(DATASET_IDS)})")
            if metric is not None:
                try:
                    entry = metric_lookup(metric)
                except UnknownNameError as exc:
                    raise _bad(path, cell_where_p, str(exc)) from None
                if not reported:
                    _check_evaluation(path, cell_where_p, metric, entry.evaluator, settings)
            out_row.append(CellSpec(i, j, printed, value, std, method, dataset, metric, settings, reported,
                                    source, cited_from, agg, runs, caveat))
        cells.append(out_row)
    return TableSpec(
        paper=paper, number=str(t["number"]), label=t["label"], caption=t["caption"],
        columns=columns, rows=rows, cells=cells, scale=float(t.get("scale", 1)),
        aggregation=t["aggregation"], seeds=int(t["seeds"]), metric_definition=t["metric_definition"],
        nmi=t["nmi"], split=t["split"], aggregation_note=t["aggregation_note"],
        notes=list(t.get("notes", [])), method_defaults=defaults, command=str(t.get("command", "run")),
    )


def _check_evaluation(path: Path, where: str, metric: str, evaluator: str | None, settings: dict[str, Any]) -> None:
    """A measured cell of an evaluator's metric names the evaluator (and FID its network)."""
    if evaluator and evaluator not in evaluator_names(settings):
        raise _bad(path, where, f"{metric} is written by the {evaluator!r} evaluator, which runs only when asked: "
                                f"add set = {{ evaluate = \"{evaluator}\" }} (table, row or column)")
    if metric == "fid" and settings.get("fid_network") not in FID_NETWORKS:
        raise _bad(path, where, f"a measured FID cell must name its feature network: set fid_network to one of "
                                f"{', '.join(FID_NETWORKS)} (FIDs of different networks are not comparable)")


def load_paper_file(path: Path) -> PaperSpec:
    """Parse and validate one paper's TOML file (ConfigError naming the file on a bad spec)."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise _bad(path, "TOML", str(exc)) from None
    p = doc.get("paper")
    if not p or "id" not in p:
        raise _bad(path, "[paper]", "missing [paper] id")
    if name_problem(p["id"]) is not None:  # report --all writes <out>/<paper id>/table-<n>.md
        raise _bad(path, "[paper]", f"paper id {p['id']!r}: {name_problem(p['id'])}")
    defaults = {m: dict(v) for m, v in p.get("method_defaults", {}).items()}
    tables: dict[str, TableSpec] = {}
    for t in doc.get("table", []):
        spec = _parse_table(path, p["id"], t, defaults)
        if spec.number in tables:
            raise _bad(path, f"table {spec.number}", "duplicate table number")
        if name_problem(spec.number) is not None:
            raise _bad(path, f"table {spec.number!r}", f"table number: {name_problem(spec.number)}")
        tables[spec.number] = spec
    return PaperSpec(p["id"], str(p.get("number", "")), p.get("title", ""), p.get("source", ""), tables)


#: Paper ids in the papers' order; the first is the default of ``clusterbench report``.
PAPER_ORDER: tuple[str, ...] = ("dual-aae", "dls", "dc3", "clustergan-bspl")
DEFAULT_PAPER = "dual-aae"


@lru_cache(maxsize=None)
def _load_all(directory: str) -> dict[str, PaperSpec]:
    papers: dict[str, PaperSpec] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        spec = load_paper_file(path)
        papers[spec.id] = spec
    order = {pid: i for i, pid in enumerate(PAPER_ORDER)}
    return dict(sorted(papers.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def plugin_table_files() -> list[tuple[str, Path]]:
    """``(entry point name, TOML file)`` of every table plug-in (group ``clusterbench.tables``).

    An entry point's value is ``"package"`` (every ``*.toml`` file in that package's directory,
    found with ``importlib.resources``) or ``"package:file.toml"`` (one file in it). A plug-in
    whose package cannot be imported, or that names no TOML file, is left out with a warning.
    """
    out: list[tuple[str, Path]] = []
    for name, ep in plugin_entry_points("tables").items():
        module, _, file = ep.value.partition(":")
        try:
            root = Path(str(importlib.resources.files(module.strip())))
        except Exception as exc:  # a broken plug-in must not take the built-in tables down
            warnings.warn(f"Plug-in tables {name!r} ({ep.value}): package {module!r} could not be found "
                          f"({type(exc).__name__}: {exc}); left out.", stacklevel=2)
            continue
        files = [root / file.strip()] if file else sorted(root.glob("*.toml"))
        files = [f for f in files if f.is_file()]
        if not files:
            warnings.warn(f"Plug-in tables {name!r} ({ep.value}) names no TOML file (looked in {root}); left out.",
                          stacklevel=2)
        out += [(name, f) for f in files]
    return out


@lru_cache(maxsize=None)
def _plugin_papers() -> dict[str, PaperSpec]:
    builtin = _load_all(str(TABLES_DIR))
    papers: dict[str, PaperSpec] = {}
    for name, path in plugin_table_files():
        try:
            spec = load_paper_file(path)
        except ConfigError as exc:
            warnings.warn(f"Plug-in tables {name!r}: {exc} It is left out.", stacklevel=2)
            continue
        if spec.id in builtin or spec.id in papers:
            warnings.warn(f"Plug-in tables {name!r} ({path}): paper id {spec.id!r} is taken; left out. "
                          "Rename its [paper] id.", stacklevel=2)
            continue
        papers[spec.id] = spec
    return dict(sorted(papers.items()))


def load_papers(directory: Path | None = None) -> dict[str, PaperSpec]:
    """Every paper spec (id -> PaperSpec): the built-in papers in the papers' order, then the
    table plug-ins' (:func:`plugin_table_files`) by id. With ``directory``: that folder's only."""
    if directory is not None:
        return _load_all(str(directory))
    return {**_load_all(str(TABLES_DIR)), **_plugin_papers()}


def clear_cache() -> None:
    """Forget loaded specs and plug-ins (after changing ``sys.path`` or installed packages, in tests)."""
    _load_all.cache_clear()
    _plugin_papers.cache_clear()
    plugin_entry_points.cache_clear()


_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8"}


def get_paper(paper: str) -> PaperSpec:
    papers = load_papers()
    if paper not in papers:
        raise UnknownNameError("paper", paper, papers)
    return papers[paper]


def get_table(paper: str, table: str | int) -> TableSpec:
    """The spec of ``table`` (``"1"``, ``1``, ``"I"`` or ``"Table I"``) of ``paper``."""
    p = get_paper(paper)
    key = str(table).strip().lower().removeprefix("table").strip()
    key = _ROMAN.get(key, key)
    if key not in p.tables:
        valid = [f"{n} ({t.label})" for n, t in p.tables.items()]
        exc = UnknownNameError("table", key, list(p.tables))
        exc.message = f"Paper {paper!r} has no table {str(table)!r} in clusterbench."
        exc.hint = f"Valid tables of {paper}: {', '.join(valid)} (see `clusterbench report --list`)."
        raise exc
    return p.tables[key]


def all_tables() -> list[TableSpec]:
    return [t for p in load_papers().values() for t in p.tables.values()]


def is_missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
