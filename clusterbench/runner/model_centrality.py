"""ModelCentrality selection over stored runs (InfoGAN-CR's unsupervised model selection; DC3
Table 3's "+ MC" rows): ``clusterbench model-centrality METHOD --dataset D [--set k=v ...]``.

The pool is every finished run (status ok, all samples, ``model_selection = none``) of METHOD on
D whose config has the ``--set`` values; every other option may differ, so a pool is the seeds x
hyper-parameters that were run (e.g. ``--seeds 10`` at several ``info_weight`` values). Of several
records of one (config, seed) the most recent counts. Each run's ``model.pt`` is reloaded
(:func:`clusterbench.methods.gan.infogan_cr.load_model`, weights only), the pairwise similarities and
centralities are computed (:func:`clusterbench.metrics.model_centrality.model_centrality`), and
the most central run is selected.

The result is one new record of METHOD on D: the selected run's config with
``model_selection = "model-centrality"``, its metrics (the disentanglement scores its run
recorded) and seed, its ``model.pt`` as artifact, and ``extras["model_selection"]`` saying which
runs formed the pool (keys, seeds, configs' differing options, centralities), the similarity
matrix, the selected key and the sample sizes. Its key hashes the pool's keys and the selection
options, so the same pool gives the same record (rewritten) and another pool another record.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clusterbench.errors import ConfigError, DataError
from clusterbench.methods import METHODS, make_config
from clusterbench.methods.base import config_dict
from clusterbench.methods.gan.infogan_cr import DSPRITES_METHODS, load_model
from clusterbench.metrics.model_centrality import model_centrality
from clusterbench.results.records import SELECTION_KEY, RunRecord, iter_records, record_path, write_record
from clusterbench.runner.execute import environment
from clusterbench.runner.spec import code_version, incompatible_pairs, run_key

SELECTION = "model-centrality"


def _required(method: str, overrides: dict[str, str]) -> dict[str, Any]:
    """The ``--set`` values as a run's config stores them (typed, JSON-normalised)."""
    if SELECTION_KEY in overrides:
        raise ConfigError(f"--set {SELECTION_KEY} is not a pool filter: the pool is the trained runs "
                          f"({SELECTION_KEY}=none).")
    cfg = config_dict(make_config(METHODS[method].Config, overrides, method=method))
    return json.loads(json.dumps({k: cfg[k] for k in overrides}))


def pool_records(results_home: Path, method: str, dataset: str, required: dict[str, Any]
                 ) -> list[tuple[Path, RunRecord]]:
    """The pool's records (see the module docstring), ordered by seed then key."""
    latest: dict[str, tuple[Path, RunRecord]] = {}
    for path, rec in iter_records(results_home):
        cfg = rec.config
        if (rec.method != method or rec.dataset != dataset or rec.status != "ok" or rec.subset is not None
                or cfg.get(SELECTION_KEY, "none") != "none" or "model" not in rec.artifacts
                or any(cfg.get(k) != v for k, v in required.items())):
            continue
        ident = json.dumps({"config": cfg, "seed": rec.seed}, sort_keys=True)
        if ident not in latest or (rec.created, rec.key) > (latest[ident][1].created, latest[ident][1].key):
            latest[ident] = (path, rec)
    return sorted(latest.values(), key=lambda pr: (pr[1].seed, pr[1].key))


def select(results_home: Path, method: str, dataset: str, overrides: dict[str, str] | None = None, *,
           grid: int = 100, scale: float = 1.0, seed: int = 0, device: str = "cpu") -> RunRecord:
    """Select the central model of the pool and write its selection record; returns the record.

    grid: values per code in the pairwise FactorVAE scores; scale: fraction of FactorVAE's
    sample sizes (10,000 variance / 10,000 train / 5,000 eval votes; smaller only for smoke runs,
    at least 10 each; the record says which).
    """
    if method not in DSPRITES_METHODS:
        raise ConfigError(f"ModelCentrality selects among models with a generator and an encoder of codes: "
                          f"{' or '.join(DSPRITES_METHODS)}, not {method!r}.")
    if not 0 < scale <= 1:
        raise ConfigError(f"--scale must be in (0, 1], got {scale}.")
    for _, _, why in incompatible_pairs({method: METHODS[method]}, [dataset]):  # no pool can exist
        raise ConfigError(f"{method} cannot run on {dataset}, so it has no pool to select from: {why}",
                          hint=f"Select among {method} runs on dsprites (or another 64 x 64 data set).")
    required = _required(method, dict(overrides or {}))
    pool = pool_records(results_home, method, dataset, required)
    if len(pool) < 2:
        sets = "".join(f" --set {k}={v}" for k, v in (overrides or {}).items())
        raise DataError(f"ModelCentrality needs a pool of at least 2 finished runs of {method} on {dataset}"
                        f"{' with ' + ', '.join(f'{k}={v}' for k, v in required.items()) if required else ''}; "
                        f"found {len(pool)} in {results_home}.",
                        hint=f"Train the pool first: clusterbench run {method} --dataset {dataset} --seeds 10{sets}")
    t0 = time.perf_counter()
    models = []
    for path, rec in pool:
        weights = (path.parent / rec.artifacts["model"]).resolve()
        if not weights.is_relative_to(Path(results_home).resolve()):  # a record names files of its own home only
            raise DataError(f"The run {rec.key} ({path}) names a model file outside the results home: {weights}.",
                            hint="The record was edited or copied from elsewhere; rerun it (clusterbench run ... --force).")
        if not weights.exists():
            raise DataError(f"The run {rec.key} ({path}) has no model file {weights}.",
                            hint="Rerun it (clusterbench run ... --force) or remove its record.")
        models.append(load_model(weights, device=device).pool_model(rec.key, {"seed": rec.seed}))
    n = lambda x: max(int(round(x * scale)), 10)  # noqa: E731
    res = model_centrality(models, seed=seed, grid=grid, num_variance_estimate=n(10000), num_train=n(10000),
                           num_eval=n(5000))
    chosen_path, chosen = pool[res["selected"]]
    varied = sorted({k for _, r in pool for k in r.config if any(r.config.get(k) != o.config.get(k) for _, o in pool)})
    info = {
        "method": "ModelCentrality (Lin et al. 2020): symmetrised pairwise FactorVAE of one model's encoder "
                  "against another's generator; the most central model is selected",
        "pool": [{"key": r.key, "seed": r.seed, "centrality": float(c), **{k: r.config.get(k) for k in varied}}
                 for (_, r), c in zip(pool, res["centrality"])],
        "selected": chosen.key, "selected_seed": chosen.seed, "pool_filter": required, "varied_options": varied,
        "similarity": [[float(v) for v in row] for row in res["similarity"]],
        "grid": int(grid), "sample_scale": float(scale), "score_seed": int(seed),
    }
    config = {**chosen.config, SELECTION_KEY: SELECTION}
    key = run_key({"selection": SELECTION, "method": method, "dataset": dataset, "pool": [r.key for _, r in pool],
                   "grid": int(grid), "scale": float(scale), "seed": int(seed)})
    rec_file = record_path(results_home, method, dataset, key)
    artifacts = {"model": os.path.relpath((chosen_path.parent / chosen.artifacts["model"]).resolve(),
                                          rec_file.parent.resolve())}
    record = RunRecord(
        key=key, method=method, dataset=dataset, seed=chosen.seed, status="ok", config=config,
        dataset_checksum=chosen.dataset_checksum, subset=None, code_version=code_version(),
        metrics=dict(chosen.metrics), extras={**chosen.extras, "model_selection": info},
        timings={"selection_s": time.perf_counter() - t0}, device=device, environment=environment(device),
        artifacts=artifacts, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_record(results_home, record)
    return record


__all__ = ["SELECTION", "SELECTION_KEY", "pool_records", "select"]
