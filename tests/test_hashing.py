"""Shallow hash functions (LSH, PCAH, ITQ, spectral, spherical) on the retrieval protocol."""

from __future__ import annotations

import numpy as np
import pytest

from clusterbench.errors import ConfigError
from clusterbench.hashing import HASHERS, ITQ, SphericalHashing, evaluate_retrieval


def _blobs(n_per=150, k=5, d=20, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (k, d))
    X = np.concatenate([c + rng.normal(0, 1, (n_per, d)) for c in centers])
    return X.astype(np.float32), np.repeat(np.arange(k), n_per)


@pytest.mark.parametrize("name", sorted(HASHERS))
def test_hasher_codes_and_retrieval_beat_chance(name):
    X, y = _blobs()
    h = HASHERS[name](16)
    res = evaluate_retrieval(X, y, h, seed=0, n_query=100, topk=100)
    codes = h.encode(X[:7])
    assert codes.shape == (7, 16) and codes.dtype == np.uint8 and set(np.unique(codes)) <= {0, 1}
    assert np.array_equal(codes, h.encode(X[:7]))
    assert res.n_query == 100 and res.n_gallery == 650
    # chance level for 5 balanced classes is 0.2
    assert res.metrics["map@100"] > 0.5 and res.metrics["precision@100"] > 0.5, res.metrics


def test_itq_quantization_loss_decreases_and_rotation_is_orthogonal():
    X, _ = _blobs()
    h = ITQ(8).fit(X, seed=1)
    loss = np.array(h.quantization_loss)
    assert (np.diff(loss) <= 1e-6 * loss[0]).all() and loss[-1] < loss[0]
    np.testing.assert_allclose(h.R @ h.R.T, np.eye(8), atol=1e-10)


def test_spherical_hashing_bits_are_balanced_on_training_data():
    X, _ = _blobs(n_per=100)
    h = SphericalHashing(8).fit(X, seed=0)
    assert np.abs(h.encode(X).mean(0) - 0.5).max() < 0.05


def test_seeded_and_too_many_bits_refused():
    X, y = _blobs()
    a = HASHERS["lsh"](8).fit(X, seed=3).encode(X)
    assert np.array_equal(a, HASHERS["lsh"](8).fit(X, seed=3).encode(X))
    assert not np.array_equal(a, HASHERS["lsh"](8).fit(X, seed=4).encode(X))
    with pytest.raises(ConfigError):
        HASHERS["pcah"](64).fit(X)
    with pytest.raises(ConfigError):
        evaluate_retrieval(X[:20], y[:20], HASHERS["lsh"](8), n_query=1000)


def test_retrieval_command_writes_one_result_per_run(capsys, cb_home):
    import json

    from cli_helper import run_cli

    rc, out, err = run_cli(capsys, "retrieval", "itq", "lsh", "--dataset", "digits", "--bits", "8",
                           "--queries", "100", "--json")
    assert rc == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["method"] for r in recs] == ["itq", "lsh"]
    assert all(r["n_query"] == 100 and r["n_gallery"] == 1697 and r["config"]["hash_bits"] == 8 for r in recs)
    assert all(set(r["metrics"]) == {"precision@1000", "map", "map@1000"} for r in recs)
    files = sorted((cb_home / "retrieval").rglob("*.json"))
    assert len(files) == 2 and json.loads(files[0].read_text())["metrics"] == recs[0]["metrics"]
    rc, _, err = run_cli(capsys, "retrieval", "kmeans", "--dataset", "digits")
    assert rc == 1 and "neither a hash function" in err


def test_hashing_method_is_trained_on_the_gallery_and_encodes_queries():
    from clusterbench.hashing import MethodHasher

    X, y = _blobs(n_per=40)
    h = MethodHasher("clustergan-bspl", 8, n_clusters=5,
                     overrides={"epochs": "1", "batch_size": "20", "save_samples": "false"})
    res = evaluate_retrieval(X, y, h, seed=0, n_query=50, topk=100)
    assert h.cfg.hash_bits == 8 and h.output.proba.shape == (150, 5)  # fitted on the 150 gallery samples
    assert set(res.metrics) == {"precision@100", "map", "map@100"}
    with pytest.raises(ConfigError):
        MethodHasher("kmeans", 8, n_clusters=5)


def test_retrieval_command_runs_a_hashing_method_with_its_options(capsys, cb_home):
    import json

    from cli_helper import run_cli

    rc, out, err = run_cli(capsys, "retrieval", "clustergan-bspl", "--dataset", "digits", "--subset", "400",
                           "--bits", "16", "--queries", "100", "--device", "cpu",
                           "--set", "epochs=1", "--set", "save_samples=false", "--json")
    assert rc == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["config"]["hash_bits"] == 16 and rec["config"]["epochs"] == 1 and rec["n_gallery"] == 300
