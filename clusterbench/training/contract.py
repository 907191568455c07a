"""What a deep method supplies to the loop: :class:`DeepModel` (its networks, one optimizer per
loss group, one ``training_step``, ``predict``; generation hooks), :class:`OptimStep` (one manual
optimisation step, :meth:`DeepModel.optimizing`) and :class:`DeepConfig` (the options every deep
method's config shares). The loop that drives them: :mod:`clusterbench.training.loop`; the glue to
the Method contract: :mod:`clusterbench.training.method`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench.evaluate import FID_NETWORK_OPTIONS, requested
from clusterbench.precision import DEFAULT_PRECISION, check_precision
from clusterbench.training.capture import check_capture

Monitor = Callable[[np.ndarray], dict[str, float]]


class DeepModel:
    """The per-method part: networks, optimizers, one step, prediction.

    Subclasses fill ``self.nets`` (name -> ``nn.Module``) and ``self.optims`` (name -> optimizer,
    one per loss group) in ``__init__`` and implement :meth:`training_step` and :meth:`predict`.
    ``self.device`` is the torch device the loop chose; ``self.autocast`` is the context manager
    the step may use around forward passes (a no-op unless ``amp=bf16`` on CUDA).
    """

    #: number of pre-training epochs run with :meth:`pretrain_step` before training.
    pretrain_epochs: int = 0
    #: False for generator-only models (WGAN-GP): the loop calls neither :meth:`predict` nor the
    #: monitor, and the result has no posterior (``TrainResult.proba`` is None).
    clusters: bool = True

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.nets: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        """One batch ``x`` (B x sample shape): zero_grad/backward/step for each phase; return the
        losses (detached tensors or floats) by name."""
        raise NotImplementedError

    def pretrain_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        raise NotImplementedError(f"{type(self).__name__} has no pre-training phase")

    # whole-step capture (clusterbench.training.capture, ``capture=graph``) ----------------------
    #: True, or the reason this model's steps cannot be captured (e.g. a learning rate set from a
    #: Python schedule in every step: a captured graph would keep the first value).
    capturable: bool | str = True

    def capture_key(self, phase: str, step: int) -> Hashable:
        """The control path the next step of ``phase`` will take, known before it runs (steps with
        the same key launch the same operators on the same tensors; one graph is captured per key).
        Must not change the model's state. Default: one path."""
        return None

    def after_replay(self, phase: str, step: int) -> None:
        """Advance what a step keeps on the host (counters) after a replayed step of ``phase``
        (Python does not run on a replay; the captured step did this once when it was recorded)."""

    #: device tensors of :meth:`step_values` under capture=graph (None: eager steps use their floats)
    _step_values: dict[str, torch.Tensor] | None = None

    def step_values(self, phase: str, step: int) -> dict[str, float]:
        """Host values the next step of ``phase`` reads that change between steps of one control
        path (a scheduled learning rate), known before it runs. Under capture=graph the loop writes
        them into float32 device tensors before every step (eager, captured or replayed: a replay
        reads their memory); the step reads them through :meth:`value`. Default: none."""
        return {}

    def value(self, name: str, host: float) -> float | torch.Tensor:
        """The step's own float ``host``, or under capture=graph the device tensor of ``name`` (one of
        :meth:`step_values`, holding the same value in float32)."""
        return host if self._step_values is None else self._step_values[name]

    def history_extras(self) -> dict[str, float]:
        """Figures added to each epoch's history row after the epoch (e.g. a GAN's generator
        iterations so far); counters, not means."""
        return {}

    def start_training(self, batches: Callable[[], Iterator[torch.Tensor]], seed: int) -> dict[str, float]:
        """Called once, right before the first training epoch (after pre-training), with a
        function that yields all of X in order in batches; may initialise parameters from the
        data (e.g. a cluster head from k-means on the pre-trained features). Must be a
        deterministic function of the weights, the data and ``seed`` (a resumed run may call it
        again from the post-pre-training checkpoint). Returns figures for the history."""
        return {}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch -> (B x K cluster posterior, B x d embedding or None); called in eval mode."""
        raise NotImplementedError

    # generation (models of methods with ``generative = True``) ---------------------------------
    def prior(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """n draws of the latent prior: (labels (n,), one-hot y n x K, h n x dh, z n x dz)."""
        raise NotImplementedError(f"{type(self).__name__} has no latent prior")

    def generate(self, y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Codes (y n x K, h n x dh, z n x dz) -> n x sample shape, in the data's value range."""
        raise NotImplementedError(f"{type(self).__name__} does not generate")

    @torch.no_grad()
    def sample(self, n: int, cluster: int | None = None) -> torch.Tensor:
        """n samples from the prior (of cluster ``cluster``'s one-hot code when given), n x sample
        shape in the data's value range; called in eval mode. The default draws
        :meth:`prior` and replaces y by the cluster's one-hot code, then :meth:`generate`; a model
        whose prior has another form overrides it."""
        _, y, h, z = self.prior(n)
        if cluster is not None:
            k = y.shape[1]
            if not 0 <= int(cluster) < k:
                raise ValueError(f"cluster must be in 0..{k - 1}, got {cluster}")
            y = torch.zeros_like(y)
            y[:, int(cluster)] = 1
        return self.generate(y, h, z)

    # the manual optimisation step -----------------------------------------------------------------
    @contextlib.contextmanager
    def optimizing(self, *names: str, autocast: bool = True) -> Iterator["OptimStep"]:
        """One manual optimisation step of the optimizers ``names`` (GANs: one per player)::

            with self.optimizing("disc") as opt:
                loss = d_real + d_fake          # forward passes, under the loop's autocast
                opt.backward(loss)
            # here: loss.backward() ran outside autocast, then each optimizer stepped

        On entry: ``zero_grad(set_to_none=True)`` on those optimizers and the loop's autocast
        (bf16 on CUDA with ``amp=bf16``, a no-op otherwise; ``autocast=False`` for steps that must
        stay float32; losses that must be float32 are ``clusterbench.precision.float32``). On a
        normal exit: ``backward`` of the loss given to ``opt.backward`` (exactly once), then
        ``step()`` of each optimizer, then the callables in ``opt.after_step`` (e.g. weight
        clipping). An exception inside the block steps nothing.
        """
        optims = [self.optims[n] for n in names]
        for o in optims:
            o.zero_grad(set_to_none=True)
        step = OptimStep()
        with (self.autocast() if autocast else contextlib.nullcontext()):
            yield step
        if step.loss is None:
            raise RuntimeError(f"optimizing({', '.join(names)}): the block did not call opt.backward(loss)")
        step.loss.backward()
        for o in optims:
            o.step()
        for fn in step.after_step:
            fn()

    # helpers ------------------------------------------------------------------------------------
    def train_mode(self, on: bool = True) -> None:
        for m in self.nets.values():
            m.train(on)

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": self.weights(),
            "optims": {k: o.state_dict() for k, o in self.optims.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_weights(state["nets"])
        for k, o in self.optims.items():
            o.load_state_dict(state["optims"][k])

    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """The networks' weights only (net name -> state_dict), without optimizer state."""
        return {k: _plain_state(m) for k, m in self.nets.items()}

    def load_weights(self, nets: dict[str, dict[str, torch.Tensor]]) -> None:
        for k, m in self.nets.items():
            _orig(m).load_state_dict(nets[k])


class OptimStep:
    """What :meth:`DeepModel.optimizing` yields: ``backward(loss)`` names the loss to minimise;
    ``after_step`` holds callables run after the optimizers stepped."""

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None
        self.after_step: list[Callable[[], None]] = []

    def backward(self, loss: torch.Tensor) -> torch.Tensor:
        if self.loss is not None:
            raise RuntimeError("opt.backward() was called twice in one optimizing() block")
        self.loss = loss
        return loss


def _orig(m: nn.Module) -> nn.Module:
    return getattr(m, "_orig_mod", m)


def _plain_state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k.replace("_orig_mod.", ""): v for k, v in _orig(m).state_dict().items()}


@dataclass
class DeepConfig:
    """Options every deep method shares (subclass Configs override the defaults they cite).

    arch: "auto" (from the sample shape), "conv", "mlp-hhar", "mlp-stl", "mlp" (see nn/dual_aae.py).
    style_dim / noise_dim: sizes of h and z (None: the architecture's Appendix-A values).
    epochs, batch_size, pretrain_epochs: see each method. checkpoint_every: epochs between
    checkpoints in the workdir. monitor_every: epochs between ACC/NMI evaluations (0: never).
    amp: precision, "fp32" (the papers'; TF32 matrix products allowed on CUDA) or "bf16" (CUDA bf16
    autocast, an opt-in: ``clusterbench.precision``). channels_last, compile: CUDA-only speed-ups
    (CPU runs are exact float32). capture: "off", "graph" or "compile" (whole-step capture,
    ``clusterbench.training.capture``; changes how steps are launched, not what they compute).
    save_samples: write the Fig. 7/8 PNGs (image data only).

    Evaluator options (read by the runner's evaluators after ``fit``, ``clusterbench.evaluate``;
    never by the method, and not part of a checkpoint's fingerprint):
    evaluate: evaluator names (``--set evaluate=modes,fid,ssim``; empty: none, nothing to pay).
    count_modes: the first version's Table II switch, the same as ``modes`` in ``evaluate``.
    mode_samples: generated samples labelled for mode counting (Table II: 10,000).
    fid_samples: real and generated samples of FID, each (10,000, the usual count; fewer real
    ones when the data set is smaller: the record says how many). fid_network: "auto"
    (mnist-cnn for 1 x 28 x 28 samples, inception otherwise), "mnist-cnn" or "inception".
    fid_real: the data set whose images FID compares with ("": the run's data; DC3 Table 7:
    "cifar10-train" for runs on the test images).
    ssim_pairs: random pairs per cluster of the SSIM diversity (DC3 Table 2: 200).
    eval_classifier: the 28 x 28 data set whose training split trains the classifier of mode
    counting, FID (mnist-cnn) and SSIM's cluster-to-class matching ("mnist").
    """

    arch: str = field(
        default="auto", metadata={"help": "network family: auto (from the sample shape), conv, mlp, mlp-hhar, mlp-stl"})
    style_dim: int | None = field(
        default=None, metadata={"help": "size of the style code h (None: the architecture's default)"})
    noise_dim: int | None = field(
        default=None, metadata={"help": "size of the noise code z (None: the architecture's default)"})
    epochs: int = field(default=300, metadata={"help": "training epochs (after any pre-training)"})
    batch_size: int = field(default=100, metadata={"help": "samples per training step"})
    pretrain_epochs: int = field(default=0, metadata={"help": "pre-training epochs before training (0: none)"})
    checkpoint_every: int = field(
        default=10, metadata={"help": "epochs between checkpoints in the run's folder (0: only at the end)"})
    monitor_every: int = field(
        default=1, metadata={"help": "epochs between ACC/NMI evaluations in the history (0: never)"})
    amp: str = field(
        default=DEFAULT_PRECISION, metadata={"help": "CUDA numerics: fp32 (default, TF32 products, as the papers) or bf16 autocast (opt-in)"})
    channels_last: bool = field(
        default=True, metadata={"help": "CUDA only: channels-last memory layout for convolutions"})
    compile: bool = field(default=False, metadata={"help": "CUDA only: torch.compile the networks"})
    capture: str = field(
        default="off", metadata={"help": "whole-step capture: off (eager), graph (CUDA graphs; CPU: a checking emulation) or compile"})
    save_samples: bool = field(
        default=True, metadata={"help": "write PNG grids of generated samples (image data only)"})
    evaluate: tuple[str, ...] = field(
        default=(), metadata={"help": "evaluators to run after fit, e.g. modes,fid,ssim (empty: none)"})
    count_modes: bool = field(
        default=False, metadata={"help": "old switch for the modes evaluator (Table II), same as evaluate=modes"})
    mode_samples: int = field(
        default=10000, metadata={"help": "generated samples labelled when counting modes (Table II: 10,000)"})
    fid_samples: int = field(default=10000, metadata={"help": "real and generated samples for FID, each"})
    fid_network: str = field(default="auto", metadata={"help": "FID feature network: auto, mnist-cnn or inception"})
    fid_real: str = field(default="", metadata={"help": "data set the FID compares with (empty: the run's data set)"})
    ssim_pairs: int = field(
        default=200, metadata={"help": "random sample pairs per cluster for the SSIM diversity (DC3 Table 2)"})
    eval_classifier: str = field(
        default="mnist", metadata={"help": "data set whose classifier labels samples for modes, FID and SSIM"})

    @classmethod
    def known_archs(cls) -> tuple[str, ...] | None:
        """The ``arch`` values this config's method resolves (None: ``nn.dual_aae.ARCHS``, the families of
        ``nn.dual_aae.resolve_arch``); a method family with its own networks (the GANs) names its own."""
        return None

    def __post_init__(self) -> None:
        """What the loop, ``nn.dual_aae.resolve_arch`` and the evaluators would reject, refused when the
        config is made (plan time); subclasses with their own ``__post_init__`` call this one."""
        from clusterbench.nn.dual_aae import ARCHS  # imported on first use (kept lazy by the split of methods/training.py)

        requested({"evaluate": self.evaluate, "count_modes": self.count_modes})
        check_precision(self.amp)
        check_capture(self.capture)
        if self.fid_network not in FID_NETWORK_OPTIONS:
            raise ValueError(f"fid_network must be one of {', '.join(FID_NETWORK_OPTIONS)}, got {self.fid_network!r}")
        for k in ("mode_samples", "fid_samples", "ssim_pairs"):
            if getattr(self, k) < 2:
                raise ValueError(f"{k} must be >= 2, got {getattr(self, k)}")

        archs = self.known_archs() or ARCHS
        if self.arch not in archs:
            raise ValueError(f"arch={self.arch!r} is not a known architecture (one of {', '.join(archs)})")
        if (self.epochs is not None and self.epochs < 0) or self.pretrain_epochs < 0:  # None: length in steps
            raise ValueError(f"epochs and pretrain_epochs must be >= 0, got {self.epochs}, {self.pretrain_epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (batch norm), got {self.batch_size}")
        for name in ("style_dim", "noise_dim"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {v}")
        if self.checkpoint_every < 0 or self.monitor_every < 0:
            raise ValueError("checkpoint_every and monitor_every must be >= 0")

