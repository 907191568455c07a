"""Issue 15 class 11: every value a run would reject is refused at plan time, in one line."""

from __future__ import annotations

import pytest
from cli_helper import run_cli as cli

from clusterbench import paths
from clusterbench.errors import ConfigError
from clusterbench.runner import expand_grid

BAD = [
    ("kmeans", "tol=nan", "not a finite number"),
    ("kmeans", "tol=inf", "not a finite number"),
    ("kmeans", "tol=-1", ">= 0"),
    ("gmm", "reg_covar=-1e-3", ">= 0"),
    ("nmf", "tol=-inf", "tol"),
    ("ncuts", "n_neighbors=-5", ">= 0"),
    ("dual-aae", "lr=nan", "not a finite number"),
    ("dual-aae", "lam1=inf", "not a finite number"),
    ("dual-aae", "epochs=-1", ">= 0"),
    ("dual-aae", "pretrain_epochs=-3", ">= 0"),
    ("dual-aae", "batch_size=1", "batch_size must be >= 2"),
    ("dual-aae", "arch=resnet", "not a known architecture"),
    ("dual-aae", "style_dim=0", "style_dim must be >= 1"),
    ("dual-aae", "critic_dropout=1.5", "[0, 1)"),
    ("dual-aae", "pretrain_corruption=1.0", "[0, 1)"),
    ("catgan", "beta1=1.0", "[0, 1)"),
    ("catgan", "epochs=-2", ">= 0"),
    ("infogan", "lr_d=-0.1", ">= 0"),
    ("infogan", "arch=nope", "not a known architecture"),
    ("aae", "mode_samples=0", "mode_samples must be >= 2"),
]


@pytest.mark.parametrize("method, setting, why", BAD)
def test_bad_value_is_refused_at_plan_time(method, setting, why):
    with pytest.raises(ConfigError, match=why.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        expand_grid([method], ["digits"], overrides=[setting], subset=100)


@pytest.mark.parametrize("method, setting, why", BAD[:1] + BAD[8:9] + BAD[11:12])
def test_cli_refuses_before_running_with_one_line(capsys, method, setting, why):
    rc, out, err = cli(capsys, "run", method, "--subset", "100", "--set", setting)
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) <= 3  # one paragraph (wrapped)
    assert not list(paths.results_home().rglob("*.json"))  # nothing recorded as a failed run


@pytest.mark.parametrize("args", [("--seed-start", str(2**32)), ("--seed-start", str(2**32 - 1), "--seeds", "2")])
def test_seeds_outside_the_libraries_range(capsys, args):
    rc, out, err = cli(capsys, "run", "kmeans", "--subset", "100", *args)
    assert rc == 1 and "2**32 - 1" in err and "Traceback" not in err
    assert not list(paths.results_home().rglob("*.json"))


def test_largest_seed_is_accepted():
    spec, = expand_grid(["kmeans"], ["digits"], subset=100, seed_start=2**32 - 1)
    assert spec.seed == 2**32 - 1
