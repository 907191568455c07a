"""Whole-step capture (issue 23, ``capture=graph``; ``clusterbench.training.capture``): every deep
method's steps, captured once per control path and replayed under CUDA-graph rules (on the CPU:
the replay tape -- Python not re-run, host values frozen, operators re-run on the recorded
tensors), give the losses of eager steps. Same operators on the same values in the same order:
equal to the bit with capturable optimizers in both runs, and within float32 rounding of today's
eager optimizers. A method that cannot be captured is refused before its first step, with its
reason."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import torch
from method_data import SHAPES, accepts, tiny_data

from clusterbench import step_probe
from clusterbench.errors import ConfigError
from clusterbench.methods import METHODS, make_config
from clusterbench.training import capture

torch.set_num_threads(1)
DEEP = sorted(n for n, m in METHODS.items() if getattr(m, "deep", False))
CASES = [(n, next(s for s, shape in SHAPES.items() if accepts(METHODS[n], shape))) for n in DEEP]
#: refused, with the reason on the model class
NOT_CAPTURABLE = {"clustergan-bspl"}
BATCH = 8


def _fit(name: str, shape_id: str, *, mode: str, capturable: bool = False, steps: int = 12, monkeypatch=None):
    """The losses the loop received, step by step (phase, {name: value}), and the wrappers."""
    cls = METHODS[name]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    over = {"batch_size": BATCH, "capture": mode}
    if "save_samples" in fields:
        over["save_samples"] = False
    if "pretrain_epochs" in fields and getattr(cls.Config, "pretrain_epochs", 0):
        over["pretrain_epochs"] = 1
    if "critic_iters" in fields:  # both control paths captured and replayed within a few steps
        over["critic_iters"] = 2
    if "n_critic" in fields:
        over["n_critic"] = 1
    if "cr_start_step" in fields:
        over["cr_start_step"] = 5  # InfoGAN-CR: the CR term switches on (a second path)
    cfg = make_config(cls.Config, over)
    got: list[tuple[str, dict[str, float]]] = []
    wrappers: list[capture.CapturedSteps] = []

    def record(phase, out):
        got.append((phase, {k: float(v) for k, v in out.items()}))
        return out

    def hook(model, options, device):
        if capturable:
            capture.make_capturable(model.optims)
        if mode == "graph":
            return
        for phase, attr in (("train", "training_step"), ("pretrain", "pretrain_step")):
            fn = getattr(model, attr)
            setattr(model, attr, lambda x, step, fn=fn, phase=phase: record(phase, fn(x, step)))

    if mode == "graph":  # what the wrapper hands the loop: eager, captured and replayed steps
        call, init = capture.CapturedSteps.__call__, capture.CapturedSteps.__init__

        def wrapped_init(self, *a, **k):
            init(self, *a, **k)
            wrappers.append(self)

        monkeypatch.setattr(capture.CapturedSteps, "__init__", wrapped_init)
        monkeypatch.setattr(capture.CapturedSteps, "__call__", lambda self, x, step: record(self.phase, call(self, x, step)))
    X = tiny_data(SHAPES[shape_id], BATCH * (steps + 1))
    phases = ("pretrain", "train") if getattr(cfg, "pretrain_epochs", 0) else ("train",)
    probe = step_probe.StepProbe(phases=phases, skip=0, stop_after=steps, count=False, on_model=hook)
    patch = capture._cpu_capturable() if capturable else contextlib.nullcontext()
    warns = pytest.warns(UserWarning, match="emulation") if mode == "graph" else contextlib.nullcontext()
    with patch, warns, step_probe.probing(probe), contextlib.suppress(step_probe.ProbeDone):
        cls(cfg).fit(X, 3, seed=0)
    return got, wrappers, probe.model


@pytest.mark.parametrize(("name", "shape_id"), [c for c in CASES if c[0] not in NOT_CAPTURABLE])
def test_captured_steps_give_the_eager_losses(name, shape_id, monkeypatch):
    eager, _, eager_model = _fit(name, shape_id, mode="off", capturable=True)
    graph, wrappers, graph_model = _fit(name, shape_id, mode="graph", monkeypatch=monkeypatch)
    replayed = sum(w.stats["replayed"] for w in wrappers)
    assert replayed >= 3, f"{name}: only {replayed} replayed steps: the test would not test a replay"
    assert [p for p, _ in graph] == [p for p, _ in eager]
    for i, ((_, a), (_, b)) in enumerate(zip(eager, graph)):
        assert a == b, f"{name} step {i}: captured/replayed {b} != eager {a}"
    # what the steps keep on the host (a GAN's iteration counts) advanced on replays too
    assert graph_model.history_extras() == eager_model.history_extras()
    # and the capturable optimizers (the tape's Adam: bias correction in float32 tensors instead
    # of Python doubles; fused Adam on CUDA keeps its step on the device either way) take today's
    # first step: the run's first two losses agree to float32 rounding. Later steps drift
    # apart (Adam turns rounding in near-zero gradients into lr-sized steps: 2 % on InfoGAN's
    # info loss after 12 steps), as any two float orders of one GAN do.
    plain, _, _ = _fit(name, shape_id, mode="off")
    for (_, a), (_, b) in zip(plain[:2], eager[:2]):  # the run's first two steps
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k


def test_a_model_with_a_host_schedule_is_refused_before_training():
    cls = METHODS["clustergan-bspl"]
    cfg = make_config(cls.Config, {"batch_size": BATCH, "capture": "graph"})
    with pytest.raises(ConfigError, match="cannot be captured: every step sets the learning rate"):
        cls(cfg).fit(tiny_data(SHAPES["img28"], BATCH * 3), 3, seed=0)


def test_capture_must_be_a_known_mode():
    with pytest.raises(ConfigError, match="capture must be one of off, graph"):
        make_config(METHODS["dls"].Config, {"capture": "cuda"})
