"""Hash retrieval metrics: hand-computed rankings (ties by gallery index) and a brute force."""

from __future__ import annotations

import numpy as np
import pytest

from clusterbench.metrics.retrieval import (
    hamming_distances,
    query_split,
    rank_gallery,
    retrieval_metrics,
)

G = np.array([[0, 0], [1, 1], [0, 1], [0, 0], [1, 0]])
GL = np.array(["A", "B", "A", "B", "A"])


def test_hand_computed_ranking_with_ties():
    Q = np.array([[0, 0], [1, 1]])
    QL = np.array(["A", "A"])
    d = hamming_distances(Q, G)
    assert d.tolist() == [[0, 2, 1, 0, 1], [2, 0, 1, 2, 1]]
    # ties broken by gallery index: g0 before g3, g2 before g4, g0 before g3
    assert rank_gallery(d).tolist() == [[0, 3, 2, 4, 1], [1, 2, 4, 0, 3]]
    m = retrieval_metrics(Q, QL, G, GL, topk=2)
    # q0 relevance in rank order 1,0,1,1,0; q1: 0,1,1,1,0
    assert m["precision@2"] == pytest.approx(0.5)
    assert m["map@2"] == pytest.approx((1.0 + 0.5) / 2)
    ap0 = (1 + 2 / 3 + 3 / 4) / 3
    ap1 = (1 / 2 + 2 / 3 + 3 / 4) / 3
    assert m["map"] == pytest.approx((ap0 + ap1) / 2)
    m3 = retrieval_metrics(Q[:1], QL[:1], G, GL, topk=3)
    assert m3["precision@3"] == pytest.approx(2 / 3) and m3["map@3"] == pytest.approx((1 + 2 / 3) / 2)


def test_query_without_relevant_items_counts_as_zero():
    m = retrieval_metrics(np.array([[0, 0], [0, 0]]), np.array(["A", "C"]), G, GL, topk=2)
    assert m["map@2"] == pytest.approx(0.5) and m["precision@2"] == pytest.approx(0.25)


def _brute(Q, QL, Gc, GLb, k):
    prec, apk, ap = [], [], []
    for q, lab in zip(Q, QL):
        dists = [(int(np.sum(q != g)), j) for j, g in enumerate(Gc)]
        order = [j for _, j in sorted(dists)]  # distance, then gallery index
        rel = [GLb[j] == lab for j in order]

        def ap_of(r):
            hits, s = 0, 0.0
            for i, x in enumerate(r, 1):
                if x:
                    hits += 1
                    s += hits / i
            return s / hits if hits else 0.0

        prec.append(sum(rel[:k]) / k)
        apk.append(ap_of(rel[:k]))
        ap.append(ap_of(rel))
    return np.mean(prec), np.mean(ap), np.mean(apk)


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_codes(seed):
    rng = np.random.default_rng(seed)
    bits = int(rng.choice([4, 8, 16]))
    Q, Gc = rng.integers(0, 2, (30, bits)), rng.integers(0, 2, (200, bits))
    QL, GLb = rng.integers(0, 4, 30), rng.integers(0, 4, 200)
    k = int(rng.choice([10, 50, 500]))
    m = retrieval_metrics(Q, QL, Gc, GLb, topk=k, chunk=7)
    p, a, ak = _brute(Q, QL, Gc, GLb, min(k, 200))
    assert m[f"precision@{k}"] == pytest.approx(p, abs=1e-12)
    assert m["map"] == pytest.approx(a, abs=1e-12)
    assert m[f"map@{k}"] == pytest.approx(ak, abs=1e-12)


def test_default_keys_are_the_report_keys():
    rng = np.random.default_rng(0)
    m = retrieval_metrics(rng.integers(0, 2, (5, 8)), np.zeros(5), rng.integers(0, 2, (50, 8)), np.zeros(50))
    assert set(m) == {"precision@1000", "map", "map@1000"}
    assert m["map"] == 1.0 and m["precision@1000"] == 1.0


def test_query_split_is_balanced_seeded_and_disjoint():
    y = np.repeat(np.arange(10), 150)
    q, g = query_split(y, n_query=1000, seed=3)
    assert q.size == 1000 and g.size == 500 and np.intersect1d(q, g).size == 0
    assert np.bincount(y[q]).tolist() == [100] * 10
    assert np.array_equal(q, query_split(y, seed=3)[0]) and not np.array_equal(q, query_split(y, seed=4)[0])
    q3, _ = query_split(np.repeat(np.arange(3), 50), n_query=10, seed=0)
    assert np.bincount(np.repeat(np.arange(3), 50)[q3]).tolist() == [4, 3, 3]
    with pytest.raises(ValueError):
        query_split(np.repeat(np.arange(2), 5), n_query=10)


def test_bad_codes_are_refused():
    with pytest.raises(ValueError):
        hamming_distances(np.array([[0, 2]]), G)
    with pytest.raises(ValueError):
        hamming_distances(np.array([[0, 1, 1]]), G)
