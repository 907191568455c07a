"""``clusterbench retrieval``: hash retrieval (BSPL Table 3) of hash functions and hashing methods.

For each (method, data set, bits, seed): the seeded query split (``--queries``, 1,000 = 100 per
class by default), the method fitted on the gallery only, precision@1000 / mAP / mAP@1000 in
Hamming space (``clusterbench.metrics.retrieval``). Each run is stored as a run record in the
results home (``<method>/<dataset>/<key>.json``, the layout of ``clusterbench run``), so that
``clusterbench report --paper clustergan-bspl --table 3`` fills from it and prints this command
for a missing cell. The record's ``config`` has ``hash_bits`` (the bits, as Table 3's columns
select them), ``protocol = "retrieval"``, ``split_seed`` and ``queries`` (and, for a hashing
method, its resolved config); its key hashes them with the data set checksum, subset, seed and
code version, like a run key. A run with an ok record is skipped unless ``--force``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from clusterbench import paths
from clusterbench.errors import ConfigError

err = Console(stderr=True)


def retrieval(
    methods: Annotated[list[str], typer.Argument(help="Hash functions (lsh, pcah, itq, speh, sphh, kmh) or hashing methods (clustergan-bspl).", show_default=False)],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Data set name.")] = "digits",
    bits: Annotated[Optional[list[int]], typer.Option("--bits", help="Code length; repeat for several. [default: 32 and 64]", show_default=False)] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (seed_start .. seed_start+N-1).")] = 1,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    subset: Annotated[Optional[int], typer.Option("--subset", help="Stratified subset of N samples (the run's subset seed).")] = None,
    queries: Annotated[int, typer.Option("--queries", help="Number of queries (balanced over the classes).")] = 1000,
    split_seed: Annotated[int, typer.Option("--split-seed", help="Seed of the query/gallery split.")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value for hashing methods; repeatable.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda (hashing methods).")] = "auto",
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home (default: $CLUSTERBENCH_RESULTS or <home>/runs).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun runs that already have an ok record.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the records as JSON lines.")] = False,
) -> None:
    """Retrieval on the standard protocol; one run record per run (see the module docstring)."""
    # lazy: data, methods (torch) and scikit-learn only when the command runs (fast `--help`)
    from clusterbench.data import load
    from clusterbench.methods import METHODS
    from clusterbench.methods.base import config_dict
    from clusterbench.methods.hashing.shallow import HASHERS, MethodHasher, evaluate_retrieval
    from clusterbench.results.records import RunRecord, has_ok_record, read_record, record_path, write_record
    from clusterbench.runner.execute import environment
    from clusterbench.runner.spec import SUBSET_SEED, RunSpec, code_version, parse_overrides, stratified_subset
    from clusterbench.runner.spec import validate_seeds
    from clusterbench.runtime import resolve_device

    # every option is checked before anything is loaded or trained
    validate_seeds(seeds, seed_start)
    validate_seeds(1, split_seed, start="--split-seed")
    if queries < 1:
        raise ConfigError(f"--queries must be at least 1, got {queries}.",
                          hint="Give the number of queries (balanced over the classes; 1000 in the paper).")
    if subset is not None and subset < 1:
        raise ConfigError(f"--subset must be a positive number of samples, got {subset}.")
    if any(b < 1 for b in (bits or [])):
        raise ConfigError(f"--bits must be at least 1, got {min(bits or [])}.")
    bits = bits or [32, 64]
    per_method = parse_overrides(set_, list(methods))  # key=value (all) or METHOD.key=value, as `run`
    for m in methods:
        if m not in HASHERS and not (m in METHODS and METHODS[m].hashes):
            hashing = sorted(k for k, c in METHODS.items() if c.hashes)
            raise ConfigError(f"{m!r} is neither a hash function nor a hashing method.",
                              hint=f"Hash functions: {', '.join(HASHERS)}; hashing methods: {', '.join(hashing) or 'none'}.")
        if m in HASHERS and per_method[m]:
            raise ConfigError(f"--set applies to hashing methods only; {m} has no options.")
    home = paths.results_home(results, writable=True)
    X, y, info = load(dataset)
    if subset is not None:
        idx = stratified_subset(y, subset, seed=SUBSET_SEED)
        X, y = X[idx], y[idx]
    dev = resolve_device(device)
    version = code_version()
    for m in methods:
        for b in bits:
            for seed in range(seed_start, seed_start + seeds):
                if m in HASHERS:
                    hasher = HASHERS[m](b)
                    config = {"hash_bits": b}
                else:
                    hasher = MethodHasher(m, b, n_clusters=int(info.n_clusters), overrides=per_method[m], device=dev)
                    config = config_dict(hasher.cfg)
                config.update(protocol="retrieval", split_seed=split_seed, queries=queries)
                spec = RunSpec(method=m, config=config, dataset=dataset, dataset_checksum=info.checksum, seed=seed,
                               subset=subset, code_version=version, n_clusters=int(info.n_clusters))
                path = record_path(home, m, dataset, spec.key)
                if not force and has_ok_record(path):
                    rec = read_record(path)
                    _print(rec, json_out, note="(recorded, skipped)")
                    continue
                t0 = time.perf_counter()
                res = evaluate_retrieval(X, y, hasher, seed=seed, split_seed=split_seed, n_query=queries)
                seconds = time.perf_counter() - t0
                extras = {**res.extras, "n_query": res.n_query, "n_gallery": res.n_gallery,
                          "features": "raw (flattened data set vectors)" if m in HASHERS else "the method's own input"}
                rec = RunRecord(key=spec.key, method=m, dataset=dataset, seed=seed, status="ok", config=config,
                                dataset_checksum=info.checksum, subset=subset, code_version=version,
                                metrics={k: float(v) for k, v in res.metrics.items()},
                                timings={"total_s": seconds}, environment=environment(str(dev)), device=str(dev),
                                extras=extras,
                                created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
                write_record(home, rec)
                _print(rec, json_out, note=f"({seconds:.1f}s)")


def _print(rec, json_out: bool, *, note: str) -> None:
    if json_out:
        print(json.dumps(rec.to_dict(), default=float))
        return
    mm = rec.metrics
    print(f"{rec.method} {rec.dataset} {rec.config['hash_bits']} bits seed {rec.seed}: "
          f"precision@1000={mm['precision@1000']:.4f} map={mm['map']:.4f} map@1000={mm['map@1000']:.4f} {note}")
