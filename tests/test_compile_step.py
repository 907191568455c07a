"""Compiled networks give the eager losses, and the gradient-penalty methods no longer crash when
compiled (issue 23: "aot_autograd does not currently support double backward"). On the CPU with
the ``aot_eager`` backend (the AOT-autograd part that crashed, without a C++ compiler); the loop
compiles with the default backend on CUDA (``compile=true``)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from clusterbench import step_probe
from clusterbench.methods import METHODS, make_config

torch.set_num_threads(1)
STEPS = 3


def _losses(name: str, compiled: bool) -> list[dict[str, float]]:
    cls = METHODS[name]
    over = {"batch_size": 8, "save_samples": False}
    if name.startswith("dual-aae"):
        over.update(pretrain_epochs=0, epochs=1, critic_gp=10.0, critic_clip="none")
    cfg = make_config(cls.Config, over)
    got: list[dict[str, float]] = []

    def hook(model, options, device):
        fn = model.training_step

        def recorded(x, step):
            out = fn(x, step)
            got.append({k: float(v) for k, v in out.items()})
            return out

        model.training_step = recorded
        if compiled:
            for m in model.nets.values():
                m.compile(backend="aot_eager")

    X = np.random.default_rng(0).random((8 * (STEPS + 1), 16), dtype=np.float32)
    probe = step_probe.StepProbe(skip=0, stop_after=STEPS, count=False, on_model=hook)
    with step_probe.probing(probe), contextlib.suppress(step_probe.ProbeDone):
        cls(cfg).fit(X, 3, seed=0)
    return got


@pytest.mark.parametrize("name", ["dls", "dual-aae"])
def test_compiled_steps_give_the_eager_losses(name):
    torch._dynamo.reset()
    eager, compiled = _losses(name, False), _losses(name, True)
    assert len(eager) == len(compiled) == STEPS
    for a, b in zip(eager, compiled):
        assert a.keys() == b.keys()
        for k in a:  # same operators, same order: equal to float32 rounding
            assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-6), k
    if name == "dls":  # its critic loss has the gradient penalty (dual-aae here: critic_gp=10 in "critic")
        assert all(a["gp"] > 0 for a in eager)
