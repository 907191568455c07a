"""SSIM diversity (DC3 Table 2, after AC-GAN's protocol; metrics-reference.md §5): for each
cluster, the mean SSIM of ``ssim_pairs`` (200) random pairs of samples generated from that
cluster's code. Lower = more diverse samples within a cluster.

SSIM: scikit-image's ``structural_similarity``, single scale, in the mode that matches Wang et al.
(2004): an 11 x 11 Gaussian window with sigma 1.5 (``gaussian_weights=True``, ``sigma=1.5``,
truncate 3.5 -> 11 x 11), ``use_sample_covariance=False``, K1 = 0.01, K2 = 0.03,
``data_range=1.0`` (images in [0, 1]); colour images: the mean over channels (``channel_axis``).
AC-GAN used MS-SSIM; MS-SSIM is undefined at 28 x 28 with the default five scales (torchmetrics
refuses images under 161 pixels a side; metrics-reference §5), so DC3's 28 x 28 values can only be
single-scale, and single scale is what this evaluator computes at every size.

Pairs: 2 x ``ssim_pairs`` samples are generated from the cluster's one-hot code (seeded from the
run's seed and the cluster) and paired as (i, ssim_pairs + i): independent random pairs.

Columns: for 1 x 28 x 28 data the clusters are matched one-to-one to classes (Hungarian, on the
counts of the MNIST classifier's labels of the generated samples), so the metric ``ssim@<c>`` is
the cluster matched to class c (digits 0-9 in Table 2); for other shapes (no classifier) the key is
the cluster index and the facts say ``"matched": false``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clusterbench.errors import ConfigError
from clusterbench.evaluate import EvalContext, EvalResult
from clusterbench.evaluate.mnist_classifier import get_classifier, predict_labels
from clusterbench.metrics.clustering import cluster_to_class_map

#: DC3 Table 2: 200 pairs per cluster.
DEFAULT_PAIRS = 200
#: The fixed SSIM settings (Wang et al. 2004 as scikit-image implements them).
SSIM_SETTINGS: dict[str, Any] = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
                                 "data_range": 1.0, "K1": 0.01, "K2": 0.03}
WINDOW = "11x11 Gaussian, sigma 1.5 (skimage gaussian_weights, truncate 3.5), single scale"


def _skimage_ssim():
    try:  # an optional dependency (clusterbench[eval]): imported when SSIM runs
        from skimage.metrics import structural_similarity
    except ImportError:
        raise ConfigError("SSIM diversity needs scikit-image, which is not installed.",
                          hint="pip install 'clusterbench[eval]'.") from None
    return structural_similarity


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Single-scale SSIM of two C x H x W images in [0, 1] (:data:`SSIM_SETTINGS`)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"ssim needs two C x H x W images of one shape, got {a.shape} and {b.shape}")
    fn = _skimage_ssim()
    if a.shape[0] == 1:
        return float(fn(a[0], b[0], **SSIM_SETTINGS))
    return float(fn(a, b, channel_axis=0, **SSIM_SETTINGS))


def mean_pair_ssim(samples: np.ndarray, pairs: int) -> float:
    """Mean SSIM of (samples[i], samples[pairs + i]) for i < pairs; samples: >= 2 pairs x C x H x W."""
    if len(samples) < 2 * pairs:
        raise ValueError(f"need {2 * pairs} samples for {pairs} pairs, got {len(samples)}")
    return float(np.mean([ssim(samples[i], samples[pairs + i]) for i in range(pairs)]))


def evaluate_ssim(ctx: EvalContext) -> EvalResult:
    """Metrics ``ssim@<c>`` (class c when matched, cluster c otherwise); facts: pairs, window,
    the cluster -> class map and the per-cluster values."""
    pairs = int(ctx.option("ssim_pairs", DEFAULT_PAIRS))
    K = int(ctx.n_clusters)
    samples = {k: ctx.generator(2 * pairs, cluster=k, seed=int(ctx.seed) * 1009 + k) for k in range(K)}
    per_cluster = {k: mean_pair_ssim(samples[k], pairs) for k in range(K)}
    facts: dict[str, Any] = {"pairs": pairs, "ssim": "skimage structural_similarity", "window": WINDOW,
                             "per_cluster": {str(k): v for k, v in per_cluster.items()}}
    if tuple(ctx.sample_shape) == (1, 28, 28):
        dataset = str(ctx.option("eval_classifier", "mnist"))
        clf, info = get_classifier(dataset=dataset, device=ctx.device)
        n_classes = int(info.get("n_classes", 10))
        clusters = np.concatenate([np.full(2 * pairs, k) for k in range(K)])
        labels = np.concatenate([predict_labels(clf, samples[k], device=ctx.device) for k in range(K)])
        mapping = {k: c for k, c in cluster_to_class_map(labels, clusters).items() if k < K and c < n_classes}
        metrics = {f"ssim@{c}": per_cluster[k] for k, c in sorted(mapping.items(), key=lambda kv: kv[1])}
        facts.update(matched=True, classifier=dataset, cluster_to_class={str(k): c for k, c in mapping.items()},
                     unmatched_clusters=[k for k in range(K) if k not in mapping])
    else:
        metrics = {f"ssim@{k}": v for k, v in per_cluster.items()}
        facts["matched"] = False
    return EvalResult(metrics=metrics, facts=facts)
