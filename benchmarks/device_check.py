"""The device check (issue 23): everything a short window on one GPU can verify, in one script.

    python benchmarks/device_check.py --out dc/                # on a machine with one GPU (<= 8 min)
    python benchmarks/device_check.py --quick --out dc/        # CPU, tiny shapes, seconds (CI)

1. **Smoke test** of every deep method at its paper's networks, batch and sample shape (the cases
   of ``benchmarks/step_proxies.py``; random data of that shape): the first step runs on the
   device and on the CPU with the same weights and the same random draws (drawn by the CPU
   generator and copied, :class:`CPURandom`); its losses must be finite and equal within
   ``--rtol`` (default 2e-2: TF32 matmuls/convolutions keep 10 mantissa bits; bf16 autocast, if a
   method's ``amp`` is on, needs about 5e-2).
2. **Host syncs per step**: ``torch.cuda.set_sync_debug_mode("warn")`` over the timed steps, the
   warnings counted (on the CPU: ``clusterbench.step_probe``'s sync watch).
3. **Steps per second** (eager; ``--steps`` steps after warm-up, CUDA synchronised at the ends of
   the window) and the **projected paper-length minutes** (the paper's step count / steps/s;
   training steps only); then the same with whole-step capture (``capture=graph``,
   ``clusterbench.training.capture``: the window starts after :data:`CAPTURE_SKIP` steps, when
   every control path has been captured; on the CPU this is the replay-tape emulation, slower
   than eager by design). A method that cannot be captured says why.
4. **Dual-AAE on real MNIST** for the minutes left (``--minutes``, default 8, minus what 1-3
   took): the paper's setting (50 pre-training + 300 training epochs of 70,000 images, batch 100)
   when it fits, otherwise both phases scaled down by the same factor; ACC (Hungarian) printed
   after every epoch. Data: the fetched ``mnist`` data set (``clusterbench fetch mnist``) or
   ``--mnist FILE`` (a clusterbench HDF5 file); ``--quick`` uses scikit-learn's digits.

Writes ``device_check.json`` and ``device_check.md`` into ``--out`` (written atomically) and prints
the Markdown. Exit status 1 when a smoke test failed (non-finite or unequal losses, a crash).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))          # step_proxies
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # this checkout's clusterbench

import numpy as np
import step_proxies as sp
import torch
from torch.overrides import TorchFunctionMode

from clusterbench import step_probe
from clusterbench.training import capture

#: quick mode: (sample shape, batch) per paper data set, and extra overrides that shrink the nets
QUICK_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "dsprites": (1, 64, 64)}
QUICK_SIMCLR = {"proj_hidden": 16, "proj_dim": 8, "augment": "batched"}
#: steps of each phase before the captured timing window: WARMUP eager steps + the capture of each
#: control path; a GAN's generator path comes every critic_iters-th (5) step
CAPTURE_SKIP = (capture.WARMUP + 1) * 5 + 1


class CPURandom(TorchFunctionMode):
    """Every random draw made by the CPU generator and copied to its device, so that a step on
    the GPU and the same step on the CPU see the same numbers (the two generators differ)."""

    FACTORIES: ClassVar[set] = {torch.rand, torch.randn, torch.randint, torch.randperm, torch.normal}
    LIKE: ClassVar[dict] = {torch.rand_like: torch.rand, torch.randn_like: torch.randn}
    INPLACE: ClassVar[set] = {"uniform_", "normal_", "bernoulli_", "random_", "exponential_", "geometric_", "log_normal_"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        if func in self.FACTORIES and kwargs.get("generator") is None:
            kwargs.pop("generator", None)
            dev = kwargs.pop("device", None)
            out = func(*args, **kwargs)
            return out.to(dev) if dev is not None else out
        if func in self.LIKE:
            x = args[0]
            return self.LIKE[func](x.shape, dtype=kwargs.get("dtype") or x.dtype).to(x.device)
        if name in self.INPLACE and args and isinstance(args[0], torch.Tensor) and args[0].device.type != "cpu":
            t = args[0]
            cpu = getattr(torch.empty(t.shape, dtype=t.dtype), name)(*args[1:], **kwargs)
            with torch.no_grad():
                t.copy_(cpu)
            return t
        if func is torch.nn.functional.dropout:
            x = args[0]
            p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
            training = kwargs.get("training", args[2] if len(args) > 2 else True)
            if not training or p == 0:
                return x
            keep = (torch.rand(x.shape) >= p).to(device=x.device, dtype=x.dtype)
            return x * keep / (1 - p)
        return func(*args, **kwargs)


def _first_losses(case: sp.Case, device: str, *, shape, extra, settings) -> dict[str, float]:
    """The losses of the first step of ``case`` on ``device`` (same seed, CPU-drawn randomness)."""
    got: dict[str, float] = {}

    def wrap(model, options, dev):
        for name in ("pretrain_step", "training_step"):
            fn = getattr(model, name)

            def recorded(x, step, _fn=fn):
                out = _fn(x, step)
                if not got:
                    got.update({k: float(v) for k, v in out.items()})
                return out

            setattr(model, name, recorded)

    old = sp.step_probe.StepProbe
    try:  # the probe of measure() with our hook and one step
        sp.step_probe.StepProbe = lambda **kw: old(**{**kw, "phases": ("pretrain", "train"), "skip": 0,
                                                       "stop_after": 1, "count": False, "on_model": wrap})
        with CPURandom():
            sp.measure(case, emulate="none", count=False, device=device, shape=shape, extra=extra, settings=settings)
    finally:
        sp.step_probe.StepProbe = old
    return got


def _timed(case: sp.Case, device: str, *, steps: int, shape, extra, settings, cuda: bool,
           skip: int = 1) -> dict[str, Any]:
    """steps/s over ``steps`` watched steps (after ``skip`` warm-up steps) and host syncs per step."""
    if cuda:
        torch.cuda.set_sync_debug_mode("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row = sp.measure(case, emulate="none", count=False, timing=True, watch_steps=steps, device=device,
                             shape=shape, extra=extra, settings=settings, skip=skip)
        torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught)
        n = sum(p["steps_watched"] for p in row["phases"].values())
        row["syncs_per_step"] = syncs / max(n, 1)
        return row
    if settings.get("capture", "off") != "off":  # the tape records the steps itself: no counting modes
        row = sp.measure(case, emulate="none", count=False, timing=True, watch_steps=steps, device=device,
                         shape=shape, extra=extra, settings=settings, skip=skip)
        row["syncs_per_step"] = 0.0  # a captured step that synced would have been refused
        return row
    row = sp.measure(case, emulate="none", count=True, timing=False, watch_steps=steps, device=device, shape=shape,
                     extra=extra, settings=settings, skip=skip)
    timing = sp.measure(case, emulate="none", count=False, timing=True, watch_steps=steps, device=device,
                        shape=shape, extra=extra, settings=settings, skip=skip)
    for ph, p in row["phases"].items():
        p["steps_per_second"] = timing["phases"].get(ph, {}).get("steps_per_second")
    row["syncs_per_step"] = max((p["syncs_per_step"] for p in row["phases"].values()), default=0.0)
    return row


def smoke(case: sp.Case, device: str, *, quick: bool, steps: int, rtol: float, settings) -> dict[str, Any]:
    shape = QUICK_SHAPES[case.data] if quick else None
    extra: dict[str, Any] = {}
    if quick:
        extra = dict(QUICK_SIMCLR) if case.method == "simclr" else {"batch_size": 8}
        if case.method == "simclr":
            extra["batch_size"] = 8
    cuda = device.startswith("cuda")
    t0 = time.perf_counter()
    out: dict[str, Any] = {"case": case.label}
    try:
        dev_l = _first_losses(case, device, shape=shape, extra=extra, settings=settings)
        cpu_l = _first_losses(case, "cpu", shape=shape, extra=extra, settings=settings) if cuda else dict(dev_l)
        finite = all(math.isfinite(v) for v in dev_l.values())
        diffs = {k: abs(dev_l[k] - cpu_l[k]) / max(abs(cpu_l[k]), 1e-3) for k in dev_l if k in cpu_l}
        out.update(first_losses=dev_l, cpu_first_losses=cpu_l, finite=finite,
                   max_rel_diff=max(diffs.values(), default=0.0))
        out["ok"] = bool(finite and out["max_rel_diff"] <= rtol)
        row = _timed(case, device, steps=steps, shape=shape, extra=extra, settings=settings, cuda=cuda)
        sps = {ph: p.get("steps_per_second") for ph, p in row["phases"].items()}
        minutes = sum(row["paper_steps"].get(ph, 0) / s / 60 for ph, s in sps.items() if s)
        out.update(batch=row["batch"], shape=row["shape"], paper_steps=row["paper_steps"], steps_per_second=sps,
                   syncs_per_step=row["syncs_per_step"], projected_paper_minutes=minutes)
        out.update(_captured(case, device, steps=steps, shape=shape, extra=extra, settings=settings, cuda=cuda))
    except Exception as exc:  # noqa: BLE001 -- one failed method is a row of the report, not the end of the check
        out.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    out["seconds"] = time.perf_counter() - t0
    return out


def _captured(case: sp.Case, device: str, *, steps: int, shape, extra, settings, cuda: bool) -> dict[str, Any]:
    """The captured steps/s and projected minutes (``capture=graph``), or why the method's steps
    cannot be captured; a failure here is reported, it does not fail the smoke test."""
    from clusterbench.methods import METHODS

    cls = METHODS.get(case.method)
    if cls is None or not hasattr(cls.Config, "capture"):
        return {"captured": {"skipped": "no capture option (SimCLR pre-training: a per-step learning rate)"}}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="capture=graph on the CPU")
            row = _timed(case, device, steps=steps, shape=shape, extra=extra, settings={**settings, "capture": "graph"},
                         cuda=cuda, skip=CAPTURE_SKIP)
    except Exception as exc:  # noqa: BLE001 -- e.g. a model that cannot be captured: a line of the report
        return {"captured": {"skipped": f"{type(exc).__name__}: {str(exc)[:200]}"}}
    sps = {ph: p.get("steps_per_second") for ph, p in row["phases"].items()}
    minutes = sum(row["paper_steps"].get(ph, 0) / s / 60 for ph, s in sps.items() if s)
    return {"captured": {"steps_per_second": sps, "syncs_per_step": row["syncs_per_step"],
                         "projected_paper_minutes": minutes}}


def _acc(y: np.ndarray, proba: np.ndarray) -> float:
    from clusterbench.metrics import clustering

    return float(clustering.acc(y, proba.argmax(1)))


def dual_aae_run(device: str, minutes: float, *, quick: bool, mnist: Path | None) -> dict[str, Any]:
    """Dual-AAE on real MNIST (digits with --quick) for ``minutes``: ACC after every epoch."""
    import clusterbench
    from clusterbench.methods import METHODS, make_config

    if mnist is not None:
        from clusterbench.data.hdf5 import read_dataset

        X, y, _ = read_dataset(mnist)
        name = str(mnist)
    else:
        name = "digits" if quick else "mnist"
        try:
            X, y, _ = clusterbench.load(name)
        except Exception as exc:  # noqa: BLE001 -- reported in the result: the check goes on without it
            return {"data": name, "skipped": f"{type(exc).__name__}: {str(exc)[:200]}",
                    "hint": "clusterbench fetch mnist (or --mnist FILE)"}
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if quick:
        X, y = X[:300], y[:300]
    cls = METHODS["dual-aae"]
    paper = cls.Config()
    per_epoch = max(1, len(X) // paper.batch_size)
    # measure one pre-training epoch's worth of steps to size the run
    budget_s = max(minutes, 0.0) * 60
    t0 = time.perf_counter()
    probe = step_probe.StepProbe(phases=("pretrain",), skip=1, stop_after=min(20, per_epoch - 1) if per_epoch > 2 else 1,
                                 count=False, timing=True)
    cfg = make_config(cls.Config, {"pretrain_epochs": 1, "epochs": 1, "save_samples": False, "monitor_every": 0})
    with step_probe.probing(probe), contextlib.suppress(step_probe.ProbeDone):
        cls(cfg).fit(X, len(np.unique(y)), seed=0, device=device)
    sps = probe.steps_per_second("pretrain") or 1.0
    budget_s -= time.perf_counter() - t0
    total = paper.pretrain_epochs + paper.epochs
    # train steps cost about 3x a pre-training step (three players); 10 % for monitor + init
    cost_per_epoch = per_epoch / sps * (paper.pretrain_epochs + 3 * paper.epochs) / total * 1.1
    scale = min(1.0, budget_s / max(cost_per_epoch * total, 1e-9))
    pre, ep = max(1, int(paper.pretrain_epochs * scale)), max(1, int(paper.epochs * scale))
    cfg = make_config(cls.Config, {"pretrain_epochs": pre, "epochs": ep, "save_samples": False})
    k = len(np.unique(y))

    def monitor(p):
        acc = _acc(y, p)
        print(f"  dual-aae {name}: epoch ACC {acc:.4f}", file=sys.stderr, flush=True)
        return {"acc": acc}

    t1 = time.perf_counter()
    out = cls(cfg).fit(X, k, seed=0, device=device, monitor=monitor)
    hist = [{"phase": r["phase"], "epoch": r["epoch"], "acc": r.get("acc"), "seconds": r.get("seconds")}
            for r in out.history]
    return {"data": name, "n": len(X), "pretrain_epochs": pre, "epochs": ep, "paper_scale": scale,
            "seconds": time.perf_counter() - t1, "final_acc": _acc(y, out.proba), "history": hist}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"## Device check ({report['device']}, torch {report['torch']}{', quick' if report['quick'] else ''})", "",
             f"First-step tolerance: relative {report['rtol']:g} against the CPU.", "",
             "| method | shape, batch | first step (device vs CPU) | syncs/step | steps/s | projected paper min "
             "| captured steps/s | captured paper min |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in report["methods"]:
        if "error" in r:
            lines.append(f"| {r['case']} | | FAILED: {r['error']} | | | | | |")
            continue
        sps = ", ".join(f"{ph} {s:.1f}" for ph, s in r["steps_per_second"].items() if s)
        verdict = ("ok" if r["ok"] else "FAILED") + f" (max rel. diff {r['max_rel_diff']:.1e}" + \
            ("" if r["finite"] else ", non-finite") + ")"
        cap = r.get("captured") or {}
        if "skipped" in cap:
            cap_cells = f"not captured: {cap['skipped'][:90]} | "
        else:
            cap_cells = (", ".join(f"{ph} {s:.1f}" for ph, s in cap.get("steps_per_second", {}).items() if s)
                         + f" | {cap.get('projected_paper_minutes', 0):.1f}")
        lines.append(f"| {r['case']} | {'x'.join(map(str, r['shape']))}, {r['batch']} | {verdict} | "
                     f"{r['syncs_per_step']:.2f} | {sps} | {r['projected_paper_minutes']:.1f} | {cap_cells} |")
    d = report.get("dual_aae") or {}
    lines.append("")
    if "skipped" in d:
        lines.append(f"Dual-AAE run skipped: {d['skipped']} ({d.get('hint')}).")
    elif d:
        accs = [f"{h['phase'][:3]} {h['epoch']}: {h['acc']:.3f}" for h in d["history"] if h.get("acc") is not None]
        if len(accs) > 24:  # the JSON has every epoch
            accs = accs[:: math.ceil(len(accs) / 24)] + accs[-1:]
        lines.append(f"Dual-AAE on {d['data']} (N={d['n']}): {d['pretrain_epochs']} pre-training + {d['epochs']} "
                     f"training epochs ({d['paper_scale']:.0%} of the paper's length) in {d['seconds']:.0f} s; "
                     f"final ACC {d['final_acc']:.4f}; ACC by epoch: {', '.join(accs)}")
    lines.append(f"\nTotal {report['seconds']:.0f} s.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU, tiny shapes, a few steps (CI)")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--minutes", type=float, default=None, help="the whole check's budget (default 8; quick 0.5)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per method (default 50; quick 2)")
    ap.add_argument("--rtol", type=float, default=2e-2)
    ap.add_argument("--only", default="", help="comma-separated case labels or method ids")
    ap.add_argument("--mnist", type=Path, default=None, help="a clusterbench HDF5 file of MNIST")
    ap.add_argument("--no-dual-aae", action="store_true", help="skip the real-data Dual-AAE run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config value for every method whose config has the key (e.g. amp=bf16)")
    ap.add_argument("--out", type=Path, default=Path("device_check"))
    args = ap.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.quick else "cpu")
    if args.quick:
        torch.set_num_threads(1)  # tiny shapes: threads only contend (CI runners, shared machines)
    steps = args.steps or (2 if args.quick else 50)
    minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 8.0)
    settings = dict(kv.split("=", 1) for kv in args.set)
    want = [s.strip() for s in args.only.split(",") if s.strip()]
    selected = [c for c in sp.cases() if not want or c.label in want or c.method in want]
    if want:  # in the order asked for
        selected.sort(key=lambda c: want.index(c.label) if c.label in want else want.index(c.method))
    quiet = os.environ.get("CLUSTERBENCH_QUIET")
    os.environ.setdefault("CLUSTERBENCH_QUIET", "1")
    try:
        return _run(args, device, steps, minutes, settings, selected)
    finally:  # main() is also called in-process (tests): leave the environment as it was
        if quiet is None:
            os.environ.pop("CLUSTERBENCH_QUIET", None)
        else:
            os.environ["CLUSTERBENCH_QUIET"] = quiet


def _run(args, device: str, steps: int, minutes: float, settings: dict, selected: list) -> int:
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory():
        for case in selected:
            row = smoke(case, device, quick=args.quick, steps=steps, rtol=args.rtol, settings=settings)
            print(json.dumps({k: v for k, v in row.items() if k not in ("first_losses", "cpu_first_losses")}),
                  file=sys.stderr, flush=True)
            rows.append(row)
    left = minutes - (time.perf_counter() - t0) / 60
    dual = None if args.no_dual_aae else dual_aae_run(device, left, quick=args.quick, mnist=args.mnist)
    report = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
              "torch": torch.__version__, "quick": args.quick, "rtol": args.rtol, "steps": steps,
              "settings": settings, "methods": rows, "dual_aae": dual, "seconds": time.perf_counter() - t0}
    md = markdown(report)
    print(md)
    from clusterbench.fsutil import write_json_atomic

    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "device_check.json", report)
    tmp = args.out / "device_check.md.tmp"
    tmp.write_text(md + "\n")
    tmp.replace(args.out / "device_check.md")
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
