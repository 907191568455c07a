"""Fill table specs from run records and render them (Markdown, LaTeX, CSV, JSON).

Data flow: ``records_frame`` (tidy rows) -> :func:`fill_table` (one :class:`CellResult` per cell:
the matching ok runs aggregated as the paper did) -> a renderer. Every number comes from a run
record (measured) or a table spec (paper); none is written here.

Retrieval tables (``command = "retrieval"``) read the records ``clusterbench retrieval`` writes
(hash functions are registered in :data:`clusterbench.methods.hashing.shallow.HASHERS`, not as methods;
their ids: :data:`clusterbench.plugins.BUILTIN_HASHERS`, which imports none of them).

Which runs count for a cell: status ``ok``, full data set (``subset`` is None), same method,
data set and metric, and a config that has every setting of the cell (``set``) and of the
paper's ``method_defaults`` (a config without the key counts as having the default). The
setting ``evaluate`` (evaluator names) is met by a run whose evaluators include the named ones
(``evaluate=fid,ssim`` fills both a FID and an SSIM table). Several
records of one seed (e.g. after a code change): the most recent one counts. Failed runs are
counted in a footnote and never averaged. Runs on a subset are counted in a footnote.
Shortened runs (``clusterbench reproduce --budget``: the record's ``schedule`` is set) never fill
a paper cell (counted in a footnote); ``fill_table(..., schedule=s)`` fills a table of their own,
"shortened to s of the paper's schedule", from runs of that schedule (and full runs of methods
with nothing to shorten, :func:`clusterbench.schedule.schedule_fields`).

Aggregation: ``mean_std`` = mean and population std (numpy ``std``, ddof=0) over seeds;
``best`` = best over seeds (max, or min for lower-is-better metrics such as FID, KL, time). Both
over the table's number of seeds: the lowest seeds recorded, when there are more.

Model selection ("+ MC" rows): a cell with ``set = { model_selection = "model-centrality" }``
reads the records ``clusterbench model-centrality`` writes (one per pool of trained runs: the
selected run's scores); one such record completes it, and its fill command trains the pool, then
selects. Every other cell reads trained runs only (``model_selection`` absent or "none").
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from clusterbench.errors import UnknownNameError
from clusterbench.evaluate import FID_NETWORKS, evaluator_names
from clusterbench.metrics.catalog import direction
from clusterbench.metrics.catalog import lookup as metric_lookup
from clusterbench.plugins import BUILTIN_HASHERS, method_names
from clusterbench.report.spec import (
    MISSING_MARKS,
    CellSpec,
    TableSpec,
    get_paper,
    paper_aggregation_text,
    printed_decimals,
)
from clusterbench.results.records import SELECTION_KEY, frame_of_records, iter_records
from clusterbench.schedule import schedule_fields, schedule_text

Status = Literal["measured", "missing", "not_implemented", "reported", "not_in_paper"]
_ABSENT = object()


# --------------------------------------------------------------------------- loading records


@dataclass
class Results:
    """Everything the report reads from a results home.

    frame: tidy rows of ``records_frame`` plus derived ``epoch_seconds`` rows.
    warnings: messages about skipped (corrupt) records, to show the user.
    """

    home: Path
    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    _by_cell: dict[tuple[str, str], pd.DataFrame] | None = field(default=None, repr=False)

    def runs_of(self, method: str | None, dataset: str | None) -> pd.DataFrame:
        """The rows of ``frame`` of one method on one data set (grouped once, then looked up)."""
        if self._by_cell is None:
            self._by_cell = ({k: g for k, g in self.frame.groupby(["method", "dataset"], sort=False)}
                             if len(self.frame) else {})
        return self._by_cell.get((method, dataset), self.frame.iloc[:0])

    def records(self):
        """``(path, RunRecord)`` pairs (corrupt records skipped; their warnings are in ``warnings``)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(iter_records(self.home))


def load_results(home: Path) -> Results:
    """Read every run record under ``home``; corrupt ones are skipped and listed in ``warnings``."""
    home = Path(home)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(iter_records(home))  # each record file is read once
        frame = frame_of_records(records)
    msgs = list(dict.fromkeys(str(w.message) for w in caught))
    extra = []
    for path, r in records:  # epoch_seconds from timings when the record has no such metric
        if r.status != "ok" or "epoch_seconds" in r.metrics:
            continue
        ep = r.timings.get("epoch_s") if isinstance(r.timings, dict) else None
        if isinstance(ep, list) and ep and all(isinstance(x, (int, float)) for x in ep):
            extra.append({"key": r.key, "method": r.method, "dataset": r.dataset, "seed": r.seed,
                          "subset": r.subset, "schedule": r.schedule, "status": r.status,
                          "config": json.dumps(r.config, sort_keys=True), "created": r.created,
                          "path": str(path), "metric": "epoch_seconds", "value": float(np.mean(ep))})
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
    if len(frame):
        frame = frame.assign(_config=[json.loads(c) for c in frame["config"]])
    else:
        frame = frame.assign(_config=pd.Series(dtype=object))
    return Results(home=home, frame=frame, warnings=msgs)


# --------------------------------------------------------------------------- filling cells


@dataclass
class CellResult:
    """A cell with its measurement. Values are on the paper's scale (``metric x scale``)."""

    spec: CellSpec
    status: Status
    n: int = 0                      # seeds aggregated
    n_failed: int = 0               # failed runs (never averaged)
    n_subset: int = 0               # ok runs on a subset (not counted)
    n_without_metric: int = 0       # ok full-data runs that did not record this cell's metric
    n_shortened: int = 0            # ok runs of another (shortened) schedule (not counted)
    value: float | None = None      # mean (mean_std) or best (best)
    std: float | None = None        # mean_std only
    diff: float | None = None       # value - paper value
    seeds: list[int] = field(default_factory=list)
    command: str | None = None      # `clusterbench run ...` that fills / completes the cell
    decimals: int = 3


@dataclass
class TableResult:
    spec: TableSpec
    cells: list[list[CellResult]]
    schedule: float | None = None   # a table of runs shortened to this fraction of the paper's schedule

    @property
    def n_measured(self) -> int:
        return sum(1 for row in self.cells for c in row if c.status == "measured")

    @property
    def n_to_fill(self) -> int:
        """Cells the suite can measure and the paper has a value for."""
        return sum(1 for row in self.cells for c in row
                   if not c.spec.reported and c.spec.paper_value is not None)


def _settings_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def _selection(cell: CellSpec) -> str | None:
    """The model selection a cell reads (``set = { model_selection = "model-centrality" }``), or None."""
    sel = cell.settings.get(SELECTION_KEY)
    return None if sel in (None, "none") else str(sel)


def fill_command(cell: CellSpec, seeds: int, command: str = "run") -> str:
    """The exact ``clusterbench run`` (or, for a retrieval table, ``clusterbench retrieval``:
    ``hash_bits`` as ``--bits``) command that produces the runs ``cell`` reads. A selection cell
    ("+ MC" rows) trains the pool of ``seeds`` runs, then selects among them (``clusterbench
    model-centrality``), which writes the one record the cell reads."""
    settings = {k: v for k, v in cell.settings.items() if k != SELECTION_KEY}
    cmd = f"clusterbench {command} {cell.method} --dataset {cell.dataset} --seeds {seeds}"
    if command == "retrieval" and "hash_bits" in settings:
        cmd += f" --bits {settings.pop('hash_bits')}"
    sets = "".join(f" --set {k}={_settings_text(v)}" for k, v in sorted(settings.items()))
    cmd += sets
    sel = _selection(cell)
    if sel is not None:
        cmd += f" && clusterbench {sel} {cell.method} --dataset {cell.dataset}{sets}"
    return cmd


def _config_matches(config: dict[str, Any], required: dict[str, Any], defaults: dict[str, Any]) -> bool:
    for k, want in required.items():
        if k == "evaluate":  # the run computed (at least) these evaluators
            if not set(evaluator_names({"evaluate": want})) <= set(evaluator_names(config)):
                return False
            continue
        have = config.get(k, defaults.get(k, _ABSENT))
        if have is _ABSENT or have != want:
            return False
    return True


def _runs_for(results: Results, cell: CellSpec, defaults: dict[str, Any]) -> pd.DataFrame:
    sel = results.runs_of(cell.method, cell.dataset)
    if sel.empty:
        return sel
    defaults = {SELECTION_KEY: "none", **defaults}  # selection records only fill the cells that ask for them
    required = {**defaults, **cell.settings}
    mask = [_config_matches(c, required, defaults) for c in sel["_config"]]
    return sel[np.asarray(mask, dtype=bool)]


def _of_schedule(runs: pd.DataFrame, schedule: float | None) -> np.ndarray:
    """Mask of the rows of ``runs`` that may fill a cell of a table of ``schedule`` (None: the
    paper's): runs of exactly that schedule, and for a shortened table also full runs whose config
    has nothing to shorten."""
    sched = runs["schedule"].astype(float) if "schedule" in runs else pd.Series(np.nan, index=runs.index)
    if schedule is None:
        return sched.isna().to_numpy()
    same = np.isclose(sched.fillna(-1.0).to_numpy(), schedule)
    nothing_to_shorten = np.array([not schedule_fields(c) for c in runs["_config"]], dtype=bool)
    return same | (sched.isna().to_numpy() & nothing_to_shorten)


def fill_cell(spec: TableSpec, cell: CellSpec, results: Results, implemented: set[str],
              schedule: float | None = None) -> CellResult:
    """Aggregate the runs of one cell as the paper did (see module docstring)."""
    paper_dec = printed_decimals(cell.printed)
    if paper_dec is not None:  # as printed
        decimals = paper_dec
    elif cell.metric and metric_lookup(cell.metric).scale == spec.scale:  # the catalogue's format
        decimals = metric_lookup(cell.metric).decimals
    else:
        decimals = 2 if spec.scale == 100 else 3
    if cell.reported:
        return CellResult(cell, "reported", decimals=decimals)
    defaults = spec.method_defaults.get(cell.method or "", {})
    runs = _runs_for(results, cell, defaults)
    n_shortened = 0
    if len(runs):
        keep = _of_schedule(runs, schedule)
        other = runs[~keep]
        n_shortened = int(other.loc[other["status"] == "ok", "key"].nunique())
        runs = runs[keep]
    n_failed = int(runs.loc[runs["status"] != "ok", "key"].nunique()) if len(runs) else 0
    ok = runs[(runs["status"] == "ok") & (runs["metric"] == cell.metric)] if len(runs) else runs
    full = ok[ok["subset"].isna()] if len(ok) else ok
    n_subset = int(ok.loc[ok["subset"].notna(), "key"].nunique()) if len(ok) else 0
    full = full[np.isfinite(full["value"].astype(float))] if len(full) else full
    cmd = fill_command(cell, spec.seeds, spec.command)
    if schedule is not None:
        cmd = f"clusterbench reproduce --paper {spec.paper} --table {spec.number} --budget {schedule * 100:g}%"
    res = CellResult(cell, "missing", n_failed=n_failed, n_subset=n_subset, command=cmd, decimals=decimals,
                     n_shortened=n_shortened if schedule is None else 0)
    if len(full) == 0 and len(runs):
        ok_full = runs[(runs["status"] == "ok") & runs["subset"].isna()]
        res.n_without_metric = int(ok_full["key"].nunique())
    if len(full) == 0:
        if cell.method not in implemented:
            res.status = "not_implemented"
        elif cell.paper_value is None:
            res.status = "not_in_paper"
        return res
    # one value per seed: the most recent record; the table's protocol takes its number of seeds
    # (the lowest seeds, as `--seeds N` runs them): a "best of 5" cell is never the best of the 10
    # runs another table's protocol asked for (K-means on MNIST: Dual-AAE 10 seeds, DLS best of 5)
    per_seed = full.sort_values(["seed", "created", "key"]).groupby("seed").tail(1)
    if not _selection(cell):
        per_seed = per_seed.head(spec.seeds)
    vals = per_seed["value"].astype(float).to_numpy() * spec.scale
    res.status = "measured"
    res.n = len(vals)
    res.seeds = sorted(int(s) for s in per_seed["seed"])
    if spec.aggregation == "best":
        res.value = float(vals.min() if direction(cell.metric) == "min" else vals.max())
    else:
        res.value = float(vals.mean())
        res.std = float(vals.std())
    if cell.paper_value is not None:
        res.diff = res.value - cell.paper_value
    if res.n >= (1 if _selection(cell) else spec.seeds):  # a selection: one record per pool
        res.command = None
    return res


def fill_table(spec: TableSpec, results: Results, *, implemented: set[str] | None = None,
               schedule: float | None = None) -> TableResult:
    """Every cell of ``spec`` filled from ``results``. ``implemented``: method ids available now
    (default: every registered method, :func:`clusterbench.plugins.method_names`, which imports
    no method module). ``schedule``: fill from runs shortened to that fraction of the paper's
    schedule instead (a table of its own, never the paper's cells)."""
    if implemented is None:
        implemented = set(method_names())
        if spec.command == "retrieval":  # hash functions are not methods (clusterbench.methods.hashing)
            implemented |= set(BUILTIN_HASHERS)
    cells = [[fill_cell(spec, c, results, implemented, schedule) for c in row] for row in spec.cells]
    return TableResult(spec, cells, schedule)


# --------------------------------------------------------------------------- shared text pieces


def _fmt(x: float, d: int) -> str:
    return f"{x:.{d}f}"


def _fmt_diff(x: float, d: int) -> str:
    s = f"{x:+.{d}f}"
    return "+" + s[1:] if s.startswith("+") else s


def _agg_text(spec: TableSpec) -> str:
    seeds = f"{spec.seeds} seed" + ("" if spec.seeds == 1 else "s")
    if spec.aggregation == "best":
        return f"best of {seeds}"
    return f"mean ± std over {seeds}"


def _row_label(spec: TableSpec, i: int) -> str:
    row = spec.rows[i]
    label = str(row["label"])
    if row.get("reported"):
        label += " (not run here)"
    return label


def _col_label(spec: TableSpec, j: int) -> str:
    col = spec.columns[j]
    return str(col["label"]) + (" (not run here)" if col.get("reported") else "")


# --------------------------------------------------------------------------- like-for-like marks


def _has_value(c: CellSpec) -> bool:
    return c.printed.strip() not in MISSING_MARKS


@dataclass
class Marks:
    """What each cell's printed value is, as marks and a legend (the same in every format).

    * Definition marks (catalogue ``marker``, e.g. H = Hungarian ACC, P = purity) on every cell
      of a metric family the table mixes (one definition per family: no mark, the header says it).
    * Provenance (ran / cited from, and the aggregation behind the printed value) per row in the
      "Paper value" column; a row that mixes gets a letter per cell (a, b, ...) instead.
    * ``?`` (``?1``, ``?2`` when several) on cells with a caveat.
    """

    cell: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    row_text: list[str] = field(default_factory=list)
    legend: dict[str, str] = field(default_factory=dict)

    def of(self, c: CellSpec) -> list[str]:
        return self.cell.get((c.row, c.col), [])


def table_marks(spec: TableSpec) -> Marks:
    """The :class:`Marks` of a table (definition, provenance and caveat marks with their legend)."""
    marks = Marks()
    families: dict[str, set[str]] = {}
    for c in spec.iter_cells():
        if c.metric and _has_value(c):
            m = metric_lookup(c.metric)
            if m.family and m.marker:
                families.setdefault(m.family, set()).add(m.marker)
    mixed = {f for f, ms in families.items() if len(ms) > 1}
    caveats = list(dict.fromkeys(c.caveat for c in spec.iter_cells() if c.caveat))
    letters: dict[str, str] = {}
    for i, row in enumerate(spec.cells):
        provs = list(dict.fromkeys(c.provenance() for c in row if _has_value(c)))
        per_cell = len(provs) > 1
        if per_cell:
            for p in provs:
                letters.setdefault(p, chr(ord("a") + len(letters)))
            marks.row_text.append("per cell: " + ", ".join(letters[p] for p in provs))
        else:
            marks.row_text.append(provs[0] if provs else "")
        for c in row:
            if not _has_value(c):
                continue
            out: list[str] = []
            if c.metric:
                m = metric_lookup(c.metric)
                if m.family in mixed and m.marker:
                    out.append(m.marker)
                    marks.legend.setdefault(m.marker, f"{m.name}: {m.definition}")
            if per_cell:
                out.append(letters[c.provenance()])
            if c.caveat:
                q = "?" if len(caveats) == 1 else f"?{caveats.index(c.caveat) + 1}"
                out.append(q)
                marks.legend.setdefault(q, c.caveat)
            if out:
                marks.cell[(c.row, c.col)] = out
    for p, letter in letters.items():
        marks.legend[letter] = f"paper value: {p}"
    return marks


def _legend_lines(marks: Marks) -> list[str]:
    return [f"{k}: {v}" for k, v in marks.legend.items()]


@dataclass
class _Notes:
    """Footnotes of one rendered table: fill commands numbered in order of first use."""

    commands: dict[str, str] = field(default_factory=dict)

    def ref(self, cmd: str) -> str:
        """The marker of ``cmd``: ``c1``, ``c2``, ... (a letter, so a fill command's marker never
        reads like a paper's citation such as "[24] (VaDE)" in a note or a row label)."""
        if cmd not in self.commands:
            self.commands[cmd] = f"{FILL_MARK}{len(self.commands) + 1}"
        return self.commands[cmd]


#: Prefix of the fill-command markers ``[c1]``, ``[c2]``, ... in the rendered tables.
FILL_MARK = "c"


def _measured_text(c: CellResult, pm: str, best: str) -> str:
    d = c.decimals
    if c.std is not None:
        return f"{_fmt(c.value, d)} {pm} {_fmt(c.std, d)} (n={c.n})"
    return f"{_fmt(c.value, d)} ({best} {c.n})"


def _cell_parts(c: CellResult, notes: _Notes) -> tuple[str, str, str | None]:
    """(measured text, paper text, diff text) with footnote numbers resolved (plain text)."""
    printed = c.spec.printed
    if c.status == "reported":
        return "", printed, None
    if c.status == "measured":
        m = _measured_text(c, "±", "best of")
        if c.command:
            m += f" [{notes.ref(c.command)}]"
        diff = _fmt_diff(c.diff, c.decimals) if c.diff is not None else None
        return m, printed, diff
    if c.status == "not_implemented":
        return "not implemented yet", printed, None
    if c.status == "not_in_paper":
        return "", printed, None
    if c.n_without_metric:
        return f"{c.spec.metric} not recorded by {c.n_without_metric} run(s)", printed, None
    return f"no runs [{notes.ref(c.command)}]", printed, None


def _failed_lines(t: TableResult) -> list[str]:
    seen: dict[tuple[str, str, str], tuple[int, int, int]] = {}
    for row in t.cells:
        for c in row:
            key = (c.spec.method or "", c.spec.dataset or "", json.dumps(c.spec.settings, sort_keys=True))
            f, s, sh = seen.get(key, (0, 0, 0))
            seen[key] = (max(f, c.n_failed), max(s, c.n_subset), max(sh, c.n_shortened))
    out = []
    if t.schedule is not None:
        out.append(f"Every measured cell of this table is {schedule_text(t.schedule)} (`reproduce --budget`): "
                   "not a reproduction of the paper's values.")
    for (m, d, st), (f, s, sh) in seen.items():
        extra = "" if st == "{}" else f" ({st})"
        if f:
            out.append(f"{f} failed run(s) of {m} on {d}{extra} not counted (the reason is in each record's error field).")
        if s:
            out.append(f"{s} run(s) of {m} on {d}{extra} on a subset of the data not counted.")
        if sh:
            out.append(f"{sh} shortened run(s) of {m} on {d}{extra} (`reproduce --budget`) not counted: they "
                       "render in their own table (`clusterbench reproduce ... --budget`), never in the paper's cells.")
    return out


def evaluation_lines(spec: TableSpec) -> list[str]:
    """What the measured cells' evaluators use, from the cells' settings: the FID feature network
    (with the classifier it is taken from, per row) and the evaluator options every fill command
    passes. Empty for a table without evaluator settings."""
    fid: dict[str, dict[str | None, list[str]]] = {}  # network -> classifier -> row labels
    options: dict[str, str] = {}
    for c in spec.iter_cells():
        if c.reported or not c.settings.get("evaluate"):
            continue
        names = evaluator_names(c.settings)
        opts = {k: _settings_text(v) for k, v in sorted(c.settings.items())
                if k in ("evaluate", "fid_samples", "ssim_pairs") or (k == "eval_classifier" and "fid" not in names)}
        for k, v in opts.items():
            options.setdefault(k, v)
        if c.metric == "fid":
            rows = fid.setdefault(str(c.settings.get("fid_network")), {}).setdefault(c.settings.get("eval_classifier"), [])
            if str(spec.rows[c.row]["label"]) not in rows:
                rows.append(str(spec.rows[c.row]["label"]))
    out = []
    for net, by_clf in fid.items():
        trained = ""
        if net == "mnist-cnn":
            trained = "; classifier trained on " + ", ".join(
                f"{clf or 'mnist'} (rows {', '.join(rows)})" if len(by_clf) > 1 else f"{clf or 'mnist'}"
                for clf, rows in by_clf.items())
        out.append(f"FID feature network: {net} = {FID_NETWORKS.get(net, net)}{trained}.")
    if options:
        out.append("Evaluation settings of the measured cells: "
                   + ", ".join(f"{k}={v}" for k, v in options.items()) + " (in every fill command).")
    return out


def _header_lines(spec: TableSpec) -> list[str]:
    return [
        *evaluation_lines(spec),
        f"Metric: {spec.metric_definition}",
        *([f"NMI normalisation: {spec.nmi}."] if spec.nmi != "none" else []),  # a table without NMI says nothing
        f"Split: {spec.split}",
        f"Aggregation of the measured cells: {_agg_text(spec)}. {spec.aggregation_note}",
        "Paper value column: whether the paper ran each row or cited it, and what its printed value aggregates.",
        *(f"Note: {n}" for n in spec.notes),
    ]


def _title(spec: TableSpec) -> str:
    return f"{get_paper(spec.paper).title} — {spec.label}"


# --------------------------------------------------------------------------- Markdown


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("*", "\\*")


def render_markdown(t: TableResult) -> str:
    """A GitHub-flavoured Markdown table with footnotes."""
    spec, notes, marks = t.spec, _Notes(), table_marks(t.spec)
    first = "Method" if any("method" in r for r in spec.rows) else ""
    header = [first] + [_md_escape(_col_label(spec, j)) for j in range(len(spec.columns))] + ["Paper value"]
    body = []
    for i, row in enumerate(t.cells):
        cells = [_md_escape(_row_label(spec, i))]
        for c in row:
            m, p, d = _cell_parts(c, notes)
            if not m:
                txt = _md_escape(p)
            else:
                txt = f"{m} / {_md_escape(p)}"
                if d is not None:
                    txt += f" (Δ {d})"
            if marks.of(c.spec):
                txt += f"<sup>{','.join(marks.of(c.spec))}</sup>"
            cells.append(txt)
        cells.append(_md_escape(marks.row_text[i]))
        body.append(cells)
    lines = [f"### {spec.paper} {spec.label}: {spec.caption}", ""]
    if t.schedule is not None:
        lines = [f"### {spec.paper} {spec.label}, {schedule_text(t.schedule).upper()} (not a reproduction): "
                 f"{spec.caption}", ""]
    lines.append(f"_{_title(spec)}. Each cell: measured by this suite / printed in the paper (Δ = measured − paper). "
                 f"{t.n_measured} of {t.n_to_fill} cells measured._")
    lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for cells in body:
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for cmd, k in notes.commands.items():
        lines.append(f"[{k}] `{cmd}`  ")
    if notes.commands:
        lines.append("")
        lines.append(f"[{FILL_MARK}k]: the command that fills the cell (or completes it to the table's number of seeds; "
                     "finished runs are skipped).")
        lines.append("")
    for line in _legend_lines(marks):
        lines.append(f"- {_md_escape(line)}")
    for line in _failed_lines(t) + _header_lines(spec):
        lines.append(f"- {line}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- LaTeX

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_TEX_UNICODE = {"±": r"$\pm$", "†": r"\dag{}", "∗": "*", "—": "---", "–": "--", "−": "-", "Δ": r"$\Delta$",
                "β": r"$\beta$", "λ": r"$\lambda$", "≤": r"$\le$", "≥": r"$\ge$", "×": r"$\times$",
                "‖": r"$\|$", "’": "'", "‘": "`", "“": "``", "”": "''", "·": r"$\cdot$", "…": r"\ldots{}"}


def latex_escape(s: str) -> str:
    """Escape text for LaTeX (pdflatex, no unicode engine needed)."""
    out = []
    for ch in s:
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(latex_escape(ascii_) if ascii_ else "?")
    return "".join(out)


# Layout of the LaTeX tables (issue 16 item 8): every table fits the text width of a standard
# ``article`` (345 pt) without scaling. No ``\resizebox``: shrinking a 14-column table to the
# page makes 5 pt text. Instead:
#   * fixed-width ``p`` columns that wrap: row label 16 % of ``\linewidth``, each value column
#     15 %, the "Paper value" (provenance) column the rest (at least 20 %), ``\tabcolsep`` 3 pt,
#     ``\footnotesize``;
#   * each value cell is stacked: measured (wraps inside its column) / paper value / difference,
#     one per line;
#   * a table with more than ``LATEX_MAX_VALUE_COLUMNS`` value columns is split into column
#     blocks of balanced width (e.g. 12 -> 4 + 4 + 4), each a tabular that repeats the row labels
#     and the Paper value column;
#   * long tokens (``reject_rate@0.5``, ``GATCluster(2020)``) may break after ``_``/``@`` and
#     before ``(`` (:func:`latex_breakable`); every cell starts with ``\hspace{0pt}`` so that TeX
#     may hyphenate its first word too (``ClusterGAN`` in a 49 pt column).
#   * ``longtable`` (not a ``table`` float): a 13-row table with stacked cells is taller than a
#     page; a longtable breaks across pages and repeats its header. The notes follow as
#     ragged-right paragraphs (they may break across pages too).
# The compile test (tests/test_report.py) fails on any "Overfull \hbox" in the pdflatex log of
# every table of every paper.
LATEX_MAX_VALUE_COLUMNS = 4
LATEX_NEEDS = r"% needs \usepackage{booktabs}, \usepackage{array} and \usepackage{longtable}"
_W_LABEL, _W_VALUE, _W_PAPER_MIN = 0.16, 0.15, 0.20


def latex_breakable(s: str) -> str:
    """:func:`latex_escape` plus break points after ``_`` and ``@``, before ``±`` and before a ``(`` glued to a word."""
    out = latex_escape(s).replace(r"\_", r"\_\allowbreak{}").replace("@", r"@\allowbreak{}")
    out = out.replace(r"$\pm$", r"\allowbreak{}$\pm$")
    return "".join(r"\allowbreak(" if ch == "(" and i and out[i - 1] not in " {" else ch
                   for i, ch in enumerate(out))


def column_blocks(n: int, max_per_block: int = LATEX_MAX_VALUE_COLUMNS) -> list[list[int]]:
    """Split column indices ``0..n-1`` into the fewest consecutive blocks of at most
    ``max_per_block``, as equal in size as possible (10 -> 4, 3, 3)."""
    if n == 0:
        return [[]]
    k = -(-n // max_per_block)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    out, start = [], 0
    for size in sizes:
        out.append(list(range(start, start + size)))
        start += size
    return out


def latex_pcol(frac: float, align: str) -> str:
    """A wrapping column of ``frac`` of the line width (padding included)."""
    return f">{{{align}\\arraybackslash\\hspace{{0pt}}}}p{{\\dimexpr {frac:.2f}\\linewidth-2\\tabcolsep\\relax}}"


def latex_colspec(n_value: int, *, first: float = _W_LABEL, value: float = _W_VALUE,
                  last: float | None = None) -> str:
    """Column spec: a ragged-right first column, ``n_value`` centred value columns, and a
    ragged-right last column taking the rest of the line (or ``last``; none when 0)."""
    rest = 1.0 - first - value * n_value if last is None else last
    spec = latex_pcol(first, r"\raggedright") + latex_pcol(value, r"\centering") * n_value
    if rest > 0:
        spec += latex_pcol(max(rest, _W_PAPER_MIN), r"\raggedright")
    return spec


def render_latex(t: TableResult, *, standalone: bool = False) -> str:
    """Booktabs ``longtable`` blocks and notes that fit a standard ``article``'s text width (layout above);
    ``standalone=True`` wraps it in a compilable ``article`` document (default margins)."""
    spec, notes, marks = t.spec, _Notes(), table_marks(t.spec)
    ncol = len(spec.columns)
    first = "Method" if any("method" in r for r in spec.rows) else ""
    cell_tex: list[list[str]] = []
    for row in t.cells:
        texts = []
        for c in row:
            m, p, d = _cell_parts(c, notes)
            paper = latex_breakable(p)
            if marks.of(c.spec):
                paper += f"\\textsuperscript{{{latex_escape(','.join(marks.of(c.spec)))}}}"
            if not m:
                texts.append(paper)
                continue
            # mean on one line, "± std (n=..)" below it (a 46 pt column has no room for both)
            lines = [latex_breakable(m).replace(r" \allowbreak{}$\pm$", r" \newline $\pm$"), "/ " + paper]
            if d is not None:
                lines.append(f"($\\Delta$ {latex_escape(d)})")
            texts.append(r" \newline ".join(lines))
        cell_tex.append(texts)
    foot = [f"[{k}] \\texttt{{{latex_escape(cmd)}}}" for cmd, k in notes.commands.items()]
    if notes.commands:
        foot.append(f"[{FILL_MARK}k]: the command that fills the cell (or completes it to the table's number of seeds).")
    foot += [latex_escape(x) for x in _legend_lines(marks) + _failed_lines(t) + _header_lines(spec)]
    # unnumbered (\caption*): a numbered one printed "Table 1: Table 3 of ..." in the user's document
    short = f", {latex_escape(schedule_text(t.schedule))} (not a reproduction)" if t.schedule is not None else ""
    caption = (f"{latex_escape(spec.label)}{short} of {latex_escape(get_paper(spec.paper).title)}: "
               f"{latex_escape(spec.caption)} Each cell: measured / paper ($\\Delta$ = measured $-$ paper); "
               f"{t.n_measured} of {t.n_to_fill} cells measured.")
    lines = [LATEX_NEEDS, r"\begingroup", r"\setlength{\tabcolsep}{3pt}", r"\footnotesize"]
    for b, block in enumerate(column_blocks(ncol)):
        head = [first] + [latex_breakable(_col_label(spec, j)) for j in block] + ["Paper value"]
        colhead = [r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
        cont = f"\\multicolumn{{{len(block) + 2}}}{{l}}{{{latex_escape(spec.label)} (continued)}} \\\\"
        lines.append(r"\begin{longtable}{" + latex_colspec(len(block)) + "}")
        first_head = f"\\caption*{{{caption}}}\\\\" if b == 0 else cont
        lines += [first_head, *colhead, r"\endfirsthead", cont, *colhead, r"\endhead"]
        for i in range(len(t.cells)):
            cells = [latex_breakable(_row_label(spec, i)), *(cell_tex[i][j] for j in block),
                     latex_breakable(marks.row_text[i])]
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{longtable}"]
    lines += [r"\raggedright", *(f"{x}\\par" for x in foot), r"\endgroup", r"\medskip"]
    body = "\n".join(lines) + "\n"
    if not standalone:
        return body
    return latex_document(body)


LATEX_PREAMBLE = "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{array}\n\\usepackage{longtable}\n"


def latex_document(body: str) -> str:
    """``body`` in a standard ``article`` (default margins: the text width the tables are laid out for)."""
    return LATEX_PREAMBLE + "\\begin{document}\n" + body + "\\end{document}\n"


# --------------------------------------------------------------------------- CSV / JSON


def cell_rows(t: TableResult) -> list[dict[str, Any]]:
    """Long rows, one per cell: ids, status, n, measured value/std, paper value, difference, command."""
    spec = t.spec
    marks = table_marks(spec)
    out = []
    for row in t.cells:
        for c in row:
            s = c.spec
            entry = metric_lookup(s.metric) if s.metric else None
            out.append({
                "paper": spec.paper, "table": spec.number, "label": spec.label,
                "row": str(spec.rows[s.row]["label"]), "column": str(spec.columns[s.col]["label"]),
                "method": s.method, "dataset": s.dataset, "metric": s.metric,
                "settings": json.dumps(s.settings, sort_keys=True), "status": c.status,
                "aggregation": spec.aggregation, "scale": spec.scale, "n": c.n, "seeds": c.seeds,
                "n_failed": c.n_failed, "n_subset": c.n_subset, "n_without_metric": c.n_without_metric,
                "measured": _none_nan(c.value), "measured_std": _none_nan(c.std),
                "paper_printed": s.printed, "paper_value": _none_nan(s.paper_value),
                "paper_std": _none_nan(s.paper_std), "diff": _none_nan(c.diff), "command": c.command,
                "definition": entry.name if entry else None, "marks": ",".join(marks.of(s)),
                "paper_source": s.source, "cited_from": s.cited_from,
                "paper_aggregation": paper_aggregation_text(s.paper_aggregation, s.paper_runs), "measured_aggregation": _agg_text(spec),
                "caveat": s.caveat, "schedule": t.schedule, "n_shortened": c.n_shortened,
            })
    return out


def _none_nan(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def render_csv(tables: list[TableResult]) -> str:
    rows = [r for t in tables for r in cell_rows(t)]
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (json.dumps(v) if isinstance(v, list) else ("" if v is None else v)) for k, v in r.items()})
    return buf.getvalue()


def render_json(tables: list[TableResult]) -> str:
    doc = []
    for t in tables:
        s = t.spec
        doc.append({"paper": s.paper, "table": s.number, "label": s.label, "caption": s.caption,
                    "schedule": t.schedule,
                    "metric_definition": s.metric_definition, "nmi": s.nmi, "split": s.split,
                    "aggregation": s.aggregation, "seeds": s.seeds, "aggregation_note": s.aggregation_note,
                    "evaluation": evaluation_lines(s),
                    "notes": s.notes, "legend": table_marks(s).legend, "n_measured": t.n_measured, "n_to_fill": t.n_to_fill,
                    "cells": cell_rows(t)})
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render(tables: list[TableResult], fmt: str) -> str:
    """Render ``tables`` in ``fmt`` (md, latex, csv, json)."""
    if fmt == "md":
        return "\n".join(render_markdown(t) for t in tables)
    if fmt == "latex":
        return "\n".join(render_latex(t) for t in tables)
    if fmt == "csv":
        return render_csv(tables)
    if fmt == "json":
        return render_json(tables)
    raise UnknownNameError("format", fmt, ["md", "latex", "csv", "json"])
