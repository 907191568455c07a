"""``clusterbench retrieval``: hash retrieval (BSPL Table 3) of hash functions and hashing methods.

For each (method, data set, bits, seed): the seeded 1,000-query split (100 per class), the
method fitted on the gallery only, precision@1000 / mAP / mAP@1000 in Hamming space
(``clusterbench.metrics.retrieval``). One JSON result per run, written atomically to
``$CLUSTERBENCH_HOME/retrieval/<method>/<dataset>/<bits>bits-seed<seed>[-subset<n>].json``
(``metrics`` uses the report's metric keys; ``config.hash_bits`` the bits, as Table 3's columns
select them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from clusterbench import paths
from clusterbench.errors import ConfigError

err = Console(stderr=True)


def retrieval(
    methods: Annotated[list[str], typer.Argument(help="Hash functions (lsh, pcah, itq, speh, sphh) or hashing methods (clustergan-bspl).", show_default=False)],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Data set name.")] = "digits",
    bits: Annotated[Optional[list[int]], typer.Option("--bits", help="Code length; repeat for several. [default: 32 and 64]", show_default=False)] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (seed_start .. seed_start+N-1).")] = 1,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    subset: Annotated[Optional[int], typer.Option("--subset", help="Stratified subset of N samples (the run's subset seed).")] = None,
    queries: Annotated[int, typer.Option("--queries", help="Number of queries (balanced over the classes).")] = 1000,
    split_seed: Annotated[int, typer.Option("--split-seed", help="Seed of the query/gallery split.")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value for hashing methods; repeatable.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda (hashing methods).")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON lines.")] = False,
) -> None:
    """Retrieval on the standard protocol; one result file per run (see the module docstring)."""
    # lazy: data, methods (torch) and scikit-learn only when the command runs (fast `--help`)
    from clusterbench.data import load
    from clusterbench.fsutil import atomic_path
    from clusterbench.hashing import HASHERS, MethodHasher, evaluate_retrieval
    from clusterbench.methods import METHODS
    from clusterbench.methods.base import config_dict
    from clusterbench.runner.spec import SUBSET_SEED, stratified_subset
    from clusterbench.runtime import resolve_device

    bits = bits or [32, 64]
    overrides: dict[str, str] = {}
    for item in set_ or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value.")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v.strip()
    for m in methods:
        if m not in HASHERS and not (m in METHODS and METHODS[m].hashes):
            hashing = sorted(k for k, c in METHODS.items() if c.hashes)
            raise ConfigError(f"{m!r} is neither a hash function nor a hashing method.",
                              hint=f"Hash functions: {', '.join(HASHERS)}; hashing methods: {', '.join(hashing) or 'none'}.")
    X, y, info = load(dataset)
    if subset is not None:
        idx = stratified_subset(y, subset, seed=SUBSET_SEED)
        X, y = X[idx], y[idx]
    dev = resolve_device(device)
    out_dir = paths.home() / "retrieval"
    for m in methods:
        for b in bits:
            for seed in range(seed_start, seed_start + seeds):
                if m in HASHERS:
                    if overrides:
                        raise ConfigError(f"--set applies to hashing methods only; {m} has no options.")
                    hasher = HASHERS[m](b)
                else:
                    hasher = MethodHasher(m, b, n_clusters=int(info.n_clusters), overrides=overrides, device=dev)
                t0 = time.perf_counter()
                res = evaluate_retrieval(X, y, hasher, seed=seed, split_seed=split_seed, n_query=queries)
                rec = {"method": m, "dataset": dataset, "seed": seed, "subset": subset,
                       "config": config_dict(hasher.cfg) if isinstance(hasher, MethodHasher) else {"hash_bits": b},
                       "split_seed": split_seed,
                       "n_query": res.n_query, "n_gallery": res.n_gallery, "metrics": res.metrics,
                       "extras": res.extras, "features": "raw (flattened data set vectors)",
                       "seconds": time.perf_counter() - t0, "dataset_checksum": info.checksum}
                name = f"{b}bits-seed{seed}" + (f"-subset{subset}" if subset is not None else "") + ".json"
                target = out_dir / m / dataset / name
                with atomic_path(target) as tmp:
                    Path(tmp).write_text(json.dumps(rec, indent=1, default=float))
                if json_out:
                    print(json.dumps(rec, default=float))
                else:
                    mm = res.metrics
                    print(f"{m} {dataset} {b} bits seed {seed}: precision@1000={mm['precision@1000']:.4f} "
                          f"map={mm['map']:.4f} map@1000={mm['map@1000']:.4f} ({rec['seconds']:.1f}s)")
