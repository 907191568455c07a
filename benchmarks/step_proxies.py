"""What one training step of every deep method asks of a GPU, counted on the CPU (issue 23).

For each deep method at its paper's networks, batch and sample shape (MNIST 1x28x28 for the
Dual-AAE/DLS/ClusterGAN papers, CIFAR-10 3x32x32 for DC3-GAN's CIFAR variant and SimCLR,
dSprites 1x64x64 for DC3 Table 3), one run of ``Method.fit`` through the single loop on random
data of that shape, with a :class:`clusterbench.step_probe.StepProbe` watching the loop's steps
(the first step of each phase is skipped: optimizer state is created there):

* kernels per step: aten operators that launch work (views/allocations excluded; on CUDA in
  eager mode about one kernel launch each),
* FLOPs per step (``torch.utils.flop_counter``, matmul/conv, forward + backward),
* host syncs per step (``.item()``, ``nonzero``, host copies, tensors made from host data;
  :class:`clusterbench.step_probe.SyncWatch`),

per step and per iteration (a GAN iteration = M critic steps + one generator step), and an
**estimate** of the time on one H100 (see ``--help`` of the assumptions; nothing here ran on a
GPU). ``--emulate cuda`` (default) runs the settings the loop applies on CUDA (bf16 autocast when
``amp`` is on, the optimizers as CUDA runs them) with CPU kernels, so the counts are those of a
CUDA run; ``--emulate none`` counts the CPU run as it is.

    python benchmarks/step_proxies.py                       # every method (minutes on 2 cores)
    python benchmarks/step_proxies.py --only dual-aae,dls --json out.json --markdown out.md

Prints a Markdown table (and writes JSON / Markdown when asked).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench

import numpy as np
import torch

from clusterbench import step_probe
from clusterbench.training import capture
from clusterbench.methods import METHODS, make_config

#: Paper data: id -> (sample shape, training samples of a paper-length run, clusters).
DATA: dict[str, tuple[tuple[int, ...], int, int]] = {
    "mnist": ((1, 28, 28), 70_000, 10),
    "cifar10": ((3, 32, 32), 50_000, 10),
    "dsprites": ((1, 64, 64), 737_280, 3),
}


@dataclass
class Case:
    """One row: a method (registry id, or "simclr" for the SimCLR pre-training of DC3 CIFAR-10)
    on a paper's data, with the paper's settings (``overrides``) beyond the config defaults."""

    label: str
    method: str
    data: str
    overrides: dict[str, Any] = field(default_factory=dict)


def cases() -> list[Case]:
    """Every deep method of METHODS at its paper's setting (new methods: MNIST-shaped, the
    defaults), plus the CIFAR-10 variant of DC3-GAN and SimCLR."""
    from clusterbench.methods.gan.dc3.cifar import CIFAR10_SETTINGS

    special = {"infogan-cr": "dsprites", "dc3-gan-dsprites": "dsprites"}
    out = []
    for name, cls in METHODS.items():
        if not getattr(cls, "deep", False):
            continue
        out.append(Case(name, name, special.get(name, "mnist")))
        if name == "dc3-gan":
            out.append(Case("dc3-gan (cifar10)", name, "cifar10", dict(CIFAR10_SETTINGS)))
    out.append(Case("simclr (cifar10)", "simclr", "cifar10"))
    return out


def _random_data(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if tuple(shape) == (1, 64, 64):  # dSprites: binary images
        return (rng.random((n, *shape)) < 0.1).astype(np.float32)
    return rng.random((n, *shape), dtype=np.float32)


def _simclr_checkpoint(directory: Path) -> Path:
    """A random-weight SimCLR ResNet-18 checkpoint (DC3-GAN CIFAR's frozen encoder; the weights do
    not change what a step costs)."""
    from clusterbench.methods.pretrain import simclr

    path = directory / "random-simclr.pt"
    if not path.exists():
        torch.manual_seed(0)
        torch.save({"state_dict": {f"backbone.{k}": v for k, v in simclr.resnet18_cifar().state_dict().items()}}, path)
    return path


def emulate_cuda(model: Any, options: Any, device: torch.device) -> None:
    """Apply the settings the loop uses on CUDA to a model built on the CPU, so that the counted
    operators are those of a CUDA run: bf16 autocast with ``amp``; ``device_settings`` (fused
    optimizers) where the code has it; else the optimizers' CUDA default, foreach."""
    try:
        from clusterbench.precision import precision_of
    except ImportError:  # d707f52: amp was a bool (True: bf16 autocast on CUDA)
        def precision_of(amp):
            return "bf16" if amp else "fp32"
    if precision_of(options.amp) == "bf16":
        model.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    try:
        from clusterbench.device_settings import device_settings
    except ImportError:  # d707f52: no device settings yet
        device_settings = None
    if device_settings is not None:
        device_settings(model, options, "cuda", emulate=True)
    for o in model.optims.values():
        for g in o.param_groups:
            if g.get("foreach") is None and not g.get("fused"):
                g["foreach"] = True


def paper_steps(case: Case, cfg: Any, method: Any) -> dict[str, int]:
    """Steps of each phase of a paper-length run (the config's defaults on the paper's N)."""
    _, n, _ = DATA[case.data]
    b = int(cfg.batch_size)
    per_epoch = max(1, n // b)
    if case.method == "simclr":
        return {"train": int(cfg.epochs) * per_epoch}
    if not hasattr(method, "loop_length"):  # a method with its own fit (InfoGAN-CR, DC3 dSprites): epochs
        return {"train": int(cfg.epochs) * per_epoch}
    epochs, max_steps = method.loop_length(n)
    train = int(epochs) * per_epoch if max_steps is None else min(int(epochs) * per_epoch, int(max_steps))
    out = {"train": train}
    if int(getattr(cfg, "pretrain_epochs", 0) or 0):
        out["pretrain"] = int(cfg.pretrain_epochs) * per_epoch
    return out


def measure(case: Case, *, emulate: str = "cuda", watch_steps: int | None = None, timing: bool = False,
            count: bool = True, fail_on_sync: bool = False, device: str = "cpu", shape=None,
            extra: dict[str, Any] | None = None, workdir: Path | None = None,
            settings: dict[str, str] | None = None, skip: int = 1) -> dict[str, Any]:
    """Run ``case`` through ``fit`` until the probe has watched its steps (after ``skip`` unwatched
    ones per phase); returns the row.
    ``shape``/``extra`` replace the paper's sample shape / add overrides (``--quick`` runs);
    ``settings``: ``--set`` values, applied to the methods whose config has the key (both count
    for the paper-length steps)."""
    shape = tuple(shape or DATA[case.data][0])
    k = DATA[case.data][2]
    tmp = Path(workdir or tempfile.mkdtemp(prefix="cb-proxy-"))
    overrides = dict(case.overrides)
    if case.method == "simclr":
        from clusterbench.methods.pretrain import simclr

        cfg = simclr.SimCLRConfig(**(extra or {}))
        for k_, v in (settings or {}).items():
            if hasattr(cfg, k_):
                setattr(cfg, k_, type(getattr(cfg, k_))(v))
        steps_cfg = paper_steps(case, simclr.SimCLRConfig(), None)  # before the run: ProbeDone ends it
        method = None
        gan_m = 1
        phases = ("train",)
    else:
        cls = METHODS[case.method]
        if case.overrides.get("variant") == "cifar10":
            overrides["simclr"] = str(_simclr_checkpoint(tmp))
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        if "save_samples" in fields:
            overrides.setdefault("save_samples", False)
        overrides.update({k_: v for k_, v in (settings or {}).items() if k_ in fields})
        cfg = make_config(cls.Config, {k_: v for k_, v in overrides.items()}, method=case.method)
        steps_cfg = paper_steps(case, cfg, cls(cfg))
        overrides.update(extra or {})
        if int(getattr(cfg, "pretrain_epochs", 0) or 0):
            overrides["pretrain_epochs"] = 1
        cfg = make_config(cls.Config, overrides, method=case.method)
        method = cls(cfg)
        gan_m = int(getattr(cfg, "critic_iters", 1) or 1) if hasattr(cfg, "iterations") else 1
        phases = ("pretrain", "train") if int(getattr(cfg, "pretrain_epochs", 0) or 0) else ("train",)
    watched = watch_steps or gan_m
    b = int(cfg.batch_size)
    n = b * (watched + skip + 1)
    X = _random_data(shape, n)
    probe = step_probe.StepProbe(phases=phases, skip=skip, stop_after=watched, count=count, timing=timing,
                                 fail_on_sync=fail_on_sync,
                                 on_model=emulate_cuda if emulate == "cuda" and device == "cpu" else None)
    t0 = time.perf_counter()
    env = os.environ.get("CLUSTERBENCH_QUIET")
    os.environ["CLUSTERBENCH_QUIET"] = "1"
    try:
        with step_probe.probing(probe), contextlib.suppress(step_probe.ProbeDone):
            if case.method == "simclr":
                simclr.pretrain(X, cfg, seed=0, device=device, directory=tmp / "models")
            else:
                method.fit(X, k, seed=0, device=device)
    finally:
        if env is None:
            os.environ.pop("CLUSTERBENCH_QUIET", None)
        else:
            os.environ["CLUSTERBENCH_QUIET"] = env
    row: dict[str, Any] = {"case": case.label, "method": case.method, "data": case.data, "shape": list(shape),
                           "batch": b, "iteration_steps": gan_m, "paper_steps": steps_cfg,
                           "wall_seconds": time.perf_counter() - t0, "phases": {}}
    for ph in phases:
        recs = probe.of(ph)
        if not recs:
            continue
        per = {"steps_watched": len(recs),
               "kernels_per_step": float(np.mean([r.kernels for r in recs])),
               "gflop_per_step": float(np.mean([r.flops for r in recs])) / 1e9,
               "syncs_per_step": float(np.mean([len(r.syncs) for r in recs])),
               "sync_reasons": sorted({s for r in recs for s in r.syncs})}
        if timing:
            per["steps_per_second"] = probe.steps_per_second(ph)
        row["phases"][ph] = per
    return row


# --- the H100 estimate ---------------------------------------------------------------------------

#: Assumptions of the estimate (printed with the table).
ASSUMPTIONS = {
    "launch_us": (5.0, 8.0),        # host cost of one eager kernel launch (dispatcher + launch), low-high
    "graph_launch_us": 1.0,         # per kernel when the step is one captured CUDA graph
    "tflops": (200.0, 50.0),        # effective TF32 throughput on these small nets, high-low (peak ~495 dense)
    "sync_us": 20.0,                # one host sync: the queue drains, launch and compute stop overlapping
}


def estimate_ms(kernels: float, gflop: float, syncs: float, *, captured: bool = False) -> tuple[float, float]:
    """(low, high) milliseconds per step on one H100 (estimate; ``ASSUMPTIONS``): without syncs the
    host launches ahead and the step costs max(launches, compute); with syncs they add up."""
    a = ASSUMPTIONS
    out = []
    for launch, tf in zip(a["launch_us"], a["tflops"]):
        launch_ms = kernels * (a["graph_launch_us"] if captured else launch) / 1e3
        compute_ms = gflop / tf  # GFLOP / (TFLOP/s) = ms
        if syncs > 0:
            out.append(launch_ms + compute_ms + syncs * a["sync_us"] / 1e3)
        else:
            out.append(max(launch_ms, compute_ms))
    return out[0], out[1]


def with_estimates(row: dict[str, Any]) -> dict[str, Any]:
    minutes = [0.0, 0.0]
    captured = [0.0, 0.0]
    for ph, per in row["phases"].items():
        lo, hi = estimate_ms(per["kernels_per_step"], per["gflop_per_step"], per["syncs_per_step"])
        clo, chi = estimate_ms(per["kernels_per_step"], per["gflop_per_step"], 0, captured=True)
        per["est_h100_ms_per_step"] = [lo, hi]
        steps = row["paper_steps"].get(ph, 0)
        minutes[0] += steps * lo / 6e4
        minutes[1] += steps * hi / 6e4
        captured[0] += steps * clo / 6e4
        captured[1] += steps * chi / 6e4
    row["est_h100_paper_minutes"] = minutes
    row["est_h100_paper_minutes_captured"] = captured
    return row


def markdown(rows: list[dict[str, Any]], title: str = "") -> str:
    lines = [f"### {title}" if title else "",
             ("| method | data (shape, batch) | phase | kernels/step | kernels/iter | GFLOP/iter | syncs/step | "
              "est. H100 ms/iter | paper steps | est. paper-length min (eager) | est. min (captured) |"),
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['data']} | - | error: {r['error']} | | | | | | | |")
            continue
        m = r["iteration_steps"]
        for i, (ph, p) in enumerate(r["phases"].items()):
            lo, hi = p["est_h100_ms_per_step"]
            mins = r["est_h100_paper_minutes"] if i == 0 else None
            cap = r["est_h100_paper_minutes_captured"] if i == 0 else None
            lines.append(
                f"| {r['case'] if i == 0 else ''} | {r['data']} {'x'.join(map(str, r['shape']))}, {r['batch']} | {ph} "
                f"| {p['kernels_per_step']:.0f} | {p['kernels_per_step'] * m:.0f} | {p['gflop_per_step'] * m:.2f} "
                f"| {p['syncs_per_step']:.2f} | {lo * m:.2f}-{hi * m:.2f} | {r['paper_steps'].get(ph, 0):,} "
                f"| {f'{mins[0]:.0f}-{mins[1]:.0f}' if mins else ''} | {f'{cap[0]:.0f}-{cap[1]:.0f}' if cap else ''} |")
    reasons = sorted({s for r in rows for p in r.get("phases", {}).values() for s in p["sync_reasons"]})
    if reasons:
        lines.append("")
        lines.append("Syncs seen: " + "; ".join(reasons) + ".")
    a = ASSUMPTIONS
    lines += ["", (f"Estimates (no GPU measured these): eager = kernels x {a['launch_us'][0]:g}-{a['launch_us'][1]:g} us "
              f"launch against GFLOP / {a['tflops'][0]:g}-{a['tflops'][1]:g} TFLOP/s TF32, the larger of the two when "
              f"a step has no host sync, their sum + {a['sync_us']:g} us per sync otherwise; captured = one CUDA graph "
              f"per step at {a['graph_launch_us']:g} us per kernel, no syncs. An iteration is M critic steps + one "
              "generator step for the WGAN-GP methods (kernels/iter = kernels/step x M, averaged over M steps that "
              "hold one generator step), one step otherwise. Paper-length minutes count training steps only "
              "(no monitor, checkpoints or final prediction).")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated case labels or method ids (default: all)")
    ap.add_argument("--emulate", choices=("cuda", "none"), default="cuda",
                    help="count with the loop's CUDA settings emulated on the CPU (default) or as the CPU runs")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--title", default="")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config value for every method whose config has the key (e.g. amp=bf16)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # counts do not depend on threads; a shared machine oversubscribes them
    settings = dict(kv.split("=", 1) for kv in args.set)
    want = {s.strip() for s in args.only.split(",") if s.strip()}
    rows = []
    for case in cases():
        if want and case.label not in want and case.method not in want:
            continue
        try:
            # captured steps: watched once every control path is captured (3 eager warm-ups + the
            # capture of a GAN's generator path, which comes every 5th step); a replay counts as
            # one launch (clusterbench.step_probe.graph_launch)
            skip = (capture.WARMUP + 1) * 5 + 1 if settings.get("capture", "off") != "off" else 1
            row = with_estimates(measure(case, emulate=args.emulate, settings=settings, skip=skip))
        except Exception as exc:  # noqa: BLE001 -- a benchmark row, not a crash of the whole table
            row = {"case": case.label, "data": case.data, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    md = markdown(rows, args.title)
    print(md)
    meta = {"torch": torch.__version__, "emulate": args.emulate, "settings": settings, "assumptions": ASSUMPTIONS, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(meta, indent=1))
    if args.markdown:
        args.markdown.write_text(md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
