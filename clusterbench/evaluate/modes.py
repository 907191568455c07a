"""Mode counting (Dual-AAE Table II, unrolled-GAN protocol; metrics-reference.md §3): the cached
MNIST classifier labels ``mode_samples`` (10,000) samples drawn from the fitted model's prior;
``modes`` = distinct labels, ``kl`` = KL(q(y) || uniform) (``metrics.modes.modes_and_kl``)."""

from __future__ import annotations

from clusterbench.evaluate import EvalContext, EvalResult
from clusterbench.evaluate.mnist_classifier import count_modes, get_classifier

#: Table II's sample count (metrics-reference §3: 10,000 generated samples).
DEFAULT_SAMPLES = 10000


def evaluate_modes(ctx: EvalContext) -> EvalResult:
    """Metrics ``modes`` and ``kl``; extras ``modes_generated``, ``modes_kl``, ``modes_samples``,
    ``mode_classifier_test_accuracy`` (the keys of the first version's records)."""
    n = int(ctx.option("mode_samples", DEFAULT_SAMPLES))
    dataset = str(ctx.option("eval_classifier", "mnist"))
    clf, facts = get_classifier(dataset=dataset, device=ctx.device)
    samples = ctx.generator(n, seed=ctx.seed)
    modes, kl = count_modes(samples, clf, n_classes=int(facts.get("n_classes", 10)), device=ctx.device)
    extras = {"modes_generated": modes, "modes_kl": kl, "modes_samples": n,
              "mode_classifier_test_accuracy": facts.get("test_accuracy")}
    return EvalResult(metrics={"modes": float(modes), "kl": float(kl)},
                      facts={"samples": n, "classifier": dataset, "classifier_test_accuracy": facts.get("test_accuracy")},
                      extras=extras)
