"""Shallow hash functions (LSH, PCAH, ITQ, spectral, spherical) on the retrieval protocol."""

from __future__ import annotations

import numpy as np
import pytest

from clusterbench.errors import ConfigError
from clusterbench.methods.hashing.shallow import HASHERS, ITQ, SphericalHashing, evaluate_retrieval


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


def test_retrieval_command_writes_one_record_per_run(capsys, cb_home):
    import json

    from cli_helper import run_cli

    from clusterbench.results.records import iter_records

    rc, out, err = run_cli(capsys, "retrieval", "itq", "lsh", "--dataset", "digits", "--bits", "8",
                           "--queries", "100", "--json")
    assert rc == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["method"] for r in recs] == ["itq", "lsh"]
    assert all(r["extras"]["n_query"] == 100 and r["extras"]["n_gallery"] == 1697 for r in recs)
    assert all(r["config"] == {"hash_bits": 8, "protocol": "retrieval", "split_seed": 0, "queries": 100} for r in recs)
    assert all(set(r["metrics"]) == {"precision@1000", "map", "map@1000"} for r in recs)
    stored = {r.method: r for _, r in iter_records(cb_home / "runs")}
    assert set(stored) == {"itq", "lsh"} and stored["itq"].metrics == recs[0]["metrics"]
    assert stored["lsh"].status == "ok" and stored["lsh"].key == recs[1]["key"]
    # a finished run is skipped (same key); another bit length is a new run
    rc, out, err = run_cli(capsys, "retrieval", "itq", "--dataset", "digits", "--bits", "8", "--bits", "4",
                           "--queries", "100")
    assert rc == 0 and "(recorded, skipped)" in out.splitlines()[0] and "skipped" not in out.splitlines()[1]
    assert len(list(iter_records(cb_home / "runs"))) == 3
    rc, _, err = run_cli(capsys, "retrieval", "kmeans", "--dataset", "digits")
    assert rc == 1 and "neither a hash function" in err
    rc, _, err = run_cli(capsys, "retrieval", "lsh", "--dataset", "digits", "--set", "epochs=1")
    assert rc == 1 and "hashing methods only" in err


def test_table3_fills_from_retrieval_records(capsys, cb_home, tmp_path):
    """A retrieval table (command = "retrieval") fills from the records `clusterbench retrieval`
    writes and prints that command for the cells still missing."""
    from cli_helper import run_cli

    import clusterbench.report.spec as S
    from clusterbench.report.render import fill_table, load_results, render_markdown

    f = tmp_path / "t3.toml"
    f.write_text('[paper]\nid = "clustergan-bspl"\n[[table]]\nnumber = "3"\nlabel = "T"\ncaption = "c"\ncommand = "retrieval"\n'
                 'aggregation = "mean_std"\nseeds = 2\nscale = 100\nmetric_definition = "m"\nnmi = "none"\n'
                 'split = "s"\naggregation_note = "a"\n'
                 'columns = [{label = "P 8", dataset = "digits", metric = "precision@1000", set = {hash_bits = 8}},\n'
                 '           {label = "mAP 16", dataset = "digits", metric = "map", set = {hash_bits = 16}}]\n'
                 'rows = [{label = "LSH", method = "lsh", values = ["20.0", "30.0"]},\n'
                 '        {label = "PCAH", method = "pcah", values = ["20.0", "30.0"]}]\n')
    spec = S.load_paper_file(f).tables["3"]
    rc, out, err = run_cli(capsys, "retrieval", "lsh", "--dataset", "digits", "--bits", "8", "--seeds", "2",
                           "--queries", "100")
    assert rc == 0, err
    t = fill_table(spec, load_results(cb_home / "runs"))
    lsh_p, lsh_map, pcah_p = t.cells[0][0], t.cells[0][1], t.cells[1][0]
    from clusterbench.results.records import iter_records

    vals = [r.metrics["precision@1000"] for _, r in iter_records(cb_home / "runs")]
    assert lsh_p.status == "measured" and lsh_p.n == 2 and lsh_p.command is None
    assert lsh_p.value == pytest.approx(100 * np.mean(vals))
    assert lsh_map.status == "missing" and lsh_map.command == "clusterbench retrieval lsh --dataset digits --seeds 2 --bits 16"
    assert pcah_p.command == "clusterbench retrieval pcah --dataset digits --seeds 2 --bits 8"
    assert "clusterbench retrieval pcah --dataset digits --seeds 2 --bits 8" in render_markdown(t)
    bad = tmp_path / "bad.toml"
    bad.write_text(f.read_text().replace('command = "retrieval"', 'command = "train"'))
    with pytest.raises(ConfigError, match="command must be one of"):
        S.load_paper_file(bad)


def test_hashing_method_is_trained_on_the_gallery_and_encodes_queries():
    from clusterbench.methods.hashing.shallow import MethodHasher

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
    assert rec["config"]["hash_bits"] == 16 and rec["config"]["epochs"] == 1 and rec["extras"]["n_gallery"] == 300
    assert rec["config"]["protocol"] == "retrieval" and rec["subset"] == 400 and rec["method"] == "clustergan-bspl"


def test_kmeans_hashing_codewords_preserve_the_hamming_affinity():
    """K-means hashing: 16 codewords per 4-bit subspace whose distances follow s·sqrt(Hamming) of
    their indices; a sample's bits are the index of its nearest codeword; dimensions are split
    into balanced subspaces; it ranks digits better than PCAH (as in the KMH paper)."""
    from clusterbench.data import load
    from clusterbench.methods.hashing.shallow import KMeansHashing, _allocate_dims, _dist, _index_bits

    bits = _index_bits(16, 4)
    assert bits.shape == (16, 4) and len({tuple(r) for r in bits}) == 16 and list(bits[5]) == [0, 1, 0, 1]
    dims = _allocate_dims(np.array([9.0, 8.0, 4.0, 3.0, 2.0, 1.0]), [3, 3])
    assert sorted(np.concatenate(dims).tolist()) == list(range(6)) and all(len(d) == 3 for d in dims)
    assert 0 in dims[0] and 1 in dims[1]                      # the two largest go to different subspaces

    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (600, 6)) * np.array([3, 2.5, 2, 1.5, 1, 0.5])
    h = KMeansHashing(6).fit(X, seed=0)                        # subspaces of 4 and 2 bits
    assert [len(d) for d in h.dims] == [4, 2] and [c.shape for c in h.codewords] == [(16, 4), (4, 2)]
    C = h.codewords[0]
    root_h = np.sqrt((bits[:, None, :] != bits[None, :, :]).sum(-1))
    off = ~np.eye(16, dtype=bool)
    assert np.corrcoef(_dist(C, C)[off], root_h[off])[0, 1] > 0.9
    codes = h.encode(X[:50])
    P = (X[:50] - h.mu) @ h.V
    nearest = _dist(P[:, h.dims[0]], C).argmin(1)
    assert np.array_equal(codes[:, :4], bits[nearest])
    X, y, _ = load("digits")
    kmh = evaluate_retrieval(X, y, HASHERS["kmh"](16), seed=0, n_query=500).metrics["map"]
    pcah = evaluate_retrieval(X, y, HASHERS["pcah"](16), seed=0, n_query=500).metrics["map"]
    assert kmh > pcah + 0.03, (kmh, pcah)


def test_builtin_hasher_ids_name_the_hashers():
    """The report reads the hasher ids from ``plugins.BUILTIN_HASHERS`` (it must not import
    methods/): that list names exactly the classes of ``HASHERS``."""
    from clusterbench.plugins import BUILTIN_HASHERS

    assert BUILTIN_HASHERS == {k: f"{c.__module__}:{c.__qualname__}" for k, c in HASHERS.items()}
