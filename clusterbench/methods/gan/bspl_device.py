"""Balanced self-paced learning on the device: :mod:`clusterbench.methods.gan.bspl` (the numpy
reference, Theorem 1 and the pace schedule; read its docstring first) as tensor code with no host
sync, so that ClusterGAN-BSPL's training step never waits for the host (issue 23).

Vectorised over the cluster groups instead of a loop over them: the batch is sorted by (group,
loss) (two stable sorts), each sample's rank q in its group comes from the group sizes (a
scatter-add, no ``bincount``: that one reads its size back), and Theorem 1 is evaluated on all
samples at once. The calibration replaces the numpy bisection by its closed form: sample (k, q)
gets a non-zero weight iff λν > t_kq = l_kq + 2γ(q − 1) (``t`` increases with q within a group),
so the smallest λν selecting ``count`` samples is just above the count-th smallest t (here
t plus a few ulps, so that Theorem 1's rounding selects it; the reference's 60-step bisection ends
within rounding of t), and the
largest t is ``max_needed_lambda``. Computed in float64 like the reference; equal to it to
rounding (``tests/test_sync_free.py`` compares them on random groups).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def group_order(losses: torch.Tensor, groups: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, q): the permutation sorting the batch by group then loss (ties by position, as the
    reference's stable sort), and each sorted sample's 1-based rank q in its group (float64)."""
    by_loss = torch.sort(losses, stable=True).indices
    order = by_loss[torch.sort(groups[by_loss], stable=True).indices]
    g = groups[order]
    sizes = torch.zeros(n_groups, dtype=torch.long, device=losses.device).scatter_add_(
        0, groups, torch.ones_like(groups))
    starts = sizes.cumsum(0) - sizes
    q = torch.arange(1, losses.numel() + 1, device=losses.device) - starts[g]
    return order, q.to(torch.float64)


def bspl_weights(losses: torch.Tensor, groups: torch.Tensor, lam: torch.Tensor | float,
                 gamma: torch.Tensor | float, n_groups: int) -> torch.Tensor:
    """Theorem 1 (``bspl.bspl_weights``): (B,) losses, (B,) group ids in 0..n_groups-1, λν, γ ->
    (B,) float64 weights in [0, 1]. γ = 0 gives standard SPL, ν = 1(l < λν)."""
    l = losses.to(torch.float64)
    order, q = group_order(l, groups, n_groups)
    ls = l[order]
    gamma, lam = (v.to(torch.float64) if isinstance(v, torch.Tensor) else torch.full((), float(v), dtype=torch.float64,
                                                                                      device=l.device) for v in (gamma, lam))
    full = ls < lam - 2 * gamma * q
    part = ~full & (ls < lam - 2 * gamma * (q - 1))
    safe = torch.where(gamma > 0, 2 * gamma, torch.ones_like(gamma))
    w = torch.where(full, 1.0, torch.where(part, (lam - ls) / safe - (q - 1), 0.0)).clamp(0.0, 1.0)
    return torch.empty_like(w).scatter_(0, order, w)


def thresholds(losses: torch.Tensor, groups: torch.Tensor, gamma: torch.Tensor, n_groups: int) -> torch.Tensor:
    """t_kq = l_kq + 2γ(q − 1) of every sample (sorted-group order): its weight is non-zero iff
    λν > t_kq."""
    l = losses.to(torch.float64)
    order, q = group_order(l, groups, n_groups)
    return l[order] + 2 * gamma * (q - 1)


@dataclass
class DevicePace:
    """``bspl.PaceSchedule`` with its state (γ, λν(0), λν(end)) as device tensors; same options."""

    start_fraction: float = 0.01
    full_at: float = 0.75
    gamma_scale: float = 1.0
    calibrate_on: str = "batch"

    def __post_init__(self) -> None:
        if self.calibrate_on not in ("batch", "first"):
            raise ValueError(f"calibrate_on must be batch or first, got {self.calibrate_on!r}")
        self._state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (lam0, lam_end, gamma)

    @property
    def ready(self) -> bool:
        return self._state is not None

    def calibrate(self, losses: torch.Tensor, groups: torch.Tensor, n_groups: int) -> None:
        """Set γ, λν(0), λν(end) from one batch (``PaceSchedule.calibrate``), on the device."""
        l = losses.detach().to(torch.float64).flatten()
        b = l.numel()
        s = torch.sort(l).values
        per_group = max(1.0, b / max(int(n_groups), 1) - 1.0)
        gamma = self.gamma_scale * (0.5 * (s[(b - 1) // 2] + s[b // 2]) - s[0]) / (2 * per_group)
        t = torch.sort(thresholds(l, groups, gamma, n_groups)).values
        need = int(min(max(math.ceil(self.start_fraction * b), 1), b))
        spread = s[-1] - s[0] + 1.0
        tn = t[need - 1]
        lam0 = tn + 4 * torch.finfo(torch.float64).eps * (tn.abs() + 2 * gamma * b)  # a few ulps above t
        margin = 1e-6 * spread
        self._state = (lam0, torch.maximum(lam0, t[-1] + margin), gamma)

    def lam(self, t: float, t_value: float | torch.Tensor | None = None) -> torch.Tensor | float:
        """λν(t); ``t`` decides the branch, ``t_value`` (default ``t``; a device tensor under
        whole-step capture) is what the arithmetic reads."""
        if self._state is None:
            raise RuntimeError("DevicePace.calibrate() must run first")
        if t >= self.full_at:
            return math.inf
        lam0, lam_end, _ = self._state
        return lam0 + (lam_end - lam0) * ((t if t_value is None else t_value) / self.full_at)

    def weights(self, losses: torch.Tensor, groups: torch.Tensor, t: float, n_groups: int,
                t_value: float | torch.Tensor | None = None) -> torch.Tensor:
        """ν of one batch at progress t (``PaceSchedule.weights``): (B,) float64 on the device."""
        if self.calibrate_on == "batch" and t < self.full_at:
            self.calibrate(losses, groups, n_groups)
        lam = self.lam(t, t_value)
        if not isinstance(lam, torch.Tensor):  # from full_at on: every weight 1
            return torch.ones_like(losses, dtype=torch.float64)
        return bspl_weights(losses, groups, lam, self._state[2], n_groups)

    # plain floats for checkpoints and the record (host reads: never inside a step) --------------
    def _value(self, i: int) -> float | None:
        return None if self._state is None else float(self._state[i])

    lam0 = property(lambda self: self._value(0))
    lam_end = property(lambda self: self._value(1))
    gamma = property(lambda self: self._value(2))

    def state(self) -> dict[str, float | None]:
        return {"lam0": self.lam0, "lam_end": self.lam_end, "gamma": self.gamma}

    def load(self, state: dict[str, float | None], device: torch.device | str = "cpu") -> None:
        if state.get("lam0") is None:
            self._state = None
            return
        self._state = tuple(torch.tensor(float(state[k]), dtype=torch.float64, device=device)
                            for k in ("lam0", "lam_end", "gamma"))


__all__ = ["DevicePace", "bspl_weights", "group_order", "thresholds"]
