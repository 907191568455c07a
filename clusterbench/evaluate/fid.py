"""FID: the Fréchet distance between Gaussians fitted to feature-network activations of real and
generated samples (metrics-reference.md §4), DC3 Tables 1 and 7.

    FID = |mu_r - mu_g|^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^(1/2))

computed as pytorch-fid's ``calculate_frechet_distance`` does it (``scipy.linalg.sqrtm`` of the
product; when that is not finite, 1e-6 I is added to both covariances; an imaginary part above
1e-3 is an error, otherwise it is dropped); covariances with ``np.cov(rowvar=False)``.

Two feature networks (``--set fid_network=...``; the record names the one used):

* ``inception``: Inception-v3 pool3 (2048-d) exactly as pytorch-fid computes it: its
  ``InceptionV3([3])`` with the TF-FID weights ``pt_inception-2015-12-05-6726825d.pth`` (fetched
  with ``clusterbench fetch-weights inception-fid``; see ``evaluate.weights``), bilinear resize to
  299 x 299, [0, 1] -> [-1, 1]; grey images are repeated to 3 channels (pytorch-fid's
  ``Image.convert('RGB')``). Batches of 50 (pytorch-fid's default; batching does not change the
  features beyond float rounding).
* ``mnist-cnn``: the 128-d penultimate layer (post-ReLU, eval mode) of the suite's MNIST
  classifier (``evaluate.mnist_classifier``) for 1 x 28 x 28 images. DC3 Table 1's sub-2 MNIST
  values cannot be Inception values (metrics-reference §4: a small MNIST network is the likely
  source, unverified); such values are only comparable between runs that use the same network.
  ``auto`` (default) picks it for 1 x 28 x 28 data and ``inception`` otherwise.

Sample counts: ``fid_samples`` (10,000) generated samples and as many real ones, drawn without
replacement from the run's data (all of it when it has fewer; the record says how many): FID is
biased by the sample size, so compare runs with equal counts only.

Real images: the run's data, or with ``fid_real=<data set id>`` that fetched data set (DC3 Table 7:
the model is fitted and scored on the CIFAR-10 test images, ``cifar10-test``, and its FID is
against the training images, ``fid_real=cifar10-train``); the record names it and its checksum.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from scipy import linalg

from clusterbench.data import load
from clusterbench.data.preprocessors.features import hash_prefix_from_name, verify_hash_prefix
from clusterbench.errors import ConfigError, DataError
from clusterbench.evaluate import FID_NETWORKS, EvalContext, EvalResult, SkipEvaluator
from clusterbench.evaluate.mnist_classifier import get_classifier, penultimate_features
from clusterbench.evaluate.weights import require_weights

#: Default number of real and of generated samples (the usual FID protocol).
DEFAULT_SAMPLES = 10000
#: pytorch-fid's batch size.
INCEPTION_BATCH = 50
#: Weights of the Inception network: the fetched "inception-fid" file ("random" in tests only).
INCEPTION_WEIGHTS = "inception-fid"

Extractor = Callable[[np.ndarray], np.ndarray]


# --- the distance --------------------------------------------------------------------------------


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N x d activations -> (mean d, covariance d x d) in float64 (N >= 2)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"activation statistics need an N x d array with N >= 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): mu d, sigma d x d."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: means {mu1.shape} {mu2.shape}, covariances {s1.shape} {s2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two N x d activation sets."""
    return frechet_distance(*activation_statistics(real), *activation_statistics(fake))


# --- feature networks ----------------------------------------------------------------------------


def _pytorch_fid_inception():
    try:  # an optional dependency (clusterbench[eval]): imported when the Inception FID runs
        from pytorch_fid import inception
    except ImportError:
        raise ConfigError(
            "The Inception FID needs pytorch-fid (and torchvision), which is not installed.",
            hint="pip install 'clusterbench[eval]', or --set fid_network=mnist-cnn for 28x28 grey images.",
        ) from None
    return inception


def inception_network(weights: str | Path = "inception-fid", *, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """pytorch-fid's ``InceptionV3([3])`` (pool3, resize to 299, [0,1] -> [-1,1]) in eval mode.

    weights: "inception-fid" (the fetched, hash-checked file), a path to such a file, or
    "random" (tests and benchmarks only: PyTorch's default initialisation under ``seed``).
    pytorch-fid downloads its weights inside the constructor; here its loader is replaced for the
    duration of the call by one that returns our verified state dict (``weights_only=True``), so
    nothing is downloaded. Returns (network, provenance).
    """
    inception = _pytorch_fid_inception()
    with contextlib.ExitStack() as stack:
        if str(weights) == "random":
            keep = object()  # the loader's answer that means: keep the seeded initialisation
            stack.enter_context(mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: keep))
            original = inception.torchvision.models.Inception3.load_state_dict

            def load(self, state, *a, **k):
                return None if state is keep else original(self, state, *a, **k)

            stack.enter_context(mock.patch.object(inception.torchvision.models.Inception3, "load_state_dict", load))
            provenance: dict[str, Any] = {"weights": "random", "seed": seed}
        else:
            path = require_weights(str(weights)) if str(weights) == "inception-fid" else Path(weights)
            if not path.is_file():
                raise DataError(f"The weights file {path} does not exist.",
                                hint="Run `clusterbench fetch-weights inception-fid`.")
            digest = verify_hash_prefix(path, hash_prefix_from_name(path))
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # pickle/zip/unsafe-type errors all mean: not a usable file
                raise DataError(f"The weights file {path} cannot be read as a PyTorch state dict "
                                f"({type(exc).__name__}: {exc}).",
                                hint="Delete it and run `clusterbench fetch-weights inception-fid --force`.") from None
            stack.enter_context(mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state))
            provenance = {"weights": path.name, "weights_sha256": digest}
        stack.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(seed)
        try:
            net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        except RuntimeError as exc:  # load_state_dict(strict) of a file for another network
            first = " ".join(str(exc).strip().splitlines()[:3])[:400]
            raise DataError(f"The weights do not fit pytorch-fid's Inception-v3 ({first}).",
                            hint="Fetch the published file again: `clusterbench fetch-weights inception-fid --force`.") from None
    return net.eval(), {"network": "inception-v3 pool3 (pytorch-fid)", "feature_dim": 2048, **provenance}


def inception_features(net: Any, images: np.ndarray, *, batch_size: int = INCEPTION_BATCH,
                       device: str = "cpu") -> np.ndarray:
    """N x C x H x W images in [0, 1] (C = 1 or 3) -> N x 2048 pool3 activations (float64)."""
    x_all = np.asarray(images)
    if x_all.ndim != 4 or x_all.shape[1] not in (1, 3):
        raise DataError(f"Inception features need N x 1 x H x W or N x 3 x H x W images, got shape {x_all.shape}.")
    net = net.to(device)
    out = np.empty((len(x_all), 2048), dtype=np.float64)
    with torch.inference_mode():
        for i in range(0, len(x_all), batch_size):
            x = torch.as_tensor(np.asarray(x_all[i : i + batch_size], dtype=np.float32), device=device)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            out[i : i + len(x)] = net(x)[0].flatten(1).double().cpu().numpy()
    return out


def feature_extractor(network: str, ctx: EvalContext, *, inception_weights: str | Path | None = None
                      ) -> tuple[Extractor, dict[str, Any]]:
    """(images -> N x d features, provenance) of ``network`` ("mnist-cnn" or "inception")."""
    if network == "mnist-cnn":
        dataset = str(ctx.option("eval_classifier", "mnist"))
        clf, facts = get_classifier(dataset=dataset, device=ctx.device)
        prov = {"network": "mnist-cnn penultimate (128-d, post-ReLU)", "feature_dim": 128,
                "classifier": dataset, "classifier_test_accuracy": facts.get("test_accuracy")}
        return (lambda x: penultimate_features(clf, x, device=ctx.device)), prov
    if network == "inception":
        net, prov = inception_network(inception_weights or INCEPTION_WEIGHTS)
        return (lambda x: inception_features(net, x, device=ctx.device)), prov
    raise ConfigError(f"fid_network must be one of {', '.join(FID_NETWORKS)}, got {network!r}.")


def resolve_network(option: str, sample_shape: tuple[int, ...]) -> tuple[str, str | None]:
    """(network, reason it cannot run on this shape or None) for the ``fid_network`` option."""
    shape = tuple(sample_shape)
    network = option if option != "auto" else ("mnist-cnn" if shape == (1, 28, 28) else "inception")
    if network == "mnist-cnn" and shape != (1, 28, 28):
        return network, f"fid_network=mnist-cnn needs 1x28x28 images; these are {'x'.join(map(str, shape))}."
    if network == "inception" and (len(shape) != 3 or shape[0] not in (1, 3)):
        return network, f"fid_network=inception needs grey or RGB images; samples have shape {shape}."
    return network, None


# --- the evaluator -------------------------------------------------------------------------------


def real_subset(real: Any, n: int, *, seed: int) -> np.ndarray:
    """n rows of the real data drawn without replacement (numpy ``default_rng([seed, 1])``), in
    their original order; all rows when there are no more than n."""
    N = real.shape[0]
    if N <= n:
        return np.asarray(real)
    idx = np.sort(np.random.default_rng([int(seed), 1]).choice(N, size=n, replace=False))
    return np.asarray(real[idx])


def reference_images(ctx: EvalContext) -> tuple[Any, dict[str, Any]]:
    """(the real images FID compares with, facts): the run's data, or the data set the
    ``fid_real`` option names (N x sample shape; its shape must be the run's)."""
    name = str(ctx.option("fid_real", "") or "").strip()
    if not name:
        return ctx.real, {"fid_real": "the run's data"}
    X, _, info = load(name)
    if tuple(X.shape[1:]) != tuple(ctx.sample_shape):
        raise ConfigError(f"fid_real={name} has samples of shape {tuple(X.shape[1:])}, the run's data "
                          f"{tuple(ctx.sample_shape)}: FID compares images of one shape.",
                          hint="Name a data set of the run's image size, or leave fid_real empty (the run's data).")
    return X, {"fid_real": name, "fid_real_checksum": info.checksum}


def evaluate_fid(ctx: EvalContext) -> EvalResult:
    """Metric ``fid``; facts: the network, its provenance, the real and generated sample counts."""
    network, reason = resolve_network(str(ctx.option("fid_network", "auto")), ctx.sample_shape)
    if reason is not None:
        raise SkipEvaluator(reason)
    n = int(ctx.option("fid_samples", DEFAULT_SAMPLES))
    extract, prov = feature_extractor(network, ctx)
    reference, real_facts = reference_images(ctx)
    prov = {**prov, **real_facts}
    real = real_subset(reference, n, seed=ctx.seed)
    fake = ctx.generator(n, seed=ctx.seed)
    value = fid_from_features(extract(real), extract(fake))
    return EvalResult(metrics={"fid": value},
                      facts={"fid_network": network, "fid_network_description": FID_NETWORKS[network], **prov,
                             "n_real": int(len(real)), "n_generated": int(len(fake))})
