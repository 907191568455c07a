"""Reuters (DEC recipe) preprocessing at full scale on synthetic LYRL2004 token files.

Targets (issue 2): <= 10 min and <= 6 GB peak memory for 685,071 documents.

    python benchmarks/reuters_bench.py                      # full scale, files in a temp dir
    python benchmarks/reuters_bench.py --n-docs 68507       # a tenth
    python benchmarks/reuters_bench.py --dir /tmp/rb --keep # keep the generated files for reruns

The generator writes the five ``lyrl2004_tokens_*.dat.gz`` files and ``rcv1-v2.topics.qrels.gz``
in the real formats: ``n_docs`` single-label documents plus 17.4 % more documents that the filter
drops (two target topics, or none), as in RCV1-v2 (804,414 = 685,071 + 119,343); documents of
100..200 tokens wrapped 10 per line, drawn from a 300,000-word synthetic vocabulary with Zipf
frequencies (s = 1.1). The split over files follows RCV1-v2 (train 2.9 %, four test parts).

The preprocessor runs in a child process, so the figures are its own: wall time, and peak RSS
from ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the child's high-water mark, which includes
the interpreter, numpy, scipy and scikit-learn).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOKEN_FILES = {
    "tokens-test-pt0": "lyrl2004_tokens_test_pt0.dat.gz",
    "tokens-test-pt1": "lyrl2004_tokens_test_pt1.dat.gz",
    "tokens-test-pt2": "lyrl2004_tokens_test_pt2.dat.gz",
    "tokens-test-pt3": "lyrl2004_tokens_test_pt3.dat.gz",
    "tokens-train": "lyrl2004_tokens_train.dat.gz",
}
QRELS = "rcv1-v2.topics.qrels.gz"
TARGETS = ("CCAT", "GCAT", "MCAT", "ECAT")
OTHERS = ("C15", "C151", "E11", "GDIP", "M14", "GSPO", "C18", "E21")


def _words(n: int) -> list[bytes]:
    """n distinct alphabetic words (base-26 codes, at least 3 letters)."""
    out = []
    for i in range(n):
        k, s = i + 26 * 26, []
        while k:
            k, r = divmod(k, 26)
            s.append(97 + r)
        out.append(bytes(reversed(s)))
    return out


def generate(d: Path, *, n_docs: int, vocab: int = 300_000, seed: int = 0) -> dict[str, Path]:
    """Write the synthetic corpus into ``d``; returns {role: path}."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = _words(vocab)
    cdf = np.cumsum(1.0 / np.arange(1, vocab + 1) ** 1.1)
    cdf /= cdf[-1]
    n_total = int(round(n_docs * 804_414 / 685_071))
    # which documents are single-label: exactly n_docs of them
    single = np.zeros(n_total, dtype=bool)
    single[rng.choice(n_total, size=n_docs, replace=False)] = True
    # file split as RCV1-v2: train first ids (2.88 %), then four test parts
    bounds = np.cumsum([0.0, 0.0288, 0.2428, 0.2428, 0.2428, 0.2428]) * n_total
    bounds = np.round(bounds).astype(int)
    bounds[-1] = n_total
    order = ["tokens-train", "tokens-test-pt0", "tokens-test-pt1", "tokens-test-pt2", "tokens-test-pt3"]
    qrels = gzip.open(d / QRELS, "wb", compresslevel=1)
    for f, role in enumerate(order):
        with gzip.open(d / TOKEN_FILES[role], "wb", compresslevel=1) as fh:
            for start in range(bounds[f], bounds[f + 1], 10_000):
                stop = min(start + 10_000, bounds[f + 1])
                lens = rng.integers(100, 201, size=stop - start)
                ids = np.searchsorted(cdf, rng.random(int(lens.sum()))).tolist()
                buf, pos = [], 0
                for j, L in enumerate(lens.tolist()):
                    did = 2286 + start + j
                    toks = list(map(words.__getitem__, ids[pos:pos + L]))
                    pos += L
                    body = b"\n".join(b" ".join(toks[k:k + 10]) for k in range(0, L, 10))
                    buf.append(b".I %d\n.W\n%s\n\n" % (did, body))
                    i = start + j
                    if single[i]:
                        cats = [TARGETS[int(rng.integers(4))]]
                    elif rng.random() < 0.5:
                        cats = list(rng.choice(TARGETS, size=2, replace=False))
                    else:
                        cats = []
                    cats += list(rng.choice(OTHERS, size=int(rng.integers(1, 3)), replace=False))
                    qrels.write(b"".join(b"%s %d 1\n" % (c.encode(), did) for c in cats))
                fh.write(b"".join(buf))
    qrels.close()
    files = {r: d / n for r, n in TOKEN_FILES.items()}
    files["qrels"] = d / QRELS
    return files


def run_child(d: Path, h5: bool) -> None:
    """In the child: preprocess and print one JSON line of figures."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench
    from clusterbench.data.preprocessors.reuters import reuters

    files = {r: d / n for r, n in TOKEN_FILES.items()}
    files["qrels"] = d / QRELS
    t0 = time.perf_counter()
    p = reuters(files)
    t1 = time.perf_counter()
    out = {
        "n_docs": int(p.X.shape[0]),
        "shape": list(p.X.shape),
        "nnz": int(p.X.nnz),
        "format": type(p.X).__name__,
        "dtype": str(p.X.dtype),
        "preprocess_s": round(t1 - t0, 1),
    }
    if h5:
        from clusterbench.data.hdf5 import write_dataset

        write_dataset(d / "reuters.h5", p, name="reuters", n_clusters=4)
        out["write_h5_s"] = round(time.perf_counter() - t1, 1)
        out["h5_bytes"] = (d / "reuters.h5").stat().st_size
    out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-docs", type=int, default=685_071, help="single-label documents (default: full scale)")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--no-h5", action="store_true", help="skip writing the HDF5 file")
    ap.add_argument("--_child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child is not None:
        run_child(args._child, not args.no_h5)
        return
    d = args.dir or Path(tempfile.mkdtemp(prefix="reuters_bench_"))
    try:
        if not (d / QRELS).exists():
            t = time.perf_counter()
            generate(d, n_docs=args.n_docs)
            print(f"generated {args.n_docs:,} single-label documents in {time.perf_counter() - t:.0f} s "
                  f"({sum(p.stat().st_size for p in d.iterdir()) / 2**20:.0f} MiB of gz) in {d}")
        cmd = [sys.executable, __file__, "--_child", str(d)] + (["--no-h5"] if args.no_h5 else [])
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        if r.returncode:
            sys.exit(r.stderr)
        fig = json.loads(r.stdout.strip().splitlines()[-1])
        print(json.dumps(fig))
        print(f"reuters preprocessing: {fig['preprocess_s']:.1f} s (target <= 600 s), "
              f"peak RSS {fig['peak_rss_gb']:.2f} GB (target <= 6 GB), X {fig['format']} {fig['shape']} "
              f"{fig['dtype']} nnz={fig['nnz']:,}")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
