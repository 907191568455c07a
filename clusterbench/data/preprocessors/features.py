"""STL-10 -> 2048-d ResNet-50 ImageNet features (the VaDE protocol that Dual-AAE Table I follows).

VaDE's official code has no STL part; the protocol below is the one of the public PyTorch script
described in the reference notes (datasets-reference.md section 5): the 13,000 labelled images
(train then test), /255, ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225),
**no resize** (96x96 in), torchvision ``resnet50`` trunk without avgpool and fc
(``children()[:-2]``) -> 2048 x 3 x 3 map -> spatial mean -> 2048-d.

Weights: torchvision's ResNet-50 IMAGENET1K_V1 file ``resnet50-0676ba61.pth`` (the weights of
``pretrained=True``-era code), verified the way ``torch.hub`` does with ``check_hash=True``: the
file's sha256 must begin with the hex string after the last '-' in its name. The full sha256 is
not published; the fetch records the one it saw.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import need, recipe
from clusterbench.data.preprocessors.stl10 import read_stl10
from clusterbench.errors import ChecksumError, ConfigError, DataError

VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 2048
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[^-]*$")


# ----------------------------------------------------------------------------- pinned weights


def hash_prefix_from_name(path: str | Path) -> str:
    """The sha256 prefix a weights file name carries (``resnet50-0676ba61.pth`` -> ``0676ba61``).

    Like ``torch.hub``: the lowercase hex string between the last '-' and the extension. DataError
    when the name carries none (a renamed file cannot be verified).
    """
    m = _HASH_IN_NAME.search(Path(path).name)
    if not m:
        raise DataError(
            f"The weights file name {Path(path).name!r} carries no sha256 prefix (expected NAME-<hex>.pth).",
            hint="Keep the file name the weights were published under, e.g. resnet50-0676ba61.pth.",
        )
    return m.group(1)


def sha256_of(path: str | Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_hash_prefix(path: str | Path, prefix: str) -> str:
    """Check that the sha256 of ``path`` starts with ``prefix`` (torch.hub's ``check_hash``).

    Returns the full sha256. Raises ChecksumError (a DataError) on a mismatch.
    """
    prefix = prefix.lower()
    if not re.fullmatch(r"[0-9a-f]{1,64}", prefix):
        raise ConfigError(f"A sha256 prefix must be lowercase hex, got {prefix!r}.")
    digest = sha256_of(path)
    if not digest.startswith(prefix):
        raise ChecksumError(
            f"The weights file {path} has sha256 {digest}, which does not start with the pinned prefix {prefix}.",
            hint="The file is corrupt or not the published one: delete it and fetch again (`--force`).",
        )
    return digest


def load_pinned_state_dict(path: str | Path, prefix: str | None, model: Any) -> str:
    """Verify ``path`` against ``prefix`` (default: the prefix in its file name), then load it into
    ``model`` (a ``torch.nn.Module``) with ``torch.load(weights_only=True)`` and
    ``load_state_dict(strict=True)``.

    Returns the file's full sha256. DataError on a wrong hash, an unreadable file, or a state
    dict whose keys or shapes do not match ``model``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"The weights file {path} does not exist.",
            hint="Run `clusterbench fetch stl10` to download it, or place it there under its published name.",
        )
    digest = verify_hash_prefix(path, prefix if prefix is not None else hash_prefix_from_name(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip/unsafe-type errors all mean: not a usable weights file
        raise DataError(
            f"The weights file {path} cannot be read as a PyTorch state dict ({type(exc).__name__}: {exc}).",
            hint="Delete it and fetch it again (`clusterbench fetch NAME --force`).",
        ) from None
    if not isinstance(state, dict):
        raise DataError(f"The weights file {path} holds a {type(state).__name__}, not a state dict.")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise DataError(
            f"The weights in {path} do not fit the network ({' '.join(first[:3])[:400]}).",
            hint="The file is not the published one for this network: delete it and fetch it again.",
        ) from None
    return digest


# ----------------------------------------------------------------------------- the network


def _torchvision():
    try:
        import torchvision
    except ImportError:
        raise ConfigError(
            "The STL-10 ResNet-50 features need torchvision, which is not installed.",
            hint="Install it with `pip install 'clusterbench[vision]'` (or `pip install torchvision`).",
        ) from None
    return torchvision


def resnet50_trunk(*, weights: str | Path, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """ResNet-50 without avgpool and fc (``children()[:-2]``), in eval mode, on the CPU.

    weights: a path to the pinned ImageNet state dict, or "random" (tests only: He-initialised
        weights drawn under ``torch.manual_seed(seed)`` without disturbing the global RNG).
    Returns (trunk, provenance) where provenance records the weights used (file, sha256).
    Input (B, 3, H, W) normalised images -> output (B, 2048, ceil(H/32), ceil(W/32)).
    """
    import torch

    tv = _torchvision()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = tv.models.resnet50(weights=None)
    if str(weights) == "random":
        provenance: dict[str, Any] = {"weights": "random", "seed": seed}
    else:
        digest = load_pinned_state_dict(weights, None, net)
        provenance = {"weights": Path(weights).name, "weights_sha256": digest}
    trunk = torch.nn.Sequential(*list(net.children())[:-2])
    trunk.eval()
    return trunk, provenance


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when available, else "cpu"; otherwise validated as a torch device string."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"Option device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"Option device is {device!r} but no CUDA device is available.", hint="Use device = 'cpu' or 'auto'.")
    return str(dev)


@contextlib.contextmanager
def _progress(total: int, *, enabled: bool, label: str) -> Iterator[Any]:
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def extract_features(
    images: np.ndarray,
    *,
    trunk: Any,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Spatial-mean ResNet features of uint8 images.

    images: (N, 3, H, W) uint8 in (channel, row, column) order. Each batch: /255, ImageNet
    mean/std, no resize, ``trunk`` -> (B, 2048, h, w) -> mean over (h, w).
    Returns (N, 2048) float32.
    """
    import torch

    if images.ndim != 4 or images.shape[1] != 3:
        raise DataError(f"Feature extraction needs (N, 3, H, W) images, got shape {images.shape}.")
    if batch_size < 1:
        raise ConfigError(f"Option batch_size must be >= 1, got {batch_size}.")
    trunk = trunk.to(device)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    out = np.empty((len(images), FEATURE_DIM), dtype=np.float32)
    with torch.inference_mode(), _progress(len(images), enabled=progress, label="ResNet-50 features") as advance:
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size])).to(device)
            x = (x.float() / 255.0 - mean) / std
            fmap = trunk(x)  # (B, 2048, 3, 3) for 96x96 input
            out[s : s + len(x)] = fmap.mean(dim=(2, 3)).float().cpu().numpy()
            advance(len(x))
    return out


# ----------------------------------------------------------------------------- the preprocessor


def stl10_resnet50(
    files: dict[str, Path],
    *,
    spec: DatasetSpec,
    split: str = "all",
    weights: str = "imagenet",
    batch_size: int = 256,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
) -> Prepared:
    """STL-10 as 2048-d ResNet-50 ImageNet features (Dual-AAE Table I "following VaDE").

    files: role ``archive`` (stl10_binary.tar.gz) and, unless weights="random", role ``weights``
        (resnet50-0676ba61.pth, sha256 prefix checked from the file name).
    split: "all" (13,000 = train then test), "train" or "test".
    weights: "imagenet" (the pinned file) or "random" (tests only; recorded in the recipe).
    batch_size, device ("auto" | "cpu" | "cuda[:N]"), progress: speed only, the output is the
        same up to float rounding.
    Returns X: (N, 2048) float32 (non-negative: mean of post-ReLU maps); y: (N,) int64 in 0..9.
    """
    if weights not in ("imagenet", "random"):
        raise ConfigError(f"{spec.name}: option weights must be 'imagenet' or 'random' (tests only), got {weights!r}.")
    dev = resolve_device(device)
    # Weights first: a bad weights file fails before the 2.6 GB archive is read.
    source = need(files, "weights", spec=spec) if weights == "imagenet" else "random"
    trunk, provenance = resnet50_trunk(weights=source, seed=seed)
    images, y = read_stl10(files, spec=spec, split=split)
    X = extract_features(images, trunk=trunk, batch_size=batch_size, device=dev, progress=progress)
    options: dict[str, Any] = {
        "split": split,
        "weights": weights,
        "network": "torchvision resnet50 IMAGENET1K_V1, children()[:-2]",
        "input": "x/255, ImageNet mean/std, 96x96 no resize",
        "pool": "spatial mean",
        **provenance,
    }
    rec = recipe("stl10-resnet50", VERSION, **options)
    rec["device"] = dev
    return Prepared(X=X, y=y, recipe=rec)
