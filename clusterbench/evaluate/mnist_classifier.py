"""The MNIST classifier of the generation evaluators: it labels generated samples for Table II of
the Dual-AAE paper (modes generated and KL(q(y) || p(y))), following the unrolled-GAN protocol
(metrics-reference.md §3: the Keras ``mnist_cnn`` demo used by PacGAN's reproduction); it matches
generated clusters to classes for SSIM diversity (DC3 Table 2), and its 128-d penultimate layer
is the feature network of the 28x28 FID (``evaluate.fid``, metrics-reference §4).

Network: Conv(32, 3x3) ReLU -> Conv(64, 3x3) ReLU -> MaxPool(2) -> Dropout(0.25) -> Dense(128) ReLU
-> Dropout(0.5) -> Dense(10); Adadelta (lr 1.0, rho 0.95, as Keras' mnist_cnn demo), batch 128,
12 epochs (Keras demo; PacGAN's copy uses 20: ``epochs``). Inputs in [0, 1], N x 1 x 28 x 28.

The classifier is trained once on MNIST's training split and cached in
``paths.models_dir()/mnist_cnn.pt`` with ``mnist_cnn.json`` beside it (test accuracy, epochs,
seed, data checksum). Trained on another 28x28 grey data set with the same 70,000 = 60,000 +
10,000 layout (``dataset="fashion-mnist"``), it is cached as ``mnist_cnn-<dataset>.pt``. A
classifier below ``min_accuracy`` is an error: its mode counts would not be trustworthy. The bar
per training set is :data:`MIN_ACCURACY` (MNIST 0.98; Fashion-MNIST 0.88, our choice: this
network reaches about 0.91-0.92 there).

Mode counting (metrics-reference §3): ``clusterbench.metrics.modes.modes_and_kl`` of the
predicted labels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench import paths
from clusterbench.data import load as load_dataset
from clusterbench.errors import DataError
from clusterbench.fsutil import atomic_path, write_json_atomic
from clusterbench.metrics.modes import modes_and_kl

MODEL_NAME = "mnist_cnn"
#: Test accuracy a freshly trained classifier must reach, by training data set (default 0.98).
MIN_ACCURACY: dict[str, float] = {"mnist": 0.98, "fashion-mnist": 0.88}


def model_name(dataset: str = "mnist") -> str:
    """Cache file stem of the classifier trained on ``dataset`` (``mnist_cnn`` for MNIST)."""
    return MODEL_NAME if dataset == "mnist" else f"{MODEL_NAME}-{dataset}"


def mnist_cnn(n_classes: int = 10) -> nn.Module:
    """The Keras mnist_cnn network: B x 1 x 28 x 28 in [0, 1] -> B x n_classes logits."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, n_classes),
    )


@torch.no_grad()
def predict_labels(model: nn.Module, X: np.ndarray, *, batch_size: int = 1000, device: str = "cpu") -> np.ndarray:
    """N x 1 x 28 x 28 in [0, 1] -> N predicted labels."""
    model = model.to(device).eval()
    out = []
    for i in range(0, len(X), batch_size):
        xb = torch.as_tensor(np.asarray(X[i : i + batch_size], dtype=np.float32), device=device)
        out.append(model(xb).argmax(1).cpu())
    return torch.cat(out).numpy()


def count_modes(samples: np.ndarray, model: nn.Module | None = None, *, n_classes: int = 10,
                device: str = "cpu") -> tuple[int, float]:
    """Generated samples (N x 1 x 28 x 28 in [0, 1]) -> (modes, KL) using the cached classifier."""
    model = model if model is not None else load_classifier()[0]
    res = modes_and_kl(predict_labels(model, samples, device=device), n_classes)
    return res.modes, res.kl


@torch.no_grad()
def penultimate_features(model: nn.Module, X: np.ndarray, *, batch_size: int = 1000,
                         device: str = "cpu") -> np.ndarray:
    """N x 1 x 28 x 28 in [0, 1] -> N x 128 float64: the post-ReLU activations before the last
    dropout and Dense layer (eval mode, so dropout is the identity)."""
    model = model.to(device).eval()
    trunk = model[:-2]  # ... Dense(128), ReLU | Dropout(0.5), Dense(n_classes)
    out = []
    for i in range(0, len(X), batch_size):
        xb = torch.as_tensor(np.asarray(X[i : i + batch_size], dtype=np.float32), device=device)
        out.append(trunk(xb).double().cpu())
    return torch.cat(out).numpy() if out else np.empty((0, 128))


def train_classifier(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                     epochs: int = 12, batch_size: int = 128, seed: int = 0, min_accuracy: float = 0.98,
                     device: str = "cpu", directory: Path | None = None,
                     provenance: dict[str, Any] | None = None, name: str = MODEL_NAME) -> tuple[nn.Module, float]:
    """Train the classifier, check its test accuracy, cache it with a JSON of facts beside it.

    X_*: N x 1 x 28 x 28 float32 in [0, 1]; y_*: N int labels. Raises DataError below min_accuracy.
    """
    torch.manual_seed(seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = mnist_cnn(n_classes).to(device)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    Xt = torch.as_tensor(np.asarray(X_train, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        perm = rng.permutation(len(Xt))
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(Xt[idx].to(device)), yt[idx].to(device))
            loss.backward()
            opt.step()
    accuracy = float((predict_labels(model, X_test, device=device) == np.asarray(y_test)).mean())
    if accuracy < min_accuracy:
        raise DataError(
            f"The MNIST classifier reached only {accuracy:.4f} test accuracy (< {min_accuracy}); mode counts "
            "from it would not be trustworthy.",
            hint="Train it for more epochs (epochs=...) or check the MNIST data.",
        )
    directory = Path(directory) if directory is not None else paths.models_dir()
    with atomic_path(directory / f"{name}.pt") as tmp:
        torch.save(model.cpu().state_dict(), tmp)
    write_json_atomic(directory / f"{name}.json", {
        "test_accuracy": accuracy, "epochs": epochs, "batch_size": batch_size, "seed": seed,
        "n_classes": n_classes, "n_train": int(len(X_train)), "n_test": int(len(X_test)),
        "min_accuracy": min_accuracy, **(provenance or {}),
    })
    return model, accuracy


def load_classifier(directory: Path | None = None, *, name: str = MODEL_NAME) -> tuple[nn.Module, dict[str, Any]]:
    """The cached classifier ``name`` and its JSON facts; DataError when it has not been trained yet."""
    directory = Path(directory) if directory is not None else paths.models_dir()
    pt, js = directory / f"{name}.pt", directory / f"{name}.json"
    if not (pt.exists() and js.exists()):
        raise DataError(f"No cached classifier {name} in {directory}.",
                        hint="Call clusterbench.evaluate.mnist_classifier.get_classifier() (needs the fetched "
                             "mnist data set, or the one named by --set eval_classifier=...) to train it once.")
    facts = json.loads(js.read_text())
    model = mnist_cnn(int(facts.get("n_classes", 10)))
    model.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
    return model.eval(), facts


def mnist_split(X: np.ndarray, y: np.ndarray, extras: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Training/test split of the 70k MNIST set: a boolean/int ``test`` or ``split`` extra when the
    data set stores one, else the standard order (first 60,000 = training, last 10,000 = test)."""
    for key in ("test", "is_test", "split"):
        if key in extras:
            test = np.asarray(extras[key]).astype(bool)
            return X[~test], y[~test], X[test], y[test]
    if len(X) != 70000:
        raise DataError(f"Cannot tell MNIST's training split from its test split in a set of {len(X)} samples.",
                        hint="Fetch the full 70,000-sample mnist data set.")
    return X[:60000], y[:60000], X[60000:], y[60000:]


def get_classifier(*, dataset: str = "mnist", min_accuracy: float | None = None, device: str = "cpu",
                   epochs: int = 12) -> tuple[nn.Module, dict[str, Any]]:
    """The cached classifier, trained on ``dataset``'s training split the first time."""
    name = model_name(dataset)
    try:
        return load_classifier(name=name)
    except DataError:
        pass
    X, y, info, extras = load_dataset(dataset, extras=True)
    Xtr, ytr, Xte, yte = mnist_split(np.asarray(X), np.asarray(y), extras)
    if min_accuracy is None:
        min_accuracy = MIN_ACCURACY.get(dataset, 0.98)
    train_classifier(Xtr, ytr, Xte, yte, epochs=epochs, min_accuracy=min_accuracy, device=device,
                     provenance={"dataset": dataset, "dataset_checksum": getattr(info, "checksum", "")}, name=name)
    return load_classifier(name=name)


def uniform_kl_max(n_classes: int = 10) -> float:
    """The largest KL(p || uniform): all samples in one class (log K)."""
    return math.log(n_classes)
