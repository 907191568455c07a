"""Hash retrieval metrics in Hamming space (BSPL paper Table 3; metrics-reference.md §7), pure numpy.

Codes are N x b arrays of bits (0/1, or booleans). For each query, the gallery is ranked by
Hamming distance, **ties broken by gallery index** (a stable sort of the distances, so the ranking
is a function of the codes and the gallery order only; DeepHash-pytorch's ``np.argsort`` leaves
ties to the sort implementation). A gallery item is relevant when it has the query's label.

* ``precision@k``: mean over queries of (#relevant in the top k) / k (k = min(k, gallery size));
* ``map@k``: mean over queries of AP@k, AP@k = mean over the relevant items within the top k of
  (relevant items up to and including it) / (its rank); a query with none contributes 0 and still
  counts (the DeepHash ``CalcTopMap`` convention);
* ``map``: ``map@k`` with k = the whole gallery.

The standard protocol (:func:`query_split`): 1,000 random queries, 100 per class (n_query / c per
class for c classes; the remainder goes one each to the lowest class ids), the rest is the gallery;
the draw is seeded. Methods are trained on the gallery only (the retrieval command does that).
"""

from __future__ import annotations

import numpy as np

#: The keys of ``retrieval_metrics`` at the paper's k = 1000 (report catalogue keys).
RETRIEVAL_KEYS: tuple[str, ...] = ("precision@1000", "map", "map@1000")


def _bits(codes: np.ndarray) -> np.ndarray:
    c = np.asarray(codes)
    if c.ndim != 2:
        raise ValueError(f"codes must be N x bits, got shape {c.shape}")
    if c.dtype != bool and not np.isin(c, (0, 1)).all():
        raise ValueError("codes must be 0/1 bits")
    return c.astype(np.float32)


def hamming_distances(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Q x b and G x b bit codes -> Q x G int32 Hamming distances."""
    q, g = _bits(query), _bits(gallery)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery codes differ in length: {q.shape[1]} vs {g.shape[1]}")
    agree = q @ g.T + (1 - q) @ (1 - g).T  # exact in float32 for b < 2**24
    return (q.shape[1] - np.rint(agree)).astype(np.int32)


def rank_gallery(dist: np.ndarray) -> np.ndarray:
    """Q x G distances -> Q x G gallery indices, nearest first, ties by gallery index (stable)."""
    return np.argsort(dist, axis=1, kind="stable")


def query_split(labels: np.ndarray, *, n_query: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(query indices, gallery indices), both sorted: ``n_query`` queries balanced over the classes
    (module docstring), drawn with ``numpy.random.default_rng(seed)``; the gallery is the rest."""
    y = np.asarray(labels).ravel()
    classes = np.unique(y)
    per, extra = divmod(int(n_query), classes.size)
    rng = np.random.default_rng(seed)
    picks = []
    for i, c in enumerate(classes):
        members = np.flatnonzero(y == c)
        need = per + (1 if i < extra else 0)
        if need >= members.size:
            raise ValueError(f"class {c!r} has {members.size} samples; {need} queries would leave none in the gallery")
        picks.append(rng.choice(members, size=need, replace=False))
    query = np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)
    gallery = np.setdiff1d(np.arange(y.size), query)
    return query, gallery


def retrieval_metrics(query_codes: np.ndarray, query_labels: np.ndarray, gallery_codes: np.ndarray,
                      gallery_labels: np.ndarray, *, topk: int = 1000, chunk: int = 256) -> dict[str, float]:
    """``precision@{topk}``, ``map`` (whole gallery) and ``map@{topk}`` (module docstring), in [0, 1].

    query_codes: Q x b bits; query_labels: (Q,); gallery_codes: G x b bits; gallery_labels: (G,).
    """
    ql, gl = np.asarray(query_labels).ravel(), np.asarray(gallery_labels).ravel()
    if len(ql) != len(query_codes) or len(gl) != len(gallery_codes):
        raise ValueError("codes and labels differ in length")
    if len(ql) == 0 or len(gl) == 0:
        raise ValueError("need at least one query and one gallery item")
    k = min(int(topk), gl.size)
    ranks = np.arange(1, gl.size + 1, dtype=np.float64)
    prec, ap_k, ap_all = [], [], []
    for s in range(0, ql.size, chunk):
        order = rank_gallery(hamming_distances(query_codes[s:s + chunk], gallery_codes))
        rel = (gl[order] == ql[s:s + chunk, None]).astype(np.float64)  # q x G, in ranked order
        hits = np.cumsum(rel, axis=1)
        prec.append(hits[:, k - 1] / k)
        ap_all.append(_ap(rel, hits, ranks))
        ap_k.append(_ap(rel[:, :k], hits[:, :k], ranks[:k]))
    return {f"precision@{topk}": float(np.concatenate(prec).mean()),
            "map": float(np.concatenate(ap_all).mean()),
            f"map@{topk}": float(np.concatenate(ap_k).mean())}


def _ap(rel: np.ndarray, hits: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    n_rel = rel.sum(axis=1)
    total = (rel * hits / ranks).sum(axis=1)
    return np.divide(total, n_rel, out=np.zeros_like(total), where=n_rel > 0)


__all__ = ["RETRIEVAL_KEYS", "hamming_distances", "query_split", "rank_gallery", "retrieval_metrics"]
