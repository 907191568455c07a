"""The ``disentanglement`` evaluator: the seven scores of a method's encoder against the factor
labels a data set stores, on a tiny full-factorial dSprites-format data set (uint8 HDF5, the
layout of the real one), directly and through ``clusterbench run``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helper import run_cli
from method_data import write_tiny_dsprites

import clusterbench
from clusterbench import paths
from clusterbench.data.hdf5 import StoredArray
from clusterbench.evaluate import EVALUATORS, EvalContext, run_evaluators
from clusterbench.methods.gan.infogan_cr import DSpritesGANMethod
from clusterbench.metrics.catalog import lookup

KEYS = ("betavae", "factorvae", "dci", "sap", "mig", "modularity", "explicitness")


@pytest.fixture()
def dsprites_home(tmp_path, monkeypatch):
    """A CLUSTERBENCH_HOME whose ``dsprites`` is the tiny full-factorial set (stored as uint8)."""
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path / "home"))
    return write_tiny_dsprites()


def _ctx(X, **kw):
    base = dict(generator=None, sample_shape=(1, 64, 64), n_clusters=3, options={"disentanglement_scale": 0.01},
                real=X, dataset="dsprites")
    base.update(kw)
    return EvalContext(**base)


def test_perfect_encoder_scores_high_random_low(dsprites_home):
    path, X, f = dsprites_home
    lookup_factors = {X[i].tobytes(): f[i, 1:] for i in range(len(X))}
    perfect = lambda x: np.stack([lookup_factors[r.tobytes()] for r in x]).astype(float)  # noqa: E731
    stored = StoredArray(path)
    ctx = _ctx(stored, encoder=perfect, options={"disentanglement_scale": 0.02})
    res = run_evaluators(["disentanglement"], ctx, generative=True, clusters=False)
    m = res.metrics
    assert set(m) == set(KEYS) and all(lookup(k).inputs == "evaluator" for k in KEYS)
    # DCI: GradientBoosting's later trees fit residual noise on other codes, and sklearn averages
    # per-tree normalised importances; with two binary factors here that costs ~0.1 (the library's
    # behaviour too; test_disentanglement_data has > 0.9 without binary factors)
    assert m["betavae"] > 0.9 and m["factorvae"] > 0.9 and m["dci"] > 0.8 and m["modularity"] > 0.9
    assert m["explicitness"] > 0.9 and m["mig"] > 0.5
    facts = res.facts["disentanglement"]
    assert facts["factor_sizes"] == [3, 2, 2, 4, 4] and facts["sample_scale"] == 0.02
    assert 0 < facts["rows_read"] <= len(X)  # each sampled row read once, never more than the set

    noise = lambda x: np.random.default_rng(int(x.sum()) % 2**32).standard_normal((len(x), 5))  # noqa: E731
    bad = run_evaluators(["disentanglement"], _ctx(X, encoder=noise), generative=True, clusters=False).metrics
    assert bad["factorvae"] < 0.5 and bad["dci"] < 0.3 and bad["mig"] < 0.1


def test_skipped_with_a_reason(dsprites_home, monkeypatch):
    _, X, _ = dsprites_home
    clusterbench.load("digits")  # a stored data set without factor labels
    enc = lambda x: x.reshape(len(x), -1)[:, :5]  # noqa: E731
    cases = {
        "encoder": _ctx(X, encoder=None),
        "subset": _ctx(X[:50], encoder=enc, indices=np.arange(50)),
        "factor labels": _ctx(X, encoder=enc, dataset="digits"),
    }
    for why, ctx in cases.items():
        res = run_evaluators(["disentanglement"], ctx, generative=True, clusters=False)
        assert res.metrics == {} and why in res.facts["disentanglement"]["skipped"], why
    assert EVALUATORS["disentanglement"].needs_encoder and not EVALUATORS["disentanglement"].needs_generator


def test_a_run_records_the_seven_scores(dsprites_home, capsys, monkeypatch):
    """clusterbench run infogan-cr on dSprites with the evaluator: the record holds the seven
    scores and says how they were sampled; X stays in its file (out_of_core: never decoded whole)."""

    def whole(*a, **k):
        raise AssertionError("all of X was decoded to float32")

    monkeypatch.setattr(StoredArray, "__array__", whole)
    seen, fit = [], DSpritesGANMethod.fit
    monkeypatch.setattr(DSpritesGANMethod, "fit", lambda self, X, *a, **k: (seen.append(type(X)), fit(self, X, *a, **k))[1])
    rc, out, err = run_cli(capsys, "run", "infogan-cr", "--dataset", "dsprites", "--seeds", "1",
                           "--set", "epochs=1", "--set", "batch_size=32", "--set", "evaluate=disentanglement",
                           "--set", "disentanglement_scale=0.01")
    assert rc == 0, out + err
    assert seen == [StoredArray]
    records = list((paths.results_home()).rglob("*.json"))
    recs = [json.loads(p.read_text()) for p in records]
    recs = [r for r in recs if r.get("method") == "infogan-cr"]
    assert len(recs) == 1 and recs[0]["status"] == "ok", recs
    r = recs[0]
    assert set(KEYS) <= set(r["metrics"]) and "acc" not in r["metrics"]
    assert all(0.0 <= r["metrics"][k] <= 1.0 for k in KEYS)
    assert r["extras"]["evaluation"]["disentanglement"]["sample_scale"] == 0.01
    assert r["extras"]["clusters"] is False and r["artifacts"]["model"].endswith("model.pt")
