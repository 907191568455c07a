"""Balanced self-paced learning (BSPL) of Ghasedi Dizaji et al., CVPR 2019 (the paper is
``../shared/papers/004_f8ec0fdc5ec79ab4.txt``), pure numpy.

Given per-sample losses ``l`` (N,), their cluster groups ``g`` (N,) and the pace parameters
``lam`` (λν) and ``gamma`` (γ), Eq. (6) is

    min_ν  Σ_i ν_i l_i − λν Σ_i ν_i + γ Σ_k (Σ_{i in group k} ν_i)²,   ν ∈ [0, 1]^N.

:func:`bspl_weights` is Theorem 1's closed form, group by group: sort the group's losses
ascending, ``l_k1 <= ... <= l_kn``; the q-th (q = 1..n) gets

    ν = 1                                if l_kq <  λν − 2γq
    ν = (λν − l_kq)/(2γ) − (q − 1)        if λν − 2γq <= l_kq < λν − 2γ(q − 1)
    ν = 0                                if l_kq >= λν − 2γ(q − 1)

**The paper prints the middle case as (λν − l)/(2γ) − q**, which is negative on that interval
((λν − l)/(2γ) lies in (q − 1, q] there); the KKT conditions of Eq. (6) (the marginal cost of
ν_kq is l_kq − λν + 2γ Σ_group ν, and the greedy fill in sorted order meets them) give
− (q − 1), and the unit test compares with a brute-force minimisation of Eq. (6). With γ = 0 the
exclusive-lasso term vanishes and Eq. (6) is the standard SPL of Eq. (4): ν_i = 1(l_i < λν)
(:func:`spl_weights`; ``bspl_weights(..., gamma=0)`` returns exactly that).

The pace schedule (Sec. 4, "Implementation details"): "we choose [λν and γ] based on the loss
values of samples such that we start training with only 1% of samples at the first iteration, and
then linearly increase λν to include all samples in 3/4 of the maximum epoch". The paper gives no
formula; :class:`PaceSchedule` is ours:

* γ = ``gamma_scale`` · (median(l) − min(l)) / (2 · max(1, B/c − 1)) on the first batch (B
  samples, c groups): the exclusive-lasso shift of the threshold over a group of the average size
  B/c, 2γ(B/c − 1), equals the spread between the easiest and the median loss, so a group that
  already holds its share of easy samples admits the next one only if it is as easy as the
  median is hard. ``gamma_scale = 0`` gives standard SPL.
* λν(0) = the smallest λ at which Theorem 1 gives a non-zero weight to ``start_fraction`` (1%,
  at least one sample) of the first batch (bisection; the count of selected samples is
  monotone in λ);
* λν(end) = the smallest λ at which every sample of the first batch is selected,
  max_k max_q (l_kq + 2γ(q − 1)) (plus a margin of the loss spread);
* λν(t) linear in the training progress t ∈ [0, 1] from λν(0) to λν(end) reached at
  t = ``full_at`` (3/4); from then on every weight is 1 (so "all samples by 3/4 of the
  epochs" holds even if later losses exceed the first batch's).

``calibrate_on`` says which losses set γ, λν(0) and λν(end):

* ``"batch"`` (default): every batch's own losses, then λν(t) is interpolated between that
  batch's λν(0) and λν(end). The paper chooses λν and γ "based on the loss values of samples";
  this reads it as the current values. Reason: the loss scale moves during training, and with a
  sigmoid clusterer it moves a lot — at initialisation all outputs are nearly parallel (cosines
  ≈ 1, per-sample losses ≈ 0.01-0.03), later they spread (losses 0.3-0.5). We measured on digits
  (net=mlp, 150 epochs) that a schedule fixed on the first batch selected **0 %** of the samples
  from epoch 2 up to 3/4 of training, then all of them at once: the "1 % at the start, then
  gradually more" that Sec. 4 describes never happened.
* ``"first"``: the first batch only, fixed for the whole run (the literal "set once" reading;
  kept so that behaviour stays available).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check(losses: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    l = np.asarray(losses, dtype=np.float64).ravel()
    g = np.asarray(groups).ravel()
    if l.shape != g.shape:
        raise ValueError(f"losses and groups must have the same length, got {l.shape} and {g.shape}")
    if not np.isfinite(l).all():
        raise ValueError("losses must be finite")
    return l, g


def spl_weights(losses: np.ndarray, lam: float) -> np.ndarray:
    """Standard self-paced learning (Eq. 4): ν_i = 1 if l_i < λν else 0. (N,) -> (N,) float64."""
    l = np.asarray(losses, dtype=np.float64).ravel()
    return (l < lam).astype(np.float64)


def bspl_weights(losses: np.ndarray, groups: np.ndarray, lam: float, gamma: float) -> np.ndarray:
    """Theorem 1 (corrected middle case, module docstring): the minimiser ν* of Eq. (6).

    losses: (N,) per-sample losses; groups: (N,) group ids (any hashable ints); lam = λν;
    gamma = γ >= 0. Returns (N,) float64 weights in [0, 1]. Ties in a group are ordered by
    position (stable sort); the optimum value does not depend on it.
    """
    l, g = _check(losses, groups)
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if gamma == 0:
        return spl_weights(l, lam)
    nu = np.zeros_like(l)
    for k in np.unique(g):
        idx = np.flatnonzero(g == k)
        order = idx[np.argsort(l[idx], kind="stable")]
        lk = l[order]
        q = np.arange(1, lk.size + 1, dtype=np.float64)
        full = lk < lam - 2 * gamma * q
        part = (~full) & (lk < lam - 2 * gamma * (q - 1))
        w = np.zeros_like(lk)
        w[full] = 1.0
        w[part] = (lam - lk[part]) / (2 * gamma) - (q[part] - 1)
        nu[order] = np.clip(w, 0.0, 1.0)
    return nu


def bspl_objective(nu: np.ndarray, losses: np.ndarray, groups: np.ndarray, lam: float, gamma: float) -> float:
    """Eq. (6): Σ ν_i l_i − λν ‖ν‖₁ + γ Σ_k (Σ_{i in k} |ν_i|)²."""
    nu = np.asarray(nu, dtype=np.float64).ravel()
    l, g = _check(losses, groups)
    sums = np.array([np.abs(nu[g == k]).sum() for k in np.unique(g)])
    return float(nu @ l - lam * np.abs(nu).sum() + gamma * (sums**2).sum())


def selected_count(losses: np.ndarray, groups: np.ndarray, lam: float, gamma: float) -> int:
    """Number of samples with a non-zero BSPL weight."""
    return int((bspl_weights(losses, groups, lam, gamma) > 0).sum())


def lambda_for_count(losses: np.ndarray, groups: np.ndarray, gamma: float, count: int, *, iters: int = 60) -> float:
    """The smallest λν (to bisection precision) at which at least ``count`` samples get a
    non-zero weight (the count is non-decreasing in λν)."""
    l, g = _check(losses, groups)
    count = int(min(max(count, 1), l.size))
    spread = float(l.max() - l.min()) + 1.0
    lo = float(l.min()) - 1e-12
    hi = float(max_needed_lambda(l, g, gamma)) + spread
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if selected_count(l, g, mid, gamma) >= count:
            hi = mid
        else:
            lo = mid
    return hi


def max_needed_lambda(losses: np.ndarray, groups: np.ndarray, gamma: float) -> float:
    """max_k max_q (l_kq + 2γ(q − 1)): above it every sample has a non-zero weight."""
    l, g = _check(losses, groups)
    best = -np.inf
    for k in np.unique(g):
        lk = np.sort(l[g == k], kind="stable")
        best = max(best, float((lk + 2 * gamma * np.arange(lk.size)).max()))
    return best


@dataclass
class PaceSchedule:
    """λν(t) and γ from the first batch's losses (module docstring).

    start_fraction: share of the first batch selected at t = 0 (paper: 1%).
    full_at: training progress at which every sample is selected (paper: 3/4 of the epochs).
    gamma_scale: multiplies the data-driven γ; 0 = standard SPL (the GAN+SPL+Lcons ablation).
    calibrate_on: "batch" (re-set from each batch's losses) or "first" (module docstring).
    """

    start_fraction: float = 0.01
    full_at: float = 0.75
    gamma_scale: float = 1.0
    calibrate_on: str = "batch"
    lam0: float | None = None
    lam_end: float | None = None
    gamma: float | None = None

    @property
    def ready(self) -> bool:
        return self.lam0 is not None

    def calibrate(self, losses: np.ndarray, groups: np.ndarray, n_groups: int) -> None:
        """Set γ, λν(0) and λν(end) from the first batch (losses (B,), groups (B,))."""
        l, g = _check(losses, groups)
        per_group = max(1.0, l.size / max(int(n_groups), 1) - 1.0)
        self.gamma = float(self.gamma_scale * (np.median(l) - l.min()) / (2 * per_group))
        need = int(np.ceil(self.start_fraction * l.size))
        self.lam0 = lambda_for_count(l, g, self.gamma, need)
        margin = 1e-6 * (float(l.max() - l.min()) + 1.0)
        self.lam_end = max(self.lam0, max_needed_lambda(l, g, self.gamma) + margin)

    def lam(self, t: float) -> float:
        """λν at training progress t ∈ [0, 1] (inf from ``full_at`` on: every weight 1)."""
        if not self.ready:
            raise RuntimeError("PaceSchedule.calibrate() must run first")
        if t >= self.full_at:
            return float("inf")
        return float(self.lam0 + (self.lam_end - self.lam0) * t / self.full_at)

    def weights(self, losses: np.ndarray, groups: np.ndarray, t: float, n_groups: int | None = None) -> np.ndarray:
        """ν of one batch at progress t: Theorem 1 with λν(t) and γ (all ones from ``full_at``).
        With ``calibrate_on="batch"`` (and t < ``full_at``), γ, λν(0), λν(end) are first re-set
        from this batch (``n_groups``: the number of clusters c; default: the groups present)."""
        l = np.asarray(losses, dtype=np.float64).ravel()
        if self.calibrate_on not in ("batch", "first"):
            raise ValueError(f"calibrate_on must be batch or first, got {self.calibrate_on!r}")
        if self.calibrate_on == "batch" and t < self.full_at:
            self.calibrate(l, groups, n_groups if n_groups is not None else len(np.unique(groups)))
        lam = self.lam(t)
        if not np.isfinite(lam):
            return np.ones_like(l)
        return bspl_weights(l, groups, lam, float(self.gamma))

    def state(self) -> dict[str, float | None]:
        return {"lam0": self.lam0, "lam_end": self.lam_end, "gamma": self.gamma}

    def load(self, state: dict[str, float | None]) -> None:
        self.lam0, self.lam_end, self.gamma = state["lam0"], state["lam_end"], state["gamma"]


__all__ = ["PaceSchedule", "bspl_objective", "bspl_weights", "lambda_for_count", "max_needed_lambda",
           "selected_count", "spl_weights"]
