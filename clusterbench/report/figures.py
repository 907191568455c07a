"""Figures from run records (PNG, matplotlib Agg). Nothing is drawn without data: a figure with
no input is listed as missing, with the reason.

* ``acc_vs_epoch_<dataset>.png`` — clustering ACC per epoch (Dual-AAE Fig. 3) from the records'
  ``history`` (entries with ``epoch`` and ``acc``): mean over seeds per method, one line each.
* ``reject_<method>_<dataset>.png`` — the reject-option curve (Dual-AAE Sec. IV-C, Table IV):
  ACC on the accepted samples vs rejection rate, from the stored posteriors ``<key>.h5``
  (dataset ``proba``, N x K) beside the record and the labels (``y`` in that file, else the data
  set's labels from ``clusterbench.load`` when the sizes agree). A sample is rejected when its
  largest posterior is <= t; the cluster->class map is the Hungarian map on all samples. A hard
  clusterer (one-hot posteriors, e.g. k-means) has no reject option: no figure, a note says why.
* ``tsne_<method>_<dataset>.png`` — t-SNE of the stored ``embedding`` (Dual-AAE Fig. 4), at most
  2,000 samples (the paper's count; seeded subsample), coloured by label (or predicted cluster).
  For the GAN methods whose papers set z_n beside the raw data (:data:`RAW_DATA_TSNE_METHODS`:
  DLS Fig. 2, DC3-GAN Fig. 3) also ``tsne_data_<dataset>[_subset<N>].png``: t-SNE of the raw data
  (flattened) of the same samples (the record's rows: its subset's ``indices`` in ``<key>.h5``).
* ``dc3_fig3_tsne_zn_<dataset>.png`` — DC3-GAN Fig. 3: t-SNE of (a) the raw data, (b) z_n of
  ClusterGAN, (c) z_n of DC3-GAN, side by side, coloured by label, from the stored embeddings (a
  GAN method's stored ``embedding`` is its encoder's z_n) of the latest ok run of each (for
  dc3-gan the full model: a run whose config has the paper's ``method_defaults``, so no ablation)
  and the data set's rows (the run's ``indices`` for a subset run), at most 2,000 samples each.
  Made for every data set where at least one of the two methods has such a run.
* ``samples/<method>_<dataset>_s<seed>_<name>.png`` — per-cluster sample grids (Figs. 7, 8):
  PNG artifacts the records list, copied (their rows are labelled by
  ``clusterbench.training.artifacts``: row k = cluster k).
* ``bspl_ablations_<dataset>.png`` — ClusterGAN-BSPL Fig. 2: ACC of each ablation (gan=false,
  self_paced=off, consistency=false, self_paced=spl) minus the full method's, from runs that
  share every other setting (:func:`bspl_ablation_figure`).
* ``bspl_pca_<dataset>.png`` — ClusterGAN-BSPL Fig. 3: PCA of the raw data, of the BSPL+Lcons
  (gan=false) embedding and of the full method's embedding (:func:`bspl_pca_figure`).
"""

from __future__ import annotations

import shutil
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench import paths
from clusterbench.fsutil import atomic_path
from clusterbench.metrics.catalog import REJECT_CURVE_THRESHOLDS
from clusterbench.results.records import RunRecord, artifact_problem

TSNE_MAX_SAMPLES = 2000
#: Methods whose embedding (z_n) t-SNE the papers show beside the raw data's (DLS Fig. 2, DC3 Fig. 3).
RAW_DATA_TSNE_METHODS = ("dls", "clustergan", "dc3-gan")


@dataclass
class FigureReport:
    made: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # "figure: reason"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _plt().close(fig)


def _ok(records: list[tuple[Path, RunRecord]]) -> list[tuple[Path, RunRecord]]:
    return [(p, r) for p, r in records if r.status == "ok"]


def _latest_per(records, key) -> dict[Any, tuple[Path, RunRecord]]:
    out: dict[Any, tuple[Path, RunRecord]] = {}
    for p, r in sorted(records, key=lambda pr: (pr[1].created, pr[1].key)):
        out[key(r)] = (p, r)
    return out


# --------------------------------------------------------------------------- ACC vs epoch


def train_curve(history: list[dict[str, Any]]) -> dict[int, float]:
    """{training epoch: ACC} from a run's history (pre-training and initialisation rows, whose
    epochs restart at 1 or are 0, are left out)."""
    return {int(h["epoch"]): float(h["acc"]) for h in history
            if isinstance(h, dict) and "epoch" in h and h.get("phase", "train") == "train"
            and isinstance(h.get("acc"), (int, float))}


def acc_curves(records: list[tuple[Path, RunRecord]], out: Path) -> FigureReport:
    """One figure per data set whose records have per-epoch ``acc`` in their history."""
    rep = FigureReport()
    by_ds: dict[str, dict[str, list[dict[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for _, r in _ok(records):
        curve = train_curve(r.history)
        if curve:
            by_ds[r.dataset][r.method].append(curve)
    if not by_ds:
        rep.missing.append("acc_vs_epoch (Dual-AAE Fig. 3): no ok record has a history with 'epoch' and 'acc'")
        return rep
    plt = _plt()
    for ds, methods in sorted(by_ds.items()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for m, curves in sorted(methods.items()):
            epochs = sorted(set().union(*curves))
            mean = [np.mean([c[e] for c in curves if e in c]) * 100 for e in epochs]
            ax.plot(epochs, mean, label=f"{m} (n={len(curves)})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("ACC (%)")
        ax.set_title(f"Clustering accuracy per epoch on {ds}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        path = out / f"acc_vs_epoch_{ds}.png"
        _save(fig, path)
        rep.made.append(path)
    return rep


# --------------------------------------------------------------------------- reject option


def reject_curve(y: np.ndarray, proba: np.ndarray, thresholds=REJECT_CURVE_THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """(rejection rate, ACC on accepted) per threshold, both in [0, 1] (ACC NaN when all rejected).

    y: (N,) classes; proba: (N, K) posteriors. Rejected: max posterior <= t. The cluster -> class
    map is the Hungarian map fitted on all N samples (rejection does not change the mapping).
    """
    from clusterbench.metrics.clustering import cluster_to_class_map  # lazily: scipy, sklearn (fast start)

    pred = proba.argmax(axis=1)
    mapping = cluster_to_class_map(y, pred)
    mapped = np.array([mapping.get(int(c), -1) for c in pred])
    conf = proba.max(axis=1)
    rates, accs = [], []
    for t in thresholds:
        keep = conf > t
        rates.append(1.0 - keep.mean())
        accs.append(float((mapped[keep] == y[keep]).mean()) if keep.any() else float("nan"))
    return np.asarray(rates), np.asarray(accs)


def is_hard(proba: np.ndarray) -> bool:
    """True when every row of the N x K posteriors is one-hot (a hard clusterer such as k-means):
    its largest posterior is 1 everywhere, nothing is ever rejected and the curve is empty."""
    proba = np.asarray(proba, dtype=np.float64)
    return bool(len(proba)) and bool(np.all(proba.max(axis=1) >= 1.0 - 1e-9))


def _read_outputs(h5: Path) -> dict[str, np.ndarray]:
    """The stored arrays of a sidecar; a corrupt or truncated one is skipped with a warning naming
    it (empty dict), so one bad file never aborts ``report --all``."""
    import h5py

    out = {}
    try:
        with h5py.File(h5, "r") as f:
            for k in ("proba", "embedding", "y", "indices"):
                if k in f:
                    out[k] = np.asarray(f[k])
    except (OSError, KeyError, ValueError) as exc:
        warnings.warn(f"skipping the corrupt or truncated outputs file {h5} ({exc})", stacklevel=2)
        return {}
    return out


def _fetched_dataset(r: RunRecord) -> tuple[tuple[Any, np.ndarray] | None, str]:
    """``((X, y), "")`` of the run's fetched data set, or ``(None, why)``: the report never fetches
    (``clusterbench fetch`` does), and an unreadable file is the reason a figure is missing."""
    from clusterbench.data.hdf5 import read_dataset  # lazily: h5py, scipy (fast start)

    path = paths.dataset_file(r.dataset)
    if not path.exists():
        return None, f"is not fetched (no {path})"
    try:
        X, y, _ = read_dataset(path)
    except Exception as exc:  # noqa: BLE001 - reported as the reason the figure is missing
        return None, f"is unreadable ({exc})"
    return (X, y), ""


def _labels_for(r: RunRecord, n: int, stored: dict[str, np.ndarray]) -> tuple[np.ndarray | None, str]:
    """Labels aligned with the stored outputs, or (None, why)."""
    if "y" in stored and len(stored["y"]) == n:
        return stored["y"].astype(np.int64), ""
    data, why = _fetched_dataset(r)
    if data is None:
        return None, f"labels unavailable: {r.dataset} {why}"
    y = np.asarray(data[1])
    if len(y) != n:
        return None, f"{n} stored rows but {r.dataset} has {len(y)} labels (subset/split not recorded)"
    return y.astype(np.int64), ""


def _raw_rows(r: RunRecord, n: int, stored: dict[str, np.ndarray]) -> tuple[np.ndarray | None, str]:
    """The data set's samples aligned with the stored outputs (n x features, float64), or (None, why)."""
    data, why = _fetched_dataset(r)
    if data is None:
        return None, f"{r.dataset} {why}"
    X = data[0]
    rows = stored.get("indices")
    if rows is None and X.shape[0] != n:
        return None, f"{n} stored rows but {r.dataset} has {X.shape[0]} samples (subset rows not stored)"
    if rows is not None and len(rows) != n:
        return None, f"{n} stored rows but {len(rows)} stored indices"
    sel = X[np.asarray(rows, dtype=np.int64)] if rows is not None else X
    if hasattr(sel, "toarray"):  # sparse data sets
        sel = sel.toarray()
    return np.asarray(sel, dtype=np.float64).reshape(n, -1), ""


def reject_curves(records: list[tuple[Path, RunRecord]], out: Path) -> FigureReport:
    rep = FigureReport()
    latest = _latest_per([(p, r) for p, r in _ok(records) if p.with_suffix(".h5").exists()],
                         key=lambda r: (r.method, r.dataset, r.seed))
    groups: dict[tuple[str, str], list[tuple[int, tuple[np.ndarray, np.ndarray]]]] = defaultdict(list)
    for (m, ds, _), (p, r) in sorted(latest.items()):
        stored = _read_outputs(p.with_suffix(".h5"))
        if "proba" not in stored:
            continue
        if is_hard(stored["proba"]):
            rep.missing.append(f"reject_{m}_{ds}: {m} is a hard clusterer (one-hot posteriors): no reject option, "
                               f"every sample has confidence 1, so the curve would be empty")
            continue
        y, why = _labels_for(r, len(stored["proba"]), stored)
        if y is None:
            rep.missing.append(f"reject_{m}_{ds}: {why}")
            continue
        groups[(m, ds)].append((r.seed, reject_curve(y, stored["proba"])))
    rep.missing = list(dict.fromkeys(rep.missing))  # one note per (method, data set), not one per seed
    if not groups and not rep.missing:
        rep.missing.append("reject-option curve (Dual-AAE Table IV): no ok record has stored posteriors (<key>.h5 with 'proba')")
    plt = _plt()
    for (m, ds), curves in sorted(groups.items()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for seed, (rate, acc) in curves:
            ax.plot(rate * 100, acc * 100, alpha=0.8, label=f"seed {seed}")
        ax.set_xlabel("rejection rate (%)")
        ax.set_ylabel("ACC on accepted samples (%)")
        ax.set_title(f"Reject option: {m} on {ds} (threshold 0 to 0.99)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        path = out / f"reject_{m}_{ds}.png"
        _save(fig, path)
        rep.made.append(path)
    return rep


# --------------------------------------------------------------------------- t-SNE


def _tsne_2d(points: np.ndarray) -> np.ndarray:
    """N x d -> N x 2 t-SNE (PCA init, seed 0, perplexity min(30, (N - 1) / 3))."""
    from sklearn.manifold import TSNE  # lazily: sklearn (fast start)
    from threadpoolctl import threadpool_limits

    perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3)))
    # small inputs: one thread (OpenMP start-up on a busy machine costs more than it saves)
    with threadpool_limits(1 if len(points) < 1000 else None):
        return TSNE(n_components=2, init="pca", random_state=0, perplexity=perplexity).fit_transform(points)


def _scatter_png(plt: Any, xy: np.ndarray, colour: np.ndarray | None, what: str, title: str, path: Path) -> Path:
    """One 2-D scatter (coloured by ``what`` when ``colour`` is given) saved as ``path``."""
    fig, ax = plt.subplots(figsize=(5, 5))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=4, cmap="tab10" if colour is not None else None)
    if colour is not None:
        fig.colorbar(sc, ax=ax, label=what)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    _save(fig, path)
    return path


def tsne_plots(records: list[tuple[Path, RunRecord]], out: Path, *, max_samples: int = TSNE_MAX_SAMPLES) -> FigureReport:
    rep = FigureReport()
    latest = _latest_per([(p, r) for p, r in _ok(records) if p.with_suffix(".h5").exists()],
                         key=lambda r: (r.method, r.dataset))
    plt = _plt()
    raw_done: set[tuple[str, int | None]] = set()
    for (m, ds), (p, r) in sorted(latest.items()):
        stored = _read_outputs(p.with_suffix(".h5"))
        emb = stored.get("embedding")
        if emb is None:
            continue
        emb = np.asarray(emb, dtype=np.float64).reshape(len(emb), -1)
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(len(emb), size=min(max_samples, len(emb)), replace=False))
        y, _ = _labels_for(r, len(emb), stored)
        colour, what = (y[idx], "label") if y is not None else (
            (stored["proba"].argmax(1)[idx], "cluster") if "proba" in stored else (None, ""))
        rep.made.append(_scatter_png(plt, _tsne_2d(emb[idx]), colour, what,
                                     f"t-SNE of {m} embedding on {ds} ({len(idx)} samples)", out / f"tsne_{m}_{ds}.png"))
        if m in RAW_DATA_TSNE_METHODS and (ds, r.subset) not in raw_done:
            raw_done.add((ds, r.subset))
            X, why = _raw_rows(r, len(emb), stored)
            if X is None:
                rep.missing.append(f"t-SNE of the raw {ds} data (DLS Fig. 2(1), DC3 Fig. 3(a)): {why}")
                continue
            name = f"tsne_data_{ds}.png" if r.subset is None else f"tsne_data_{ds}_subset{r.subset}.png"
            rep.made.append(_scatter_png(plt, _tsne_2d(X[idx]), colour, what,
                                         f"t-SNE of the raw {ds} data ({len(idx)} samples)", out / name))
    if not rep.made:
        rep.missing.append("t-SNE of embeddings (Dual-AAE Fig. 4): no ok record has a stored 'embedding' (<key>.h5)")
    return rep


# --------------------------------------------------------------------------- DC3 Fig. 3

#: DC3-GAN Fig. 3's panels after the raw data: (panel title, method id).
DC3_FIG3_PANELS: tuple[tuple[str, str], ...] = (("(b) z_n of ClusterGAN", "clustergan"), ("(c) z_n of DC3-GAN", "dc3-gan"))


def _paper_defaults(paper: str, method: str) -> dict[str, Any]:
    """The ``method_defaults`` of ``method`` in ``paper``'s table spec (the full model's switches)."""
    from clusterbench.report.spec import get_paper  # lazily: the figures need no table specs otherwise

    tables = list(get_paper(paper).tables.values())
    return dict(tables[0].method_defaults.get(method, {})) if tables else {}


def dc3_fig3_runs(records: list[tuple[Path, RunRecord]]) -> dict[tuple[str, str], tuple[Path, RunRecord]]:
    """(method, data set) -> the latest ok run of a Fig. 3 method with stored outputs (dc3-gan: the
    full model, whose config has the paper's ``method_defaults``; ablations are left out)."""
    methods = [m for _, m in DC3_FIG3_PANELS]
    defaults = {m: _paper_defaults("dc3", m) for m in methods}

    def full_model(r: RunRecord) -> bool:
        return all(r.config.get(k, v) == v for k, v in defaults[r.method].items())

    runs = [(p, r) for p, r in _ok(records) if r.method in methods and full_model(r) and p.with_suffix(".h5").exists()]
    return _latest_per(runs, key=lambda r: (r.method, r.dataset))


def dc3_fig3(records: list[tuple[Path, RunRecord]], out: Path, *, max_samples: int = TSNE_MAX_SAMPLES) -> FigureReport:
    """DC3-GAN Fig. 3 per data set (module docstring)."""
    rep = FigureReport()
    latest = dc3_fig3_runs(records)
    datasets = sorted({ds for _, ds in latest})
    if not datasets:
        rep.missing.append("dc3_fig3_tsne_zn (DC3 Fig. 3): no ok clustergan or full-model dc3-gan record with a stored "
                           "embedding (<key>.h5)")
        return rep
    plt = _plt()
    rng_seed = 0
    for ds in datasets:
        panels: list[tuple[str, np.ndarray | None, np.ndarray | None, str]] = []  # title, points, labels, why
        raw_done = False
        for title, m in DC3_FIG3_PANELS:
            if (m, ds) not in latest:
                panels.append((title, None, None, f"no ok {m} run on {ds} with a stored embedding"))
                continue
            p, r = latest[(m, ds)]
            stored = _read_outputs(p.with_suffix(".h5"))
            emb = stored.get("embedding")
            if emb is None:
                panels.append((title, None, None, f"{m}'s outputs have no embedding"))
                continue
            y, _ = _labels_for(r, len(emb), stored)
            if not raw_done:
                X, why = _raw_rows(r, len(emb), stored)
                panels.insert(0, ("(a) raw data", X, y, why))
                raw_done = True
            panels.append((title, np.asarray(emb, dtype=np.float64).reshape(len(emb), -1), y, ""))
        if not raw_done:
            panels.insert(0, ("(a) raw data", None, None, "no run to take the rows from"))
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
        for ax, (title, pts, y, why) in zip(axes, panels):
            ax.set_xticks([])
            ax.set_yticks([])
            if pts is None:
                ax.text(0.5, 0.5, f"missing:\n{why}", ha="center", va="center", fontsize=7, wrap=True,
                        transform=ax.transAxes)
                ax.set_title(title, fontsize=9)
                rep.missing.append(f"dc3_fig3_tsne_zn_{ds} panel {title}: {why}")
                continue
            idx = np.sort(np.random.default_rng(rng_seed).choice(len(pts), size=min(max_samples, len(pts)), replace=False))
            xy = _tsne_2d(pts[idx])
            ax.scatter(xy[:, 0], xy[:, 1], c=None if y is None else y[idx], s=3, cmap="tab10" if y is not None else None)
            ax.set_title(f"{title} ({len(idx)} samples, {pts.shape[1]}-d)", fontsize=9)
        fig.suptitle(f"DC3-GAN Fig. 3 on {ds}: t-SNE of the raw data and of z_n, coloured by label", fontsize=10)
        path = out / f"dc3_fig3_tsne_zn_{ds}.png"
        _save(fig, path)
        rep.made.append(path)
    return rep


# --------------------------------------------------------------------------- sample grids


def sample_grids(records: list[tuple[Path, RunRecord]], out: Path) -> FigureReport:
    rep = FigureReport()
    for p, r in _ok(records):
        for name, rel in sorted(r.artifacts.items()):
            if not str(rel).lower().endswith(".png"):
                continue
            problem = artifact_problem(p, name, rel)
            if problem is not None:  # a record names files of its own run only
                warnings.warn(f"not copying an artifact of the run record {p}: {problem}", stacklevel=2)
                rep.missing.append(f"samples {r.method}/{r.dataset} seed {r.seed} {name}: refused ({problem})")
                continue
            src = p.parent / rel
            if not src.is_file():
                rep.missing.append(f"samples {r.method}/{r.dataset} seed {r.seed} {name}: {src} listed but absent")
                continue
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).removesuffix(".png")
            dst = out / "samples" / f"{r.method}_{r.dataset}_s{r.seed}_{safe}.png"
            with atomic_path(dst, suffix=".png") as tmp:
                shutil.copyfile(src, tmp)
            rep.made.append(dst)
    if not rep.made and not rep.missing:
        rep.missing.append("per-cluster sample grids (Dual-AAE Figs. 7, 8): no ok record lists a PNG artifact")
    return rep


# --------------------------------------------------------------------------- BSPL Figs. 2 and 3

#: ClusterGAN-BSPL's Fig. 2 ablations: label -> the config switches (gan, self_paced, consistency).
BSPL_FULL = {"gan": True, "self_paced": "bspl", "consistency": True}
BSPL_ABLATIONS: dict[str, dict[str, Any]] = {
    "BSPL+Lcons": {"gan": False, "self_paced": "bspl", "consistency": True},
    "GAN+Lcons": {"gan": True, "self_paced": "off", "consistency": True},
    "GAN+BSPL": {"gan": True, "self_paced": "bspl", "consistency": False},
    "GAN+SPL+Lcons": {"gan": True, "self_paced": "spl", "consistency": True},
}
BSPL_METHOD = "clustergan-bspl"


def _bspl_variant(config: dict[str, Any]) -> str | None:
    """"full", an ablation label of :data:`BSPL_ABLATIONS`, or None (another setting)."""
    have = {k: config.get(k, v) for k, v in BSPL_FULL.items()}
    if have == BSPL_FULL:
        return "full"
    return next((name for name, want in BSPL_ABLATIONS.items() if have == want), None)


def _bspl_groups(records: list[tuple[Path, RunRecord]]) -> dict[tuple, dict[str, list[tuple[Path, RunRecord]]]]:
    """clustergan-bspl clustering records grouped by (data set, subset, every other config
    setting): variant -> records (the latest per seed). Retrieval records are left out."""
    import json

    groups: dict[tuple, dict[str, dict[int, tuple[Path, RunRecord]]]] = defaultdict(lambda: defaultdict(dict))
    for p, r in sorted(_ok(records), key=lambda pr: (pr[1].created, pr[1].key)):
        if r.method != BSPL_METHOD or "acc" not in r.metrics or r.config.get("protocol") == "retrieval":
            continue
        variant = _bspl_variant(r.config)
        if variant is None:
            continue
        rest = {k: v for k, v in r.config.items() if k not in BSPL_FULL}
        groups[(r.dataset, r.subset, json.dumps(rest, sort_keys=True, default=str))][variant][r.seed] = (p, r)
    return {g: {v: list(s.values()) for v, s in d.items()} for g, d in groups.items()}


def _subset_text(subset: int | None) -> str:
    return f" (subset {subset})" if subset is not None else ""


def bspl_ablation_differences(variants: dict[str, list[tuple[Path, RunRecord]]]
                              ) -> list[tuple[str, float, int, bool]]:
    """Per Fig. 2 ablation present in ``variants`` (variant name -> its (path, record) runs, "full"
    included): (name, ACC difference vs the full method in points, number of seeds, paired).
    Paired by seed: the mean over the seeds both have of ACC(ablation, s) - ACC(full, s), the latest
    record per (variant, seed) (seeds differ more than ablations do on short runs, so a one-seed
    ablation against a many-seed mean would show seed noise); with no seed in common, the difference
    of the two means, marked unpaired."""

    def by_seed(runs: list[tuple[Path, RunRecord]]) -> dict[int, float]:
        return {s: float(r.metrics["acc"]) for s, (_, r) in _latest_per(runs, key=lambda r: r.seed).items()}

    full = by_seed(variants["full"])
    rows = []
    for name in (n for n in BSPL_ABLATIONS if n in variants):
        abl = by_seed(variants[name])
        common = sorted(set(abl) & set(full))
        if common:
            rows.append((name, float(np.mean([abl[s] - full[s] for s in common])) * 100, len(common), True))
        else:
            rows.append((name, (float(np.mean(list(abl.values()))) - float(np.mean(list(full.values())))) * 100,
                         len(abl), False))
    return rows


def bspl_ablation_figure(records: list[tuple[Path, RunRecord]], out: Path) -> FigureReport:
    """``bspl_ablations_<dataset>.png`` (ClusterGAN-BSPL Fig. 2): the ACC of each Fig. 2 ablation
    minus the full method's (percentage points, paired by seed: :func:`bspl_ablation_differences`),
    for runs that share every other setting (epochs, bits, ...); per data set, the group of runs with
    the most ablations."""
    rep = FigureReport()
    best: dict[tuple[str, int | None], tuple[int, dict[str, list]]] = {}
    for (ds, subset, _), variants in _bspl_groups(records).items():
        n_abl = sum(1 for v in variants if v != "full")
        if "full" in variants and n_abl and n_abl > best.get((ds, subset), (0, {}))[0]:
            best[(ds, subset)] = (n_abl, variants)
    if not best:
        rep.missing.append("bspl_ablations (ClusterGAN-BSPL Fig. 2): no data set has clustergan-bspl runs of the full "
                           "method and of an ablation (gan=false, self_paced=off|spl, consistency=false) with "
                           "otherwise equal settings")
        return rep
    plt = _plt()
    for (ds, subset), (_, variants) in sorted(best.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        full = [r.metrics["acc"] for _, r in variants["full"]]
        rows = bspl_ablation_differences(variants)
        names, diffs = [n for n, *_ in rows], [d for _, d, *_ in rows]
        fig, ax = plt.subplots(figsize=(6, 4))
        bars = ax.bar(names, diffs, color=["tab:red" if d < 0 else "tab:green" for d in diffs])
        for b, (_, d, n_pairs, paired) in zip(bars, rows):
            label = f"{d:+.1f} ({n_pairs} seed{'s' if n_pairs != 1 else ''})" if paired else f"{d:+.1f} (means, unpaired)"
            ax.annotate(label, (b.get_x() + b.get_width() / 2, d),
                        ha="center", va="bottom" if d >= 0 else "top", fontsize=8)
        ax.axhline(0, color="k", lw=0.8)
        lo, hi = min(0.0, *diffs), max(0.0, *diffs)
        pad = 0.15 * max(hi - lo, 1.0)
        ax.set_ylim(lo - pad, hi + pad)  # room for the labels above/below the bars
        ax.set_ylabel("ACC difference vs full ClusterGAN-BSPL,\nsame seeds (points)")
        ax.set_title(f"Fig. 2 ablations on {ds}{_subset_text(subset)}: full ACC {np.mean(full) * 100:.1f}% "
                     f"(n={len(full)})", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        path = out / f"bspl_ablations_{ds}{'' if subset is None else f'_subset{subset}'}.png"
        _save(fig, path)
        rep.made.append(path)
    return rep


def _pca2(X: np.ndarray) -> np.ndarray:
    """N x D -> N x 2: the first two principal components."""
    Xc = X - X.mean(0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ vt[:2].T


def bspl_pca_figure(records: list[tuple[Path, RunRecord]], out: Path, *, max_samples: int = TSNE_MAX_SAMPLES) -> FigureReport:
    """``bspl_pca_<dataset>.png`` (ClusterGAN-BSPL Fig. 3): PCA to 2-D of (a) the raw data, (b) the
    BSPL+Lcons (gan=false) clusterer outputs, (c) the full ClusterGAN-BSPL outputs, from the latest
    runs of one group of equal settings (the stored ``embedding`` of each), at most ``max_samples``
    samples (seeded), coloured by label."""

    rep = FigureReport()
    plt = _plt()
    done: set[tuple[str, int | None]] = set()
    for (ds, subset, _), variants in sorted(_bspl_groups(records).items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        if (ds, subset) in done or "full" not in variants or "BSPL+Lcons" not in variants:
            continue
        pick = {v: max(variants[v], key=lambda pr: (pr[1].created, pr[1].key)) for v in ("full", "BSPL+Lcons")}
        stored = {}
        for v, (p, _) in pick.items():
            s = _read_outputs(p.with_suffix(".h5")) if p.with_suffix(".h5").exists() else {}
            if "embedding" in s:
                stored[v] = s
        if len(stored) < 2:
            continue
        n = len(stored["full"]["embedding"])
        if len(stored["BSPL+Lcons"]["embedding"]) != n:
            continue
        raw, why = _raw_rows(pick["full"][1], n, stored["full"])
        if raw is None:
            rep.missing.append(f"bspl_pca_{ds}: {why}")
            done.add((ds, subset))
            continue
        y, _ = _labels_for(pick["full"][1], n, stored["full"])
        idx = np.sort(np.random.default_rng(0).choice(n, size=min(max_samples, n), replace=False))
        panels = [("(a) raw data", raw), ("(b) BSPL+Lcons", stored["BSPL+Lcons"]["embedding"]),
                  ("(c) ClusterGAN-BSPL", stored["full"]["embedding"])]
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
        for ax, (title, Z) in zip(axes, panels):
            xy = _pca2(np.asarray(Z, dtype=np.float64).reshape(n, -1)[idx])
            ax.scatter(xy[:, 0], xy[:, 1], c=None if y is None else y[idx], s=4, cmap="tab10")
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"PCA of the representations on {ds}{_subset_text(subset)} ({len(idx)} samples"
                     f"{', coloured by label' if y is not None else ''}; ClusterGAN-BSPL Fig. 3)", fontsize=10)
        path = out / f"bspl_pca_{ds}{'' if subset is None else f'_subset{subset}'}.png"
        _save(fig, path)
        rep.made.append(path)
        done.add((ds, subset))
    if not rep.made and not rep.missing:
        rep.missing.append("bspl_pca (ClusterGAN-BSPL Fig. 3): no data set has stored embeddings of both a full "
                           "clustergan-bspl run and a gan=false (BSPL+Lcons) run with otherwise equal settings")
    return rep


#: Every figure family, in the order ``make_figures`` draws them.
FIGURE_MAKERS = (acc_curves, reject_curves, tsne_plots, dc3_fig3, sample_grids, bspl_ablation_figure, bspl_pca_figure)


def make_figures(records: list[tuple[Path, RunRecord]], out: Path, *,
                 on_step: Callable[[str], None] | None = None) -> FigureReport:
    """Every figure into ``out`` (created); returns what was made and what is missing and why.
    ``on_step(label)`` as each family starts (progress)."""
    out.mkdir(parents=True, exist_ok=True)
    total = FigureReport()
    for fn in FIGURE_MAKERS:
        if on_step:
            on_step(f"figures: {fn.__name__.replace('_', ' ')}")
        rep = fn(records, out)
        total.made += rep.made
        total.missing += rep.missing
    return total
