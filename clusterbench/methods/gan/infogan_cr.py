"""InfoGAN-CR (Lin et al., ICML 2020) on dSprites: DC3-GAN Table 3's baseline rows, with the
networks of DC3 Appendix Table 11 (:mod:`clusterbench.nn.dsprites`).

Latents: 5 continuous codes c and 5 noise inputs z, all uniform in [-1, 1]. G(c, z) is a 64 x 64
image; D/E share a trunk (real/fake logit and the means of q(c|x)); the CR discriminator sees
pairs of generated images that share the value of one code k (drawn uniformly per pair; every
other code and the noise drawn independently) and predicts k.

Per batch (manual optimisation, :meth:`DeepModel.optimizing`):

1. D/E step (Adam, ``lr_d``): BCE(D(x), 1) + BCE(D(G(c, z)), 0) + ``info_weight`` · L_I, with
   L_I = ½ Σ_k (c_k − E_k(G(c, z)))² / n (the negative log-likelihood of a Gaussian q with
   std 1, as InfoGAN-CR's ``q_std=1.0``, constant dropped);
2. CR step (Adam, ``lr_cr``; only when the CR weight is on): cross-entropy of the CR logits on
   a fresh batch of pairs against the shared code's index;
3. G step (Adam, ``lr_g``): BCE(D(G(c, z)), 1) (non-saturating) + ``info_weight`` · L_I +
   ``cr_weight`` · CR cross-entropy on the pairs of step 2 (G and CR *cooperate*: both minimise it).

``cr_weight = 0`` is plain InfoGAN on this architecture (Table 3's "InfoGAN" row): no CR network
is built. The CR weight is 0 until G has taken ``cr_start_step`` steps (InfoGAN-CR's schedule;
counted from the G optimizer's own step count, so a resumed run continues the schedule).

Defaults (InfoGAN-CR's ``InfoGAN-CR_dSprites/config.py``, which DC3 §3.2 says it follows; DC3
Appendix: G lr 1e-3, D and E lr 2e-3, 28 epochs): batch 64, Adam beta1 0.5, info weight 0.05 for
G and D, CR weight 2.0 switched on after 288,000 G steps (of 28 × 11,520 = 322,560), gap 0 (no
progressive gap). Choices of ours: the CR discriminator's architecture (see nn/dsprites.py) and
Adam beta2 0.999 (TensorFlow's default, which the reference code leaves unset).

Differences from the InfoGAN-CR code (issue 28 items 5 and 9, kept; the DC3 Table 3 note says so
on its InfoGAN and InfoGAN-CR + MC cells, whose printed values are that code's):

* D/E: DC3's Table 11 trunk with batch norm (the paper; the code has spectral normalisation and no
  batch norm in D/E). D/E runs in train mode on one real and two generated batches per step, so
  the running statistics that the encoder's eval-mode codes (the disentanglement scores) read
  come two-thirds from generated batches.
* one G update per batch (the code takes two), one noise draw per image of a CR pair (the code
  shares the noise within a pair), and the step order D/E -> CR -> G (the code: CR -> D -> G).
Kept because DC3 Table 11 gives the networks and the rest is not in either paper; changing them
would need dSprites runs on a GPU to show they matter.

Capabilities: ``generative`` (``MethodOutput.generator``), ``clusters = False`` (continuous
codes, no cluster posterior: the record has no ACC/NMI), images of 64 x 64 only
(:meth:`InfoGANCRMethod.incompatibility`). ``fit`` also hands back ``MethodOutput.encoder`` (E's
code means on a numpy batch), which the ``disentanglement`` evaluator scores
(``--set evaluate=disentanglement``, :mod:`clusterbench.evaluate.disentanglement`); a finished
run's ``model.pt`` is reloaded by :func:`load_model` (ModelCentrality pools,
``clusterbench model-centrality``).

Data: the methods declare ``out_of_core``, so the runner hands X over as a
:class:`~clusterbench.data.hdf5.StoredArray` (dSprites is stored as uint8: 3 GB on disk, where a
float32 copy would take 12 GB of RAM and of GPU memory): the loop reads and decodes one batch at a
time, ``fit`` checks the value range block by block (``training.data._unit_range``), never
``np.asarray(X)``, and the disentanglement scores read only the rows they sample.

:class:`DSpritesGANConfig`, :class:`DSpritesGANModel` and :class:`DSpritesGANMethod` are the parts
that InfoGAN-CR shares with DC3-GAN's dSprites variant (:mod:`clusterbench.methods.gan.dc3.dsprites`).

Length: that shared dSprites GAN base (config, model, method glue) lives here with InfoGAN-CR and
:func:`load_model`, the loader of both methods' ``model.pt``; its networks are in
:mod:`clusterbench.nn.dsprites`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError, DataError
from clusterbench.evaluate import EVAL_OPTION_KEYS, requested
from clusterbench.methods.base import Method, MethodOutput, config_dict
from clusterbench.nn.dsprites import IMAGE_SIZE, CRDiscriminator, DiscriminatorEncoder, Generator
from clusterbench.plugins import load_ref
from clusterbench.precision import DEFAULT_PRECISION, check_precision
from clusterbench.runtime import torch_device
from clusterbench.training.checkpoints import MODEL_FORMAT, safe_load
from clusterbench.training.contract import DeepModel, Monitor
from clusterbench.training.data import _unit_range
from clusterbench.training.loop import LoopOptions, train
from clusterbench.training.method import make_generator

_bce = nn.functional.binary_cross_entropy_with_logits
#: Values of ``model_selection`` (see :class:`DSpritesGANConfig`).
MODEL_SELECTIONS = ("none", "model-centrality")


@dataclass
class DSpritesGANConfig:
    """Options shared by the dSprites GANs on DC3 Table 11's networks (InfoGAN-CR, DC3-GAN's
    dSprites variant). Defaults: DC3 Appendix A.2 (lr_g 1e-3, lr_d 2e-3 for D and E, 28 epochs)
    and InfoGAN-CR's ``InfoGAN-CR_dSprites/config.py`` (batch 64, Adam beta1 0.5, info weight
    0.05, 5 codes + 5 noise, all uniform in [-1, 1]). beta2 0.999: our choice (TensorFlow's
    default, which the reference code leaves unset). checkpoint_every: epochs.

    Evaluator options (read by the runner's evaluators after ``fit``, not part of a checkpoint's
    fingerprint): ``evaluate`` (``disentanglement``; ``fid`` also applies), ``disentanglement_scale``
    (the fraction of disentanglement_lib's sample sizes, 1.0 = the library's defaults; smaller
    only for smoke runs, the record says which), ``fid_samples``, ``fid_network``.

    model_selection: "none" for every trained run; "model-centrality" only on the record that
    ``clusterbench model-centrality`` writes for the model it selects from a pool of finished runs
    (DC3 Table 3's "+ MC" rows), so that a table cell tells selected models from single runs. A run
    asked to train with it is refused."""

    epochs: int = field(default=28, metadata={"help": "training epochs (DC3 Appendix A.2: 28)"})
    batch_size: int = field(default=64, metadata={"help": "samples per step"})
    n_codes: int = field(default=5, metadata={"help": "uniform latent codes (the factors to disentangle)"})
    n_noise: int = field(default=5, metadata={"help": "uniform noise dimensions"})
    lr_g: float = field(default=1e-3, metadata={"help": "Adam learning rate of G"})
    lr_d: float = field(default=2e-3, metadata={"help": "Adam learning rate of D and E"})
    beta1: float = field(default=0.5, metadata={"help": "Adam's beta1"})
    beta2: float = field(default=0.999, metadata={"help": "Adam's beta2"})
    info_weight: float = field(default=0.05, metadata={"help": "weight of the InfoGAN mutual-information term"})
    checkpoint_every: int = field(default=1, metadata={"help": "epochs between checkpoints"})
    amp: str = field(
        default=DEFAULT_PRECISION, metadata={"help": "CUDA numerics: fp32 (default, TF32 products, as the papers) or bf16 autocast (opt-in)"})
    channels_last: bool = field(default=True, metadata={"help": "CUDA only: channels-last memory layout"})
    compile: bool = field(default=False, metadata={"help": "CUDA only: torch.compile the networks"})
    capture: str = field(
        default="off", metadata={"help": "whole-step capture: off (eager), graph (CUDA graphs; CPU: a checking emulation) or compile"})
    evaluate: tuple[str, ...] = field(default=(), metadata={"help": "evaluators after fit: disentanglement, fid"})
    disentanglement_scale: float = field(
        default=1.0, metadata={"help": "fraction of disentanglement_lib's sample sizes (1: its defaults)"})
    fid_samples: int = field(default=10000, metadata={"help": "real and generated samples for FID, each"})
    fid_network: str = field(default="auto", metadata={"help": "FID feature network: auto, mnist-cnn or inception"})
    model_selection: str = field(
        default="none", metadata={"help": "none for trained runs; model-centrality marks a selected model's record"})

    def __post_init__(self) -> None:
        requested({"evaluate": self.evaluate})
        check_precision(self.amp)
        if self.model_selection not in MODEL_SELECTIONS:
            raise ValueError(f"model_selection must be one of {', '.join(MODEL_SELECTIONS)}, got {self.model_selection!r}")
        if self.n_codes < 2:
            raise ValueError(f"n_codes must be >= 2, got {self.n_codes}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (batch norm), got {self.batch_size}")
        if not 0 < self.disentanglement_scale <= 1:
            raise ValueError(f"disentanglement_scale must be in (0, 1], got {self.disentanglement_scale}")


@dataclass
class InfoGANCRConfig(DSpritesGANConfig):
    """InfoGAN-CR on Table 11's networks: :class:`DSpritesGANConfig` plus InfoGAN-CR's CR
    settings (its dSprites config): CR weight 2.0 switched on after 288,000 G steps (of
    28 x 11,520 = 322,560), lr_cr 2e-3 (as D and E; DC3 Appendix A.2). ``cr_weight = 0``: plain
    InfoGAN (Table 3's InfoGAN row, ``--set cr_weight=0``)."""

    lr_cr: float = field(default=2e-3, metadata={"help": "Adam learning rate of the CR discriminator"})
    cr_weight: float = field(
        default=2.0, metadata={"help": "weight of the contrastive-regulariser term (0: plain InfoGAN)"})
    cr_start_step: int = field(default=288000, metadata={"help": "generator step from which the CR term is on"})


class DSpritesGANModel(DeepModel):
    """G and the D/E trunk of Table 11 with the priors, the generative interface and the encoder.

    ``recovers_noise``: E's code head has n_codes + n_noise outputs (DC3 Table 11's "FC 10") and
    not only the n_codes code means (InfoGAN-CR); :meth:`encode` returns the code means alone.
    """

    clusters = False  # no posterior: the loop neither predicts nor monitors
    recovers_noise: ClassVar[bool] = False

    def __init__(self, device: torch.device, cfg: DSpritesGANConfig, channels: int = 1) -> None:
        super().__init__(device)
        self.cfg = cfg
        code_dim = cfg.n_codes + (cfg.n_noise if self.recovers_noise else 0)
        self.G = Generator(cfg.n_codes + cfg.n_noise, channels).to(device)
        self.D = DiscriminatorEncoder(channels, code_dim).to(device)
        self.nets.update(G=self.G, D=self.D)
        self.betas = (cfg.beta1, cfg.beta2)
        self.optims["g"] = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=self.betas)
        self.optims["d"] = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=self.betas)

    # priors ---------------------------------------------------------------------------------
    def latents(self, n: int) -> torch.Tensor:
        """n x (n_codes + n_noise), uniform in [-1, 1]; the first n_codes columns are the codes."""
        return torch.rand(n, self.cfg.n_codes + self.cfg.n_noise, device=self.device) * 2 - 1

    def g_steps_done(self) -> int:
        """Steps the G optimizer has taken (0 before the first): a Python count, set from Adam's
        per-parameter count when a checkpoint is loaded (that count may live on the device: reading
        it in every step would make the host wait)."""
        return getattr(self, "_g_steps", 0)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        p = next(iter(self.G.parameters()))
        st = self.optims["g"].state.get(p, {}).get("step")
        self._g_steps = int(st) if st is not None else 0

    def info_loss(self, codes_pred: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """½ Σ_k (c_k − E_k)² averaged over the batch (Gaussian q with std 1, constant dropped)."""
        return 0.5 * ((codes_pred.float() - codes) ** 2).sum(1).mean()

    # the generative interface -------------------------------------------------------------------
    @contextlib.contextmanager
    def _eval(self) -> Iterator[None]:
        """All nets in eval mode and no grad; restores the previous modes."""
        modes = {k: m.training for k, m in self.nets.items()}
        self.train_mode(False)
        try:
            with torch.no_grad():
                yield
        finally:
            for k, m in self.nets.items():
                m.train(modes[k])

    def sample(self, n: int, cluster: int | None = None) -> torch.Tensor:
        """n images (n x C x 64 x 64 in [0, 1]) from the prior, eval mode, no grad. ``cluster``
        must be None: this model has no clusters."""
        if cluster is not None:
            raise ValueError(f"{type(self).__name__} learns continuous codes: it has no clusters to sample from")
        with self._eval():
            return self.G(self.latents(int(n)))

    def generate_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """B x n_codes codes in [-1, 1] -> B x C x 64 x 64 with fresh uniform noise (eval mode)."""
        with self._eval():
            z = self.latents(codes.shape[0])
            z[:, : self.cfg.n_codes] = codes.to(self.device, torch.float32)
            return self.G(z)

    def encode(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """B x C x 64 x 64 -> B x n_codes: E's code means (the representation the disentanglement
        scores use, as disentanglement_lib's ``mean_representation``), eval mode, no grad."""
        outs = []
        with self._eval():
            for i in range(0, x.shape[0], batch_size):
                xb = x[i : i + batch_size].to(self.device, torch.float32)
                outs.append(self.D.encode(xb)[:, : self.cfg.n_codes].float())
        return torch.cat(outs) if outs else torch.zeros(0, self.cfg.n_codes, device=self.device)

    def numpy_encoder(self):
        """``encode`` on numpy: (B x C x 64 x 64) float array -> (B x n_codes) float32 array."""
        return lambda x: self.encode(torch.as_tensor(np.asarray(x, dtype=np.float32))).cpu().numpy()

    def pool_model(self, name: str, meta: dict[str, Any] | None = None):
        """This model as a :class:`~clusterbench.metrics.model_centrality.PoolModel` (numpy in/out)."""
        from clusterbench.metrics.model_centrality import PoolModel  # lazy: scikit-learn, only for model selection

        return PoolModel(
            name=name,
            generate=lambda c: self.generate_from_codes(torch.as_tensor(c, dtype=torch.float32)).cpu().numpy(),
            encode=self.numpy_encoder(),
            n_codes=self.cfg.n_codes, code_range=(-1.0, 1.0), meta=dict(meta or {}),
        )


class InfoGANCRModel(DSpritesGANModel):
    """Networks ``G``, ``D`` (D/E trunk with both heads) and, when ``cr_weight > 0``, ``CR``."""

    def __init__(self, device: torch.device, cfg: InfoGANCRConfig, channels: int = 1) -> None:
        super().__init__(device, cfg, channels)
        self.CR: CRDiscriminator | None = None
        if cfg.cr_weight > 0:
            self.CR = CRDiscriminator(channels, cfg.n_codes).to(device)
            self.nets["CR"] = self.CR
            self.optims["cr"] = torch.optim.Adam(self.CR.parameters(), lr=cfg.lr_cr, betas=self.betas)

    def pairs(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n pairs of latents sharing the value of one code each: (n x L, n x L, n shared-code ids)."""
        a, b = self.latents(n), self.latents(n)
        k = torch.randint(0, self.cfg.n_codes, (n,), device=self.device)
        rows = torch.arange(n, device=self.device)
        b[rows, k] = a[rows, k]
        return a, b, k

    # whole-step capture: the CR term is off, then on (two control paths) -----------------------
    def capture_key(self, phase: str, step: int) -> float:
        return self.current_cr_weight()

    def after_replay(self, phase: str, step: int) -> None:
        self._g_steps = self.g_steps_done() + 1

    def current_cr_weight(self) -> float:
        on = self.CR is not None and self.g_steps_done() >= self.cfg.cr_start_step
        return float(self.cfg.cr_weight) if on else 0.0

    # one batch --------------------------------------------------------------------------------
    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        cfg, n = self.cfg, x.shape[0]
        ones = torch.ones(n, 1, device=self.device)
        zeros = torch.zeros(n, 1, device=self.device)
        z = self.latents(n)
        codes = z[:, : cfg.n_codes]
        cr_w = self.current_cr_weight()
        # 1. D and E
        with self.optimizing("d") as opt:
            with torch.no_grad():
                fake = self.G(z)
            real_logit, _ = self.D(x)
            fake_logit, codes_pred = self.D(fake)
            info_d = self.info_loss(codes_pred, codes)
            d_loss = opt.backward(_bce(real_logit.float(), ones) + _bce(fake_logit.float(), zeros)
                                  + cfg.info_weight * info_d)
        out: dict[str, torch.Tensor | float] = {"d": d_loss.detach(), "info": info_d.detach()}
        # 2. CR (its own step, on fresh pairs; G fixed)
        if cr_w > 0:
            za, zb, k = self.pairs(n)
            with self.optimizing("cr") as opt:
                with torch.no_grad():
                    fa, fb = self.G(za), self.G(zb)
                cr_loss = opt.backward(nn.functional.cross_entropy(self.CR(fa, fb).float(), k))
            out["cr"] = cr_loss.detach()
        # 3. G (same latents as step 1; the CR term on the pairs of step 2)
        with self.optimizing("g") as opt:
            fake_logit, codes_pred = self.D(self.G(z))
            g_loss = _bce(fake_logit.float(), ones) + cfg.info_weight * self.info_loss(codes_pred, codes)
            if cr_w > 0:
                g_loss = g_loss + cr_w * nn.functional.cross_entropy(self.CR(self.G(za), self.G(zb)).float(), k)
            opt.backward(g_loss)
        self._g_steps = self.g_steps_done() + 1
        out["g"] = g_loss.detach()
        out["cr_weight"] = cr_w
        return out


class DSpritesGANMethod(Method):
    """Method glue of the dSprites GANs: 64 x 64 images in [0, 1], the single loop, a
    generator-only :class:`MethodOutput` with ``generator`` and ``encoder``. Subclasses set
    ``name``, ``Config`` and ``Model``."""

    Model: ClassVar[type[DSpritesGANModel]] = DSpritesGANModel
    deep: ClassVar[bool] = True
    generative: ClassVar[bool] = True
    clusters: ClassVar[bool] = False
    accepts_sparse: ClassVar[bool] = False
    inputs: ClassVar[frozenset[str]] = frozenset({"image"})
    out_of_core: ClassVar[bool] = True  # the runner leaves X in its file: read per batch
    keep_checkpoints: bool = False

    @classmethod
    def incompatibility(cls, *, sample_shape: tuple[int, ...], sparse: bool, n_clusters: int) -> str | None:
        why = super().incompatibility(sample_shape=sample_shape, sparse=sparse, n_clusters=n_clusters)
        if why:
            return why
        if tuple(sample_shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE):
            return (f"{cls.name} uses the 64 x 64 networks of DC3 Table 11 (dSprites); this data set has samples of "
                    f"shape {tuple(sample_shape)}.")
        return None

    def extras(self) -> dict[str, Any]:
        """Facts for the record (subclasses add theirs)."""
        cfg = self.config
        return {"architecture": "dc3-table11", "n_codes": cfg.n_codes, "n_noise": cfg.n_noise}

    def fit(self, X: Any, n_clusters: int = 2, *, seed: int, device: str = "cpu",
            workdir: Path | None = None, monitor: Monitor | None = None) -> MethodOutput:
        """Train on X (N x C x 64 x 64 in [0, 1]; an array or a StoredArray, read per batch).
        ``n_clusters`` and ``monitor`` are ignored (no clusters). Returns proba None, the
        generator and the encoder (numpy in and out), ``model.pt`` in the artifacts."""
        cfg = self.config
        shape = tuple(getattr(X, "shape", ()))
        why = self.incompatibility(sample_shape=shape[1:], sparse=False, n_clusters=max(int(n_clusters), 2)) \
            if len(shape) >= 2 else "needs N x C x 64 x 64 images"
        if why or shape[0] < 2:
            raise DataError(f"{self.name}: {why or 'needs at least 2 samples'}", hint="Use a 64 x 64 image data set (dSprites).")
        if cfg.model_selection != "none":
            raise ConfigError(f"{self.name}: model_selection={cfg.model_selection} is not a training option: it marks "
                              "the record that `clusterbench model-centrality` writes for the model it selects.",
                              hint=f"Train the pool with model_selection=none (the default), then run "
                                   f"`clusterbench model-centrality {self.name} --dataset DATASET`.")
        if not _unit_range(X):
            raise DataError(f"{self.name}: images must lie in [0, 1] (G ends with a sigmoid).",
                            hint="Scale the data set to [0, 1].")
        options = LoopOptions(epochs=cfg.epochs, batch_size=cfg.batch_size, checkpoint_every=cfg.checkpoint_every,
                              monitor_every=0, amp=cfg.amp, channels_last=cfg.channels_last, compile=cfg.compile,
                              capture=cfg.capture, keep_checkpoint=bool(self.keep_checkpoints))
        result_config = {k: v for k, v in config_dict(cfg).items() if k not in ("checkpoint_every", *EVAL_OPTION_KEYS)}
        fingerprint = {"method": self.name, "config": result_config, "shape": list(shape)}
        if workdir is not None:
            Path(workdir).mkdir(parents=True, exist_ok=True)
        model_cls = type(self).Model
        res = train(lambda dev: model_cls(dev, cfg, channels=int(shape[1])), X, options=options,
                    seed=seed, device=device, workdir=workdir, monitor=None, fingerprint=fingerprint)
        model = res.model
        model.train_mode(False)
        out = MethodOutput(proba=None, history=res.history, generator=make_generator(model),
                           encoder=model.numpy_encoder())
        if res.weights is not None:
            out.artifacts["model"] = res.weights
        if res.checkpoint is not None:
            out.artifacts["checkpoint"] = res.checkpoint
        out.extras = {**self.extras(), "resumed_from_epoch": res.resumed_from_epoch, "device": str(model.device)}
        return out


class InfoGANCRMethod(DSpritesGANMethod):
    """InfoGAN-CR (Lin et al. 2020) on DC3 Table 11's dSprites networks: 5 continuous codes, no
    clusters (module docstring); ``--set cr_weight=0`` is plain InfoGAN (Table 3's InfoGAN row)."""

    name: ClassVar[str] = "infogan-cr"
    Config: ClassVar[type] = InfoGANCRConfig
    Model: ClassVar[type[DSpritesGANModel]] = InfoGANCRModel

    def extras(self) -> dict[str, Any]:
        return {**super().extras(), "variant": "infogan-cr" if self.config.cr_weight > 0 else "infogan"}


#: Methods whose ``model.pt`` :func:`load_model` rebuilds: name -> "module:Class" of the Method.
DSPRITES_METHODS: dict[str, str] = {
    "infogan-cr": "clusterbench.methods.gan.infogan_cr:InfoGANCRMethod",
    "dc3-gan-dsprites": "clusterbench.methods.gan.dc3.dsprites:DC3GANDSprites",
}


def load_model(path: str | Path, *, device: str = "cpu") -> DSpritesGANModel:
    """A trained model from a run's ``model.pt`` (weights_only): its method, config and channel
    count come from the file's fingerprint, so a pool of finished runs can be scored
    (ModelCentrality, disentanglement) without retraining. A file of another method is a
    :class:`DataError`."""
    state = safe_load(Path(path))
    fp = state.get("fingerprint") or {}
    if state.get("format") != MODEL_FORMAT or fp.get("method") not in DSPRITES_METHODS:
        raise DataError(f"{path} is not the final weights of a run of {' or '.join(DSPRITES_METHODS)}.",
                        hint="Give the model.pt of an infogan-cr or dc3-gan-dsprites run's workdir.")
    method = load_ref(DSPRITES_METHODS[fp["method"]])
    fields = {f.name for f in dataclasses.fields(method.Config)}
    cfg = method.Config(**{k: (tuple(v) if isinstance(v, list) else v)
                           for k, v in fp.get("config", {}).items() if k in fields})
    model = method.Model(torch_device(device), cfg, channels=int(fp["shape"][1]))
    model.load_weights(state["nets"])
    model.train_mode(False)
    return model


def plain_infogan_config(**overrides: Any) -> InfoGANCRConfig:
    """Table 3's plain InfoGAN row: the same networks and schedule with the CR weight 0 (the
    table spec names it as ``infogan-cr`` with ``set = { cr_weight = 0.0 }``)."""
    return dataclasses.replace(InfoGANCRConfig(), cr_weight=0.0, **overrides)


__all__ = ["DSPRITES_METHODS", "DSpritesGANConfig", "DSpritesGANMethod", "DSpritesGANModel", "InfoGANCRConfig",
           "InfoGANCRMethod", "InfoGANCRModel", "load_model", "plain_infogan_config"]
