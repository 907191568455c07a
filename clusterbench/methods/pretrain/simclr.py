"""SimCLR (Chen et al., ICML 2020) pre-training for DC3-GAN's CIFAR-10 encoder (DC3 Appendix:
"we combine the pre-trained SimCLR model and a trainable 2-layer MLP"; the authors'
``ifding/compare_gan`` README: SimCLR ResNet-18, batch 512, 1000 epochs, lr 1.0, temperature 0.5).

* Backbone: ResNet-18 adapted to 32 x 32 inputs as in the SimCLR paper's CIFAR-10 experiments
  (Appendix B.9): the 7 x 7 stride-2 stem is replaced by a 3 x 3 stride-1 convolution and the
  first max-pool is removed; the classifier is dropped, so features are the 512-d global
  average pool (torchvision's ``resnet18`` with those two layers swapped).
* Projection head g: 512 -> 2048 -> 128 (Linear, BatchNorm, ReLU, Linear; BatchNorm in the
  hidden layer as the official TF code's head).
* Loss: NT-Xent, temperature 0.5 (:func:`clusterbench.nn.losses.nt_xent`).
* The networks (backbone and head): :mod:`clusterbench.nn.resnet18`.
* Augmentations (SimCLR's CIFAR-10 set, Appendix B.9; no Gaussian blur on CIFAR), applied per
  image with ``torchvision.transforms.v2`` on tensors in [0, 1]: RandomResizedCrop(32, scale
  (0.08, 1)), horizontal flip (0.5), colour jitter (0.4, 0.4, 0.4, 0.1) with probability 0.8,
  grayscale with probability 0.2. The draws use torch's global RNG, which the loop seeds.
* ``augment = "batched"`` (an option; the default is the per-image v2 pipeline above): the same
  four augmentations drawn per image but applied to the whole batch at once on the batch's device
  (:func:`batched_augment`): crops resampled bilinearly (one sample per output pixel) with
  ``torchvision.ops.roi_align`` (no antialiasing, unlike v2's resize), one random order of the
  four colour-jitter operations per batch (v2 draws one per image). Measured here (shared 2-core
  machine): the per-image pipeline augments 330-420 views/s on one CPU thread, which would bound
  a GPU pre-training at ~70-85 h for 1000 epochs; the batched one does ~1,500 views/s on one CPU
  thread and runs on the GPU with the batch.
* Optimiser (our choice; the official code uses LARS, which torch lacks): SGD with momentum 0.9,
  weight decay 1e-6, lr = 0.3 x batch / 256 (the SimCLR paper's linear scaling rule) with a
  cosine decay to 0 over the whole schedule (no warm-up). Schedule defaults: batch 512, 1000
  epochs (the authors' README).

Pre-training runs through the single training loop (:func:`clusterbench.training.loop.train`:
seeding, device, checkpoint/resume, final ``model.pt``) in a folder of the clusterbench home's
``models/`` named by a hash of the configuration and the data's identity
(``simclr-<hash>/model.pt``; ``simclr-<hash>.json`` beside it says what made it). A finished folder
is reused. A user's own checkpoint is loaded with :func:`load_encoder` through the same
``weights_only`` path.

Length: about 400 lines, one unit: the pre-training, its batched augmentations and the resolution of
a ``simclr=`` reference to weights (cache entry, data set or file), which DC3's CIFAR-10 variant
reads together; splitting them would scatter one contract over several modules.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench import paths
from clusterbench.step_probe import host_side
from clusterbench.data.registry import get_spec
from clusterbench.errors import DataError
from clusterbench.fsutil import write_json_atomic
from clusterbench.nn.losses import nt_xent
from clusterbench.nn.resnet18 import FEATURE_DIM, projection_head, resnet18_cifar
from clusterbench.training.checkpoints import MODEL_NAME, load_final_weights, safe_load
from clusterbench.training.contract import DeepModel
from clusterbench.training.loop import LoopOptions, train


#: SimCLRConfig fields that change how the pre-training runs, not what it computes (out of the
#: cache key, the checkpoint fingerprint and the default-config match)
EXECUTION_ONLY = frozenset({"checkpoint_every", "capture"})


@dataclass
class SimCLRConfig:
    """SimCLR pre-training. Defaults: the DC3 authors' README (ResNet-18, batch 512, 1000 epochs,
    temperature 0.5); projection 512 -> 2048 -> 128; SGD lr = ``lr_per_256`` x batch / 256 with
    cosine decay, momentum 0.9, weight decay 1e-6 (our choice in place of LARS, see the module
    docstring). checkpoint_every: epochs between checkpoints; capture: "off" or "compile" (the
    whole step under torch.compile, ``clusterbench.training.capture``; "graph" is refused: the
    cosine learning rate is set in Python every step). Both are bookkeeping, not in the hash
    (:data:`EXECUTION_ONLY`)."""

    epochs: int = 1000
    batch_size: int = 512
    temperature: float = 0.5
    proj_hidden: int = 2048
    proj_dim: int = 128
    lr_per_256: float = 0.3
    momentum: float = 0.9
    weight_decay: float = 1e-6
    augment: str = "v2"
    checkpoint_every: int = 10
    capture: str = "off"

    def __post_init__(self) -> None:
        if self.capture not in ("off", "compile"):
            raise ValueError(f"capture must be off or compile for SimCLR (its cosine learning rate is set in Python "
                             f"every step, which a CUDA graph would freeze), got {self.capture!r}")
        for k in ("epochs", "batch_size", "proj_hidden", "proj_dim"):  # 0 divides by zero later
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be at least 1, got {getattr(self, k)}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.augment not in ("v2", "batched"):
            raise ValueError(f"augment must be 'v2' (per image, torchvision.transforms.v2) or 'batched', got {self.augment!r}")




def augmentation():
    """SimCLR's CIFAR-10 augmentation of one C x 32 x 32 tensor in [0, 1] (module docstring)."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(0.5),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(0.2),
    ])


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W RGB in [0, 1] -> HSV (all three in [0, 1])."""
    r, g, b = x.unbind(1)
    mx, _ = x.max(1)
    mn, _ = x.min(1)
    d = mx - mn
    safe = torch.where(d > 0, d, torch.ones_like(d))
    h = torch.where(mx == r, ((g - b) / safe) % 6, torch.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(d > 0, h / 6, torch.zeros_like(h))
    s = torch.where(mx > 0, d / torch.where(mx > 0, mx, torch.ones_like(mx)), torch.zeros_like(mx))
    return torch.stack([h, s, mx], 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    k = lambda n: (n + h * 6) % 6
    f = lambda n: v - v * s * torch.clamp(torch.minimum(k(n), 4 - k(n)), 0, 1)
    return torch.stack([f(5), f(3), f(1)], 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W -> B x 1 x H x W luma (ITU-R 601, as torchvision's rgb_to_grayscale)."""
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def batched_augment(x: torch.Tensor, *, scale: tuple[float, float] = (0.08, 1.0), flip_p: float = 0.5,
                    jitter_p: float = 0.8, jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
                    gray_p: float = 0.2) -> torch.Tensor:
    """SimCLR's CIFAR augmentation drawn per image, applied to a whole B x 3 x H x W batch in
    [0, 1] on its own device (module docstring); uses torch's global RNG."""
    from torchvision.ops import roi_align

    n, _, hgt, wid = x.shape
    dev = x.device
    area = hgt * wid
    # RandomResizedCrop: 10 tries per image (v2's rule), the first that fits; else the whole image
    tries = 10
    target = area * torch.empty(n, tries, device=dev).uniform_(*scale)
    logr = torch.empty(n, tries, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
    ratio = torch.exp(logr)
    cw = torch.sqrt(target * ratio).round()
    ch = torch.sqrt(target / ratio).round()
    ok = (cw > 0) & (ch > 0) & (cw <= wid) & (ch <= hgt)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1, device=dev))
    rows = torch.arange(n, device=dev)
    w = torch.where(first >= 0, cw[rows, first.clamp(min=0)], torch.full((n,), float(wid), device=dev))
    h = torch.where(first >= 0, ch[rows, first.clamp(min=0)], torch.full((n,), float(hgt), device=dev))
    x0 = torch.floor(torch.rand(n, device=dev) * (wid - w + 1))
    y0 = torch.floor(torch.rand(n, device=dev) * (hgt - h + 1))
    boxes = torch.stack([rows.float(), x0, y0, x0 + w, y0 + h], 1)
    out = roi_align(x, boxes, output_size=(hgt, wid), spatial_scale=1.0, sampling_ratio=1, aligned=True)
    # horizontal flip
    flip = torch.rand(n, device=dev) < flip_p
    out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    # colour jitter (probability jitter_p per image; one random order of the four per batch)
    on = (torch.rand(n, device=dev) < jitter_p)[:, None, None, None]
    bri, con, sat, hue = jitter
    j = out
    with host_side():  # the order is drawn by the host's generator (a CPU tensor on CUDA too): no device sync
        order = torch.randperm(4).tolist()
    for op in order:
        if op == 0:
            f = torch.empty(n, 1, 1, 1, device=dev).uniform_(1 - bri, 1 + bri)
            j = (j * f).clamp(0, 1)
        elif op == 1:
            f = torch.empty(n, 1, 1, 1, device=dev).uniform_(1 - con, 1 + con)
            m = _gray(j).mean(dim=(1, 2, 3), keepdim=True)
            j = ((j - m) * f + m).clamp(0, 1)
        elif op == 2:
            f = torch.empty(n, 1, 1, 1, device=dev).uniform_(1 - sat, 1 + sat)
            g = _gray(j)
            j = ((j - g) * f + g).clamp(0, 1)
        else:
            f = torch.empty(n, 1, 1, device=dev).uniform_(-hue, hue)
            hsv = _rgb_to_hsv(j)
            hsv = torch.stack([(hsv[:, 0] + f) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
            j = _hsv_to_rgb(hsv).clamp(0, 1)
    out = torch.where(on, j, out)
    # grayscale
    gray = (torch.rand(n, device=dev) < gray_p)[:, None, None, None]
    return torch.where(gray, _gray(out).expand_as(out), out)


class SimCLRModel(DeepModel):
    """Nets ``encoder`` (ResNet-18, 32 x 32) and ``head`` (projection); one SGD optimizer."""

    def __init__(self, device: torch.device, cfg: SimCLRConfig, steps_per_epoch: int) -> None:
        super().__init__(device)
        self.cfg = cfg
        self.encoder = resnet18_cifar().to(device)
        self.head = projection_head(FEATURE_DIM, cfg.proj_hidden, cfg.proj_dim).to(device)
        self.nets.update(encoder=self.encoder, head=self.head)
        params = [*self.encoder.parameters(), *self.head.parameters()]
        self.base_lr = cfg.lr_per_256 * cfg.batch_size / 256
        self.optims["sgd"] = torch.optim.SGD(params, lr=self.base_lr, momentum=cfg.momentum,
                                             weight_decay=cfg.weight_decay)
        self.total_steps = max(1, cfg.epochs * steps_per_epoch)
        # the step count travels with the weights (a resumed run continues the cosine schedule)
        self.head.register_buffer("steps_done", torch.zeros((), dtype=torch.int64, device=device))
        self.t = 0  # the same count as a Python int: the step's schedule reads this one
        self.transform = augmentation()

    #: whole-step capture (clusterbench.training.capture) would freeze the learning rate
    capturable = "every step sets the cosine learning rate from a Python step count"

    def views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independently augmented views of each image of x (B x 3 x 32 x 32)."""
        if self.cfg.augment == "batched":
            return batched_augment(x), batched_augment(x)
        a = torch.stack([self.transform(img) for img in x])
        b = torch.stack([self.transform(img) for img in x])
        return a, b

    def load_weights(self, nets: dict[str, dict[str, torch.Tensor]]) -> None:
        super().load_weights(nets)
        self.t = int(self.head.steps_done)  # a resumed run continues the schedule (read once, not per step)

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        t = self.t
        lr = 0.5 * self.base_lr * (1 + math.cos(math.pi * min(t, self.total_steps) / self.total_steps))
        for g in self.optims["sgd"].param_groups:
            g["lr"] = lr
        a, b = self.views(x)
        with self.optimizing("sgd") as opt:
            loss = opt.backward(nt_xent(self.head(self.encoder(a)), self.head(self.encoder(b)),
                                        self.cfg.temperature))
        self.head.steps_done += 1  # on the device (it travels with the weights), never read in a step
        self.t += 1
        return {"nt_xent": loss.detach(), "lr": lr}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The loop's interface: (B x 1 constant, discarded; B x 512 features)."""
        return torch.ones(x.shape[0], 1, device=x.device), self.encoder(x)


def _data_id(X: np.ndarray) -> str:
    h = hashlib.sha256()
    a = np.ascontiguousarray(X)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def cache_key(cfg: SimCLRConfig, data_id: str, seed: int) -> str:
    """16 hex digits of sha256 over the config (bookkeeping excluded), the data id and the seed."""
    conf = {k: v for k, v in asdict(cfg).items() if k not in EXECUTION_ONLY}
    blob = json.dumps({"config": conf, "data": data_id, "seed": int(seed)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrain(X: np.ndarray, cfg: SimCLRConfig | None = None, *, seed: int = 0, device: str = "cpu",
             data_id: str | None = None, directory: Path | None = None) -> Path:
    """Pre-train SimCLR on X (N x 3 x 32 x 32 float32 in [0, 1]) or reuse the cached result;
    returns the ``model.pt`` (nets ``encoder`` and ``head``). ``data_id``: the data set's checksum
    (computed from X when not given); ``directory``: default the home's ``models/``. An
    interrupted pre-training resumes from its checkpoint."""
    cfg = cfg or SimCLRConfig()
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4 or X.shape[1:] != (3, 32, 32) or X.shape[0] < 2:
        raise DataError(f"SimCLR pre-training needs N x 3 x 32 x 32 images (CIFAR-10); got shape {X.shape}.")
    if X.min() < 0 or X.max() > 1:
        raise DataError("SimCLR pre-training needs images in [0, 1].", hint="Use the data set as stored.")
    data_id = data_id or _data_id(X)
    key = cache_key(cfg, data_id, seed)
    root = Path(directory) if directory is not None else paths.models_dir()
    work = root / f"simclr-{key}"
    final = work / MODEL_NAME
    if final.exists():
        return final
    steps = max(1, X.shape[0] // cfg.batch_size) if X.shape[0] > cfg.batch_size else 1
    options = LoopOptions(epochs=cfg.epochs, batch_size=cfg.batch_size, checkpoint_every=cfg.checkpoint_every,
                          monitor_every=0, channels_last=False, capture=cfg.capture)
    fingerprint = {"method": "simclr", "config": {k: v for k, v in asdict(cfg).items() if k not in EXECUTION_ONLY},
                   "data": data_id}
    # no mkdir: the loop's first checkpoint creates the folder (a failure before leaves none behind)
    res = train(lambda dev: SimCLRModel(dev, cfg, steps), X, options=options, seed=seed, device=device,
                workdir=work, fingerprint=fingerprint)
    last = [r for r in res.history if r.get("phase") == "train"]
    write_json_atomic(root / f"simclr-{key}.json", {
        "key": key, "config": asdict(cfg), "data": data_id, "seed": int(seed), "n_samples": int(X.shape[0]),
        "backbone": "resnet18-cifar (3x3 stem, no max-pool)", "final_nt_xent": last[-1]["nt_xent"] if last else None,
    })
    return final


def load_encoder(path: str | Path) -> nn.Module:
    """The SimCLR ResNet-18 encoder (eval mode, CPU) from a clusterbench ``model.pt`` (net
    ``encoder``) or a user's checkpoint holding the backbone's plain state dict (optionally under
    ``"encoder"`` or ``"state_dict"``, keys optionally prefixed ``encoder.``/``backbone.``/
    ``module.``); read with ``weights_only=True``. A projection head or classifier in the file is
    ignored; missing or mismatched backbone weights are a :class:`DataError`."""
    path = Path(path)
    state = safe_load(path)
    if state.get("format") is not None:
        nets = load_final_weights(path)
        sd = nets.get("encoder")
    else:
        sd = state.get("encoder", state.get("state_dict", state))
    if not isinstance(sd, dict):
        raise DataError(f"{path} holds no SimCLR encoder weights.", hint="Give a ResNet-18 state dict.")
    clean: dict[str, Any] = {}
    for k, v in sd.items():
        for prefix in ("module.", "encoder.", "backbone."):
            k = k.removeprefix(prefix)
        if not k.startswith(("fc.", "head.", "projector.")):
            clean[k] = v
    net = resnet18_cifar()
    try:
        net.load_state_dict(clean, strict=True)
    except RuntimeError as exc:
        raise DataError(f"{path} is not a SimCLR ResNet-18 (32 x 32) checkpoint: {str(exc).splitlines()[0]}",
                        hint="The encoder must be torchvision's resnet18 with a 3x3 stride-1 conv1 and no max-pool.") from None
    return net.eval()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_weights(ref: str, *, seed: int = 0) -> dict[str, Any]:
    """The SimCLR weights file a method asks for by ``ref`` (DC3-GAN's ``simclr`` option):

    * a path (contains "/" or ends with .pt/.pth): a user's checkpoint (read later with
      :func:`load_encoder`, ``weights_only=True``);
    * ``simclr-<16 hex>``: that entry of the home's ``models/`` cache;
    * a data set id: the cache entry that ``clusterbench simclr <id> --seed <seed>`` made on the
      fetched data set (matched by its checksum); when several configurations were pre-trained,
      the one with the default :class:`SimCLRConfig`, else an error naming them.

    Returns ``{"path", "sha256", "source", ...}`` (the cache entry's key, configuration and final
    loss when there is one). A missing file is a one-paragraph :class:`DataError`."""
    from clusterbench.data.hdf5 import read_info  # lazily: h5py, only for a data set id

    ref = str(ref).strip()
    root = paths.models_dir()
    path = checkpoint_path(ref)
    if path is not None:
        if not path.is_file():
            raise DataError(f"The SimCLR checkpoint {path} does not exist.",
                            hint="Give the path of a ResNet-18 (3x3 stem, no max-pool) state dict, or pre-train one "
                                 "with `clusterbench simclr cifar10-train`.")
        return {"source": "user checkpoint", "path": str(path.resolve()), "sha256": _sha256(path)}
    if ref.startswith("simclr-"):
        path = root / ref / MODEL_NAME
        if not path.is_file():
            raise DataError(f"The SimCLR cache entry {ref} has no finished model ({path} is missing).",
                            hint="Run `clusterbench simclr DATASET` to completion (it prints the entry), or give "
                                 "simclr=/path/to/checkpoint.pt.")
        meta_file = root / f"{ref}.json"
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        return {"source": "clusterbench simclr", "path": str(path), "sha256": _sha256(path), **_facts(meta)}
    get_spec(ref)  # an unknown name: UnknownNameError with the closest names
    data_file = paths.dataset_file(ref)
    if not data_file.is_file():
        raise DataError(f"The SimCLR encoder is asked for by data set ({ref}), which has not been fetched, so no "
                        f"pre-training on it can exist.",
                        hint=f"Run `clusterbench fetch {ref}` and `clusterbench simclr {ref}` (GPU: --device cuda "
                             f"--set augment=batched), or give simclr=/path/to/checkpoint.pt.")
    checksum = read_info(data_file).checksum
    found = []
    for meta_file in sorted(root.glob("simclr-*.json")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("data") == checksum and int(meta.get("seed", -1)) == int(seed) \
                and (meta_file.with_suffix("") / MODEL_NAME).is_file():
            found.append(meta)
    if len(found) > 1:
        default = {k: v for k, v in asdict(SimCLRConfig()).items() if k not in EXECUTION_ONLY}
        plain = [m for m in found if {k: v for k, v in m.get("config", {}).items() if k not in EXECUTION_ONLY} == default]
        if len(plain) != 1:
            raise DataError(f"Several SimCLR pre-trainings on {ref} (seed {seed}) are cached: "
                            f"{', '.join('simclr-' + m['key'] for m in found)}.",
                            hint="Name one: --set simclr=simclr-<key> (the .json beside each says its configuration).")
        found = plain
    if not found:
        raise DataError(
            f"DC3-GAN's CIFAR-10 encoder needs a SimCLR ResNet-18 pre-trained on {ref} (seed {seed}), and "
            f"{root} holds none: the paper's encoder is a pre-trained SimCLR model with a trainable MLP on top, "
            f"and the suite does not pre-train it inside a clustering run.",
            hint=f"Run `clusterbench simclr {ref}` first (GPU: --device cuda --set augment=batched), or give your own "
                 f"checkpoint with --set simclr=/path/to/checkpoint.pt.")
    meta = found[0]
    path = root / f"simclr-{meta['key']}" / MODEL_NAME
    return {"source": "clusterbench simclr", "dataset": ref, "path": str(path), "sha256": _sha256(path), **_facts(meta)}


def checkpoint_path(ref: str) -> Path | None:
    """The file of a ``simclr=`` path reference ('/' or .pt/.pth), else None (a data set or cache id)."""
    return Path(str(ref).strip()).expanduser() if "/" in str(ref) or str(ref).strip().endswith((".pt", ".pth")) else None


def _facts(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("key", "config", "seed", "n_samples", "final_nt_xent", "backbone") if k in meta}


@torch.no_grad()
def features(encoder: nn.Module, X: np.ndarray, *, batch_size: int = 500, device: str = "cpu") -> np.ndarray:
    """N x 3 x 32 x 32 in [0, 1] -> N x 512 features (eval mode)."""
    encoder = encoder.to(device).eval()
    out = [encoder(torch.as_tensor(np.asarray(X[i : i + batch_size], dtype=np.float32), device=device)).float().cpu()
           for i in range(0, len(X), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, FEATURE_DIM), np.float32)


__all__ = ["SimCLRConfig", "SimCLRModel", "cache_key", "features", "load_encoder", "pretrain", "resolve_weights"]
