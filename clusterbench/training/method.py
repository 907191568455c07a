"""The glue between the Method contract (:mod:`clusterbench.methods.base`) and the loop:
:class:`DeepMethod` (``fit`` = validate, resolve the architecture, :func:`~clusterbench.training.loop.train`,
package a MethodOutput) and :func:`make_generator` (``MethodOutput.generator`` of a fitted
generative model: sampling in batches, seeded, eval mode)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clusterbench.errors import ConfigError, DataError
from clusterbench.evaluate import EVAL_OPTION_KEYS
from clusterbench.precision import describe as describe_precision
from clusterbench.training.artifacts import generation_artifacts
from clusterbench.training.contract import DeepConfig, DeepModel, Monitor
from clusterbench.training.data import _unit_range
from clusterbench.training.loop import LoopOptions, train


class DeepMethod:
    """Mixin for the Method classes of deep models: ``fit`` = validate, resolve the architecture,
    run :func:`train`, package a MethodOutput (cluster histogram in extras, PNGs in artifacts).

    Subclasses define ``make_model(device, spec) -> DeepModel``; they may override
    ``resolve_spec`` (another architecture family), ``loop_length`` (training length counted in
    steps) and ``generation_options`` (keyword arguments of ``training.artifacts.generation_artifacts``).
    """

    name: str = ""
    config: DeepConfig
    generative: bool = False
    #: keep the full checkpoint (optimizers, RNG states) of a finished run, not only ``model.pt``;
    #: a run option, not part of the config or the run key (``clusterbench run --keep-checkpoints``).
    keep_checkpoints: bool = False

    def make_model(self, device: torch.device, spec: Any) -> DeepModel:
        raise NotImplementedError

    def resolve_spec(self, X: Any, n_clusters: int) -> Any:
        """The architecture for data ``X`` (default: ``nn.dual_aae.resolve_arch`` from the config)."""
        from clusterbench.nn.dual_aae import resolve_arch  # imported on first use, as DeepConfig does (contract.py)

        cfg = self.config
        return resolve_arch(tuple(X.shape[1:]), int(n_clusters), arch=cfg.arch, style_dim=cfg.style_dim,
                            noise_dim=cfg.noise_dim, unit_range=_unit_range(X))

    def loop_length(self, n_samples: int) -> tuple[int, int | None]:
        """(epochs, max_steps) of the train phase (``LoopOptions``); default: the config's epochs."""
        return self.config.epochs, None

    def cadence(self, n_samples: int) -> tuple[int, int]:
        """(checkpoint_every, monitor_every) in epochs for the loop; default: the config's values
        (epochs). The GAN family counts them in generator iterations (``GANMethod.cadence``)."""
        return self.config.checkpoint_every, self.config.monitor_every

    def generation_options(self) -> dict[str, Any]:
        """Extra keyword arguments of ``training.artifacts.generation_artifacts`` (priors' scale, traversal span)."""
        return {}

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu",
            workdir: Path | None = None, monitor: Monitor | None = None):
        from clusterbench.methods.base import (  # lazy: the registry imports every method, which import this module
            MethodOutput,
            config_dict,
        )

        cfg = self.config
        if getattr(X, "ndim", 0) < 2 or X.shape[0] < 2:
            raise DataError(f"{self.name} needs an N x features (or N x C x H x W) array with N >= 2; "
                            f"got shape {getattr(X, 'shape', None)}.", hint="Check the data set.")
        if int(n_clusters) < 2:
            raise ConfigError(f"n_clusters must be >= 2, got {n_clusters}.")
        spec = self.resolve_spec(X, int(n_clusters))
        if cfg.save_samples and workdir is not None and spec.is_image:
            import importlib.util

            if importlib.util.find_spec("matplotlib") is None:  # fail before training, not after
                raise ConfigError("save_samples=true needs matplotlib to write the PNG sample grids.",
                                  hint="pip install 'clusterbench[report]', or --set save_samples=false.")
        epochs, max_steps = self.loop_length(int(X.shape[0]))
        checkpoint_every, monitor_every = self.cadence(int(X.shape[0]))
        options = LoopOptions(
            epochs=epochs, batch_size=cfg.batch_size, pretrain_epochs=cfg.pretrain_epochs,
            checkpoint_every=checkpoint_every, monitor_every=monitor_every, amp=cfg.amp,
            channels_last=cfg.channels_last, compile=cfg.compile, capture=cfg.capture, keep_checkpoint=bool(self.keep_checkpoints),
            max_steps=max_steps,
        )
        # what determines the result (bookkeeping options may change between a run and its resume)
        result_config = {k: v for k, v in config_dict(cfg).items()
                         if k not in ("checkpoint_every", "monitor_every", "save_samples", "capture", *EVAL_OPTION_KEYS)}
        fingerprint = {"method": self.name, "config": result_config, "shape": list(X.shape),
                       "n_clusters": int(n_clusters)}
        if workdir is not None:
            workdir = Path(workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        res = train(lambda dev: self.make_model(dev, spec), X, options=options, seed=seed, device=device,
                    workdir=workdir, monitor=monitor, fingerprint=fingerprint)
        out = MethodOutput(proba=res.proba, embedding=res.embedding, history=res.history)
        out.extras = {
            "architecture": spec.describe(),
            "resumed_from_epoch": res.resumed_from_epoch,
            **({"fit_s_before_resume": res.fit_s_before} if res.resumed_from_epoch else {}),
            "device": str(res.model.device),
            "precision": describe_precision(res.model.device, cfg.amp),
        }
        if res.weights is not None:
            out.artifacts["model"] = res.weights
        if res.proba is not None:
            hist = np.bincount(res.proba.argmax(1), minlength=int(n_clusters))
            out.extras.update(cluster_histogram=hist.tolist(), clusters_used=int((hist > 0).sum()))
        if res.checkpoint is not None:
            out.artifacts["checkpoint"] = res.checkpoint
        if self.generative:
            out.generator = make_generator(res.model)
            # the Fig. 7/8 grids need the (y, h, z) ``generate`` hook; models without it write their own
            if (cfg.save_samples and workdir is not None and spec.is_image
                    and type(res.model).generate is not DeepModel.generate):
                res.model.train_mode(False)
                out.artifacts.update(generation_artifacts(res.model.generate, spec, workdir, device=res.model.device,
                                                          seed=seed, **self.generation_options()))
                res.model.train_mode(True)
        return out


def make_generator(model: DeepModel, *, batch_size: int = 500) -> Callable[..., np.ndarray]:
    """``MethodOutput.generator`` of a fitted generative model: ``(n, cluster=None, *, seed=0) ->
    n x sample shape float32`` from :meth:`DeepModel.sample` in batches, eval mode, no grad. The
    draws use a torch RNG seeded with ``seed`` and leave the global RNG state as it was."""

    def generator(n: int, cluster: int | None = None, *, seed: int = 0) -> np.ndarray:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        devices = [model.device] if model.device.type == "cuda" else []
        parts = []
        model.train_mode(False)
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(int(seed))
                for i in range(0, n, batch_size):
                    with model.autocast():
                        x = model.sample(min(batch_size, n - i), cluster)
                    parts.append(x.float().cpu().numpy())
        finally:
            model.train_mode(True)
        return np.concatenate(parts)

    return generator

