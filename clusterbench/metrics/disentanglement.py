"""Disentanglement scores of a representation against known generative factors (DC3 Table 3).

The seven scores of ``google-research/disentanglement_lib`` (``evaluation/metrics/*.py``), with
its definitions and the defaults of its ``unsupervised_study_v1`` metric configs
(``../shared/metrics-reference.md`` §6), written with numpy and scikit-learn (the library is
TensorFlow 1 and unmaintained; the classifiers it uses are scikit-learn's):

=============  ============================================================================
BetaVAE        pairs of batches (64) with one random factor fixed; feature = mean |r1 − r2|;
               ``LogisticRegression()``; score = eval accuracy (train 10,000 / eval 5,000).
FactorVAE      global variance (10,000 samples, ddof 1), dims with std ≥ 0.05 active; a vote
               = argmin over active dims of local var / global var in a batch of 64 with one
               factor fixed; majority-vote classifier; score = eval accuracy.
DCI            importance matrix from ``GradientBoostingClassifier()`` per factor (train
               10,000, test 5,000); disentanglement = Σ_i ρ_i (1 − H_F(P_i)).
SAP            ``LinearSVC(C=0.01, class_weight="balanced")`` per (latent, factor) on one code
               dimension; score = mean over factors of the gap between the two best latents
               (discrete factors: test accuracy).
MIG            codes discretised in 20 histogram bins; MI in nats (``mutual_info_score``);
               mean over factors of (top1 − top2) / H(factor).
Modularity     1 − (Σ_j m_ij² − max_j m_ij²) / (max_j m_ij² (F − 1)) per code, averaged.
Explicitness   ROC-AUC of ``LogisticRegression()`` on standardised codes, one-vs-rest,
               averaged over factors (test split).
=============  ============================================================================

The ground truth is anything with ``factor_sizes`` and two functions (:class:`GroundTruth`):
``sample_factors(n, rng)`` and ``represent(factors)`` (the model's *mean* code of observations
with those factors — the encoder mean, as disentanglement_lib's ``mean_representation``). The
scores sample factors; they never iterate over the whole data set (dSprites has 737,280 images).

Sample sizes are keyword options with the library's defaults; tests use smaller ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class GroundTruth(Protocol):
    """Factors of variation of a data set and a representation function over them."""

    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, F) integer factor values, uniformly at random."""

    def represent(self, factors: np.ndarray) -> np.ndarray:
        """(n, F) factors -> (n, d) mean codes of observations with exactly these factors."""


@dataclass
class FunctionGroundTruth:
    """A :class:`GroundTruth` from factor sizes and a ``represent`` function (uniform factors)."""

    factor_sizes: tuple[int, ...]
    represent_fn: Callable[[np.ndarray], np.ndarray]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1)

    def represent(self, factors: np.ndarray) -> np.ndarray:
        return np.asarray(self.represent_fn(factors), dtype=np.float64)


class IndexedGroundTruth:
    """A :class:`GroundTruth` over a stored data set with discrete factor labels per sample (the
    dSprites latents ``latents_classes``, stored as an HDF5 extra): ``sample_factors`` draws each
    factor uniformly over its observed values; ``represent`` finds a sample with exactly those
    factors (the data set is a full factorial design, so one exists) and codes it with
    ``represent_indices(indices) -> (n, d)`` (e.g. the encoder mean of those rows of X, read
    from the HDF5 file batch by batch). ``factors``: (N, F) integers; constant columns (dSprites'
    colour) are dropped."""

    def __init__(self, factors: np.ndarray, represent_indices: Callable[[np.ndarray], np.ndarray]) -> None:
        f = np.asarray(factors, dtype=np.int64)
        keep = [j for j in range(f.shape[1]) if np.unique(f[:, j]).size > 1]
        f = f[:, keep]
        self.values = [np.unique(f[:, j]) for j in range(f.shape[1])]
        self.factor_sizes = tuple(len(v) for v in self.values)
        dense = np.stack([np.searchsorted(v, f[:, j]) for j, v in enumerate(self.values)], axis=1)
        self._radix = np.cumprod((1,) + self.factor_sizes[::-1])[:-1][::-1]
        codes = dense @ self._radix
        self._index = np.full(int(np.prod(self.factor_sizes)), -1, dtype=np.int64)
        self._index[codes[::-1]] = np.arange(len(codes))[::-1]  # the first sample of each combination
        self.represent_indices = represent_indices

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1)

    def missing_combinations(self) -> int:
        """How many factor combinations have no sample (0 for a full factorial design)."""
        return int((self._index < 0).sum())

    def represent(self, factors: np.ndarray) -> np.ndarray:
        idx = self._index[np.asarray(factors, dtype=np.int64) @ self._radix]
        if (idx < 0).any():
            raise ValueError("some factor combinations have no sample: the data set is not a full factorial design")
        return np.asarray(self.represent_indices(idx), dtype=np.float64)


def _codes_and_factors(gt: GroundTruth, n: int, rng: np.random.Generator, batch: int = 16
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) codes and (n, F) factors, sampled in batches (disentanglement_lib's
    ``generate_batch_factor_code``)."""
    codes, facs = [], []
    for i in range(0, n, batch):
        f = gt.sample_factors(min(batch, n - i), rng)
        facs.append(f)
        codes.append(gt.represent(f))
    return np.concatenate(codes), np.concatenate(facs)


def _fixed_factor_batch(gt: GroundTruth, k: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """A batch of factors sharing one random value of factor ``k``."""
    f = gt.sample_factors(batch, rng)
    f[:, k] = f[0, k]
    return f


# ------------------------------------------------------------------------------- BetaVAE


def beta_vae_score(gt: GroundTruth, *, seed: int = 0, batch_size: int = 64, num_train: int = 10000,
                   num_eval: int = 5000) -> dict[str, float]:
    """BetaVAE score (Higgins et al. 2017): ``{"train_accuracy", "eval_accuracy"}``."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        feats, labels = [], []
        for _ in range(n):
            k = int(rng.integers(len(gt.factor_sizes)))
            f1 = gt.sample_factors(batch_size, rng)
            f2 = gt.sample_factors(batch_size, rng)
            f2[:, k] = f1[:, k]
            feats.append(np.mean(np.abs(gt.represent(f1) - gt.represent(f2)), axis=0))
            labels.append(k)
        return np.asarray(feats), np.asarray(labels)

    xtr, ytr = points(num_train)
    xev, yev = points(num_eval)
    clf = LogisticRegression(max_iter=1000).fit(xtr, ytr)
    return {"train_accuracy": float(clf.score(xtr, ytr)), "eval_accuracy": float(clf.score(xev, yev))}


# ------------------------------------------------------------------------------- FactorVAE


def factor_vae_score(gt: GroundTruth, *, seed: int = 0, batch_size: int = 64, num_train: int = 10000,
                     num_eval: int = 5000, num_variance_estimate: int = 10000, prune_threshold: float = 0.05
                     ) -> dict[str, float]:
    """FactorVAE score (Kim & Mnih 2018): ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``."""
    rng = np.random.default_rng(seed)
    codes, _ = _codes_and_factors(gt, num_variance_estimate, rng, batch=64)
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}
    n_factors = len(gt.factor_sizes)

    def votes(n: int) -> np.ndarray:
        v = np.zeros((codes.shape[1], n_factors), dtype=np.int64)
        for _ in range(n):
            k = int(rng.integers(n_factors))
            r = gt.represent(_fixed_factor_batch(gt, k, batch_size, rng))
            local = np.var(r, axis=0, ddof=1)
            dim = int(np.argmin(local[active] / global_var[active]))
            v[dim, k] += 1
        return v

    train = votes(num_train)
    classifier = np.argmax(train, axis=1)
    train_acc = float(np.sum(train[np.arange(len(classifier)), classifier]) / np.sum(train))
    ev = votes(num_eval)
    eval_acc = float(np.sum(ev[np.arange(len(classifier)), classifier]) / np.sum(ev))
    return {"train_accuracy": train_acc, "eval_accuracy": eval_acc, "num_active_dims": float(active.sum())}


# ------------------------------------------------------------------------------- DCI


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    """Shannon entropy (log base ``base``) of each row of a non-negative matrix (rows normalised)."""
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-11)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(p > 0, np.log(p) / np.log(base), 0.0)
    return -np.sum(p * logp, axis=1)


def dci_from_importance(importance: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness of a (codes x factors) importance matrix (Eastwood &
    Williams 2018, as ``dci.py``: entropies in base F resp. d, 1e-11 smoothing)."""
    r = np.asarray(importance, dtype=np.float64)
    d, f = r.shape
    per_code = 1.0 - _entropy_rows(r + 1e-11, base=f) if f > 1 else np.ones(d)
    weight = r.sum(axis=1) / max(r.sum(), 1e-11)
    per_factor = 1.0 - _entropy_rows(r.T + 1e-11, base=d) if d > 1 else np.ones(f)
    fweight = r.sum(axis=0) / max(r.sum(), 1e-11)
    return {"disentanglement": float(np.sum(per_code * weight)), "completeness": float(np.sum(per_factor * fweight))}


def dci_score(gt: GroundTruth, *, seed: int = 0, num_train: int = 10000, num_test: int = 5000,
              batch_size: int = 16) -> dict[str, float]:
    """DCI: ``{"disentanglement", "completeness", "informativeness_train", "informativeness_test"}``
    (informativeness as accuracy, as disentanglement_lib reports it)."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(seed)
    xtr, ftr = _codes_and_factors(gt, num_train, rng, batch_size)
    xte, fte = _codes_and_factors(gt, num_test, rng, batch_size)
    importance = np.zeros((xtr.shape[1], ftr.shape[1]))
    acc_tr, acc_te = [], []
    for j in range(ftr.shape[1]):
        clf = GradientBoostingClassifier(random_state=seed).fit(xtr, ftr[:, j])
        importance[:, j] = np.abs(clf.feature_importances_)
        acc_tr.append(clf.score(xtr, ftr[:, j]))
        acc_te.append(clf.score(xte, fte[:, j]))
    out = dci_from_importance(importance)
    out.update(informativeness_train=float(np.mean(acc_tr)), informativeness_test=float(np.mean(acc_te)))
    return out


# ------------------------------------------------------------------------------- SAP


def sap_from_matrix(score: np.ndarray) -> float:
    """Mean over factors (columns) of the gap between the two best latents (rows)."""
    s = np.sort(np.asarray(score, dtype=np.float64), axis=0)
    return float(np.mean(s[-1, :] - s[-2, :])) if s.shape[0] > 1 else float(np.mean(s[-1, :]))


def sap_score(gt: GroundTruth, *, seed: int = 0, num_train: int = 10000, num_test: int = 5000,
              batch_size: int = 16) -> dict[str, float]:
    """SAP (Kumar et al. 2018) with discrete factors: test accuracy of a linear SVM on one latent."""
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(seed)
    xtr, ftr = _codes_and_factors(gt, num_train, rng, batch_size)
    xte, fte = _codes_and_factors(gt, num_test, rng, batch_size)
    score = np.zeros((xtr.shape[1], ftr.shape[1]))
    for i in range(xtr.shape[1]):
        for j in range(ftr.shape[1]):
            if np.unique(ftr[:, j]).size < 2:
                continue
            clf = LinearSVC(C=0.01, class_weight="balanced").fit(xtr[:, i : i + 1], ftr[:, j])
            score[i, j] = np.mean(clf.predict(xte[:, i : i + 1]) == fte[:, j])
    return {"sap": sap_from_matrix(score)}


# ------------------------------------------------------------------------------- MIG, modularity


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Each code dimension into ``num_bins`` equal-width bins (``np.digitize`` on
    ``np.histogram`` edges, as disentanglement_lib's ``_histogram_discretize``)."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1][:-1]
        out[:, i] = np.digitize(codes[:, i], edges)
    return out


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(d, F) mutual information (nats) between discretised codes and factors."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(factors[:, j], codes[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes.shape[1])])


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """(F,) entropy (nats) of each factor column."""
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def mig_from_mi(mi: np.ndarray, entropy: np.ndarray) -> float:
    s = np.sort(mi, axis=0)
    gap = (s[-1, :] - s[-2, :]) if s.shape[0] > 1 else s[-1, :]
    return float(np.mean(gap / np.maximum(entropy, 1e-12)))


def mig_score(gt: GroundTruth, *, seed: int = 0, num_train: int = 10000, batch_size: int = 16,
              num_bins: int = 20) -> dict[str, float]:
    """Mutual information gap (Chen et al. 2018)."""
    rng = np.random.default_rng(seed)
    codes, facs = _codes_and_factors(gt, num_train, rng, batch_size)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), facs)
    return {"mig": mig_from_mi(mi, discrete_entropy(facs))}


def modularity_from_mi(mi: np.ndarray) -> float:
    """Modularity (Ridgeway & Mozer 2018) of a (codes x factors) MI matrix."""
    sq = np.asarray(mi, dtype=np.float64) ** 2
    mx = sq.max(axis=1)
    f = sq.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - mx) / (mx * (f - 1.0))
    score = 1.0 - delta
    score[mx == 0.0] = 0.0
    return float(np.mean(score))


def modularity_explicitness_score(gt: GroundTruth, *, seed: int = 0, num_train: int = 10000,
                                  num_test: int = 5000, batch_size: int = 16, num_bins: int = 20
                                  ) -> dict[str, float]:
    """``{"modularity", "explicitness_train", "explicitness_test"}`` (``modularity_explicitness.py``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer

    rng = np.random.default_rng(seed)
    xtr, ftr = _codes_and_factors(gt, num_train, rng, batch_size)
    xte, fte = _codes_and_factors(gt, num_test, rng, batch_size)
    modularity = modularity_from_mi(discrete_mutual_info(histogram_discretize(xtr, num_bins), ftr))
    mean, std = xtr.mean(axis=0), xtr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    ztr, zte = (xtr - mean) / std, (xte - mean) / std
    auc_tr, auc_te = [], []
    for j in range(ftr.shape[1]):
        clf = LogisticRegression(max_iter=1000).fit(ztr, ftr[:, j])
        mlb = MultiLabelBinarizer(classes=clf.classes_)
        ytr_b = mlb.fit_transform(ftr[:, j, None])
        yte_b = mlb.transform(fte[:, j, None])
        ptr, pte = clf.predict_proba(ztr), clf.predict_proba(zte)
        if ptr.shape[1] == 2:  # binary factor: AUC of the positive class
            auc_tr.append(roc_auc_score(ytr_b[:, 1], ptr[:, 1]))
            auc_te.append(roc_auc_score(yte_b[:, 1], pte[:, 1]))
        else:
            auc_tr.append(roc_auc_score(ytr_b, ptr))
            auc_te.append(roc_auc_score(yte_b, pte))
    return {"modularity": modularity, "explicitness_train": float(np.mean(auc_tr)),
            "explicitness_test": float(np.mean(auc_te))}


# ------------------------------------------------------------------------------- all seven


def disentanglement_scores(gt: GroundTruth, *, seed: int = 0, scale: float = 1.0) -> dict[str, float]:
    """The seven scores under the record's metric keys (``betavae``, ``factorvae``, ``dci``,
    ``sap``, ``mig``, ``modularity``, ``explicitness``). ``scale`` < 1 shrinks every sample size
    proportionally (smoke runs; the record should say so)."""
    def n(x: int) -> int:
        return max(int(round(x * scale)), 50)

    me = modularity_explicitness_score(gt, seed=seed, num_train=n(10000), num_test=n(5000))
    return {
        "betavae": beta_vae_score(gt, seed=seed, num_train=n(10000), num_eval=n(5000))["eval_accuracy"],
        "factorvae": factor_vae_score(gt, seed=seed, num_train=n(10000), num_eval=n(5000),
                                      num_variance_estimate=n(10000))["eval_accuracy"],
        "dci": dci_score(gt, seed=seed, num_train=n(10000), num_test=n(5000))["disentanglement"],
        "sap": sap_score(gt, seed=seed, num_train=n(10000), num_test=n(5000))["sap"],
        "mig": mig_score(gt, seed=seed, num_train=n(10000))["mig"],
        "modularity": me["modularity"],
        "explicitness": me["explicitness_test"],
    }


__all__ = [
    "FunctionGroundTruth", "GroundTruth", "IndexedGroundTruth", "beta_vae_score", "dci_from_importance", "dci_score",
    "discrete_entropy", "discrete_mutual_info", "disentanglement_scores", "factor_vae_score",
    "histogram_discretize", "mig_from_mi", "mig_score", "modularity_explicitness_score",
    "modularity_from_mi", "sap_from_matrix", "sap_score",
]
