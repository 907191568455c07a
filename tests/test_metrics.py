"""Metrics on small cases worked out by hand (the working is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clusterbench.metrics import acc, ari, evaluate, modes_and_kl, nmi, purity, reject_curve, reject_option
from clusterbench.metrics.clustering import contingency

# --- ACC and purity ---------------------------------------------------------------------------


def test_acc_and_purity_k_equals_c():
    # y_true 0 0 0 1 1 2 / y_pred 1 1 0 0 0 2
    # w[pred, true]: pred0 = (1, 2, 0), pred1 = (2, 0, 0), pred2 = (0, 0, 1)
    # Hungarian: 1->0 (2), 0->1 (2), 2->2 (1) = 5 of 6.  Purity: 2 + 2 + 1 = 5 of 6.
    y, p = [0, 0, 0, 1, 1, 2], [1, 1, 0, 0, 0, 2]
    assert contingency(y, p).tolist() == [[1, 2, 0], [2, 0, 0], [0, 0, 1]]
    assert acc(y, p) == pytest.approx(5 / 6)
    assert purity(y, p) == pytest.approx(5 / 6)


def test_acc_is_invariant_to_relabelling_and_perfect_is_one():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert acc(y, (y + 1) % 3) == 1.0 and purity(y, (y + 1) % 3) == 1.0


def test_acc_more_clusters_than_classes_counts_surplus_as_errors():
    # 2 classes, 3 clusters: y_true 0 0 1 1 / y_pred 0 1 2 2
    # w[pred, true] (padded to 3x3): pred0 = (1, 0), pred1 = (1, 0), pred2 = (0, 2)
    # Hungarian: 2->1 (2) and one of {0, 1} -> 0 (1); the other cluster has no class: ACC 3/4.
    # Purity maps both 0 and 1 to class 0: 1 + 1 + 2 = 4/4.
    y, p = [0, 0, 1, 1], [0, 1, 2, 2]
    assert acc(y, p) == pytest.approx(3 / 4)
    assert purity(y, p) == 1.0


def test_acc_fewer_clusters_than_classes_equals_majority_mapping():
    # 3 classes, 2 clusters: y_true 0 0 1 1 2 2 / y_pred 0 0 1 1 1 1
    # pred0 = (2, 0, 0), pred1 = (0, 2, 2): Hungarian 0->0 (2), 1->1 or 2 (2): 4/6 = purity.
    y, p = [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]
    assert acc(y, p) == pytest.approx(4 / 6)
    assert purity(y, p) == pytest.approx(4 / 6)


# --- NMI ------------------------------------------------------------------------------------

# y_true 0 0 1 1 / y_pred 0 0 0 1
# H(true) = ln 2;  H(pred) = -(3/4 ln 3/4 + 1/4 ln 1/4)
# joint: (t0,p0) 1/2, (t1,p0) 1/4, (t1,p1) 1/4;  p(t) = (1/2, 1/2), p(p) = (3/4, 1/4)
# MI = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2  (= 0.215762)
_Y, _P = [0, 0, 1, 1], [0, 0, 0, 1]
_HT = math.log(2)
_HP = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
_MI = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)


def test_nmi_arithmetic_by_hand():
    assert nmi(_Y, _P) == pytest.approx(_MI / ((_HT + _HP) / 2))  # 0.34371
    assert nmi(_Y, _P, average_method="arithmetic") == pytest.approx(0.34371, abs=1e-5)


def test_nmi_geometric_by_hand():
    assert nmi(_Y, _P, average_method="geometric") == pytest.approx(_MI / math.sqrt(_HT * _HP))  # 0.34559
    assert nmi(_Y, _P, average_method="geometric") == pytest.approx(0.34559, abs=1e-5)


def test_nmi_rejects_unknown_normalisation():
    with pytest.raises(ValueError, match="average_method"):
        nmi(_Y, _P, average_method="harmonic")


# --- ARI ------------------------------------------------------------------------------------


def test_ari_by_hand():
    # y_true 0 0 0 1 1 1 / y_pred 0 0 1 1 2 2; n_ij rows=true: (2,1,0), (0,1,2)
    # sum C(n_ij,2) = 1 + 1 = 2; rows (3,3): 3 + 3 = 6; cols (2,2,2): 1+1+1 = 3; C(6,2) = 15
    # expected = 6*3/15 = 1.2; max = (6+3)/2 = 4.5; ARI = (2-1.2)/(4.5-1.2) = 0.8/3.3
    assert ari([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.8 / 3.3)
    # y_true 0 0 1 1 / y_pred 0 0 0 1: index 1, expected 2*3/6 = 1 -> ARI 0
    assert ari(_Y, _P) == pytest.approx(0.0, abs=1e-12)


def test_evaluate_takes_labels_or_posteriors():
    proba = np.eye(3)[[1, 1, 0, 0, 0, 2]]
    m = evaluate([0, 0, 0, 1, 1, 2], proba)
    assert m["acc"] == pytest.approx(5 / 6) and set(m) == {"acc", "purity", "nmi", "nmi_geometric", "ari"}
    assert m == evaluate([0, 0, 0, 1, 1, 2], [1, 1, 0, 0, 0, 2])


@pytest.mark.parametrize(
    "y, p, match",
    [
        ([0, 1, 1], [0, 1], "differ in length"),
        ([0, -1], [0, 1], "non-negative"),
        ([0, 0.5], [0, 1], "integer"),
        ([], [], "at least one"),
        ([[0, 1]], [[0, 1]], "1-D"),
    ],
)
def test_clustering_metrics_validate_inputs(y, p, match):
    for f in (acc, purity, nmi, ari):
        with pytest.raises(ValueError, match=match):
            f(y, p)


def test_float_labels_with_integral_values_are_accepted():
    assert acc(np.array([0.0, 1.0]), np.array([1, 0])) == 1.0


# --- reject option --------------------------------------------------------------------------

# y_true 0 0 1 1 0, posteriors (2 clusters):
#   row0 (.5,.5) -> cluster 0 (argmax takes the first), conf .5
#   row1 (.5,.5) -> 0, conf .5;  row2 (.9,.1) -> 0, conf .9;  rows 3, 4 (.1,.9) -> 1, conf .9
# full set w[pred,true]: pred0 = (2, 1), pred1 = (1, 1): map 0->0, 1->1 (3 of 5 correct).
# threshold .5: rows 0, 1 have conf <= .5 -> rejected; A = {2, 3, 4}; rejection rate 2/5.
#   full mapping on A: row2 (t1, c0->0) wrong, row3 (t1, c1->1) right, row4 (t0, c1->1) wrong: 1/3
#   refit on A: pred0 = (0, 1), pred1 = (1, 1): map 0->1, 1->0: rows 2 and 4 right: 2/3
_RY = [0, 0, 1, 1, 0]
_RP = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])


def test_reject_option_full_mapping_by_hand():
    r = reject_option(_RY, _RP, 0.5)
    assert r.mapping == "full" and r.n_accepted == 3 and r.n_samples == 5
    assert r.rejection_rate == pytest.approx(2 / 5)
    assert r.acc == pytest.approx(1 / 3)


def test_reject_option_refit_mapping_by_hand():
    r = reject_option(_RY, _RP, 0.5, mapping="refit")
    assert r.acc == pytest.approx(2 / 3) and r.rejection_rate == pytest.approx(2 / 5)


def test_reject_threshold_zero_accepts_all_and_equals_acc():
    r = reject_option(_RY, _RP, 0.0)
    assert r.rejection_rate == 0.0 and r.acc == pytest.approx(acc(_RY, _RP.argmax(1))) == pytest.approx(3 / 5)


def test_reject_curve_is_monotone_in_rejection_and_handles_all_rejected():
    curve = reject_curve(_RY, _RP, [0.0, 0.5, 0.89, 0.9, 1.0])
    assert [c.n_accepted for c in curve] == [5, 3, 3, 0, 0]  # .9 > .9 is false: rejected
    assert math.isnan(curve[-1].acc) and curve[-1].rejection_rate == 1.0
    assert curve[1].as_dict()["acc"] == pytest.approx(1 / 3)


def test_reject_full_mapping_keeps_surplus_clusters_as_errors():
    # 1 class, 2 clusters, all confident: the full mapping sends cluster 1 to no class.
    y = [0, 0, 0, 0]
    p = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert reject_option(y, p, 0.5).acc == pytest.approx(0.5)


@pytest.mark.parametrize(
    "proba, threshold, kw, match",
    [
        (np.array([[0.5, 0.4], [0.5, 0.5]]), 0.5, {}, "sum to 1"),
        (np.array([[1.5, -0.5], [0.5, 0.5]]), 0.5, {}, "non-negative"),
        (np.array([[0.5, 0.5]]), 0.5, {}, "rows but there are 2"),
        (np.array([0.5, 0.5]), 0.5, {}, "N x K"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), 0.5, {}, "NaN"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), 1.5, {}, r"\[0, 1\]"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), 0.5, {"mapping": "best"}, "mapping"),
    ],
)
def test_reject_option_validates_inputs(proba, threshold, kw, match):
    with pytest.raises(ValueError, match=match):
        reject_option([0, 1], proba, threshold, **kw)


# --- modes and KL ---------------------------------------------------------------------------


def test_modes_and_kl_by_hand():
    # labels 0 0 1 3, K = 4: histogram (2, 1, 0, 1), q = (1/2, 1/4, 0, 1/4), 3 modes
    # KL(q||1/4) = 1/2 ln(2) + 1/4 ln(1) + 1/4 ln(1) = ln(2)/2
    r = modes_and_kl(np.array([0, 0, 1, 3]), 4)
    assert r.modes == 3 and r.histogram == (2, 1, 0, 1)
    assert r.kl == pytest.approx(math.log(2) / 2)
    # min_count=2: only label 0 counts as a mode; KL is unchanged
    r2 = modes_and_kl(np.array([0, 0, 1, 3]), 4, min_count=2)
    assert r2.modes == 1 and r2.kl == pytest.approx(r.kl)


def test_modes_and_kl_extremes():
    # one label for everything: 1 mode, KL = ln K (the maximum); balanced: K modes, KL 0
    collapsed = modes_and_kl(np.zeros(7, dtype=int), 10)
    assert collapsed.modes == 1 and collapsed.kl == pytest.approx(math.log(10))
    balanced = modes_and_kl(np.repeat(np.arange(10), 3), 10)
    assert balanced.modes == 10 and balanced.kl == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "labels, k, kw, match",
    [
        ([0, 4], 4, {}, "< n_classes"),
        ([0, -1], 4, {}, "non-negative"),
        ([], 4, {}, "empty"),
        ([0, 1], 0, {}, "n_classes"),
        ([0, 1], 4, {"min_count": 0}, "min_count"),
    ],
)
def test_modes_and_kl_validates_inputs(labels, k, kw, match):
    with pytest.raises(ValueError, match=match):
        modes_and_kl(np.asarray(labels, dtype=np.int64), k, **kw)


# --- the metrics stored in a run record -----------------------------------------------------


def test_record_metrics_reject_option_by_hand():
    from clusterbench.metrics import record_metrics

    y = np.array([0, 0, 1, 1])
    # argmax: 0, 0, 1, 0 (the last one wrong); max posteriors .95 .55 .70 .62
    proba = np.array([[0.95, 0.05], [0.55, 0.45], [0.30, 0.70], [0.62, 0.38]])
    m = record_metrics(y, proba)
    assert m["acc"] == pytest.approx(3 / 4)
    # t=0.5: all accepted, 3 of 4 right.
    assert m["reject_rate@0.5"] == 0.0 and m["reject_acc@0.5"] == pytest.approx(3 / 4)
    # t=0.6: rows 0, 2, 3 accepted (.55 rejected); rows 0 and 2 right.
    assert m["reject_rate@0.6"] == pytest.approx(1 / 4) and m["reject_acc@0.6"] == pytest.approx(2 / 3)
    # t=0.9: row 0 alone, right.
    assert m["reject_rate@0.9"] == pytest.approx(3 / 4) and m["reject_acc@0.9"] == 1.0
    assert "modes" not in m


def test_record_metrics_nothing_accepted_and_modes():
    from clusterbench.metrics import record_metrics

    y = np.array([0, 1])
    proba = np.full((2, 2), 0.5)  # nothing has a posterior > 0.5
    m = record_metrics(y, proba, extras={"modes_generated": 7, "modes_kl": 0.25})
    assert m["reject_rate@0.5"] == 1.0 and "reject_acc@0.5" not in m
    assert m["modes"] == 7.0 and m["kl"] == 0.25


# --- the metrics catalogue -------------------------------------------------------------------


def test_catalogue_lookup_fixed_and_parameterised_keys():
    from clusterbench.errors import UnknownNameError
    from clusterbench.metrics import catalog

    assert catalog.lookup("acc").better == "max" and catalog.lookup("fid").better == "min"
    m = catalog.lookup("reject_acc@0.9")
    assert m.key == "reject_acc@0.9" and m.family == "accuracy"
    assert catalog.lookup("ssim@3").better == "min"
    # a reject threshold nothing records is not a key
    with pytest.raises(UnknownNameError):
        catalog.lookup("reject_acc@0.7")
    with pytest.raises(UnknownNameError):
        catalog.lookup("accuracy")
    assert catalog.direction("kl") == "min" and catalog.direction("some_method_extra") == "max"


def test_every_catalogue_function_imports_and_record_metrics_writes_every_recorded_key():
    from clusterbench.metrics import catalog, record_metrics

    for m in catalog.catalogue():
        if m.compute:
            assert callable(m.function()), m.key
        if m.inputs in ("labels", "posterior"):
            assert m.compute, m.key
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(3)[[0, 0, 1, 2, 2, 2]] * 0.97 + 0.01
    got = record_metrics(y, proba)
    want = {m.key for m in catalog.recorded(["labels"])}
    want |= {m.concrete(t) for m in catalog.recorded(["posterior"]) for t in m.values}
    assert set(got) == want
    assert got["reject_rate@0"] == 0.0 and got["reject_acc@0"] == pytest.approx(got["acc"])
    assert got["nmi_geometric"] == pytest.approx(catalog.lookup("nmi_geometric").function()(y, proba.argmax(1)))


def test_a_new_catalogue_entry_is_recorded_with_no_other_edit(monkeypatch):
    """Adding a metric = one entry + one function: record_metrics picks it up."""
    from clusterbench.metrics import catalog, record_metrics

    extra = catalog.Metric("acc_again", "ACC again", "Hungarian ACC under a second key (test entry)", "min",
                           compute="clusterbench.metrics.clustering:acc")
    monkeypatch.setattr(catalog, "_catalogue", lambda: catalog.BUILTIN_METRICS + (extra,))
    y = np.array([0, 1, 1])
    m = record_metrics(y, np.eye(2)[[0, 1, 0]])
    assert m["acc_again"] == pytest.approx(m["acc"])
    assert catalog.direction("acc_again") == "min"
